import * as interfaceModule from '@provenir/interface'
import { ProvenirError } from '@provenir/interface'

/** A file that would be written already exists and `--force` was not given. */
export class FileExistsError extends ProvenirError {
  static override name = 'FileExistsError'
  override name = 'FileExistsError'
}

/** Another daemon already runs on this repo. */
export class DaemonAlreadyRunningError extends ProvenirError {
  static override name = 'DaemonAlreadyRunningError'
  override name = 'DaemonAlreadyRunningError'
}

/** The daemon answered an RPC call with an error it did not name. */
export class RpcError extends ProvenirError {
  static override name = 'RpcError'
  override name = 'RpcError'
  /** The HTTP status of the answer */
  readonly status: number

  constructor (message: string, status: number, options?: ErrorOptions) {
    super(message, options)
    this.status = status
  }
}

/** Prepends `path` to the error's message unless it already names it. */
export function namePath<E extends Error> (err: E, path: string): E {
  if (!err.message.includes(path)) {
    err.message = `${path}: ${err.message}`
  }
  return err
}

/** The RPC API's address is taken by another program. */
export class ApiAddressInUseError extends ProvenirError {
  static override name = 'ApiAddressInUseError'
  override name = 'ApiAddressInUseError'
}

/** The level datastore could not be opened: most often another daemon holds its lock. */
export class DatastoreOpenError extends ProvenirError {
  static override name = 'DatastoreOpenError'
  override name = 'DatastoreOpenError'
}

/** A path given to the daemon (an image to import) does not exist on the daemon's host. */
export class PathNotFoundError extends ProvenirError {
  static override name = 'PathNotFoundError'
  override name = 'PathNotFoundError'
}

/** The daemon runs without naming (a library caller's createRpcServer without `naming`). */
export class NamingUnavailableError extends ProvenirError {
  static override name = 'NamingUnavailableError'
  override name = 'NamingUnavailableError'
}

/** A private-swarm bundle is malformed, or does not fit this repo. */
export class BundleInvalidError extends ProvenirError {
  static override name = 'BundleInvalidError'
  override name = 'BundleInvalidError'
}

/** A TLS certificate or key (configured, or the repo's own) cannot be read, does not parse, or does not fit its key. */
export class TlsMaterialError extends ProvenirError {
  static override name = 'TlsMaterialError'
  override name = 'TlsMaterialError'
}

export type ErrorClass = new (message: string, options?: ErrorOptions) => Error

function isErrorClass (value: unknown): value is ErrorClass {
  return typeof value === 'function' && value.prototype instanceof Error
}

/** The error classes among `values`, by name */
export function errorClassesByName (values: unknown[]): Map<string, ErrorClass> {
  return new Map(values.filter(isErrorClass).map((cls): [string, ErrorClass] => [cls.name, cls]))
}

/** `--log-level`, `--log-format` or their environment variables name no level or format. */
export class InvalidLogLevelError extends ProvenirError {
  static override name = 'InvalidLogLevelError'
  override name = 'InvalidLogLevelError'
}

/**
 * The error classes of @provenir/interface and of this package, by name:
 * the ones an RPC client has at hand without loading anything more.
 */
export const LOCAL_ERRORS: ReadonlyMap<string, ErrorClass> = errorClassesByName([
  ...Object.values(interfaceModule),
  FileExistsError, DaemonAlreadyRunningError, ApiAddressInUseError, DatastoreOpenError, PathNotFoundError,
  NamingUnavailableError, BundleInvalidError, TlsMaterialError, InvalidLogLevelError
])

/**
 * The class of the known error named `name`, for the RPC client to rebuild an
 * error the daemon names. Names that are not @provenir/interface's or this
 * package's load the other packages' classes (known-errors.ts), so a client
 * that gets no such error never loads them.
 */
export async function knownErrorClass (name: string): Promise<ErrorClass | undefined> {
  return LOCAL_ERRORS.get(name) ?? (await import('./known-errors.js')).KNOWN_ERRORS.get(name)
}
