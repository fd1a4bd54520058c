/**
 * The one table from provenir's named errors to an HTTP status and an OCI
 * distribution error code, read by both of the daemon's HTTP servers: the
 * registry gateway (which answers with the code) and the RPC API (which
 * answers with the error's name). Errors are looked up by `.name`, so a class
 * need not be imported to be mapped; a name not listed is a 500.
 *
 * Where the two servers once disagreed, the distribution spec decides: a
 * digest or size that does not match is the client's 400 (`DIGEST_INVALID`,
 * `SIZE_INVALID`), not a 422; a cancelled request is 503 and a timed out one
 * 504, never a 404 (a content lookup that finds nothing throws its own
 * not-found error).
 */

/** The OCI distribution-spec error codes, plus distribution's `RANGE_INVALID` */
export type OciErrorCode =
  'BLOB_UNKNOWN' | 'BLOB_UPLOAD_INVALID' | 'BLOB_UPLOAD_UNKNOWN' | 'DIGEST_INVALID' |
  'MANIFEST_BLOB_UNKNOWN' | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'NAME_INVALID' |
  'NAME_UNKNOWN' | 'SIZE_INVALID' | 'UNAUTHORIZED' | 'DENIED' | 'UNSUPPORTED' |
  'TOOMANYREQUESTS' | 'RANGE_INVALID'

export interface ErrorMapping {
  /** HTTP status */
  status: number
  /** The OCI code the registry gateway answers with */
  code: OciErrorCode
}

const row = (status: number, code: OciErrorCode): ErrorMapping => Object.freeze({ status, code })

/** Error name -> HTTP status and OCI code, for every named condition an HTTP client can cause or meet */
export const ERROR_TABLE: Readonly<Record<string, ErrorMapping>> = Object.freeze({
  // @provenir/interface
  InvalidParametersError: row(400, 'UNSUPPORTED'),
  InvalidConfigError: row(400, 'UNSUPPORTED'),
  InsufficientDifficultyError: row(400, 'UNSUPPORTED'),
  KeyNotFoundError: row(404, 'NAME_UNKNOWN'),
  DigestInvalidError: row(400, 'DIGEST_INVALID'),
  AbortError: row(503, 'UNSUPPORTED'),
  TimeoutError: row(504, 'UNSUPPORTED'),
  // interface-store: a block that is not there
  NotFoundError: row(404, 'BLOB_UNKNOWN'),
  // @provenir/content
  DigestMismatchError: row(400, 'DIGEST_INVALID'),
  BlobSizeMismatchError: row(400, 'SIZE_INVALID'),
  ManifestInvalidError: row(400, 'MANIFEST_INVALID'),
  // the spec: a registry SHOULD answer a manifest over its limit with 413
  ManifestTooLargeError: row(413, 'MANIFEST_INVALID'),
  // an unknown or Docker schema 1 media type is an invalid manifest to distribution too
  UnsupportedMediaTypeError: row(400, 'MANIFEST_INVALID'),
  UnsupportedHashError: row(400, 'DIGEST_INVALID'),
  ImageNotFoundError: row(404, 'MANIFEST_UNKNOWN'),
  // a gc took a block while the image was being recorded: try again
  ImageIncompleteError: row(409, 'MANIFEST_BLOB_UNKNOWN'),
  NotABlobError: row(422, 'BLOB_UNKNOWN'),
  InputLimitError: row(413, 'SIZE_INVALID'),
  BlockTooLargeError: row(413, 'SIZE_INVALID'),
  OutputExistsError: row(409, 'UNSUPPORTED'),
  ImageLayoutInvalidError: row(422, 'MANIFEST_INVALID'),
  ArchiveInvalidError: row(422, 'MANIFEST_INVALID'),
  ArchiveTruncatedError: row(422, 'MANIFEST_INVALID'),
  // content the node holds is corrupt on disk, or a peer sent a forged block
  BlockVerificationError: row(502, 'BLOB_UNKNOWN'),
  // @provenir/node: the content service and the swarm
  ManifestNotFoundError: row(404, 'MANIFEST_UNKNOWN'),
  BlobNotFoundError: row(404, 'BLOB_UNKNOWN'),
  RepositoryUnknownError: row(404, 'NAME_UNKNOWN'),
  ManifestReferenceError: row(400, 'MANIFEST_BLOB_UNKNOWN'),
  BlobInUseError: row(405, 'UNSUPPORTED'),
  BlobDagInvalidError: row(502, 'BLOB_UNKNOWN'),
  BlocksUnavailableError: row(404, 'BLOB_UNKNOWN'),
  // the swarm (node's transport seam, bitswap): the content was held only at peers that sent bad blocks, or none delivered in time
  NoHonestProviderError: row(502, 'BLOB_UNKNOWN'),
  SessionStalledError: row(504, 'BLOB_UNKNOWN'),
  ImageRecordNotFoundError: row(404, 'MANIFEST_UNKNOWN'),
  PlatformNotFoundError: row(404, 'MANIFEST_UNKNOWN'),
  // @provenir/trust: a policy refusal
  PolicyViolationError: row(403, 'DENIED'),
  // @provenir/naming
  ReferenceInvalidError: row(400, 'NAME_INVALID'),
  NameNotFoundError: row(404, 'NAME_UNKNOWN'),
  RepositoryNotFoundError: row(404, 'NAME_UNKNOWN'),
  TagNotFoundError: row(404, 'MANIFEST_UNKNOWN'),
  NameTakenError: row(409, 'DENIED'),
  AmbiguousKeyError: row(400, 'UNSUPPORTED'),
  ClaimInvalidError: row(422, 'DENIED'),
  BindingInvalidError: row(422, 'DENIED'),
  RecordInvalidError: row(422, 'DENIED'),
  RecordSignatureError: row(422, 'DENIED'),
  RecordSignerMismatchError: row(422, 'DENIED'),
  RecordExpiredError: row(422, 'DENIED'),
  OwnerMismatchError: row(422, 'DENIED'),
  RollbackError: row(409, 'DENIED'),
  RegistryError: row(502, 'UNSUPPORTED'),
  DnsLookupError: row(502, 'UNSUPPORTED'),
  NamingUnavailableError: row(503, 'UNSUPPORTED'),
  // @provenir/registry-client: an upstream registry, as the node met it (the client's own
  // credentials are not at fault: the node's are, so never a 401 that would make it log in)
  UpstreamNotFoundError: row(404, 'MANIFEST_UNKNOWN'),
  UpstreamNotConfiguredError: row(404, 'NAME_UNKNOWN'),
  UpstreamAuthError: row(403, 'DENIED'),
  UpstreamUnavailableError: row(502, 'UNSUPPORTED'),
  UpstreamTlsError: row(502, 'UNSUPPORTED'),
  UpstreamResponseError: row(502, 'UNSUPPORTED'),
  UpstreamDigestMismatchError: row(502, 'DIGEST_INVALID'),
  CredentialsError: row(502, 'UNSUPPORTED'),
  // @provenir/cli
  PathNotFoundError: row(404, 'UNSUPPORTED')
})

/** The status and code of an error by its name, or undefined for a name the table does not list (a 500) */
export function errorMapping (err: unknown): ErrorMapping | undefined {
  const name = (err as { name?: unknown } | null | undefined)?.name
  return typeof name === 'string' && Object.hasOwn(ERROR_TABLE, name) ? ERROR_TABLE[name] : undefined
}
