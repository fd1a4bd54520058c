/** The default address: loopback only (push needs a token beyond it). */
export const DEFAULT_HOST = '127.0.0.1'

/** The default port, as Docker's registry. */
export const DEFAULT_PORT = 5000

/** The largest manifest or index accepted (the spec asks registries to accept at least 4 MB). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024

/** The largest blob one upload may send. */
export const DEFAULT_MAX_UPLOAD_SIZE = 10 * 1024 * 1024 * 1024

/** Upload sessions open at once. */
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 64

/** An upload untouched this long is removed by the sweeper, in ms. */
export const DEFAULT_UPLOAD_TIMEOUT = 60 * 60 * 1000

/** How often the sweeper looks for abandoned uploads, in ms. */
export const DEFAULT_SWEEP_INTERVAL = 60 * 1000

/**
 * Time to receive one whole request (headers and body) before the socket is
 * closed, in ms. docker sends a layer as one PATCH, so this bounds the time
 * to upload the largest layer; stalled connections are cut sooner by the idle timeout.
 */
export const DEFAULT_REQUEST_TIMEOUT = 60 * 60 * 1000

/** Idle time on a connection (no bytes either way) before it is closed, in ms. */
export const DEFAULT_IDLE_TIMEOUT = 60 * 1000

/** Time a manifest GET may spend pulling an image from the swarm, in ms. */
export const DEFAULT_PULL_TIMEOUT = 10 * 60 * 1000

/** Time a manifest GET waits for the swarm to deliver an unknown manifest before answering MANIFEST_UNKNOWN, in ms. */
export const DEFAULT_MANIFEST_PULL_TIMEOUT = 30 * 1000

/** Most entries in one tags/list or _catalog page when the client gives no `n`. */
export const DEFAULT_PAGE_SIZE = 1000

/** Largest `n` accepted for tags/list and _catalog. */
export const MAX_PAGE_SIZE = 10_000

/** The service named in the `WWW-Authenticate: Bearer` challenge. */
export const AUTH_REALM = 'provenir'

/** The token endpoint the challenge's realm points at (Docker token flow). */
export const TOKEN_PATH = '/provenir/token'

/** Repository names, from the distribution-spec. */
export const NAME_REGEX = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/

/** Tags, from the distribution-spec. */
export const TAG_REGEX = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/

/** Longest repository name (distribution's limit, which clients expect). */
export const MAX_NAME_LENGTH = 255

/** The OCI empty descriptor's media type (the config of an artifact manifest) */
export const MEDIA_TYPE_OCI_EMPTY = 'application/vnd.oci.empty.v1+json'

/** Annotation cosign and other Sigstore tools read for a bundle's predicate type */
export const ANNOTATION_BUNDLE_PREDICATE_TYPE = 'dev.sigstore.bundle.predicateType'

/** Annotation naming the statement block (its CID) an artifact manifest carries */
export const ANNOTATION_STATEMENT = 'dev.provenir.statement'

/** Annotation listing the UserIds that signed the statement, comma-separated */
export const ANNOTATION_SIGNERS = 'dev.provenir.signers'

/** 1 MiB leaf buffers kept for serving held blobs, across every request (32 MiB) */
export const SERVE_BUFFERS = 32
