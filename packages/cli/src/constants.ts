/** Environment variable that names the repo directory */
export const REPO_ENV = 'PROVENIR_PATH'

/** Repo directory under the home directory when neither `--repo` nor `$PROVENIR_PATH` is given */
export const DEFAULT_REPO_DIRNAME = '.provenir'

/** Files and directories inside a repo */
export const CONFIG_FILE = 'config.json'
export const KEYSTORE_FILE = 'keystore.json'
export const DATASTORE_DIR = 'datastore'
export const SWARM_KEY_FILE = 'swarm.key'
export const API_FILE = 'api'

/** The trust policy in the repo: checked on every pull when present */
export const POLICY_FILE = 'policy.json'

/** Keystore name of the node's own key */
export const SELF_KEY_NAME = 'self'

/** The config.json format version this package reads and writes */
export const CONFIG_VERSION = 1

/** Largest config.json accepted, in bytes */
export const MAX_CONFIG_BYTES = 1024 * 1024

/** Largest `api` file accepted, in bytes */
export const MAX_API_FILE_BYTES = 512

/** Default address of the daemon's RPC API: loopback only */
export const DEFAULT_API = '127.0.0.1:5101'

/** Where the OCI Distribution API gateway listens by default: loopback only */
export const DEFAULT_GATEWAY = '127.0.0.1:5000'

/** Mode of the repo directory */
export const REPO_DIR_MODE = 0o700

/** Mode of files holding secrets (swarm.key; the keystore sets its own 0600) */
export const SECRET_FILE_MODE = 0o600

/** Mode of config.json and the api file */
export const PLAIN_FILE_MODE = 0o644

/**
 * How long an RPC handler may run before the server answers 504, in ms.
 * Routes may set their own.
 */
export const RPC_HANDLER_TIMEOUT_MS = 30_000

/** How long the server waits for a whole request to arrive, in ms */
export const RPC_REQUEST_TIMEOUT_MS = 10_000

/** How long an idle keep-alive connection to the RPC server is kept, in ms */
export const RPC_KEEP_ALIVE_TIMEOUT_MS = 5_000

/** Largest RPC request body, in bytes */
export const RPC_BODY_LIMIT = 1024 * 1024

/** Longest URL parameter the RPC router accepts, in characters */
export const RPC_MAX_PARAM_LENGTH = 256

/** How long the RPC client waits for an answer when the caller gives no signal, in ms */
export const RPC_CLIENT_TIMEOUT_MS = 10_000

/** Largest RPC response the client reads, in bytes */
export const RPC_CLIENT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024

/** How long a graceful shutdown may take before the daemon exits anyway, in ms */
export const SHUTDOWN_TIMEOUT_MS = 30_000

/** Least time between two plain-text progress lines when stderr is not a TTY, in ms */
export const PLAIN_PROGRESS_INTERVAL_MS = 2_000

/** Most peer store entries `GET /api/v0/peerstore` returns */
export const MAX_PEERSTORE_LISTED = 1000

/** Directory of the node's content (block files, their index, the image index) inside a repo */
export const CONTENT_DIR = 'content'

/** The registry gateway's state and upload staging, in the repo */
export const GATEWAY_DIR = 'gateway'

/**
 * Handler time of the RPC routes that move whole images (import, export,
 * pull), in ms: a 300 MB image takes seconds on a LAN but far longer over a
 * slow link. The client cancels sooner by closing the request (Ctrl-C).
 */
export const RPC_IMAGE_TIMEOUT_MS = 60 * 60 * 1000

/** Handler time of `POST /api/v0/gc`, in ms */
export const RPC_GC_TIMEOUT_MS = 10 * 60 * 1000

/** Body limit of the content routes (a JSON object naming a digest and a path), in bytes */
export const RPC_CONTENT_BODY_LIMIT = 16 * 1024

/** Longest path accepted by the content routes, in characters */
export const MAX_RPC_PATH_LENGTH = 4096

/** Longest tag accepted by `POST /api/v0/image/export`, in characters */
export const MAX_RPC_TAG_LENGTH = 256

/** How long `GET /api/v0/providers/:digest` looks for providers by default, in ms */
export const PROVIDERS_TIMEOUT_MS = 20_000

/**
 * How long `GET /api/v0/providers/:digest` looks when the node has no
 * connection: the DHT has no peer to ask, so the lookup only finds this
 * node's own records, and waiting the whole PROVIDERS_TIMEOUT_MS for peers
 * that are not there made a lone node's `provenir providers` take 20 s.
 *
 * @default 2000
 */
export const PROVIDERS_LONELY_TIMEOUT_MS = 2_000

/** Most providers `GET /api/v0/providers/:digest` returns */
export const MAX_PROVIDERS_LISTED = 100

/** Most images `GET /api/v0/image/ls` returns */
export const MAX_IMAGES_LISTED = 10_000

/** Least time between two progress events of a streamed RPC answer, in ms */
export const RPC_PROGRESS_INTERVAL_MS = 200

/** Longest line of a streamed (NDJSON) RPC answer the client reads, in bytes */
export const RPC_CLIENT_MAX_LINE_BYTES = 1024 * 1024

/** Images provided at once when the daemon starts */
export const STARTUP_PROVIDE_CONCURRENCY = 4

/** Time for `name publish` (seq read, document, DHT put) over RPC, in ms */
export const RPC_NAME_PUBLISH_TIMEOUT_MS = 120_000

/** Time for `name resolve` and `registry claim` over RPC, in ms */
export const RPC_NAME_RESOLVE_TIMEOUT_MS = 90_000

/** Largest naming request body (a publish with its tags), in bytes */
export const RPC_NAMING_BODY_LIMIT = 256 * 1024

/** Longest image reference a route accepts */
export const MAX_RPC_REFERENCE_LENGTH = 512

/** Largest private-swarm bundle file */
export const MAX_BUNDLE_BYTES = 64 * 1024

/** Most bootstrap addresses in a bundle */
export const MAX_BUNDLE_BOOTSTRAP = 64

/** The bundle `swarm init` writes when no --output is given, in the repo */
export const BUNDLE_FILE = 'swarm-bundle.json'

/** Time the daemon gives the publish that follows a push through the gateway, in ms */
export const GATEWAY_PUBLISH_TIMEOUT_MS = 20_000

/** The repo's TLS directory: the CA and server certificate made at init */
export const TLS_DIR = 'tls'

/**
 * The directory inside TLS_DIR that holds only the CA certificate (`ca.crt`):
 * the one to give skopeo's `--cert-dir` or copy to containerd's and docker's
 * `certs.d/<host:port>/`. Keys never live in it: skopeo reads every `*.key`
 * in a cert dir as a client key.
 */
export const TLS_TRUST_DIR = 'trust'

/** How long the repo's own CA certificate is valid, in days */
export const TLS_CA_VALIDITY_DAYS = 3650

/**
 * How long a server certificate the repo's CA issues is valid, in days. The
 * daemon issues a new one at start when fewer than TLS_RENEW_BEFORE_DAYS are
 * left, so clients, which trust only the CA, never notice.
 *
 * @default 397 (the longest that browsers accept)
 */
export const TLS_SERVER_VALIDITY_DAYS = 397

/** The daemon reissues the repo's server certificate at start when it expires within this many days */
export const TLS_RENEW_BEFORE_DAYS = 30

/** Largest certificate or key file the daemon reads, in bytes */
export const MAX_PEM_BYTES = 256 * 1024

/** Longest certificate or key path accepted in config.json */
export const MAX_TLS_PATH_LENGTH = 4096

/**
 * Browsers the dashboard's event stream (`GET /api/v0/events`) serves at
 * once; one more is answered 503. Each costs a timer tick's JSON write.
 *
 * @default 8
 */
export const DASHBOARD_MAX_SUBSCRIBERS = 8

/**
 * How often the event stream sends a tick (transfers, a bandwidth sample),
 * and how often the bandwidth is sampled while anyone watches, in ms.
 *
 * @default 1000
 */
export const DASHBOARD_TICK_MS = 1_000

/**
 * How often the event stream sends a comment line so proxies and the
 * browser keep an idle stream open, in ms.
 *
 * @default 15000
 */
export const DASHBOARD_HEARTBEAT_MS = 15_000

/**
 * Bandwidth samples kept (one per DASHBOARD_TICK_MS): the chart's span.
 *
 * @default 300 (five minutes)
 */
export const DASHBOARD_HISTORY_SAMPLES = 300

/**
 * Transfers `GET /api/v0/transfers` lists: those in progress first, then
 * the latest finished.
 *
 * @default 32
 */
export const MAX_TRANSFERS_LISTED = 32

/**
 * Sources (peers, `local`) a transfer keeps byte counts for; the rest add
 * to `other`.
 *
 * @default 32
 */
export const MAX_TRANSFER_SOURCES = 32

/**
 * Connected peers `GET /api/v0/peers/detail` lists.
 *
 * @default 1000
 */
export const MAX_PEERS_DETAILED = 1_000

/** Largest dashboard asset the daemon loads into memory at start, in bytes */
export const MAX_DASHBOARD_ASSET_BYTES = 4 * 1024 * 1024
