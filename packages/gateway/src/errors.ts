/**
 * Errors: the OCI distribution-spec error codes and messages, the error the
 * routes answer with as it is (`OciError`), and the mapping of every other
 * error through the ONE table the gateway shares with the RPC API
 * (`ERROR_TABLE` in `@provenir/interface`, by `.name`).
 *
 * Codes are those of the spec's "Error Codes" table, plus `RANGE_INVALID`
 * (from the Docker registry API that the spec descends from, and what
 * distribution answers a 416 with) and `BLOB_UPLOAD_UNKNOWN`/`BLOB_UPLOAD_INVALID`.
 */

import { ERROR_TABLE, errorMapping, ProvenirError } from '@provenir/interface'
import type { OciErrorCode } from '@provenir/interface'

export type { OciErrorCode }
export { ERROR_TABLE }

/** The spec's message for each code. */
export const MESSAGES: Record<OciErrorCode, string> = {
  BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UPLOAD_INVALID: 'blob upload invalid',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown to registry',
  DIGEST_INVALID: 'provided digest did not match uploaded content',
  MANIFEST_BLOB_UNKNOWN: 'manifest references a manifest or blob unknown to registry',
  MANIFEST_INVALID: 'manifest invalid',
  MANIFEST_UNKNOWN: 'manifest unknown to registry',
  NAME_INVALID: 'invalid repository name',
  NAME_UNKNOWN: 'repository name not known to registry',
  SIZE_INVALID: 'provided length did not match content length',
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  UNSUPPORTED: 'the operation is unsupported',
  TOOMANYREQUESTS: 'too many requests',
  RANGE_INVALID: 'invalid content range'
}

/** An error the gateway answers with as it is: an OCI code, a status and an optional detail. */
export class OciError extends ProvenirError {
  static override name = 'OciError'
  override name = 'OciError'
  readonly code: OciErrorCode
  readonly status: number
  readonly detail: unknown
  /** Extra response headers (e.g. `Range` on a 416, `WWW-Authenticate` on a 401) */
  readonly headers: Record<string, string>

  constructor (code: OciErrorCode, status: number, message?: string, detail?: unknown, headers: Record<string, string> = {}) {
    super(message ?? MESSAGES[code])
    this.code = code
    this.status = status
    this.detail = detail
    this.headers = headers
  }
}

/** The body the spec defines for an error response. */
export interface ErrorBody {
  errors: Array<{ code: OciErrorCode, message: string, detail: unknown }>
}

/** Maps any error to the status, headers and body the gateway sends. */
export function toErrorResponse (err: unknown): { status: number, headers: Record<string, string>, body: ErrorBody } {
  if (err instanceof OciError) {
    return { status: err.status, headers: err.headers, body: { errors: [{ code: err.code, message: err.message, detail: err.detail ?? null }] } }
  }
  const e = err as { name?: string, message?: string, code?: string, statusCode?: number, detail?: unknown }
  const entry = errorMapping(err)
  if (entry != null) {
    // a named error with a detail of its own (the digests a manifest is missing) passes it on
    const detail = e.detail != null && typeof e.detail === 'object' ? { error: e.name, ...e.detail } : { error: e.name }
    return { status: entry.status, headers: {}, body: { errors: [{ code: entry.code, message: e.message ?? MESSAGES[entry.code], detail }] } }
  }
  // fastify's own errors (e.g. a body over a limit)
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code: OciErrorCode = e.statusCode === 413 ? 'SIZE_INVALID' : e.statusCode === 429 ? 'TOOMANYREQUESTS' : 'UNSUPPORTED'
    return { status: e.statusCode, headers: {}, body: { errors: [{ code, message: e.message ?? MESSAGES[code], detail: null }] } }
  }
  return { status: 500, headers: {}, body: { errors: [{ code: 'UNSUPPORTED', message: 'internal error', detail: null }] } }
}
