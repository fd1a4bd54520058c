/**
 * The bulk channel: blocks between provenir peers at the speed of the wire,
 * every byte still verified and every peer authenticated.
 *
 * - **Its own listener.** TCP with TLS 1.3 in node's native TLS on the
 *   socket (TLSWrap: the record layer in OpenSSL, no JavaScript stream under
 *   it) and no stream muxer under the bulk bytes; up to `connectionsPerPeer`
 *   connections to one peer.
 * - **Both ends authenticated by their libp2p identity.** Each presents the
 *   libp2p TLS certificate (its libp2p key in the certificate extension, as
 *   `@libp2p/tls` does); the client checks the server's against the PeerId it
 *   dialled, the server learns the client's from its certificate. No content
 *   byte moves before both checks passed.
 * - **Admission through the swarm.** A client is served only while it holds
 *   a live libp2p connection to this node, so the private swarm's key, the
 *   difficulty gater and any denylist decide who gets in; a peer banned for a
 *   bad block is refused too. A node without the swarm key gets nothing.
 * - **Found through libp2p.** `/provenir/bulk/1.0.0` answers a connected
 *   peer with the listener's port (and addresses, when announced). A peer
 *   that does not speak it is served by the fallback transport (bitswap).
 * - **Content by CID**, each block hashed while it arrives and checked
 *   against its CID before it is stored or handed on. A peer that sends a
 *   wrong block is cut off and banned on the bulk channel and reported to
 *   bitswap's bad-peer mechanism (`onBadPeer`), which disconnects it.
 * - **Bounded**: connections per peer and in all, requests in flight per
 *   connection, wants queued, block and frame sizes, connect, stall, idle
 *   and store timeouts (`doc/LIMITS.md`, "Bulk channel").
 *
 * `bulk(init)` is the libp2p service; `service.transport(fallback)` is the
 * `BlockTransport` the swarm source uses, choosing per peer.
 *
 * @example
 *
 * ```ts
 * const node = await createLibp2p({
 *   // ... tcp, tls or noise, yamux, identify
 *   services: { bitswap: bitswap({ blockstore }), bulk: bulk({ blockstore, listen: '/ip4/0.0.0.0/tcp/4102' }) }
 * })
 * const transport = node.services.bulk.transport(bitswapTransport(node.services.bitswap))
 * const session = transport.createSession({ providers })
 * for await (const { cid, bytes } of session.want(cids)) {
 *   // `bytes` hashed to `cid` and is in the blockstore
 * }
 * ```
 */

import { BulkService } from './service.js'
import type { BlockTransport } from '../transport.js'
import type { BlockHasher } from './client.js'
import type { BulkBlockstore } from './server.js'
import type { ComponentLogger, Connection, Libp2pEvents, Metrics, PeerId, PrivateKey, Startable, Stream, StreamHandler, StreamHandlerOptions, TypedEventTarget } from '@libp2p/interface'

export * from './constants.js'
export * from './errors.js'
export { bulkSettings } from './service.js'
export type { BulkProgressEvents, BulkWantOptions } from './session.js'

export type { BulkBlockstore }

/** What the bulk service takes from libp2p */
export interface BulkComponents {
  privateKey: PrivateKey
  logger: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string): Promise<void>
  }
  connectionManager: {
    openStream(peer: PeerId, protocol: string, options?: { signal?: AbortSignal }): Promise<Stream>
    getConnections(peer?: PeerId): Connection[]
  }
  metrics?: Metrics
}

export interface BulkInit {
  /** Where served blocks are read from and fetched blocks are stored; without one the node neither serves nor fetches */
  blockstore?: BulkBlockstore

  /**
   * The listener's TCP multiaddr (`/ip4/<host>/tcp/<port>`); without one this
   * node does not serve over the bulk channel (it can still fetch).
   */
  listen?: string

  /**
   * When `listen`'s port is taken, listen on a port the OS picks (peers learn
   * it over `/provenir/bulk/1.0.0`) instead of failing to start.
   *
   * @default false
   */
  portFallback?: boolean

  /**
   * Addresses to tell peers instead of the listener's. Without any, a peer
   * dials the host it reaches this node at over libp2p, at the listener's
   * port (or the listener's host when it is bound to one).
   *
   * @default []
   */
  announce?: string[]

  /**
   * Bulk connections to or from one peer.
   *
   * @default 2
   */
  connectionsPerPeer?: number

  /**
   * Wants a client keeps in flight on one connection.
   *
   * @default 16
   */
  requestsPerConnection?: number

  /**
   * Blocks read from the store ahead of the one being sent, per connection.
   *
   * @default 4
   */
  readAhead?: number

  /**
   * Inbound bulk connections at once, handshakes included.
   *
   * @default 256
   */
  maxInboundConnections?: number

  /**
   * Largest block sent or accepted (bytes).
   *
   * @default 2097152
   */
  maxBlockSize?: number

  /**
   * Time for a dial: TCP, TLS, both identity checks and admission (ms).
   *
   * @default 10000
   */
  connectTimeout?: number

  /**
   * A connection with wants in flight that receives nothing for this long is closed and its wants go elsewhere (ms).
   *
   * @default 10000
   */
  stallTimeout?: number

  /**
   * A connection with wants in flight whose server answers nothing for this
   * long, only that they wait for its upload (QUEUED), is closed and its
   * wants go elsewhere (ms).
   *
   * @default 60000
   */
  queuedTimeout?: number

  /**
   * Blocks this node's listener writes at once, over all its connections;
   * the others wait their turn in the order asked, their clients told so
   * every `queuedInterval` ms. Few at a time, a rollout's origin has each
   * block land in a second or two, not all of them together tens of
   * seconds later on a slow uplink.
   *
   * @default 2
   */
  sendSlots?: number

  /**
   * A block waiting for an upload slot has its client told so every this
   * many ms: keep it well under the clients' `stallTimeout` (ms).
   *
   * @default 2000
   */
  queuedInterval?: number

  /**
   * A want whose client takes it (`busy_ok`) is answered DONT_HAVE with
   * `busy` rather than wait for an upload slot when this many blocks wait
   * for one already: its client sets the block aside and asks again later,
   * when others may hold it, so a rollout's origin has a short line and
   * each block it sends lands in seconds.
   *
   * @default 4
   */
  busyLine?: number

  /**
   * A connection with nothing in flight for this long is closed (ms).
   *
   * @default 30000
   */
  idleTimeout?: number

  /**
   * Time for one blockstore read while serving (ms).
   *
   * @default 10000
   */
  blockstoreTimeout?: number

  /**
   * Longest a want of a block this node is fetching itself waits for it
   * before the answer is DONT_HAVE (ms). A server of a rollout names the
   * peers it is sending a block to as its holders; they serve it as it lands.
   *
   * @default 5000
   */
  inFlightWait?: number

  /**
   * How long a peer's bulk address, or its lack of one, is remembered (ms).
   *
   * @default 60000
   */
  infoTtl?: number

  /**
   * After a failed bulk dial or a broken connection, the peer is left to the fallback for this long (ms).
   *
   * @default 30000
   */
  failureBackoff?: number

  /**
   * After a bad block, the peer is neither asked nor served over the bulk channel for this long (ms).
   *
   * @default 600000
   */
  badPeerBackoff?: number

  /**
   * A want waits this long for a peer with a bulk channel before it goes to the fallback (ms).
   *
   * @default 2000
   */
  discoveryWait?: number

  /**
   * Blocks in flight per `want()` when the session's creator sets no window.
   *
   * @default 32
   */
  window?: number

  /** Bitswap's bad-peer mechanism: penalise `peer` and disconnect it (called once per ban) */
  onBadPeer?(peer: PeerId, reason: string): void

  /** True while another part of the node (bitswap) bans `peer`: it is not served either */
  isBanned?(peer: PeerId): boolean

  /**
   * Hashes a received block held in a pooled buffer; the hash worker by
   * default. Tests give one that fails, as a worker that crashed does.
   */
  hashBlock?: BlockHasher
}

export interface Bulk extends Startable {
  /** The listener's address once started; undefined when this node does not serve */
  readonly address: { host: string, port: number } | undefined

  /** The transport over this channel, falling back to `fallback` (bitswap) per peer and per block */
  transport(fallback: BlockTransport): BlockTransport

  /** Blocks and their bytes this node's listener has sent since it started, the wants it answered naming other holders, those it answered DONT_HAVE while its own fetch of the block went on, and the blocks that waited for an upload slot (`queued`) or whose clients were told `busy` instead, and the HAVE frames it sent (`haves`) */
  served(): { blocks: number, bytes: number, redirects: number, fetching: number, queued: number, busy: number, haves: number }
  /** The receive pool: buffers it made since the start, and those waiting to be taken (for tests and metrics) */
  receiveBuffers(): { made: number, free: number }

  /** Bulk connections `peer` holds to us and we to it */
  connections(peer: PeerId): { inbound: number, outbound: number }
}

/** The bulk channel as a libp2p service, for `services: { bulk: bulk(init) }` */
export function bulk (init: BulkInit = {}): (components: BulkComponents) => Bulk {
  return (components) => new BulkService(components, init)
}
