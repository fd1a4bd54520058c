/**
 * Every bound and default of the lab, in one place.
 */

/**
 * What every kernel object the lab makes is named with: namespaces
 * `pvlab<id>-h3`, veths `pvlab<id>-h3` / `pvlab<id>-h3n`, bridges
 * `pvlab<id>-br` / `pvlab<id>-bp`. `lab down --all` removes whatever starts
 * with it, so nothing else on a machine may use it.
 */
export const LAB_PREFIX = 'pvlab'

/**
 * The lab's addresses: lab `<id>` uses `10.77.<id>.0/24`. The range is
 * private (RFC 1918) and nothing on the machines we run on uses it; `lab up`
 * checks the root namespace's addresses and routes anyway and refuses an
 * overlap. The bridge itself has no address, so the root namespace never
 * routes into a lab.
 */
export const LAB_NET = '10.77'

/** Lab ids are 0 to this: at most 100 labs at once on one machine */
export const MAX_LAB_ID = 99

/** Hosts a lab holds besides its origin (addresses .11 to .210 of the /24) */
export const MAX_HOSTS = 200

/** The last byte of the origin's address */
export const ORIGIN_HOST_BYTE = 2

/** Host h<i> has the address `10.77.<id>.<HOST_BYTE_BASE + i>` */
export const HOST_BYTE_BASE = 10

/** @default 100 Mbit/s, each host's link in both directions (and the origin's) */
export const DEFAULT_RATE = 100_000_000

/** The lowest rate a link may be capped at (bits/s) @default 1 Mbit/s */
export const MIN_RATE = 1_000_000

/** The highest rate a link may be capped at (bits/s) @default 100 Gbit/s */
export const MAX_RATE = 100_000_000_000

/**
 * How long a packet may wait in a link's token-bucket queue before it is
 * dropped; the queue holds `rate x latency` bytes. @default 50 ms
 */
export const TBF_LATENCY_MS = 50

/**
 * The smallest token-bucket burst, in bytes. veths hand tbf GSO packets of up
 * to 64 KiB, which tbf must be able to pass whole. @default 128 KiB
 */
export const TBF_MIN_BURST = 128 * 1024

/**
 * The token bucket holds this many seconds of the rate (at least
 * TBF_MIN_BURST): the kernel refills it once per timer tick. @default 4 ms
 */
export const TBF_BURST_SECONDS = 0.004

/** The swarm difficulty of a lab's daemons: quick to generate, still enforced @default 8 */
export const DEFAULT_DIFFICULTY = 8

/** The TCP port each daemon's swarm listens on, on its lab address @default 4101 */
export const SWARM_PORT = 4101

/** The origin's docker-registry port, on its lab address @default 5000 */
export const REGISTRY_PORT = 5000

/** How many hosts (besides the origin) the daemons bootstrap to @default 1 */
export const DEFAULT_SEED_HOSTS = 1

/**
 * The `DEBUG` pattern a lab daemon logs with (`@libp2p/logger`): provenir's
 * own lines (sessions, dials, pulls, failures, the bulk channel's refused and
 * failed connections and its backoffs) and every component's errors, but not
 * the DHT's per-query lines, which outnumber the rest 10 to 1.
 */
export const DEFAULT_DEBUG = 'provenir:daemon*,provenir:node*,provenir:swarm,provenir:bulk,provenir:gateway,provenir:bitswap*,provenir:image-records*,provenir:rpc*,provenir:gater*,provenir:naming*,provenir:registry*,*:error'

/**
 * The V8 flags every daemon runs with, as `npm start` and the binary's
 * shebang give them (see `BENCHMARKS.md`): a 4 MiB young generation, and an
 * old generation of at least 96 MiB before V8's first full GC.
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=4', '--initial-old-space-size=96']

/** One `ip` or `tc` command @default 30 s */
export const COMMAND_TIMEOUT_MS = 30_000

/** A daemon's start, until its ready event @default 120 s */
export const DAEMON_READY_TIMEOUT_MS = 120_000

/** A daemon's graceful stop, before SIGKILL @default 15 s */
export const DAEMON_STOP_TIMEOUT_MS = 15_000

/** Processes of a namespace on `down`: SIGTERM, then SIGKILL after this @default 5 s */
export const KILL_GRACE_MS = 5_000

/** docker-registry's start, until it answers `/v2/` @default 30 s */
export const REGISTRY_READY_TIMEOUT_MS = 30_000

/** Until every daemon has a peer after `up` @default 60 s */
export const CONNECT_TIMEOUT_MS = 60_000

/** Until every puller sees a provider in the DHT before a rollout starts @default 60 s */
export const PROVIDERS_TIMEOUT_MS = 60_000

/** A short CLI command run in a host (`id`, `peers`, `providers`) @default 60 s */
export const CLI_TIMEOUT_MS = 60_000

/** One puller's pull or copy in a rollout @default 1 hour */
export const PULL_TIMEOUT_MS = 3_600_000

/** An image import on the origin @default 30 min */
export const IMPORT_TIMEOUT_MS = 1_800_000

/** How often a rollout reads every link's counters @default 250 ms */
export const SAMPLE_INTERVAL_MS = 250

/** Lines of a host's daemon log a rollout summary quotes @default 8 */
export const LOG_TAIL_LINES = 8

/** The most of a log file read for its tail @default 64 KiB */
export const LOG_TAIL_BYTES = 64 * 1024

/** The state file's size limit @default 1 MiB */
export const MAX_STATE_BYTES = 1024 * 1024

/** The most of a command's output kept @default 16 MiB */
export const MAX_OUTPUT_BYTES = 16 * 1024 * 1024

/** How many daemons start (or hosts are set up) at once @default 4 */
export const START_CONCURRENCY = 4

/** The lab's directory when none is given: `$PROVENIR_LAB_DIR`, else this under the system's temp dir */
export const LAB_DIR_NAME = 'provenir-lab'

/** The environment variable naming the lab's directory */
export const LAB_DIR_ENV = 'PROVENIR_LAB_DIR'

/** The state file's format @default 1 */
export const STATE_VERSION = 1
