/**
 * The bulk channel's protocol names and the defaults of every bound it
 * enforces (`doc/LIMITS.md`, "Bulk channel"). Each is an option of
 * `bulk(init)` unless said otherwise.
 */

/** The libp2p protocol that tells a peer where this node's bulk listener is */
export const BULK_INFO_PROTOCOL = '/provenir/bulk/1.0.0'

/** The ALPN name both ends of a bulk TLS connection must agree on */
export const BULK_ALPN = 'provenir-bulk/1'

/**
 * Most bulk connections this node holds to one peer, in either direction.
 * Two carried the 315 MB image fastest on loopback (BENCHMARKS.md, "Bulk
 * channel"): one more lets a block's read on the server overlap the
 * previous block's send.
 *
 * @default 2
 */
export const DEFAULT_CONNECTIONS_PER_PEER = 2

/** @default 8 (the upper end of `connectionsPerPeer`) */
export const MAX_CONNECTIONS_PER_PEER = 8

/**
 * Bytes of the TLS stream a client connection reads at a time, into a
 * buffer of its own reused for every read (`onread`)
 */
export const READ_BUFFER_SIZE = 64 * 1024

/**
 * Blocks up to this size are hashed on the event loop as they arrive, in a
 * buffer of their own; larger ones go into the receive pool's buffers and to
 * the hash worker
 */
export const INLINE_HASH_LIMIT = 64 * 1024

/**
 * Most bytes a server may send before the client has checked its identity:
 * its READY is a few bytes, and nothing else comes before the client's
 * wants. More closes the connection.
 */
export const MAX_EARLY_BYTES = 64 * 1024

/**
 * Most inbound bulk connections the listener holds at once, counting those
 * still in their TLS handshake.
 *
 * @default 256
 */
export const DEFAULT_MAX_INBOUND_CONNECTIONS = 256

/**
 * Requests one client keeps in flight on one connection; a server that
 * receives more than `MAX_QUEUED_REQUESTS` on one connection closes it.
 *
 * @default 16
 */
export const DEFAULT_REQUESTS_PER_CONNECTION = 16

/** Requests a server queues on one connection before it closes the connection as abusive */
export const MAX_QUEUED_REQUESTS = 64

/**
 * Blocks a server reads from its store ahead of the one it is sending, per
 * connection (each a pooled buffer).
 *
 * @default 4
 */
export const DEFAULT_READ_AHEAD = 4

/**
 * Largest block sent or accepted, in bytes: the blockstore's own limit.
 *
 * @default 2097152
 */
export const DEFAULT_MAX_BLOCK_SIZE = 2 * 1024 * 1024

/** Largest frame header (everything but a block's bytes) accepted, in bytes */
export const MAX_FRAME_HEADER = 512

/** Longest CID accepted in a want, in bytes */
export const MAX_CID_SIZE = 128

/**
 * Time for a TCP connect, the TLS handshake, both identity checks and the
 * server's READY, in ms.
 *
 * @default 10000
 */
export const DEFAULT_CONNECT_TIMEOUT = 10_000

/**
 * A connection with requests in flight that receives nothing for this long
 * is stalled: it is closed and its requests go to another peer (ms).
 *
 * @default 10000
 */
export const DEFAULT_STALL_TIMEOUT = 10_000

/**
 * A connection with requests in flight on which the server has answered
 * nothing for this long, only said that the oldest wait their turn for its
 * upload (QUEUED frames), is closed as stalled, and its requests go to
 * another peer (ms): a server cannot hold a client's wants forever by
 * saying so. At 10 Mbit/s an origin's turn around 32 connections (16
 * pullers) takes ~27 s.
 *
 * @default 60000
 */
export const DEFAULT_QUEUED_TIMEOUT = 60_000

/**
 * Blocks the listener writes at once, over all its connections (`SendSlots`);
 * the others wait their turn, in the order they were asked. Written all at
 * once, every block of a rollout's origin lands late, at the same time
 * (BENCHMARKS.md, "Upload slots"). A client that does not take QUEUED frames
 * (an older one) has its blocks written at once, outside the slots.
 *
 * @default 2
 */
export const DEFAULT_SEND_SLOTS = 2

/** Most upload slots (`sendSlots`) */
export const MAX_SEND_SLOTS = 64

/**
 * Blocks waiting for an upload slot past which a want whose client takes it
 * (`busy_ok`) is answered DONT_HAVE with `busy` instead of joining them:
 * about 3 s at 10 Mbit/s with 1 MiB blocks and 2 slots
 */
export const DEFAULT_BUSY_LINE = 4

/** Largest `busyLine` */
export const MAX_BUSY_LINE = 1024

/**
 * A block a server said `busy` for is set aside this long before it is
 * asked again (ms): the window takes other blocks meanwhile
 */
export const BUSY_RETRY = 2_000

/**
 * `busy` answers (or `fetching` from a holder a server named) a block of a
 * session's `want()` takes; then it is asked without `busy_ok` and waits in
 * its server's line, so that a block only a server with a long line holds
 * is not put off for ever. At 6 (~12 s) the 16-host lab rollout at 10
 * Mbit/s took 102.4 s, at 16 90.8 s (BENCHMARKS.md) @default 16
 */
export const MAX_BUSY_ANSWERS = 16

/**
 * Peers remembered per block as having said they stored it (HAVE frames,
 * the latest; for MAX_REDIRECT_BLOCKS blocks) @default 16
 */
export const MAX_HAVE_PEERS = 16

/** Blocks one `want()` sets aside at most; past them a want waits in the server's line */
export const MAX_SET_ASIDE = 32

/**
 * Longest one block holds an upload slot (ms): a block whose client reads
 * slowly, or not at all, keeps being written, but the next one in line
 * starts beside it.
 */
export const SEND_SLOT_LEASE = 5_000

/** Blocks smaller than this are written at once, never wait for a slot: a manifest, a config, a DAG node */
export const SLOTTED_MIN_SIZE = 128 * 1024

/**
 * A block waiting for an upload slot has its client told so (a QUEUED
 * frame) when it starts waiting and again every this many ms: well under
 * the client's `stallTimeout`.
 *
 * @default 2000
 */
export const DEFAULT_QUEUED_INTERVAL = 2_000

/**
 * A connection with nothing in flight for this long is closed, at either end (ms).
 *
 * @default 30000
 */
export const DEFAULT_IDLE_TIMEOUT = 30_000

/**
 * Time for one blockstore call made while serving (ms).
 *
 * @default 10000
 */
export const DEFAULT_BLOCKSTORE_TIMEOUT = 10_000

/**
 * Longest a want of a block this node is fetching itself waits for that
 * fetch before it is answered DONT_HAVE (ms): under the client's
 * `stallTimeout`, so a connection whose wants all wait is not taken for
 * stalled.
 * @default 5000
 */
export const DEFAULT_IN_FLIGHT_WAIT = 5_000

/**
 * How long a peer's bulk address (or its lack of one) is remembered (ms).
 *
 * @default 60000
 */
export const DEFAULT_INFO_TTL = 60_000

/** Time for one `/provenir/bulk/1.0.0` exchange, dial included, in ms */
export const INFO_TIMEOUT = 5_000

/** Largest `/provenir/bulk/1.0.0` answer, in bytes */
export const MAX_INFO_SIZE = 1024

/** Addresses in one `/provenir/bulk/1.0.0` answer */
export const MAX_INFO_ADDRS = 8

/** Inbound `/provenir/bulk/1.0.0` streams per connection */
export const INFO_MAX_INBOUND_STREAMS = 4

/**
 * A peer whose bulk connection failed (refused, timed out, broke) is not
 * dialled over the bulk channel again for this long, doubling with each
 * failure in a row up to `MAX_FAILURE_BACKOFF`; bitswap serves it meanwhile
 * (ms).
 *
 * @default 30000
 */
export const DEFAULT_FAILURE_BACKOFF = 30_000

/** The longest a failure backoff grows to (it doubles with each failure in a row), in ms */
export const MAX_FAILURE_BACKOFF = 10 * 60_000

/**
 * A bulk failure this close to the end of the peer's libp2p connection (ms,
 * before or after it) is taken as caused by it: the backoff ends when the
 * peer is connected again (`BulkPeers.reconnected`). The listener closes
 * the channel when it sees the libp2p connection end, which either end may
 * see first.
 */
export const LOST_CONNECTION_GRACE = 5_000

/**
 * A peer that sent a block that does not hash to its CID is not asked over
 * the bulk channel, nor served, for this long (ms). Bitswap's own ban (its
 * `badPeerBackoff`) is set through the bad-peer hook at the same moment.
 *
 * @default 600000
 */
export const DEFAULT_BAD_PEER_BACKOFF = 600_000

/** Peers whose bulk state (address, failures, ban) is remembered; the oldest idle ones go first */
export const MAX_PEER_STATES = 4096

/**
 * A want waits at most this long for a peer with a bulk channel to appear
 * (the provider lookup and the peers' `/provenir/bulk/1.0.0` answers)
 * before it goes to the fallback transport (ms).
 *
 * @default 2000
 */
export const DEFAULT_DISCOVERY_WAIT = 2_000

/**
 * Bulk peers asked for one block that answered DONT_HAVE (or failed) before
 * the block goes to the fallback, whose want-have asks every peer at once.
 */
export const MAX_MISSES_PER_BLOCK = 4

/**
 * Times a block the fallback gave up on (bitswap's stall: no block for its
 * progress timeout) goes back to the session's bulk peers, before the want
 * fails with the fallback's error. Each time the bulk peers are asked anew,
 * whatever they answered before (pullers hold more by then), a peer whose
 * channel failed once its backoff ends; then the fallback again.
 */
export const MAX_FALLBACK_RETRIES = 2

/**
 * Times a block is asked of the same peer again after this node failed to
 * take it in (its hash worker failed): past them the peer counts as lacking
 * it, and the block goes to other peers, then to the fallback
 */
export const MAX_LOCAL_FAILURES = 3

/**
 * A block the fallback gave up on waits at most this long for a bulk peer's
 * failure backoff to end before it goes to the fallback again (ms)
 */
export const MAX_BACKOFF_WAIT = 60_000

/**
 * Times one block is asked again of peers that answered it is fetching the
 * block itself and it has not landed within their wait (`inFlightWait`),
 * rather than asked of a peer that holds it: about 2 minutes at the default
 * wait. In a rollout on a slow link a puller's fetch from the origin takes
 * longer than that wait (at 10 Mbit/s to 16 pullers, a block queued behind
 * others on the origin's connection, tens of seconds), and the origin,
 * asked instead, sent the block once more over the uplink that bounds the
 * rollout (BENCHMARKS.md, "Holders still fetching"). Past it, such an
 * answer counts as DONT_HAVE.
 */
export const MAX_FETCH_WAITS = 24

/**
 * Blocks of an ordered want (a pull that a registry client streams while it
 * arrives) past the window that the node counts as being fetched already: a
 * single want of one of them (the gateway's stream, which reads 8 leaves
 * ahead) waits for the session to fetch it rather than ask peers itself.
 * Counted in a cold pull through the gateway, the stream's own wants were
 * 14-62 of ~300 leaves, and the session asked the origin again for 27-104
 * blocks they were fetching (BENCHMARKS.md, "A gateway stream's blocks").
 */
export const UPCOMING_BLOCKS = 16

/**
 * Blocks an ordered want fetches ahead, in a random order, while its
 * session has more than one bulk peer (a swarm to trade with), its window of
 * IN_ORDER_BLOCKS is full and the session has room: past those, stored
 * as they land (their buffers taken back at once)
 * and read back from the store when the caller reaches them. In a rollout
 * through the gateways every puller's ordered window holds the same blocks
 * at once, and only the few pullers that hold them can serve them; blocks
 * fetched at random make the pullers hold different blocks to trade, as an
 * `image pull`'s shuffled fetch does. In the lab's gateway rollout (16
 * hosts, 64 MiB at 10 Mbit/s) 4 in order and 24 ahead took 113.9-117.6 s
 * in 4 runs, 8 and 16 121.5-134.7 s, 24 and 8 128.7-149.6 s, 24 in order
 * alone 146.0-150.6 s; taken from just past the 4 rather than past the
 * next 16 (the same blocks on every puller) 97.3 and 106.1 s against 110.0
 * and 112.1 (BENCHMARKS.md, "Fetching ahead of a client's pull"). From a single peer nothing is fetched ahead: on loopback the
 * read-back cost the gateway's daemon 210 MB of reads and 50-70 MiB of peak
 * RSS for nothing.
 */
export const PREFETCH_BLOCKS = 24

/** Blocks in flight in order of an ordered want that fetches ahead (PREFETCH_BLOCKS) */
export const IN_ORDER_BLOCKS = 4

/**
 * A seed of a session: a peer that answered this many of its wants with a
 * block, or with holders to ask instead (it held the block), and none with
 * DONT_HAVE (a rollout's origin). As bitswap's `SEED_MIN_HAVES`.
 */
export const SEED_MIN_HITS = 8

/**
 * A seed counts as this many requests busier than it is when a peer that is
 * no seed may also hold the block (as bitswap's `SEED_PENALTY`): pullers
 * of a rollout are asked first, and the origin sends what only it holds.
 * Otherwise the origin, which answers every want with a block, is chosen for
 * most of them.
 */
export const SEED_EXTRA_LOAD = 3

/**
 * A server sends a block to this many peers (each asking with
 * `redirect_ok`) within `REDIRECT_WINDOW`, then answers the next asker with
 * DONT_HAVE naming the latest of them, and names that asker to the next
 * (`Recipients`): the origin of a rollout sends each block once and the
 * pullers pass it on, instead of every puller that asked it first being
 * sent its own copy.
 */
export const REDIRECT_AFTER_COPIES = 1

/**
 * A server that fetched a block itself lately (a puller of the rollout
 * passing it on) sends it to this many peers, then names them, and only
 * them: a peer it names holds the block or is being sent it by this server,
 * and never waits for another. Waiting askers are named only by a server
 * that held the block before (the origin), in the one order it saw them
 * ask, so no ring of peers waits for one another (BENCHMARKS.md).
 */
export const RELAY_REDIRECT_AFTER_COPIES = 2

/**
 * Blocks smaller than this are always sent, never redirected: a manifest, a
 * config, a DAG's root. A redirect saves the server the block's bytes and
 * costs the asker a round trip (and often a dial) to a puller that may pass
 * it on again; for a small block the round trip is the larger cost. In the
 * lab's 16-host rollout the manifest (about 500 bytes) took up to four
 * redirects and 5-13 s, where asking the origin took 1-2.5 s (BENCHMARKS.md).
 */
export const REDIRECT_MIN_SIZE = 128 * 1024

/**
 * How long a server remembers whom it sent a block to, for redirects, and a
 * node that it fetched a block itself (it relays it), from the last time the
 * block was sent or its holders named (ms). A puller keeps what it pulled:
 * a recipient named minutes later still holds the block, and one that left
 * is not named (`Recipients`). At 30 s, in the lab's rollout of the large
 * image at 10 Mbit/s, the origin forgot the blocks whose askers went to the
 * pullers for a while and sent them again when asked: it sent 3.3 copies of
 * the image, at 10 min 1.3 (BENCHMARKS.md, "Upload slots").
 */
export const REDIRECT_WINDOW = 10 * 60_000

/** Blocks whose recipients a server remembers at once (the oldest go first) */
export const MAX_REDIRECT_BLOCKS = 4_096

/** Peers a session adds because servers named them as holders (each may cost a libp2p dial) */
export const MAX_HINTED_PEERS = 16

/** Holders named in one DONT_HAVE */
export const MAX_HOLDERS = 4

/** Askers of a block told to go to its holders that a server names to later askers (`Recipients`) */
export const MAX_REDIRECTED = 32

/** Largest PeerId (bytes) accepted as a holder: an Ed25519 identity PeerId is 38 bytes */
export const MAX_HOLDER_SIZE = 64

/** Buffers the server keeps for reading blocks into (all connections), 1 MiB each */
export const SERVE_BUFFERS = 32

/** Size of each pooled serving buffer: the default chunk; a larger block gets a buffer of its own */
export const SERVE_BUFFER_SIZE = 1024 * 1024

/**
 * Bytes a serving buffer keeps ahead of the block read into it, for the
 * BLOCK frame's header (~10 bytes): header and block go to the socket as one
 * buffer, where two would be copied into one by node's TLS (`TLSWrap::DoWrite`
 * joins the buffers of a `writev`), 1 MiB per block.
 */
export const SERVE_FRAME_ROOM = 64

/**
 * Buffers kept for receiving blocks into (all connections), 1 MiB each: a
 * caller that is done with each block when it asks for the next one
 * (`transient`) gives its buffer back, and the next block reuses it.
 */
export const RECEIVE_BUFFERS = 32

/**
 * The serving pool drops its free buffers once none was taken for this long
 * (ms): between transfers the daemon does not hold up to 32 MiB of idle
 * buffers. (The receive pool is dropped as soon as no transient fetch runs.)
 */
export const BUFFER_IDLE_MS = 2_000

/** Window of a session when its creator gives none: blocks in flight per `want()` */
export const DEFAULT_SESSION_WINDOW = 32

/** Time to find providers for a session, dials included (ms) */
export const PROVIDER_TIMEOUT = 30_000

/** Providers taken from one provider lookup */
export const MAX_SESSION_PROVIDERS = 16
