/**
 * The bulk channel behind the transport seam (`../transport.ts`): a
 * `BlockTransport` that asks each peer over its bulk channel when it has
 * one, and asks the fallback transport (bitswap) for everything else. The
 * choice is per peer and per block (see `session.ts`, `want-run.ts`); a caller sees one
 * transport and the seam's contract: every block yielded hashed to its CID
 * and is stored, and a want nobody serves fails with the fallback's
 * `BlocksUnavailableError`.
 */

import { PeerSet } from '@libp2p/peer-collections'
import { collect } from './blocks.js'
import { MAX_FALLBACK_RETRIES, MAX_FETCH_WAITS } from './constants.js'
import { BulkSession } from './session.js'
import type { Fetches } from './fetches.js'
import type { BulkSessionComponents } from './session.js'
import type { BulkPeers } from './peers.js'
import type { BlockTransport, TransportSession, TransportSessionInit, TransportWantOptions } from '../transport.js'
import type { Logger } from '@libp2p/interface'
import type { BulkBlockstore } from './server.js'
import type { CID } from 'multiformats/cid'

export interface BulkTransportComponents {
  peers: BulkPeers
  blockstore: BulkBlockstore
  fallback: BlockTransport
  log: Logger
  discoveryWait: number
  defaultWindow: number
  /** Takes back a received block's buffer once its caller is done with it */
  release(bytes: Uint8Array): void
  /** Called when a transient `want()` starts; the function it returns, when that `want()` ends */
  receiving?(): () => void
  /** The blocks being fetched, shared with the listener */
  fetches: Fetches
}

/** Settles with `promise`, or rejects with the signal's reason once it aborts */
async function raced<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal == null) return promise
  signal.throwIfAborted()
  let onAbort!: () => void
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => {
      onAbort = () => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
    })])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

export class BulkTransport implements BlockTransport {
  readonly name = 'bulk'
  readonly #c: BulkTransportComponents

  constructor (components: BulkTransportComponents) {
    this.#c = components
  }

  createSession (init: TransportSessionInit = {}): TransportSession {
    const { fetches } = this.#c
    const components: BulkSessionComponents = { ...this.#c, fetching: (cid) => fetches.begin(cid), asking: (cid, peer) => fetches.asking(cid, peer) }
    return new BulkSession(components, init)
  }

  /**
   * One block: from the store; else from a session fetching it now; else
   * from a peer whose bulk channel is known (connected peers that answered
   * `/provenir/bulk/1.0.0`); else from the fallback.
   */
  async want (cid: CID, options: TransportWantOptions = {}): Promise<Uint8Array> {
    const { blockstore, fallback } = this.#c
    if (await this.#held(cid, options)) return collect(blockstore.get(cid, options))
    return this.#fetching(cid, async () => this.#fromAny(cid, options, bytes => bytes, async () => fallback.want(cid, options)))
  }

  /** As `want`, without reading the block back from the store once it is there */
  async hold (cid: CID, options: TransportWantOptions = {}): Promise<void> {
    if (await this.#held(cid, options)) return
    const { fallback } = this.#c
    await this.#fetching(cid, async () => this.#fromAny(cid, options, () => {}, async () => fallback.hold(cid, options)))
  }

  /**
   * The block from the bulk peers, else from the fallback. When the fallback
   * gives up (`BlocksUnavailableError`: on a slow link, a want asked of a
   * peer whose connections are starved), the bulk peers are asked again,
   * who may hold it by then, MAX_FALLBACK_RETRIES times at most, as a
   * session's blocks are; with no bulk peer known, the fallback's error is
   * the answer.
   */
  async #fromAny<T> (cid: CID, options: TransportWantOptions, fromBulk: (bytes: Uint8Array) => T, fromFallback: () => Promise<T>): Promise<T> {
    for (let round = 0; ; round++) {
      const bytes = await this.#fromPeers(cid, options)
      if (bytes != null) return fromBulk(bytes)
      try {
        return await fromFallback()
      } catch (err: any) {
        if (round >= MAX_FALLBACK_RETRIES || err?.name !== 'BlocksUnavailableError' || options.signal?.aborted === true || this.#c.peers.known().length === 0) throw err
        this.#c.log('the fallback gave up on %c, asking the bulk peers again - %e', cid, err)
      }
    }
  }

  /** Runs a single fetch of `cid`, known to the listener meanwhile (a peer asking for the block waits for it) */
  async #fetching<T> (cid: CID, fetch: () => Promise<T>): Promise<T> {
    const done = this.#c.fetches.begin(cid)
    let stored = false
    try {
      const result = await fetch()
      stored = true
      return result
    } finally {
      done(stored)
    }
  }

  /**
   * Whether the store holds the block, once a fetch of it by this node has
   * ended: a session's (asking a peer, with the fallback, or one of the
   * UPCOMING_BLOCKS of an ordered want past its window), or another single
   * want's. A single want that started its own fetch beside the session's
   * had the peer send the block twice (the gateway's stream reading ahead).
   */
  async #held (cid: CID, options: TransportWantOptions): Promise<boolean> {
    const { blockstore, fetches } = this.#c
    if (await blockstore.has(cid, options)) return true
    const fetching = fetches.pending(cid)
    if (fetching == null) return false
    // a fetch that ended without storing it: an upcoming block the session found held, or a failed one
    return await raced(fetching, options.signal) || await blockstore.has(cid, options)
  }

  /**
   * The block from the first peer whose bulk channel is known that has it,
   * stored; undefined from none. A peer that names holders instead (it sent
   * the block to others lately, see `Recipients`) is asked again without
   * `redirectOk` after them: a gateway's stream in a rollout otherwise has
   * the origin send every block it asks for, as many times as there are
   * hosts. A holder so named that is fetching the block itself, which did
   * not land within its wait, is asked again first (MAX_FETCH_WAITS times
   * at most); a peer not named is not waited for (peers may wait on each
   * other in a ring).
   */
  async #fromPeers (cid: CID, options: TransportWantOptions): Promise<Uint8Array | undefined> {
    const { blockstore, peers } = this.#c
    const signal = options.signal ?? AbortSignal.timeout(this.#c.discoveryWait * 5)
    const order = peers.known()
    // peers asked once with redirectOk that named holders: asked again without, after the holders
    const direct = new PeerSet()
    const asked = new PeerSet()
    // holders servers named
    const named = new PeerSet()
    let waits = 0
    for (let i = 0; i < order.length; i++) {
      const peer = order[i]
      const redirectOk = !direct.has(peer)
      if (redirectOk && asked.has(peer)) continue
      asked.add(peer)
      const ended = this.#c.fetches.asking(cid, peer)
      try {
        const answer = await peers.request(peer, cid, signal, { redirectOk, anyOrder: true })
        if (answer.kind === 'dont-have') {
          if (answer.fetching === true && named.has(peer) && waits < MAX_FETCH_WAITS) {
            waits++
            asked.delete(peer)
            order.splice(i + 1, 0, peer)
          } else if (answer.holders != null && redirectOk) {
            direct.add(peer)
            // a holder whose channel is not known yet is asked where it is first (`request` probes it)
            const next = answer.holders.filter(h => !asked.has(h) && peers.usable(h) !== false)
            for (const h of next) named.add(h)
            order.splice(i + 1, 0, ...next, peer)
          }
          continue
        }
        await blockstore.put(cid, answer.bytes, { signal, verify: false })
        return answer.bytes
      } catch {
        if (signal.aborted) break
      } finally {
        ended()
      }
    }
    return undefined
  }
}
