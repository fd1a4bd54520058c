/**
 * The transport seam: how the swarm source moves blocks between peers. The
 * swarm source (the pull, the blob streams, single blocks for naming) talks
 * to a `BlockTransport` and never to a protocol: bitswap is one
 * implementation (`bitswap-transport.ts`, the only module of the node that
 * imports `@provenir/bitswap`), and a second one (issue 17's bulk channel:
 * TLS on its own TCP socket, no muxer under the bytes) implements the same
 * interface and is chosen per peer.
 *
 * The contract every transport keeps: a block it yields hashes to its CID
 * (it checked it on receipt) and is already in the node's blockstore (so the
 * caller never stores or hashes it again); a peer that sends a block that
 * matches nothing asked of it is the transport's to punish. A want that
 * nobody serves fails with `BlocksUnavailableError` rather than a
 * transport's own error class, so callers decide by one class whatever moved
 * the bytes.
 */

import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { ProgressEvent, ProgressOptions } from 'progress-events'

/** Finds peers that may hold `cid` (a DHT provider lookup) */
export type ProvidersFunction = (cid: CID, options: { signal: AbortSignal }) => AsyncIterable<PeerId>

/**
 * Progress a transport reports while it fetches. Bitswap reports its own
 * events (`bitswap:want`, `bitswap:block`, ...), which the CLI's progress
 * and the tests read; every transport reports a `<name>:block` event per
 * block, with its size in `bytes`.
 */
export type TransportProgressEvents =
  ProgressEvent<'bitswap:want', CID> |
  ProgressEvent<'bitswap:provider', { peer: PeerId }> |
  ProgressEvent<'bitswap:have', { cid: CID, peer: PeerId }> |
  ProgressEvent<'bitswap:dont-have', { cid: CID, peer: PeerId }> |
  ProgressEvent<'bitswap:want-block', { cid: CID, peer: PeerId }> |
  ProgressEvent<'bitswap:block', { cid: CID, peer?: PeerId, bytes: number, local: boolean }> |
  ProgressEvent<'bulk:block', { cid: CID, peer?: PeerId, bytes: number, local: boolean }> |
  ProgressEvent<'bitswap:retry', { cid: CID, peer: PeerId, reason: 'timeout' | 'disconnect' | 'dont-have' | 'bad-peer' | 'moved' }>

export interface TransportSessionInit {
  /** Called with the first CID wanted, and again when no peer of the session has a block */
  providers?: ProvidersFunction
  /** Peers to ask from the start */
  peers?: PeerId[]
  /** Blocks in flight per `want()` call (memory: window x block size) */
  window?: number
  /** Blocks in flight when a `want()` starts; one more per block delivered, up to `window` */
  initialWindow?: number
  /**
   * For a transport that can share a cap across a session's `want()` calls:
   * each call's window grows up to `perWant` instead of `window`, while the
   * calls together keep at most `total` blocks in flight (memory: `total` x
   * block size), each call one at least. A transport that cannot uses
   * `window` (bitswap).
   */
  sharedWindow?: { perWant: number, total: number }
}

export interface TransportWantOptions extends AbortOptions, ProgressOptions<TransportProgressEvents> {
  /** Yield blocks in the order the CIDs were given (a client streams them), not as they arrive */
  ordered?: boolean
  /** The caller found none of these blocks in the store: do not look each one up first */
  notHeld?: boolean
  /**
   * The caller is done with a block's bytes once it asks for the next one (it
   * hashed them, say): a transport may then reuse their buffer for another
   * block. A transport that keeps no buffers ignores it.
   */
  transient?: boolean
}

/** A block a transport delivered: checked against its CID and stored */
export interface TransportBlock {
  cid: CID
  bytes: Uint8Array
  /** The peer that sent it; absent when it was already held */
  from?: PeerId
}

/** Wants that share their peers: the blocks of one pull */
export interface TransportSession {
  /** Fetches `cids` and yields each block once it is verified and stored (blocks held already are yielded at once) */
  want(cids: Iterable<CID> | AsyncIterable<CID>, options?: TransportWantOptions): AsyncGenerator<TransportBlock, void, undefined>
  /** Adds a peer to ask (dialled first) */
  addPeer(peer: PeerId): void
  /** The peers the session asks */
  peers(): PeerId[]
  /** Stops every `want()` and cancels the session's wants */
  close(): void
  /**
   * The session is about to want `cids`: a DAG's next level, known as its
   * parent lands and before the session's `want()` of it begins. A transport
   * whose single `want()`/`hold()` waits for a session's fetch of a block
   * counts them as being fetched until the function returned is called (once
   * the session's own want has begun). Optional: bitswap has no such wait.
   */
  expect?(cids: CID[]): () => void
}

/** A way to get blocks by CID from other peers */
export interface BlockTransport {
  /** Names the transport in logs and metrics (`bitswap`, `bulk`) */
  readonly name: string
  createSession(init?: TransportSessionInit): TransportSession
  /** One block from any connected peer (a stream that reads a block the pull has not delivered yet) */
  want(cid: CID, options?: TransportWantOptions): Promise<Uint8Array>
  /**
   * Resolves once the node's blockstore holds the block (checked against its
   * CID), fetched as `want` fetches it when it is not held yet: for a caller
   * that reads the block from the store itself, into a buffer of its own,
   * and has no use for the transport's copy (the gateway's stream of a blob
   * still arriving).
   */
  hold(cid: CID, options?: TransportWantOptions): Promise<void>
}
