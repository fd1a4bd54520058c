/**
 * A session of the bulk transport: the blocks of one pull, asked of the
 * session's peers over their bulk channels, and of the fallback transport
 * (bitswap) for what no bulk channel serves.
 *
 * - Peers come from the session's creator (`peers`, `addPeer`) and from the
 *   provider lookup (the DHT), as for bitswap. Each is asked once where its
 *   bulk listener is; a peer without one (a Helia or Kubo node, an older
 *   provenir node) is served by the fallback session alone.
 * - Each block is asked of a bulk peer not known to lack it: the one that
 *   answered most of this session's wants with a block, over its requests in
 *   flight. A peer answers DONT_HAVE at once for a block it does not hold, so
 *   peers still downloading serve what they hold and the rest goes to
 *   others; a block no bulk peer holds (or that `MAX_MISSES_PER_BLOCK` peers
 *   lacked), or that is wanted before any bulk peer is known
 *   (`discoveryWait`), goes to the fallback session, whose want-have and DHT
 *   knowledge find it.
 * - A request that fails (a dial refused, a connection broken or stalled, a
 *   bad block) is asked again elsewhere; the peer backs off or is banned in
 *   `BulkPeers`.
 *
 * The window is the bitswap session's: blocks taken from the caller's list
 * and not yet handed back, growing by one per block from `initialWindow`.
 * With `sharedWindow` each want's window grows further and the wants of the
 * session share a cap on those blocks, each want taking one at least.
 */

import { PeerMap } from '@libp2p/peer-collections'
import { MAX_HINTED_PEERS, MAX_SESSION_PROVIDERS, PROVIDER_TIMEOUT, SEED_MIN_HITS, UPCOMING_BLOCKS } from './constants.js'
import { WantRun } from './want-run.js'
import type { BulkPeers } from './peers.js'
import type { BlockTransport, TransportBlock, TransportSession, TransportSessionInit, TransportWantOptions } from '../transport.js'
import type { Logger, PeerId } from '@libp2p/interface'
import type { BulkBlockstore } from './server.js'
import type { CID } from 'multiformats/cid'
import type { ProgressEvent } from 'progress-events'

/**
 * A want's options as the bulk transport reads them: the seam's. With
 * `transient` each block's buffer goes back to the receive pool once the
 * caller asks for the next block.
 */
export type BulkWantOptions = TransportWantOptions

/** Progress the bulk transport reports: one event per block, as every transport does */
export type BulkProgressEvents = ProgressEvent<'bulk:block', { cid: CID, peer?: PeerId, bytes: number, local: boolean }>

export interface BulkSessionComponents {
  peers: BulkPeers
  blockstore: BulkBlockstore
  fallback: BlockTransport
  log: Logger
  /** How long a want waits for a bulk peer to be known before it goes to the fallback (ms) */
  discoveryWait: number
  /** Window when the creator gives none */
  defaultWindow: number
  /** Tells the transport a block is being fetched (a single `want()` of it waits for this), and then whether it was stored */
  fetching(cid: CID): (stored: boolean) => void
  /** Tells the transport a peer is being asked for a block, and then that the request ended */
  asking(cid: CID, peer: PeerId): () => void
  /** Takes back a received block's buffer */
  release(bytes: Uint8Array): void
  /** Called when a transient `want()` starts; the function it returns, when that `want()` ends */
  receiving?(): () => void
}

type PeerStatus = 'probing' | 'bulk' | 'none'

export class BulkSession implements TransportSession {
  readonly #c: BulkSessionComponents
  readonly #init: TransportSessionInit
  readonly #status = new PeerMap<PeerStatus>()
  readonly #answers = new PeerMap<{ hits: number, misses: number, redirects: number }>()
  readonly #runs = new Set<WantRun>()
  readonly #closed = new AbortController()
  #fallback?: TransportSession
  #discoveryStarted = 0
  #lookupDone = false
  #probing = 0
  #hinted = 0

  constructor (components: BulkSessionComponents, init: TransportSessionInit = {}) {
    this.#c = components
    this.#init = init
  }

  get signal (): AbortSignal {
    return this.#closed.signal
  }

  get components (): BulkSessionComponents {
    return this.#c
  }

  get window (): { window: number, initialWindow: number } {
    const window = Math.max(1, this.#init.sharedWindow?.perWant ?? this.#init.window ?? this.#c.defaultWindow)
    return { window, initialWindow: Math.max(1, Math.min(window, this.#init.initialWindow ?? window)) }
  }

  /** The fallback transport's session, made when first needed, with every peer known so far */
  fallback (): TransportSession {
    this.#fallback ??= this.#c.fallback.createSession({ ...this.#init, peers: [...this.#status.keys()] })
    return this.#fallback
  }

  /** Peers to ask over the bulk channel now */
  bulkPeers (): PeerId[] {
    const out: PeerId[] = []
    for (const [peer, status] of this.#status.entries()) {
      if (status === 'bulk' && this.#c.peers.usable(peer) !== false) out.push(peer)
    }
    return out
  }

  /**
   * The soonest a bulk peer of this session (of those `include` keeps) that
   * backs off after a failure is usable again; undefined when none backs off
   */
  bulkRetryAt (include: (peer: PeerId) => boolean = () => true): number | undefined {
    let soonest: number | undefined
    for (const [peer, status] of this.#status.entries()) {
      const at = status === 'bulk' && include(peer) ? this.#c.peers.retryAt(peer) : undefined
      if (at != null && (soonest == null || at < soonest)) soonest = at
    }
    return soonest
  }

  /** Whether some peer of this session has a bulk channel, usable now or after its failure backoff */
  hasBulkPeers (): boolean {
    return this.bulkPeers().length > 0 || this.bulkRetryAt() != null
  }

  /**
   * True once waiting longer for a bulk peer is pointless: no peer is being
   * probed, and the lookup ended or some peer answered; or `discoveryWait`
   * has passed.
   */
  settled (): boolean {
    if (this.#discoveryStarted === 0) return false
    if (Date.now() - this.#discoveryStarted >= this.#c.discoveryWait) return true
    return this.#probing === 0 && (this.#lookupDone || this.#status.size > 0)
  }

  /** When `settled()` turns true by the clock */
  get discoveryDeadline (): number {
    return this.#discoveryStarted + this.#c.discoveryWait
  }

  /** Starts finding peers with the first CID wanted: the creator's peers, then the providers */
  discover (cid: CID): void {
    if (this.#discoveryStarted !== 0) return
    this.#discoveryStarted = Date.now()
    for (const peer of this.#init.peers ?? []) this.addPeer(peer)
    const providers = this.#init.providers
    if (providers == null) {
      this.#lookupDone = true
      return
    }
    void (async () => {
      const signal = AbortSignal.any([this.#closed.signal, AbortSignal.timeout(PROVIDER_TIMEOUT)])
      let n = 0
      for await (const peer of providers(cid, { signal })) {
        this.addPeer(peer)
        if (++n >= MAX_SESSION_PROVIDERS) break
      }
    })().catch((err: Error) => {
      this.#c.log.trace('bulk session provider lookup ended - %e', err)
    }).finally(() => {
      this.#lookupDone = true
      this.#wakeRuns()
    })
  }

  addPeer (peer: PeerId): void {
    if (this.#closed.signal.aborted || this.#status.has(peer)) return
    this.#status.set(peer, 'probing')
    this.#fallback?.addPeer(peer)
    this.#probing++
    const started = Date.now()
    void this.#c.peers.probe(peer).then(ok => ok, () => false).then(ok => {
      this.#probing--
      this.#status.set(peer, ok ? 'bulk' : 'none')
      // said, since every block only this peer holds then goes to the fallback for the whole session
      if (!ok) this.#c.log('%p has no usable bulk channel for this session (asked for %d ms): the fallback serves it', peer, Date.now() - started)
      this.#wakeRuns()
    })
  }

  peers (): PeerId[] {
    return [...this.#status.keys()]
  }

  /**
   * Adds a peer a server named as a holder of a block. A server's word may
   * add at most MAX_HINTED_PEERS peers to a session (each one a libp2p dial
   * when not connected); false when `peer` is not in the session and was
   * not added.
   */
  addHolder (peer: PeerId): boolean {
    if (this.#status.has(peer)) return true
    if (this.#hinted >= MAX_HINTED_PEERS || this.#closed.signal.aborted) return false
    this.#hinted++
    this.addPeer(peer)
    return true
  }

  /** Whether `peer` is being asked where its bulk channel is */
  probing (peer: PeerId): boolean {
    return this.#status.get(peer) === 'probing'
  }

  /**
   * Counts a peer's answer: a block, DONT_HAVE, or a DONT_HAVE naming
   * holders (`redirect`: it holds the block and sent it to others lately)
   */
  answered (peer: PeerId, answer: 'hit' | 'miss' | 'redirect'): void {
    const stats = this.#answers.get(peer) ?? { hits: 0, misses: 0, redirects: 0 }
    if (answer === 'hit') stats.hits++
    else if (answer === 'miss') stats.misses++
    else stats.redirects++
    this.#answers.set(peer, stats)
  }

  /**
   * A peer that held every block this session asked it for, SEED_MIN_HITS
   * of them at least: it sent them or named holders (a rollout's origin
   * names pullers for most blocks), and answered none with DONT_HAVE
   */
  isSeed (peer: PeerId): boolean {
    return this.#heldAll(peer) >= SEED_MIN_HITS
  }

  /**
   * A peer that answered some of this session's wants and held every block
   * it was asked for (it sent them or named holders), fewer than a seed's
   * SEED_MIN_HITS: a rollout's origin early in a pull
   */
  neverLacked (peer: PeerId): boolean {
    return this.#heldAll(peer) > 0
  }

  /**
   * Whether this session has had no answer from `peer` yet: it may hold
   * any block (a rollout's origin found after the pullers, or asked after
   * them: its first blocks are often a puller's fourth or fifth ask)
   */
  unasked (peer: PeerId): boolean {
    return this.#answers.get(peer) == null
  }

  /** The blocks `peer` held of those this session asked it for (sent or named holders); 0 once it lacked one */
  #heldAll (peer: PeerId): number {
    const stats = this.#answers.get(peer)
    return stats == null || stats.misses > 0 ? 0 : stats.hits + stats.redirects
  }

  /** The share of wants `peer` answered with a block or DONT_HAVE that it answered with a block (a half before it answered any) */
  hitRate (peer: PeerId): number {
    const stats = this.#answers.get(peer)
    return ((stats?.hits ?? 0) + 1) / ((stats?.hits ?? 0) + (stats?.misses ?? 0) + 2)
  }

  #wakeRuns (): void {
    for (const run of this.#runs) run.dispatch()
  }

  /** Whether the session's wants together hold fewer blocks in flight than its `sharedWindow` allows */
  hasRoom (): boolean {
    const cap = this.#init.sharedWindow?.total
    if (cap == null) return true
    let n = 0
    for (const run of this.#runs) n += run.inFlight
    return n < Math.max(1, cap)
  }

  /** A want handed a block back or set one aside: every want may take another */
  freed (): void {
    for (const run of this.#runs) run.room()
  }

  async * want (cids: Iterable<CID> | AsyncIterable<CID>, options: BulkWantOptions = {}): AsyncGenerator<TransportBlock, void, undefined> {
    this.#closed.signal.throwIfAborted()
    if (this.settled() && this.bulkPeers().length === 0) {
      // no bulk channel among this session's peers: bitswap, as it is
      yield * this.fallback().want(cids, options)
      return
    }
    const run = new WantRun(this, options)
    this.#runs.add(run)
    try {
      yield * run.run(cids)
    } finally {
      this.#runs.delete(run)
      // its blocks in flight no longer count against the session's cap
      this.freed()
    }
  }

  /**
   * The session is about to want `cids` (a blob's next level, decoded as its
   * parent landed): the first UPCOMING_BLOCKS count as being fetched, so that
   * the gateway's stream, which reads the blob's first leaves as soon as its
   * root is stored, waits for them instead of asking a peer itself, until the
   * function returned is called or the session closes.
   */
  expect (cids: CID[]): () => void {
    if (this.#closed.signal.aborted) return () => {}
    const ends = cids.slice(0, UPCOMING_BLOCKS).map(cid => this.#c.fetching(cid))
    const end = (): void => {
      this.#closed.signal.removeEventListener('abort', end)
      for (const stored of ends.splice(0)) stored(false)
    }
    this.#closed.signal.addEventListener('abort', end, { once: true })
    return end
  }

  close (): void {
    this.#closed.abort()
    this.#fallback?.close()
  }
}
