import { ProvenirError } from '@provenir/interface'

/**
 * The lab cannot run here: not root, or `ip netns`, veths, a bridge, `tc` tbf,
 * skopeo or docker-registry are missing. The message names what is missing;
 * tests skip with it.
 */
export class LabUnavailableError extends ProvenirError {
  static override name = 'LabUnavailableError'
  override name = 'LabUnavailableError'
}

/** No lab is up in the directory given (no state file). */
export class LabNotUpError extends ProvenirError {
  static override name = 'LabNotUpError'
  override name = 'LabNotUpError'
}

/** A lab is already up in the directory given; `lab down` first. */
export class LabExistsError extends ProvenirError {
  static override name = 'LabExistsError'
  override name = 'LabExistsError'
}

/** Every lab id (0 to MAX_LAB_ID) is taken by another lab on this machine. */
export class LabBusyError extends ProvenirError {
  static override name = 'LabBusyError'
  override name = 'LabBusyError'
}

/** The lab's state file does not parse or does not describe a lab. */
export class LabStateError extends ProvenirError {
  static override name = 'LabStateError'
  override name = 'LabStateError'
}

/** The lab's address range overlaps an address or route of this machine. */
export class AddressRangeInUseError extends ProvenirError {
  static override name = 'AddressRangeInUseError'
  override name = 'AddressRangeInUseError'
}

/** A host name that is not in the lab (`h1`..`hN`, `origin`). */
export class HostNotFoundError extends ProvenirError {
  static override name = 'HostNotFoundError'
  override name = 'HostNotFoundError'
}

/** A system command (`ip`, `tc`, skopeo, the provenir CLI in a host) failed. */
export class CommandFailedError extends ProvenirError {
  static override name = 'CommandFailedError'
  override name = 'CommandFailedError'
  /** The exit code, or null when a signal or the timeout ended it */
  readonly code: number | null
  readonly stderr: string

  constructor (message: string, code: number | null, stderr: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.stderr = stderr
  }
}

/** A daemon exited before it was ready, or did not get ready in time. */
export class DaemonStartError extends ProvenirError {
  static override name = 'DaemonStartError'
  override name = 'DaemonStartError'
}

/** A fault or rollout script that does not parse (`kill h3 at 20MB`). */
export class FaultSpecError extends ProvenirError {
  static override name = 'FaultSpecError'
  override name = 'FaultSpecError'
}
