import * as contentModule from '@provenir/content'
import { ProvenirError } from '@provenir/interface'
import * as namingModule from '@provenir/naming'
// node's error classes alone: the whole node package (libp2p) would take a CLI about a second more to load
import * as nodeModule from '@provenir/node/errors'
import { errorClassesByName, LOCAL_ERRORS } from './errors.js'
import type { ErrorClass } from './errors.js'

function isConditionClass (value: unknown): boolean {
  return typeof value === 'function' && value.prototype instanceof ProvenirError
}

/**
 * Every known error class by name: @provenir/interface's and this package's,
 * and the named conditions of content, naming and node (the content
 * service's and the swarm's: a manifest no peer provides is
 * `ManifestNotFoundError`, not an internal error). The RPC client
 * rebuilds an error the daemon names as its own class, and the CLI prints
 * these without a stack trace: they are expected conditions, not bugs.
 */
export const KNOWN_ERRORS: ReadonlyMap<string, ErrorClass> = new Map([
  // only the named conditions: the packages also export classes such as FsBlockstore
  ...errorClassesByName([
    ...Object.values(contentModule).filter(isConditionClass),
    ...Object.values(namingModule).filter(isConditionClass),
    ...Object.values(nodeModule).filter(isConditionClass)
  ] as ErrorClass[]),
  ...LOCAL_ERRORS
])

/** True for errors that report a condition the user can act on, rather than a bug */
export function isExpectedError (err: unknown): boolean {
  return err instanceof Error && (err instanceof ProvenirError || KNOWN_ERRORS.has(err.name))
}
