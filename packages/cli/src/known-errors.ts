import { BadBlockError, NoHonestProviderError, PeerUnreachableError, SessionStalledError, UnsupportedHashError } from '@provenir/bitswap'
import * as contentModule from '@provenir/content'
import { ProvenirError } from '@provenir/interface'
import * as namingModule from '@provenir/naming'
import { ImageRecordNotFoundError, PlatformNotFoundError } from '@provenir/node'
import { errorClassesByName, LOCAL_ERRORS } from './errors.js'
import type { ErrorClass } from './errors.js'

function isConditionClass (value: unknown): boolean {
  return typeof value === 'function' && value.prototype instanceof ProvenirError
}

/**
 * Every known error class by name: @provenir/interface's and this package's,
 * and the named conditions of content, naming and node. The RPC client
 * rebuilds an error the daemon names as its own class, and the CLI prints
 * these without a stack trace: they are expected conditions, not bugs.
 */
export const KNOWN_ERRORS: ReadonlyMap<string, ErrorClass> = new Map([
  // only content's and naming's named conditions: they also export classes such as FsBlockstore
  ...errorClassesByName([
    ...Object.values(contentModule).filter(isConditionClass),
    ...Object.values(namingModule).filter(isConditionClass),
    ImageRecordNotFoundError,
    PlatformNotFoundError,
    // bitswap's conditions a pull can end with (its classes do not extend ProvenirError)
    NoHonestProviderError,
    BadBlockError,
    SessionStalledError,
    PeerUnreachableError,
    UnsupportedHashError
  ]),
  ...LOCAL_ERRORS
])

/** True for errors that report a condition the user can act on, rather than a bug */
export function isExpectedError (err: unknown): boolean {
  return err instanceof Error && (err instanceof ProvenirError || KNOWN_ERRORS.has(err.name))
}
