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

/** Time a pull a manifest GET starts may run in all, and a blob stream while it arrives, in ms. */
export const DEFAULT_PULL_TIMEOUT = 10 * 60 * 1000

/** Time a manifest GET waits for a source to deliver a manifest the node lacks before answering MANIFEST_UNKNOWN, in ms. */
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

/** Time a tags/list waits for naming's tags of a signed repository document, in ms (then lists the node's own) */
export const NAMES_LIST_TIMEOUT = 5_000

/**
 * Content types a web page can send in a request without a CORS preflight
 * (the "simple" ones). An upload with one of them needs the gateway token:
 * otherwise any page could make a browser upload to a gateway it can reach.
 */
export const SIMPLE_CONTENT_TYPES = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data'])
