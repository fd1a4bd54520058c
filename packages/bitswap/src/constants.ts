/**
 * Protocol identifiers and the default value of every option.
 *
 * Every bound the package enforces has its default here; `doc/LIMITS.md` lists
 * them in one table.
 */

/** The IPFS Bitswap 1.2.0 protocol, spoken by Kubo, boxo and Helia */
export const BITSWAP_120 = '/ipfs/bitswap/1.2.0'

/** The same wire format under the provenir prefix, preferred between provenir nodes */
export const PROVENIR_BITSWAP_120 = '/provenir/bitswap/1.2.0'

/** Protocols handled and dialled by default, in order of preference */
export const DEFAULT_PROTOCOLS: readonly string[] = [PROVENIR_BITSWAP_120, BITSWAP_120]

/** Largest length-prefixed message accepted from a peer, and the size outgoing messages are split to */
export const DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024

/** Largest block accepted from a peer or served to one */
export const DEFAULT_MAX_BLOCK_SIZE = 2 * 1024 * 1024

/** Wantlist entries stored per peer by the engine; entries past this are dropped */
export const DEFAULT_MAX_WANTLIST_SIZE = 1024

/** Entries of any one repeated field (wantlist entries, blocks, presences) in a single message */
export const DEFAULT_MAX_ENTRIES_PER_MESSAGE = 8192

/** Largest CID (in bytes) accepted in a wantlist entry or block presence */
export const DEFAULT_MAX_CID_SIZE = 128

/** Largest CID prefix (version, codec, hash code, digest length) accepted on a block */
export const MAX_PREFIX_SIZE = 32

/** Concurrent inbound bitswap streams per connection and protocol */
export const DEFAULT_MAX_INBOUND_STREAMS = 32

/** Concurrent outbound bitswap streams per connection and protocol (one is used; more only while one is replaced) */
export const DEFAULT_MAX_OUTBOUND_STREAMS = 8

/**
 * Bytes of unfinished inbound messages held for one peer over all its
 * streams (an honest peer writes one message at a time on one stream); the
 * stream that passes it is reset and the peer penalised
 */
export const DEFAULT_MAX_PEER_BUFFERED_BYTES = 2 * DEFAULT_MAX_MESSAGE_SIZE

/**
 * Bytes of unfinished inbound messages held over all peers; past it the
 * streams holding the most are reset (without a penalty)
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024

/**
 * Messages a peer may send per second over all its inbound streams (and as
 * a burst). Peers batch wants and answers into few messages; each message
 * costs microseconds however small, so a flood of tiny ones is refused
 */
export const DEFAULT_MAX_MESSAGE_RATE = 5_000

/** An inbound stream that delivers no data for this long is reset (ms) */
export const DEFAULT_INBOUND_STREAM_IDLE_TIMEOUT = 30_000

/** Our outbound stream to a peer is closed after this long without a message to send (ms) */
export const DEFAULT_OUTBOUND_STREAM_IDLE_TIMEOUT = 5_000

/** Time allowed to dial a peer and negotiate a bitswap stream (ms) */
export const DEFAULT_OPEN_STREAM_TIMEOUT = 10_000

/** Time allowed to write one message to a stream, including waiting for it to drain (ms) */
export const DEFAULT_SEND_TIMEOUT = 30_000

/** Time allowed for one blockstore call (ms) */
export const DEFAULT_BLOCKSTORE_TIMEOUT = 10_000

/** Blocks up to this size are sent in place of a Have, as Kubo does (bytes) */
export const DEFAULT_MAX_SIZE_REPLACE_HAS_WITH_BLOCK = 1024

/** Peers whose responses the engine builds at the same time (bounds memory held by responses) */
export const DEFAULT_ENGINE_CONCURRENCY = 16

/** Blocks a session keeps in flight (requested and not yet handed to the caller) */
export const DEFAULT_SESSION_WINDOW = 32

/** A peer holding want-blocks that delivers nothing for this long is treated as slow and its wants move (ms) */
export const DEFAULT_WANT_TIMEOUT = 10_000

/** A session that receives no block for this long while it waits fails with SessionStalledError (ms) */
export const DEFAULT_STALL_TIMEOUT = 60_000

/** Providers taken from one call of a session's `providers` function */
export const DEFAULT_MAX_PROVIDERS = 16

/** Time allowed for one provider lookup, and to dial one provider (ms) */
export const DEFAULT_PROVIDER_TIMEOUT = 30_000

/** Minimum time between two provider lookups of one session (ms) */
export const DEFAULT_PROVIDER_LOOKUP_INTERVAL = 5_000

/**
 * After sending a bad block a peer is asked for nothing (no want, by any
 * session, nor dialled by one) for this long (ms)
 */
export const DEFAULT_BAD_PEER_BACKOFF = 10 * 60_000

/** Peers banned for bad blocks at once; past this the expired go first, then the oldest ban */
export const MAX_BANNED_PEERS = 4096

/**
 * After a failed dial, a peer is not dialled again for this long, doubled
 * after each further failure up to `UNREACHABLE_BACKOFF_MAX` (ms). A
 * provider record can outlive its node: without this, every want-have to it
 * was a new dial.
 */
export const UNREACHABLE_BACKOFF_MIN = 2_000

/** The longest backoff of a peer that keeps failing to dial, in ms */
export const UNREACHABLE_BACKOFF_MAX = 60_000

/** Peers whose dial failures are remembered at once; the expired go first when it is reached */
export const MAX_UNREACHABLE_PEERS = 4096

/** Ledgers kept; the ledger of the longest-idle disconnected peer is dropped past this */
export const DEFAULT_MAX_LEDGERS = 16_384

/** Cancelled wants remembered per peer so a block that crosses our cancel is not taken for a bad block */
export const DEFAULT_CANCELLED_WANT_MEMORY = 1024

/** Keys wanted by any session remembered, so a late block for one is accepted rather than taken for a bad block */
export const DEFAULT_RECENT_WANT_MEMORY = 65_536
