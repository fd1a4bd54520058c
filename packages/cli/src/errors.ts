import * as contentErrors from '@provenir/content'
import * as interfaceModule from '@provenir/interface'
import * as namingModule from '@provenir/naming'
import { ProvenirError } from '@provenir/interface'
import { ImageRecordNotFoundError } from '@provenir/node'

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

/**
 * The error classes of @provenir/interface and of this package, by name. The
 * RPC client rebuilds an error the daemon names as its own class, and the CLI
 * prints these without a stack trace: they are expected conditions, not bugs.
 */
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

type ErrorClass = new (message: string, options?: ErrorOptions) => Error

function isErrorClass (value: unknown): value is ErrorClass {
  return typeof value === 'function' && value.prototype instanceof Error
}

export const KNOWN_ERRORS: ReadonlyMap<string, ErrorClass> = new Map(
  ([
    ...Object.values(interfaceModule),
    // only content's named conditions: it also exports classes such as FsBlockstore
    ...Object.values(contentErrors).filter(v => isErrorClass(v) && v.prototype instanceof ProvenirError),
    ...Object.values(namingModule).filter(v => isErrorClass(v) && v.prototype instanceof ProvenirError),
    ImageRecordNotFoundError,
    FileExistsError, DaemonAlreadyRunningError, ApiAddressInUseError, DatastoreOpenError, PathNotFoundError,
    NamingUnavailableError, BundleInvalidError
  ] as unknown[])
    .filter(isErrorClass)
    .map((cls): [string, ErrorClass] => [cls.name, cls])
)

/** True for errors that report a condition the user can act on, rather than a bug */
export function isExpectedError (err: unknown): boolean {
  return err instanceof Error && (err instanceof ProvenirError || KNOWN_ERRORS.has(err.name))
}
