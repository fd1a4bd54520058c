/**
 * Checks for the RPC routes' request bodies, shared by the content, trust
 * and naming routes: every error names the field.
 */

import { InvalidParametersError } from '@provenir/interface'
import { MAX_RPC_REFERENCE_LENGTH } from './constants.js'
import type { RpcContext } from './rpc-server.js'

/** The request body as a JSON object holding only `known` fields */
export function bodyObject (ctx: Pick<RpcContext, 'request'>, known: string[]): Record<string, unknown> {
  const body = ctx.request.body
  if (body == null || typeof body !== 'object' || Array.isArray(body)) throw new InvalidParametersError('the request body must be a JSON object')
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) throw new InvalidParametersError(`unknown field "${key}" (expected ${known.map(k => `"${k}"`).join(', ')})`)
  }
  return body as Record<string, unknown>
}

/** An image reference `[registry/]namespace/repo[:tag|@digest]`, bounded (parsed fully by its user); undefined when absent */
export function optionalReferenceParam (value: unknown): string | undefined {
  if (value === undefined) return undefined
  const rule = `"reference" must be a non-empty string of at most ${MAX_RPC_REFERENCE_LENGTH} characters without spaces: [registry/]namespace/repo[:tag|@digest]`
  if (typeof value !== 'string' || value === '' || /\s/.test(value)) throw new InvalidParametersError(rule)
  if (value.length > MAX_RPC_REFERENCE_LENGTH) throw new InvalidParametersError(`"reference" is over ${MAX_RPC_REFERENCE_LENGTH} characters (${rule})`)
  return value
}

/** As {@link optionalReferenceParam}, but required */
export function referenceParam (value: unknown): string {
  const reference = optionalReferenceParam(value)
  if (reference == null) throw new InvalidParametersError('"reference" is required: [registry/]namespace/repo[:tag|@digest]')
  return reference
}
