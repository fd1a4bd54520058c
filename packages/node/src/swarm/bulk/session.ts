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
 */

import { PeerMap } from '@libp2p/peer-collections'
import { CustomProgressEvent } from 'progress-events'
import { toString } from 'uint8arrays/to-string'
import { MAX_MISSES_PER_BLOCK, MAX_SESSION_PROVIDERS, PROVIDER_TIMEOUT } from './constants.js'
import { hashAlgorithm } from './client.js'
import type { BulkPeers } from './peers.js'
import type { BlockTransport, TransportBlock, TransportSession, TransportSessionInit, TransportWantOptions } from '../transport.js'
import type { Logger, PeerId } from '@libp2p/interface'
import type { BulkBlockstore } from './server.js'
import type { CID } from 'multiformats/cid'
import type { ProgressEvent } from 'progress-events'

/**
 * A want's options as the bulk transport reads them: the seam's, and
 * `transient`: the caller is done with a block's bytes once it asks for the
 * next block (it hashed them, say), so their buffer can take another block.
 */
export interface BulkWantOptions extends TransportWantOptions {
  transient?: boolean
}

/** Progress the bulk transport reports: one event per block, as every transport does */
export type BulkProgressEvents = ProgressEvent<'bulk:block', { cid: CID, peer?: PeerId, bytes: number, local: boolean }>

/** The key a block is known by: its multihash (a CIDv0 and a CIDv1 of one hash are one block) */
export function blockKey (cid: CID): string {
  return toString(cid.multihash.bytes, 'base64')
}

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
  /** Takes back a received block's buffer */
  release(bytes: Uint8Array): void
}

type PeerStatus = 'probing' | 'bulk' | 'none'

export class BulkSession implements TransportSession {
  readonly #c: BulkSessionComponents
  readonly #init: TransportSessionInit
  readonly #status = new PeerMap<PeerStatus>()
  readonly #answers = new PeerMap<{ hits: number, misses: number }>()
  readonly #runs = new Set<{ dispatch(): void }>()
  readonly #closed = new AbortController()
  #fallback?: TransportSession
  #discoveryStarted = 0
  #lookupDone = false
  #probing = 0

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
    const window = Math.max(1, this.#init.window ?? this.#c.defaultWindow)
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
    void this.#c.peers.probe(peer, this.#closed.signal).then(ok => ok, () => false).then(ok => {
      this.#probing--
      this.#status.set(peer, ok ? 'bulk' : 'none')
      this.#wakeRuns()
    })
  }

  peers (): PeerId[] {
    return [...this.#status.keys()]
  }

  /** Counts a peer's answer: a block, or DONT_HAVE */
  answered (peer: PeerId, hit: boolean): void {
    const stats = this.#answers.get(peer) ?? { hits: 0, misses: 0 }
    if (hit) stats.hits++
    else stats.misses++
    this.#answers.set(peer, stats)
  }

  /** The share of wants `peer` answered with a block in this session (a half before it answered any) */
  hitRate (peer: PeerId): number {
    const stats = this.#answers.get(peer)
    return ((stats?.hits ?? 0) + 1) / ((stats?.hits ?? 0) + (stats?.misses ?? 0) + 2)
  }

  #wakeRuns (): void {
    for (const run of this.#runs) run.dispatch()
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
    }
  }

  close (): void {
    this.#closed.abort()
    this.#fallback?.close()
  }
}

/** One block of a want: where it is in the caller's list, and who was asked */
interface Item {
  cid: CID
  key: string
  /** places in the caller's list (a CID given twice is fetched once) */
  positions: number[]
  /** bulk peers that said DONT_HAVE or failed for it in this want */
  lacking: PeerMap<true>
  state: 'queued' | 'asking' | 'fallback' | 'done'
  /** tells the transport how the fetch ended */
  done(stored: boolean): void
}

/** One `want()` call: its window, its blocks, and the order it yields them in */
class WantRun {
  readonly #session: BulkSession
  readonly #options: BulkWantOptions
  /** blocks yielded at more than one place: their buffer is not taken back */
  readonly #shared = new WeakSet<Uint8Array>()
  readonly #controller = new AbortController()
  readonly #signal: AbortSignal
  readonly #items = new Map<string, Item>()
  readonly #queue: Item[] = []
  readonly #ready: TransportBlock[] = []
  readonly #reorder = new Map<number, TransportBlock>()
  readonly #limit: number
  #window: number
  #taken = 0
  #yielded = 0
  #inputDone = false
  #error?: Error
  #changed?: () => void
  #room?: () => void
  #timer?: ReturnType<typeof setTimeout>
  #fallbackBatch: Item[] = []

  constructor (session: BulkSession, options: BulkWantOptions) {
    this.#session = session
    this.#options = options
    this.#signal = AbortSignal.any([this.#controller.signal, session.signal, ...(options.signal != null ? [options.signal] : [])])
    const { window, initialWindow } = session.window
    this.#limit = window
    this.#window = initialWindow
    this.#signal.addEventListener('abort', () => {
      this.#room?.()
      this.#wake()
    }, { once: true })
  }

  async * run (cids: Iterable<CID> | AsyncIterable<CID>): AsyncGenerator<TransportBlock, void, undefined> {
    void this.#feed(cids).catch((err: Error) => { this.#fail(err) })
    try {
      while (true) {
        if (this.#error != null) throw this.#error
        this.#signal.throwIfAborted()
        const block = this.#take()
        if (block != null) {
          this.#yielded++
          this.#room?.()
          yield block
          // the caller asked for the next: a transient caller is done with this one
          if (this.#options.transient === true && !this.#shared.has(block.bytes)) this.#session.components.release(block.bytes)
          continue
        }
        if (this.#inputDone && this.#yielded === this.#taken) return
        await new Promise<void>(resolve => { this.#changed = resolve })
      }
    } finally {
      this.#controller.abort()
      clearTimeout(this.#timer)
      for (const item of this.#items.values()) item.done(false)
      this.#items.clear()
    }
  }

  #take (): TransportBlock | undefined {
    if (this.#options.ordered !== true) return this.#ready.shift()
    const block = this.#reorder.get(this.#yielded)
    if (block != null) this.#reorder.delete(this.#yielded)
    return block
  }

  #wake (): void {
    const changed = this.#changed
    this.#changed = undefined
    changed?.()
  }

  #fail (err: Error): void {
    this.#error ??= err
    this.#wake()
  }

  /** Reads the caller's CIDs as the window allows */
  async #feed (cids: Iterable<CID> | AsyncIterable<CID>): Promise<void> {
    let position = 0
    for await (const cid of cids) {
      while (this.#taken - this.#yielded >= this.#window) {
        if (this.#signal.aborted) return
        await new Promise<void>(resolve => { this.#room = resolve })
        this.#room = undefined
      }
      if (this.#signal.aborted) return
      this.#taken++
      await this.#add(cid, position++)
    }
    this.#inputDone = true
    this.#wake()
  }

  async #add (cid: CID, position: number): Promise<void> {
    const key = blockKey(cid)
    const existing = this.#items.get(key)
    if (existing != null) {
      existing.positions.push(position)
      return
    }
    const { blockstore } = this.#session.components
    if (this.#options.notHeld !== true && await blockstore.has(cid, { signal: this.#signal })) {
      const bytes = await collect(blockstore.get(cid, { signal: this.#signal }))
      this.#progress(cid, bytes, undefined)
      this.#place({ cid, bytes }, [position])
      return
    }
    const item: Item = { cid, key, positions: [position], lacking: new PeerMap(), state: 'queued', done: this.#session.components.fetching(cid) }
    this.#items.set(key, item)
    this.#session.discover(cid)
    if (hashAlgorithm(cid) == null) {
      this.#toFallback(item)
      return
    }
    this.#queue.push(item)
    this.dispatch()
  }

  /** Gives each queued block to a bulk peer, or to the fallback once no bulk peer can serve it */
  dispatch (): void {
    if (this.#signal.aborted) return
    const bulk = this.#session.bulkPeers()
    const settled = this.#session.settled()
    const { peers } = this.#session.components
    const load = new PeerMap<number>()
    for (const p of bulk) load.set(p, peers.load(p))
    for (let i = 0; i < this.#queue.length;) {
      const item = this.#queue[i]
      const choices = item.lacking.size >= MAX_MISSES_PER_BLOCK ? [] : bulk.filter(p => item.lacking.get(p) == null)
      if (choices.length === 0) {
        if (settled) {
          this.#queue.splice(i, 1)
          this.#toFallback(item)
        } else {
          this.#waitForDiscovery()
          i++
        }
        continue
      }
      this.#queue.splice(i, 1)
      const best = this.#choose(choices, load)
      load.set(best, (load.get(best) ?? 0) + 1)
      this.#ask(item, best)
    }
  }

  /**
   * The peer most likely to answer soonest with the block: the share of
   * this session's wants it answered with a block, over its requests in
   * flight (random among equals). A puller that holds little of the blob
   * yet is asked less until it holds more.
   */
  #choose (choices: PeerId[], load: PeerMap<number>): PeerId {
    const start = Math.floor(Math.random() * choices.length)
    let best = choices[start]
    let bestScore = -1
    for (let i = 0; i < choices.length; i++) {
      const p = choices[(start + i) % choices.length]
      const score = this.#session.hitRate(p) / (1 + (load.get(p) ?? 0))
      if (score > bestScore) {
        best = p
        bestScore = score
      }
    }
    return best
  }

  #waitForDiscovery (): void {
    if (this.#timer != null) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.dispatch()
    }, Math.max(10, this.#session.discoveryDeadline - Date.now()))
  }

  #ask (item: Item, peer: PeerId): void {
    item.state = 'asking'
    const { peers, blockstore } = this.#session.components
    peers.request(peer, item.cid, this.#signal).then(async answer => {
      this.#session.answered(peer, answer.kind === 'block')
      if (answer.kind === 'dont-have') {
        this.#retry(item, peer)
        return
      }
      // checked against its CID as it arrived (BulkConnection)
      await blockstore.put(item.cid, answer.bytes, { signal: this.#signal, verify: false })
      this.#progress(item.cid, answer.bytes, peer)
      this.#deliver(item, answer.bytes, peer)
    }, () => {
      // refused, broken, stalled or lying: BulkPeers backs off or bans the peer
      this.#retry(item, peer)
    }).catch((err: Error) => {
      if (!this.#signal.aborted) this.#fail(err)
    })
  }

  #retry (item: Item, peer: PeerId): void {
    if (this.#signal.aborted || item.state !== 'asking') return
    item.lacking.set(peer, true)
    item.state = 'queued'
    this.#queue.push(item)
    this.dispatch()
  }

  /** Hands blocks to the fallback session, those of one tick in one `want()` */
  #toFallback (item: Item): void {
    item.state = 'fallback'
    this.#fallbackBatch.push(item)
    if (this.#fallbackBatch.length > 1) return
    queueMicrotask(() => {
      const batch = this.#fallbackBatch
      this.#fallbackBatch = []
      void this.#runFallback(batch).catch((err: Error) => {
        if (!this.#signal.aborted) this.#fail(err)
      })
    })
  }

  async #runFallback (batch: Item[]): Promise<void> {
    const wants = this.#session.fallback().want(batch.map(i => i.cid), { signal: this.#signal, onProgress: this.#options.onProgress, notHeld: true })
    for await (const block of wants) {
      const item = this.#items.get(blockKey(block.cid))
      if (item?.state === 'fallback') this.#deliver(item, block.bytes, block.from)
    }
  }

  #deliver (item: Item, bytes: Uint8Array, from: PeerId | undefined): void {
    if (item.state === 'done') return
    item.state = 'done'
    this.#items.delete(item.key)
    item.done(true)
    this.#place({ cid: item.cid, bytes, ...(from != null ? { from } : {}) }, item.positions)
    if (this.#window < this.#limit) this.#window++
  }

  #place (block: TransportBlock, positions: number[]): void {
    if (positions.length > 1) this.#shared.add(block.bytes)
    for (const position of positions) {
      if (this.#options.ordered === true) this.#reorder.set(position, block)
      else this.#ready.push(block)
    }
    this.#wake()
  }

  #progress (cid: CID, bytes: Uint8Array, peer: PeerId | undefined): void {
    try {
      const event = new CustomProgressEvent('bulk:block', { cid, ...(peer != null ? { peer } : {}), bytes: bytes.byteLength, local: peer == null });
      (this.#options.onProgress as ((evt: BulkProgressEvents) => void) | undefined)?.(event)
    } catch {
      // a throwing progress handler must not break the fetch
    }
  }
}

async function collect (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
}
