import { DEFAULT_DIFFICULTY, DEFAULT_LISTEN } from '@provenir/interface'

/** The kad-dht protocol: provenir's DHT never mixes with the public IPFS DHT */
export const DHT_PROTOCOL = '/provenir/kad/1.0.0'

/** Default TCP listen address of the swarm */
export { DEFAULT_LISTEN }

/** Default swarm difficulty (c1) */
export { DEFAULT_DIFFICULTY }

/** Most connections a node keeps open */
export const DEFAULT_MAX_CONNECTIONS = 300

/** How long a dial may take, in ms */
export const DEFAULT_DIAL_TIMEOUT = 10_000

/**
 * How often a node looks up its own closest peers once its routing table is
 * populated, in ms. The kad-dht default is five minutes.
 */
export const DEFAULT_QUERY_SELF_INTERVAL = 5 * 60_000

/** First line of a Kubo-format swarm.key file */
export const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/'

/**
 * How often libp2p's connection monitor pings each open connection, in ms.
 * Each ping opens a stream and negotiates a protocol; at libp2p's default of
 * 10 s this was the main idle cost of a well-connected node (see
 * doc/ARCHITECTURE.md, "Idle cost"). yamux's own keep-alive frames still
 * detect dead connections in between.
 */
export const DEFAULT_CONNECTION_PING_INTERVAL = 60_000

/**
 * The time libp2p's connection monitor gives a ping before it aborts the
 * connection, in ms (libp2p's own is adaptive, from 5 s). A ping opens a
 * stream and takes three round trips; on a saturated uplink (a rollout's
 * origin, or a puller serving others at 10 Mbit/s) one took longer than
 * 5 s, and the monitor aborted a connection that was carrying a transfer:
 * the bulk channel, which serves only peers with a live connection, closed
 * with it, and the puller used bitswap for 30 s (BENCHMARKS.md, "Pings
 * that aborted busy connections"). Fixed, not adaptive up to libp2p's 60 s:
 * under the ping interval, a ping ends before the next starts (libp2p allows
 * one ping stream out per connection, and a second one fails and aborts it).
 */
export const DEFAULT_CONNECTION_PING_TIMEOUT = 30_000

/** Concurrency of each DHT lookup path (Kademlia's alpha) */
export const DEFAULT_DHT_ALPHA = 3

/** Disjoint DHT lookup paths (S/Kademlia's d) */
export const DEFAULT_DHT_DISJOINT_PATHS = 3

/** How long one DHT provide may run, in ms */
export const PROVIDE_TIMEOUT = 60_000

/** How long findProviders runs when the caller gives no signal, in ms */
export const FIND_PROVIDERS_TIMEOUT = 30_000

/** CIDs remembered as provided in this run before the memory is reset */
export const MAX_PROVIDED_MEMORY = 100_000

/**
 * How long a pull looks in the DHT for a provider of a manifest it does not
 * hold before it gives up with `ManifestNotFoundError`, in ms: a pull no peer
 * can serve fails within 5 s, the CLI's start and answer included. A lookup
 * that ends sooner without naming one gives up sooner (on loopback, in ms).
 */
export const MANIFEST_DISCOVERY_TIMEOUT = 4_000

/**
 * How long a pull on a node with no DHT peers, no connection and no
 * bootstrap peers waits for one before it gives up with
 * `ManifestNotFoundError`, in ms. A node whose peers are on their way (a
 * connection, or bootstrap peers to dial) waits the whole
 * MANIFEST_DISCOVERY_TIMEOUT.
 */
export const DISCOVERY_PEER_WAIT = 2_000

/** How long a pull the content service starts for a client may run in all, in ms */
export const DEFAULT_PULL_TIMEOUT = 10 * 60 * 1000

/** 1 MiB leaf buffers the content service keeps for serving held blobs, across every request (32 MiB) */
export const SERVE_BUFFERS = 32

/** The gateway state file of releases before the content service, migrated into the node's index on first start */
export const LEGACY_GATEWAY_STATE = 'state.json'

/** How long one block (a repository document, an index's block) may take to come from the swarm when the caller gives no signal, in ms */
export const BLOCK_FETCH_TIMEOUT = 30_000

/** Fraction of `storage.maxSize` above which eviction starts */
export const DEFAULT_HIGH_WATERMARK = 0.9

/** Fraction of `storage.maxSize` eviction brings the store down to */
export const DEFAULT_LOW_WATERMARK = 0.8

/**
 * How often, in ms, the store's size is checked against the high watermark
 * besides the check after each block written: an image that was in use or
 * being pulled at the last check may be evictable now.
 */
export const EVICTION_CHECK_INTERVAL = 10_000

/** How long one eviction run may take before it stops (it resumes at the next check), in ms */
export const EVICTION_TIMEOUT = 5 * 60 * 1000

/** The largest `storage.maxSize` accepted: 1 PiB */
export const MAX_STORAGE_SIZE = 2 ** 50

/**
 * Digests whose upstream registry and repository the upstream source
 * remembers (from the manifests it fetched), so a blob request, which names
 * no registry, goes where its manifest came from. About 100 bytes each.
 *
 * @default 100_000
 */
export const MAX_UPSTREAM_LOCATIONS = 100_000

/**
 * Images fetched from an upstream whose blobs are not all stored yet: once
 * the last one is, the image is recorded and provided as a whole (an image
 * record), so peers can pull it from this node over the swarm.
 *
 * @default 10_000
 */
export const MAX_PENDING_UPSTREAM_IMAGES = 10_000

/**
 * How long a tag's resolution on an upstream may take in all, in ms: the
 * registry client's retries with backoff fit in it, and it is shared by the
 * requests that ask for the tag meanwhile (each waits under its own signal).
 *
 * @default 60_000
 */
export const TAG_RESOLVE_TIMEOUT = 60_000

/**
 * The LAN DHT's protocol: a second kad-dht beside DHT_PROTOCOL whose routing
 * table keeps peers by their private addresses only (Kubo's `/ipfs/lan/kad/1.0.0`
 * under provenir's prefix)
 */
export const LAN_DHT_PROTOCOL = '/provenir/lan/kad/1.0.0'

/**
 * The mDNS service name provenir nodes query and answer. Not libp2p's
 * `_p2p._udp.local`: a provenir node has nothing to say to the Kubo and Helia
 * nodes on the same network, and they would not pass its difficulty gater.
 */
export const MDNS_SERVICE_TAG = '_provenir._udp.local'

/**
 * How often the node sends an mDNS query to the local network, in ms (@libp2p/mdns's default)
 *
 * @default 10_000
 */
export const MDNS_QUERY_INTERVAL = 10_000

/**
 * How long after a failed dial a peer found by mDNS is dialled again, in ms.
 * mDNS answers arrive every MDNS_QUERY_INTERVAL; a peer the gater or the
 * swarm key refuses would otherwise be dialled at every answer.
 *
 * @default 60_000
 */
export const MDNS_REDIAL_AFTER = 60_000

/**
 * Peers found by mDNS dialled at once: a network that answers with many NodeIds gets no more
 *
 * @default 8
 */
export const MDNS_MAX_DIALS = 8

/**
 * Peers found by mDNS whose failed dial is remembered (oldest forgotten first)
 *
 * @default 1024
 */
export const MDNS_MAX_REMEMBERED = 1024

/**
 * First wait before bootstrap peers are dialled again while the node has no connection, in ms
 *
 * @default 1_000
 */
export const BOOTSTRAP_REDIAL_MIN_DELAY = 1_000

/**
 * Longest wait between two rounds of bootstrap dials while the node has no
 * connection, in ms: the wait doubles from BOOTSTRAP_REDIAL_MIN_DELAY up to
 * this bound, and starts again from the minimum each time the node loses its
 * last connection.
 *
 * @default 30_000
 */
export const BOOTSTRAP_REDIAL_MAX_DELAY = 30_000
