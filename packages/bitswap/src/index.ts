/**
 * @packageDocumentation
 *
 * A want_list/have_list block exchange for libp2p 3, wire-compatible with
 * IPFS Bitswap 1.2.0 (`/ipfs/bitswap/1.2.0`), so it trades blocks with Kubo
 * and Helia. It also speaks the same protocol as `/provenir/bitswap/1.2.0`.
 *
 * - Sessions fetch a set of blocks from many peers at once: want-have to every
 *   provider, want-blocks spread over the peers that have each block, a
 *   bounded window of blocks in flight, and wants moved off slow, vanished or
 *   lying peers.
 * - Every received block is hashed and checked against its CID before it is
 *   stored; a peer that sends a block that matches nothing we asked it for is
 *   disconnected and penalised.
 * - The engine serves blocks from any `interface-blockstore` Blockstore, with
 *   a pluggable strategy (`serveAll()` or the IPFS paper's `debtRatio()`) and a
 *   ledger per peer.
 * - Every input is bounded: message size, block size, entries per message,
 *   wantlist entries per peer, inbound streams, idle streams. Breaking a limit
 *   resets that stream only. See `doc/LIMITS.md` in the repository.
 *
 * It depends only on libp2p interfaces, multiformats and a Blockstore.
 *
 * @example
 *
 * ```ts
 * import { noise } from '@chainsafe/libp2p-noise'
 * import { yamux } from '@chainsafe/libp2p-yamux'
 * import { identify } from '@libp2p/identify'
 * import { tcp } from '@libp2p/tcp'
 * import { bitswap } from '@provenir/bitswap'
 * import { MemoryBlockstore } from 'blockstore-core'
 * import { createLibp2p } from 'libp2p'
 * import type { ProvidersFunction } from '@provenir/bitswap'
 * import type { CID } from 'multiformats/cid'
 *
 * async function fetchAll (cids: CID[], providers: ProvidersFunction): Promise<void> {
 *   const node = await createLibp2p({
 *     addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
 *     transports: [tcp()],
 *     connectionEncrypters: [noise()],
 *     streamMuxers: [yamux()],
 *     services: { identify: identify(), bitswap: bitswap({ blockstore: new MemoryBlockstore() }) }
 *   })
 *   const session = node.services.bitswap.createSession({ providers })
 *   for await (const { cid, bytes } of session.want(cids, { signal: AbortSignal.timeout(60_000) })) {
 *     // `bytes` hashes to `cid`, and is already in the blockstore
 *   }
 *   session.close()
 *   await node.stop()
 * }
 * ```
 *
 * `test/example.spec.ts` holds a compiled, tested version of this example.
 */

import { BitswapNode } from './bitswap.js'
import type { DebtRatioInit, Ledger, ServeRequest, Strategy } from './ledger.js'
import type { AbortOptions, ComponentLogger, Connection, Metrics, PeerId, Startable, Stream, StreamHandler, StreamHandlerOptions, Topology } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { MultihashHasher } from 'multiformats/hashes/interface'
import type { ProgressEvent, ProgressOptions } from 'progress-events'

export * from './constants.js'
export * from './errors.js'
export { serveAll, debtRatio, debtRatioProbability } from './ledger.js'
/** @internal the wire codec and decoders, exported for the project's fuzzer and rogue-peer tests */
export { decodeMessage, decodePrefix, decodeCID, cidToPrefix, encodeVarint } from './message.js'
export { LengthPrefixedDecoder } from './framing.js'
/** @internal */
export { Message } from './pb/message.js'
export type { DebtRatioInit, Ledger, ServeRequest, Strategy }

/** The part of the libp2p registrar bitswap uses */
export interface BitswapRegistrar {
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
  unhandle(protocol: string, options?: AbortOptions): Promise<void>
  register(protocol: string, topology: Topology, options?: AbortOptions): Promise<string>
  unregister(id: string): void
}

/** The part of the libp2p connection manager bitswap uses */
export interface BitswapConnectionManager {
  openConnection(peer: PeerId, options?: AbortOptions & { runOnLimitedConnection?: boolean }): Promise<Connection>
  openStream(peer: PeerId, protocol: string | string[], options?: AbortOptions & { runOnLimitedConnection?: boolean }): Promise<Stream>
  getConnections(peerId?: PeerId): Connection[]
}

/** What bitswap takes from libp2p */
export interface BitswapComponents {
  registrar: BitswapRegistrar
  connectionManager: BitswapConnectionManager
  peerId: PeerId
  logger: ComponentLogger
  metrics?: Metrics
  /** Used when `init.blockstore` is not given (e.g. a host that provides one) */
  blockstore?: Blockstore
}

export interface BitswapInit {
  /**
   * Where blocks are served from and received blocks are stored. Required,
   * here or in the components.
   */
  blockstore?: Blockstore

  /**
   * Protocols to handle and dial, in order of preference.
   *
   * @default ['/provenir/bitswap/1.2.0', '/ipfs/bitswap/1.2.0']
   */
  protocols?: string[]

  /**
   * Decides whether a block a peer asked for is sent.
   *
   * @default serveAll()
   */
  strategy?: Strategy

  /**
   * Hashers, besides sha2-256 and sha2-512, for verifying blocks. A CID whose
   * hash has no hasher cannot be fetched (UnsupportedHashError).
   *
   * @default []
   */
  hashers?: MultihashHasher[]

  /**
   * Largest message accepted from a peer (bytes); outgoing messages are split
   * to this size too.
   *
   * @default 4194304
   */
  maxMessageSize?: number

  /**
   * Largest block accepted or served (bytes).
   *
   * @default 2097152
   */
  maxBlockSize?: number

  /**
   * Wantlist entries stored per peer; entries beyond are dropped.
   *
   * @default 1024
   */
  maxWantlistSize?: number

  /**
   * Most entries in any one repeated field of a message (wantlist entries,
   * blocks, presences). A message with more resets the stream.
   *
   * @default 8192
   */
  maxEntriesPerMessage?: number

  /**
   * Largest CID accepted in a wantlist entry or presence (bytes).
   *
   * @default 128
   */
  maxCidSize?: number

  /**
   * Concurrent inbound bitswap streams per connection and protocol.
   *
   * @default 32
   */
  maxInboundStreams?: number

  /**
   * Bytes of unfinished inbound messages held for one peer, over all its
   * streams and connections. The stream that passes it is reset
   * (`PeerBufferLimitError`) and the peer penalised. At least
   * `maxMessageSize`.
   *
   * @default 8388608 (2 × maxMessageSize)
   */
  maxPeerBufferedBytes?: number

  /**
   * Bytes of unfinished inbound messages held over all peers. Past it, the
   * streams holding the most (of the peer holding the most) are reset
   * (`NodeBufferLimitError`, no penalty) until the node is back under. At
   * least `maxPeerBufferedBytes`.
   *
   * @default 67108864
   */
  maxBufferedBytes?: number

  /**
   * Messages a peer may send per second over all its inbound streams, and
   * as a burst. Past it the stream is reset (`MessageRateError`) and the
   * peer penalised.
   *
   * @default 5000
   */
  maxMessageRate?: number

  /**
   * Concurrent outbound bitswap streams per connection and protocol.
   *
   * @default 8
   */
  maxOutboundStreams?: number

  /**
   * An inbound stream that delivers no data for this long is reset (ms).
   *
   * @default 30000
   */
  inboundStreamIdleTimeout?: number

  /**
   * Our outbound stream to a peer is closed after this long unused (ms).
   *
   * @default 5000
   */
  outboundStreamIdleTimeout?: number

  /**
   * Time to dial a peer and negotiate a stream (ms).
   *
   * @default 10000
   */
  openStreamTimeout?: number

  /**
   * Time to write one message, including waiting for the stream to drain (ms).
   *
   * @default 30000
   */
  sendTimeout?: number

  /**
   * Time allowed for one blockstore call (ms).
   *
   * @default 10000
   */
  blockstoreTimeout?: number

  /**
   * Blocks up to this size are sent in place of a Have (bytes); 0 disables.
   *
   * @default 1024
   */
  maxSizeReplaceHasWithBlock?: number

  /**
   * Peers whose responses are built at the same time.
   *
   * @default 16
   */
  engineConcurrency?: number

  /**
   * Ledgers kept; the longest-idle disconnected peer's is dropped beyond.
   *
   * @default 16384
   */
  maxLedgers?: number

  /**
   * After a bad block, the peer is asked for nothing for this long (ms): no
   * session sends it a want or dials it, and a connection from it gets no
   * wantlist. A pull whose only holders of a block were banned fails with
   * `NoHonestProviderError`.
   *
   * @default 600000
   */
  badPeerBackoff?: number

  /**
   * Cancelled wants remembered per peer, so that a block crossing our cancel
   * is not taken for a bad block.
   *
   * @default 1024
   */
  cancelledWantMemory?: number

  /**
   * Run over limited (relayed) connections.
   *
   * @default false
   */
  runOnLimitedConnection?: boolean

  /**
   * Defaults for every session created by this node.
   */
  session?: Omit<SessionInit, 'providers' | 'peers' | 'broadcast' | 'initialWindow'>
}

/** Finds peers that may hold `cid` (e.g. a DHT provider lookup) */
export type ProvidersFunction = (cid: CID, options: { signal: AbortSignal }) => AsyncIterable<PeerId>

export interface SessionInit {
  /**
   * Called with the first CID wanted, and again when no peer of the session
   * has a block, to find more peers. They are dialled and asked.
   */
  providers?: ProvidersFunction

  /**
   * Peers to ask from the start.
   *
   * @default []
   */
  peers?: PeerId[]

  /**
   * Also ask every connected bitswap peer.
   *
   * @default true when neither `providers` nor `peers` is given, else false
   */
  broadcast?: boolean

  /**
   * Blocks in flight per `want()` call: requested and not yet handed to the caller.
   *
   * @default 32
   */
  window?: number

  /**
   * Slow start: each `want()` call begins with this many blocks in flight and
   * adds one per block delivered, up to `window` (so the window doubles each
   * round trip). A puller in a rollout that knows only the origin at first
   * then asks it for a few blocks, not a whole window, before the DHT names
   * other pullers.
   *
   * @default window (no slow start)
   */
  initialWindow?: number

  /**
   * A peer holding our want-blocks that delivers nothing for this long is
   * slow, and its wants move to another peer; a want nobody answered Have to
   * in this time triggers a provider lookup (ms).
   *
   * @default 10000
   */
  wantTimeout?: number

  /**
   * A `want()` that receives no block for this long fails with
   * SessionStalledError (ms).
   *
   * @default 60000
   */
  stallTimeout?: number

  /**
   * Providers taken from one call of `providers`.
   *
   * @default 16
   */
  maxProviders?: number

  /**
   * Time for one provider lookup, including dialling the providers (ms).
   *
   * @default 30000
   */
  providerTimeout?: number

  /**
   * Minimum time between two provider lookups (ms).
   *
   * @default 5000
   */
  providerLookupInterval?: number
}

export interface WantOptions extends AbortOptions, ProgressOptions<BitswapWantProgressEvents> {
  /**
   * Yield blocks in the order the CIDs were given rather than as they arrive.
   *
   * @default false
   */
  ordered?: boolean
  /**
   * The caller has just found that none of these blocks is in the blockstore
   * (say, a blob whose root was not held): do not look each one up before
   * asking for it. A block that is held anyway is fetched again, which is
   * harmless (the store keeps one copy).
   *
   * @default false
   */
  notHeld?: boolean
}

/** A verified block */
export interface BlockResult {
  cid: CID
  bytes: Uint8Array
  /** The peer that sent it; absent when it came from the local blockstore or an identity CID */
  from?: PeerId
}

export type BitswapWantProgressEvents =
  ProgressEvent<'bitswap:want', CID> |
  ProgressEvent<'bitswap:provider', { peer: PeerId }> |
  ProgressEvent<'bitswap:have', { cid: CID, peer: PeerId }> |
  ProgressEvent<'bitswap:dont-have', { cid: CID, peer: PeerId }> |
  ProgressEvent<'bitswap:want-block', { cid: CID, peer: PeerId }> |
  ProgressEvent<'bitswap:block', { cid: CID, peer?: PeerId, bytes: number, local: boolean }> |
  ProgressEvent<'bitswap:retry', { cid: CID, peer: PeerId, reason: 'timeout' | 'disconnect' | 'dont-have' | 'bad-peer' | 'moved' }>

/** A set of related wants sharing peers */
export interface Session {
  readonly id: string

  /**
   * Fetches `cids` (read lazily, so the input may be a long or async
   * iterable) and yields each verified block once it is in the blockstore.
   * Blocks already in the blockstore are yielded without asking the network.
   */
  want(cids: Iterable<CID> | AsyncIterable<CID>, options?: WantOptions): AsyncGenerator<BlockResult, void, undefined>

  /**
   * Adds a peer to ask. One not connected yet is dialled first and joins once
   * the dial succeeds; one whose dial failed lately (see
   * `UNREACHABLE_BACKOFF_MIN`) is skipped.
   */
  addPeer(peer: PeerId): void

  /** The peers the session asks */
  peers(): PeerId[]

  /** Aborts every running `want()` and cancels the session's wants */
  close(): void
}

/** An entry of a peer's wantlist as stored by the engine */
export interface WantlistEntry {
  cid: CID
  priority: number
  wantType: 'block' | 'have'
  sendDontHave: boolean
}

export interface Bitswap extends Startable {
  /**
   * Fetches one block from any connected peer (an ephemeral broadcasting
   * session). Fails with SessionStalledError after the stall timeout.
   */
  want(cid: CID, options?: WantOptions): Promise<Uint8Array>

  createSession(init?: SessionInit): Session

  /** Tells peers waiting for these blocks that we have them now */
  notify(cids: CID | CID[]): void

  /** The ledger of one peer */
  ledger(peer: PeerId): Ledger | undefined

  /** Every ledger */
  ledgers(): Ledger[]

  /** What we are waiting for */
  wantlist(): CID[]

  /** What a peer has asked us for and we have not answered yet (or lack) */
  peerWantlist(peer: PeerId): WantlistEntry[] | undefined

  /** Connected peers that speak bitswap */
  peers(): PeerId[]

  /** True while `peer` is banned for a bad block (see `badPeerBackoff`) */
  isBanned(peer: PeerId): boolean
  /**
   * Another channel (the bulk channel) received from `peer` a block that
   * does not hash to its CID: penalise and disconnect it as if it had come
   * over bitswap.
   */
  reportBadBlock(peer: PeerId, reason: string): void
}

/**
 * Creates the bitswap service, for `services: { bitswap: bitswap({ blockstore }) }`.
 * Invalid options throw InvalidConfigError when libp2p constructs it.
 */
export function bitswap (init: BitswapInit = {}): (components: BitswapComponents) => Bitswap {
  return (components) => new BitswapNode(components, init)
}
