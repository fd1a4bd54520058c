/**
 * Error classes shared by every provenir package.
 *
 * Each condition has its own class, identified by `.name` so that callers (and
 * tests) can tell them apart without `instanceof`, which breaks when two
 * copies of a package are installed.
 */

/** Base class: every provenir error carries a stable `name` and, when useful, the path or object it concerns. */
export class ProvenirError extends Error {
  static name = 'ProvenirError'
  override name = 'ProvenirError'
}

/** A configuration value is missing, of the wrong type, or out of range. */
export class InvalidConfigError extends ProvenirError {
  static override name = 'InvalidConfigError'
  override name = 'InvalidConfigError'
}

/** A parameter passed to a function is invalid. */
export class InvalidParametersError extends ProvenirError {
  static override name = 'InvalidParametersError'
  override name = 'InvalidParametersError'
}

/** A peer's NodeId does not meet the swarm's difficulty (c1). */
export class InsufficientDifficultyError extends ProvenirError {
  static override name = 'InsufficientDifficultyError'
  override name = 'InsufficientDifficultyError'
}

/** A keystore file cannot be parsed or holds an invalid key. */
export class KeystoreCorruptError extends ProvenirError {
  static override name = 'KeystoreCorruptError'
  override name = 'KeystoreCorruptError'
}

/** A keystore file is readable by users other than its owner. */
export class KeystorePermissionError extends ProvenirError {
  static override name = 'KeystorePermissionError'
  override name = 'KeystorePermissionError'
}

/** A key that was asked for does not exist. */
export class KeyNotFoundError extends ProvenirError {
  static override name = 'KeyNotFoundError'
  override name = 'KeyNotFoundError'
}

/** A repo directory already exists where a new one would be written. */
export class RepoExistsError extends ProvenirError {
  static override name = 'RepoExistsError'
  override name = 'RepoExistsError'
}

/** No initialised repo was found at the given path. */
export class RepoNotFoundError extends ProvenirError {
  static override name = 'RepoNotFoundError'
  override name = 'RepoNotFoundError'
}

/** A swarm.key file is not in the Kubo `/key/swarm/psk/1.0.0/` format. */
export class InvalidSwarmKeyError extends ProvenirError {
  static override name = 'InvalidSwarmKeyError'
  override name = 'InvalidSwarmKeyError'
}

/** An operation was aborted by its signal (cancelled or timed out). */
export class AbortError extends ProvenirError {
  static override name = 'AbortError'
  override name = 'AbortError'
}

/** A condition did not become true before its deadline. */
export class TimeoutError extends ProvenirError {
  static override name = 'TimeoutError'
  override name = 'TimeoutError'
}

/** An OCI digest string is malformed or uses an algorithm the spec does not allow here. */
export class DigestInvalidError extends ProvenirError {
  static override name = 'DigestInvalidError'
  override name = 'DigestInvalidError'
}

/** The daemon's RPC API could not be reached. */
export class DaemonNotRunningError extends ProvenirError {
  static override name = 'DaemonNotRunningError'
  override name = 'DaemonNotRunningError'
}

/** A JSON document from outside is nested too deep or holds too many values to be parsed in time. */
export class JsonLimitError extends ProvenirError {
  static override name = 'JsonLimitError'
  override name = 'JsonLimitError'
}

/**
 * Returns true when `err` is an Error whose `.name` is `name`. Prefer this over
 * `instanceof` across package boundaries.
 */
export function isError (err: unknown, name: string): err is Error {
  return err instanceof Error && err.name === name
}
