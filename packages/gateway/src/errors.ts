/**
 * Errors: the OCI distribution-spec error codes, and the ONE table that maps
 * provenir's errors (identified by `.name`) to a code and an HTTP status.
 *
 * Codes are those of the spec's "Error Codes" table, plus `RANGE_INVALID`
 * (from the Docker registry API that the spec descends from, and what
 * distribution answers a 416 with) and `BLOB_UPLOAD_UNKNOWN`/`BLOB_UPLOAD_INVALID`.
 */

import { ProvenirError } from '@provenir/interface'

export type OciErrorCode =
  'BLOB_UNKNOWN' | 'BLOB_UPLOAD_INVALID' | 'BLOB_UPLOAD_UNKNOWN' | 'DIGEST_INVALID' |
  'MANIFEST_BLOB_UNKNOWN' | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'NAME_INVALID' |
  'NAME_UNKNOWN' | 'SIZE_INVALID' | 'UNAUTHORIZED' | 'DENIED' | 'UNSUPPORTED' |
  'TOOMANYREQUESTS' | 'RANGE_INVALID'

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

/**
 * provenir error name -> OCI code and status. An error not listed is a 500
 * (the message is not sent, as it may name files).
 */
export const ERROR_TABLE: Readonly<Record<string, { code: OciErrorCode, status: number }>> = {
  // @provenir/content
  DigestInvalidError: { code: 'DIGEST_INVALID', status: 400 },
  DigestMismatchError: { code: 'DIGEST_INVALID', status: 400 },
  BlobSizeMismatchError: { code: 'SIZE_INVALID', status: 400 },
  ManifestInvalidError: { code: 'MANIFEST_INVALID', status: 400 },
  // the spec: a registry SHOULD answer a manifest over its limit with 413
  ManifestTooLargeError: { code: 'MANIFEST_INVALID', status: 413 },
  // an unknown or Docker schema 1 media type is an invalid manifest to distribution too
  UnsupportedMediaTypeError: { code: 'MANIFEST_INVALID', status: 400 },
  ImageNotFoundError: { code: 'MANIFEST_UNKNOWN', status: 404 },
  ImageIncompleteError: { code: 'MANIFEST_BLOB_UNKNOWN', status: 400 },
  NotABlobError: { code: 'BLOB_UNKNOWN', status: 404 },
  NotFoundError: { code: 'BLOB_UNKNOWN', status: 404 },
  BlockVerificationError: { code: 'BLOB_UNKNOWN', status: 502 },
  InputLimitError: { code: 'SIZE_INVALID', status: 413 },
  // @provenir/node pulls
  ImageRecordNotFoundError: { code: 'MANIFEST_UNKNOWN', status: 404 },
  AbortError: { code: 'MANIFEST_UNKNOWN', status: 404 },
  TimeoutError: { code: 'MANIFEST_UNKNOWN', status: 404 },
  // @provenir/bitswap: the swarm held the content only at peers that sent bad blocks, or delivered none in time
  NoHonestProviderError: { code: 'BLOB_UNKNOWN', status: 502 },
  SessionStalledError: { code: 'BLOB_UNKNOWN', status: 504 },
  // @provenir/interface
  InvalidParametersError: { code: 'UNSUPPORTED', status: 400 },
  // trust (once it lands): a policy refusal
  PolicyViolationError: { code: 'DENIED', status: 403 }
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
  const e = err as { name?: string, message?: string, code?: string, statusCode?: number }
  const entry = e?.name != null ? ERROR_TABLE[e.name] : undefined
  if (entry != null) {
    return { status: entry.status, headers: {}, body: { errors: [{ code: entry.code, message: e.message ?? MESSAGES[entry.code], detail: { error: e.name } }] } }
  }
  // fastify's own errors (e.g. a body over a limit)
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code: OciErrorCode = e.statusCode === 413 ? 'SIZE_INVALID' : e.statusCode === 429 ? 'TOOMANYREQUESTS' : 'UNSUPPORTED'
    return { status: e.statusCode, headers: {}, body: { errors: [{ code, message: e.message ?? MESSAGES[code], detail: null }] } }
  }
  return { status: 500, headers: {}, body: { errors: [{ code: 'UNSUPPORTED', message: 'internal error', detail: null }] } }
}
