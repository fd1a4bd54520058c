/**
 * Every bound and default of the registry client and the upstream config.
 * `doc/LIMITS.md` lists them.
 */

/** Docker Hub's registry endpoint, where `docker.io` names go. @default 'https://registry-1.docker.io' */
export const DOCKER_HUB_ENDPOINT = 'https://registry-1.docker.io'

/** Time to connect (TCP and TLS) to a registry or its blob storage. @default 10_000 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

/** Time for a registry to answer a request with its headers. @default 30_000 */
export const DEFAULT_HEADERS_TIMEOUT_MS = 30_000

/** Time a response body may stay silent before the read fails (and a blob download resumes). @default 30_000 */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000

/**
 * The whole of one call that moves no blob (a HEAD, a manifest, a token,
 * a referrers list), retries included, unless the caller's signal ends it
 * first. @default 60_000
 */
export const DEFAULT_CALL_TIMEOUT_MS = 60_000

/** Attempts of a request that failed in a way worth retrying (connection, 429, 5xx). @default 4 */
export const DEFAULT_ATTEMPTS = 4

/** The first retry's delay; each next doubles, with jitter. @default 250 */
export const RETRY_BASE_DELAY_MS = 250

/** The longest delay between two attempts, `Retry-After` included. @default 5_000 */
export const RETRY_MAX_DELAY_MS = 5_000

/** Times a blob download picks up where a broken connection left it (`Range`). @default 5 */
export const DEFAULT_BLOB_RESUMES = 5

/** Redirects followed for one request (Docker Hub sends blobs to a CDN). @default 5 */
export const MAX_REDIRECTS = 5

/** Largest manifest or index read from a registry (as `@provenir/content`'s MAX_MANIFEST_SIZE). @default 4 MiB */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024

/** Largest token response. @default 1 MiB */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024

/** Largest error body read (to name the registry's error code). @default 64 KiB */
export const MAX_ERROR_BODY_BYTES = 64 * 1024

/** Largest small blob read whole (a cosign payload, a referrers index). @default 4 MiB */
export const MAX_SMALL_BLOB_BYTES = 4 * 1024 * 1024

/** Tokens kept, one per (realm, service, scope, credentials). @default 1_024 */
export const MAX_CACHED_TOKENS = 1_024

/** A token's lifetime when its response gives none (the token spec's default). @default 60 */
export const DEFAULT_TOKEN_LIFETIME_S = 60

/** A token is renewed this long before it expires. @default 10_000 */
export const TOKEN_EXPIRY_MARGIN_MS = 10_000

/** Largest credentials file read (`auth.json`, docker's `config.json`). @default 1 MiB */
export const MAX_AUTH_FILE_BYTES = 1024 * 1024

/** Time a `docker-credential-<name>` helper may take. @default 10_000 */
export const CREDENTIAL_HELPER_TIMEOUT_MS = 10_000

/** Largest answer read from a credential helper. @default 64 KiB */
export const MAX_HELPER_OUTPUT_BYTES = 64 * 1024

/** Largest CA bundle read for an upstream. @default 1 MiB */
export const MAX_CA_FILE_BYTES = 1024 * 1024

/** Upstream registries in the config. @default 64 */
export const MAX_UPSTREAM_REGISTRIES = 64

/** Endpoints per upstream registry. @default 8 */
export const MAX_UPSTREAM_ENDPOINTS = 8

/** How long a tag resolved on an upstream is reused (and served when the upstream is down). @default 300_000 */
export const DEFAULT_TAG_TTL_MS = 5 * 60_000

/** The longest tag TTL the config accepts. @default 7 days */
export const MAX_TAG_TTL_MS = 7 * 24 * 3600_000

/** Signature manifests read for one image (tag scheme and referrers together). @default 16 */
export const MAX_COSIGN_SIGNATURES = 16

/** Signature layers read from one signature manifest. @default 16 */
export const MAX_COSIGN_LAYERS = 16

/** Largest cosign payload (a simple-signing document). @default 64 KiB */
export const MAX_COSIGN_PAYLOAD_BYTES = 64 * 1024

/** The `Accept` of a manifest request: every manifest and index type a client may meet */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json'
].join(', ')

/** The media type of a cosign simple-signing payload layer */
export const COSIGN_SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json'

/** The annotation of a cosign payload layer that carries its base64 signature */
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature'

/** The artifact type of a cosign signature stored as an OCI 1.1 referrer */
export const COSIGN_ARTIFACT_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json'

/** The User-Agent sent to registries */
export const USER_AGENT = 'provenir-registry-client/0.1'
