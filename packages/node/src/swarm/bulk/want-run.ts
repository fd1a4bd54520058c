/**
 * One `want()` call of a bulk session: its window, its blocks, which peer
 * each is asked of, the hand-over to the fallback, and the order blocks are
 * yielded in.
 */

import { code as DAG_PB_CODE } from '@ipld/dag-pb'
import { PeerMap, PeerSet } from '@libp2p/peer-collections'
import { warmHashWorker } from '@provenir/content'
import { CustomProgressEvent } from 'progress-events'
import { hashAlgorithm } from './client.js'
import { BUSY_RETRY, MAX_BACKOFF_WAIT, MAX_BUSY_ANSWERS, MAX_FALLBACK_RETRIES, MAX_FETCH_WAITS, MAX_LOCAL_FAILURES, MAX_MISSES_PER_BLOCK, IN_ORDER_BLOCKS, MAX_SET_ASIDE, PREFETCH_BLOCKS, SEED_EXTRA_LOAD, UPCOMING_BLOCKS } from './constants.js'
import { blockKey, collect } from './blocks.js'
import { shuffle } from '../shuffle.js'
import type { BulkProgressEvents, BulkSession, BulkWantOptions } from './session.js'
import type { TransportBlock } from '../transport.js'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** One block of a want: where it is in the caller's list, and who was asked */
interface Item {
  cid: CID
  key: string
  /** places in the caller's list (a CID given twice is fetched once); none while it is fetched ahead */
  positions: number[]
  /** fetched ahead of an ordered want's window (PREFETCH_BLOCKS), not reached by the caller yet */
  ahead: boolean
  /** bulk peers that said DONT_HAVE or failed for it in this round (since the fallback last gave up on it) */
  lacking: PeerMap<true>
  /** peers a server named as holders of it instead of sending it (to ask before others, and again while they are fetching it) */
  hints: PeerId[]
  /** answers in this round that a peer is fetching it and it has not landed yet (see MAX_FETCH_WAITS) */
  waits: number
  /** peers that redirected it once: asked again, they are asked without `redirectOk` */
  direct: PeerMap<true>
  state: 'queued' | 'asking' | 'aside' | 'fallback' | 'done'
  /** when a server last said `busy` for it (its upload line was long) */
  asideAt: number
  /** `busy` answers to it (see MAX_BUSY_ANSWERS) */
  busies: number
  /** times the fallback gave up on it (see MAX_FALLBACK_RETRIES) */
  fallbacks: number
  /** times this node failed to take it in, no fault of the peer's (see MAX_LOCAL_FAILURES) */
  localFailures: number
  /** tells the transport how the fetch ended */
  done(stored: boolean): void
}

/** One `want()` call: its window, its blocks, and the order it yields them in */
export class WantRun {
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
  #timerAt = 0
  #fallbackBatch: Item[] = []
  /** why the blocks of the batch being gathered go to the fallback, and how many for each reason */
  readonly #fallbackReasons = new Map<string, number>()
  /** blocks set aside after a `busy` answer, oldest first: they take no room in the window */
  readonly #aside: Item[] = []
  /** an ordered want's blocks past the window, counted as fetched already (UPCOMING_BLOCKS), by position */
  readonly #upcoming = new Map<number, (stored: boolean) => void>()
  /** an ordered want's positions in a random order, for the blocks it fetches ahead, and how far they were taken */
  #aheadOrder?: number[]
  #aheadAt = 0
  /** blocks fetched ahead and in flight */
  #ahead = 0
  /** blocks fetched ahead and stored, until the caller reaches them */
  readonly #stored = new Set<string>()

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
    // blocks of a pooled size are hashed on the hash worker: started now, not with the first of them
    warmHashWorker()
    void this.#feed(cids).catch((err: Error) => { this.#fail(err) })
    const received = this.#options.transient === true ? this.#session.components.receiving?.() : undefined
    try {
      while (true) {
        if (this.#error != null) throw this.#error
        this.#signal.throwIfAborted()
        const block = this.#take()
        if (block != null) {
          this.#yielded++
          this.#session.freed()
          yield block
          // the caller asked for the next: a transient caller is done with this one
          if (this.#options.transient === true && !this.#shared.has(block.bytes)) this.#session.components.release(block.bytes)
          continue
        }
        if (this.#inputDone && this.#yielded === this.#taken) return
        await new Promise<void>(resolve => { this.#changed = resolve })
      }
    } finally {
      received?.()
      this.#controller.abort()
      clearTimeout(this.#timer)
      for (const item of this.#items.values()) item.done(false)
      this.#items.clear()
      for (const done of this.#upcoming.values()) done(false)
      this.#upcoming.clear()
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
    // a reader streaming an ordered want's blocks reads a few past its window: they count as fetched
    const list = this.#options.ordered === true && Array.isArray(cids) ? cids as CID[] : undefined
    let position = 0
    for await (const cid of cids) {
      if (this.#signal.aborted) return
      if (list != null) this.#announce(list, position)
      while (this.#full(list != null)) {
        if (this.#signal.aborted) return
        // the window is full: spare room goes to blocks further on, at random
        if (list != null) this.#fetchAhead(list, position)
        await new Promise<void>(resolve => { this.#room = resolve })
        this.#room = undefined
      }
      if (this.#signal.aborted) return
      this.#taken++
      await this.#add(cid, position)
      // its own fetch began (or it was held): the count as upcoming ends (the run's end ended them all)
      this.#upcoming.get(position)?.(false)
      this.#upcoming.delete(position)
      position++
    }
    this.#inputDone = true
    this.#wake()
  }

  /** Blocks taken and not handed back yet, those set aside after `busy` not counted, and those fetched ahead */
  get inFlight (): number {
    return this.#inWindow() + this.#ahead
  }

  /** Blocks taken and not handed back yet, those set aside after `busy` not counted */
  #inWindow (): number {
    return this.#taken - this.#yielded - this.#aside.length
  }

  /** Wakes the feed waiting for room in the window */
  room (): void {
    this.#room?.()
  }

  /**
   * Whether the window is full (IN_ORDER_BLOCKS of it when the want may fetch
   * ahead), or the session's cap is reached and this want has a block in flight
   */
  #full (mayFetchAhead: boolean): boolean {
    const n = this.#inWindow()
    return n >= this.#inOrder(mayFetchAhead) || (n > 0 && !this.#session.hasRoom())
  }

  /** Blocks kept in flight in order: IN_ORDER_BLOCKS of the window when the session has more than one bulk peer to fetch ahead from */
  #inOrder (mayFetchAhead: boolean): number {
    return mayFetchAhead && this.#session.bulkPeers().length > 1 ? Math.min(this.#window, IN_ORDER_BLOCKS) : this.#window
  }

  /**
   * While an ordered want's window is full, its session has more than one
   * bulk peer and room, up to PREFETCH_BLOCKS blocks past its in-order ones
   * are fetched in a random order; each is stored as it lands and read back
   * from the store when the caller reaches it.
   */
  #fetchAhead (list: CID[], position: number): void {
    if (this.#window < Math.min(this.#limit, IN_ORDER_BLOCKS) || this.#session.bulkPeers().length < 2) return
    if (this.#aheadOrder == null) {
      if (list.length <= position + IN_ORDER_BLOCKS) return
      this.#aheadOrder = shuffle(Array.from({ length: list.length }, (_, i) => i))
    }
    const order = this.#aheadOrder
    while (this.#ahead < PREFETCH_BLOCKS && this.#aheadAt < order.length && this.#session.hasRoom() && !this.#signal.aborted) {
      const at = order[this.#aheadAt++]
      // the caller reaches it next: fetched in order
      if (at < position + IN_ORDER_BLOCKS) continue
      const cid = list[at]
      const key = blockKey(cid)
      if (this.#items.has(key) || this.#stored.has(key) || hashAlgorithm(cid) == null) continue
      const item: Item = { cid, key, positions: [], ahead: true, lacking: new PeerMap(), hints: [], waits: 0, direct: new PeerMap(), state: 'queued', asideAt: 0, busies: 0, fallbacks: 0, localFailures: 0, done: this.#session.components.fetching(cid) }
      this.#items.set(key, item)
      this.#ahead++
      this.#session.discover(cid)
      this.#queue.push(item)
    }
    this.dispatch()
  }

  /** Counts the UPCOMING_BLOCKS blocks from `position` on as being fetched (each once) */
  #announce (list: CID[], position: number): void {
    const end = Math.min(list.length, position + UPCOMING_BLOCKS)
    for (let at = position; at < end; at++) {
      if (!this.#upcoming.has(at)) this.#upcoming.set(at, this.#session.components.fetching(list[at]))
    }
  }

  async #add (cid: CID, position: number): Promise<void> {
    const key = blockKey(cid)
    const existing = this.#items.get(key)
    if (existing != null) {
      existing.positions.push(position)
      if (existing.ahead) {
        // fetched ahead, now reached: it counts in the window
        existing.ahead = false
        this.#ahead--
      }
      return
    }
    const { blockstore } = this.#session.components
    if (this.#stored.delete(key)) {
      // fetched ahead and stored (its progress was told as it landed)
      this.#place({ cid, bytes: await collect(blockstore.get(cid, { signal: this.#signal })) }, [position])
      return
    }
    if (this.#options.notHeld !== true && await blockstore.has(cid, { signal: this.#signal })) {
      const bytes = await collect(blockstore.get(cid, { signal: this.#signal }))
      this.#progress(cid, bytes, undefined)
      this.#place({ cid, bytes }, [position])
      return
    }
    // the run ended meanwhile: a fetch begun now would never be ended
    if (this.#signal.aborted) return
    const item: Item = { cid, key, positions: [position], ahead: false, lacking: new PeerMap(), hints: [], waits: 0, direct: new PeerMap(), state: 'queued', asideAt: 0, busies: 0, fallbacks: 0, localFailures: 0, done: this.#session.components.fetching(cid) }
    this.#items.set(key, item)
    this.#session.discover(cid)
    if (hashAlgorithm(cid) == null) {
      this.#toFallback(item, 'a hash the bulk channel does not check')
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
    this.#takeBack()
    const load = new PeerMap<number>()
    for (const p of bulk) load.set(p, peers.load(p))
    for (let i = 0; i < this.#queue.length;) {
      const item = this.#queue[i]
      const untried = bulk.filter(p => item.lacking.get(p) == null)
      let choices: PeerId[]
      if (item.direct.size > 0) {
        // a server named holders: ask them first (waiting for one still being probed), then the
        // server that named them, which holds it and sends it when asked directly
        const usable = new PeerSet(untried)
        item.hints = item.hints.filter(p => item.lacking.get(p) == null && (usable.has(p) || this.#session.probing(p)))
        const ready = item.hints.filter(p => usable.has(p))
        if (ready.length === 0 && item.hints.length > 0) {
          i++
          continue
        }
        choices = ready.length > 0 ? ready : untried.filter(p => item.direct.get(p) != null)
        if (choices.length === 0) choices = untried
      } else {
        // peers that said they stored it lately (HAVE frames) first, rather than peers at random.
        // Past MAX_MISSES_PER_BLOCK the pullers that may hold it have been tried: a seed still holds
        // it, or early in a pull a peer that held every block it was asked for (the origin), or one
        // asked nothing yet. Only then the fallback, whose want-have has the origin send it as a
        // copy of its own.
        const having = new PeerSet(peers.holdersOf(item.cid))
        choices = untried.filter(p => having.has(p))
        if (choices.length === 0 && item.lacking.size >= MAX_MISSES_PER_BLOCK) {
          choices = untried.filter(p => this.#session.isSeed(p))
          if (choices.length === 0) choices = untried.filter(p => this.#session.neverLacked(p))
          // a peer asked nothing yet may hold it too (an origin asked after the pullers): left out,
          // the block would go to bitswap, whose want-have has the origin send it outside its
          // upload slots
          if (choices.length === 0) choices = untried.filter(p => this.#session.unasked(p))
          // bitswap gave up on it before: every bulk peer is asked before it goes back there (an
          // origin that lacked a block once is no seed, and bitswap asked it over a starved link)
          if (choices.length === 0 && item.fallbacks > 0) choices = untried
        } else if (choices.length === 0) {
          choices = untried
        }
      }
      if (choices.length === 0) {
        if (!settled) {
          this.#dispatchAt(this.#session.discoveryDeadline)
          i++
          continue
        }
        // the fallback gave up on it before: a bulk peer whose channel failed is asked once its backoff ends
        const retryAt = item.fallbacks > 0 ? this.#session.bulkRetryAt(p => item.lacking.get(p) == null) : undefined
        if (retryAt != null && retryAt - Date.now() <= MAX_BACKOFF_WAIT) {
          this.#dispatchAt(retryAt)
          i++
          continue
        }
        this.#queue.splice(i, 1)
        this.#toFallback(item, bulk.length === 0 ? 'no bulk peer' : untried.length === 0 ? 'every bulk peer lacked it or failed' : `${item.lacking.size} bulk peer(s) lacked it and the ${untried.length} left lacked others`)
        continue
      }
      if (item.cid.code === DAG_PB_CODE) {
        // a DAG node is a few KiB and its blob's fetch waits for it: a peer already connected
        // answers it in a round trip, where a dial to a puller busy with everyone's dials took
        // seconds (the 16-host lab: 1.4-4.5 s for a layer's root, BENCHMARKS.md)
        const open = choices.filter(p => peers.connections(p) > 0)
        if (open.length > 0) choices = open
      }
      this.#queue.splice(i, 1)
      const best = this.#choose(choices, load)
      load.set(best, (load.get(best) ?? 0) + 1)
      this.#ask(item, best)
    }
  }

  /**
   * Whether a server may answer `busy` for `item` (its upload line is long)
   * rather than have it wait in the line: the run has room to set it aside,
   * and it was not answered `busy` MAX_BUSY_ANSWERS times already (then it
   * waits in the line, so no block starves). A block of an ordered run (its
   * later blocks would wait in memory) or one the fallback gave up on waits
   * in the line.
   */
  #mayBeBusy (item: Item): boolean {
    return this.#options.ordered !== true && item.fallbacks === 0 && item.busies < MAX_BUSY_ANSWERS && this.#aside.length < MAX_SET_ASIDE
  }

  /** A server said `busy` for `item`: set aside for BUSY_RETRY ms, the window takes the next block meanwhile */
  #setAside (item: Item): void {
    if (this.#signal.aborted || item.state !== 'asking') return
    item.state = 'aside'
    item.asideAt = Date.now()
    item.busies++
    this.#aside.push(item)
    this.#session.freed()
    this.#dispatchAt(item.asideAt + BUSY_RETRY)
  }

  /** Blocks set aside BUSY_RETRY ms ago or more go back to the head of the queue */
  #takeBack (): void {
    const now = Date.now()
    let n = 0
    while (n < this.#aside.length && now - this.#aside[n].asideAt >= BUSY_RETRY) n++
    const back = this.#aside.splice(0, n)
    for (const item of back) item.state = 'queued'
    this.#queue.unshift(...back)
    if (this.#aside.length > 0) this.#dispatchAt(this.#aside[0].asideAt + BUSY_RETRY)
  }

  /**
   * The peer most likely to answer soonest with the block: the share of
   * this session's wants it answered with a block, over its requests in
   * flight (random among equals). A puller that holds little of the blob
   * yet is asked less until it holds more. A seed counts SEED_EXTRA_LOAD
   * busier while a peer that is no seed may hold the block, so that the
   * pullers of a rollout trade and the origin sends what only it holds.
   */
  #choose (choices: PeerId[], load: PeerMap<number>): PeerId {
    const seeds = choices.map(p => this.#session.isSeed(p))
    const others = seeds.some(seed => !seed)
    const start = Math.floor(Math.random() * choices.length)
    let best = choices[start]
    let bestScore = -1
    for (let i = 0; i < choices.length; i++) {
      const at = (start + i) % choices.length
      const p = choices[at]
      const extra = others && seeds[at] ? SEED_EXTRA_LOAD : 0
      const score = this.#session.hitRate(p) / (1 + (load.get(p) ?? 0) + extra)
      if (score > bestScore) {
        best = p
        bestScore = score
      }
    }
    return best
  }

  /** Dispatches again at `at` (ms since the epoch), or sooner when a dispatch is set for sooner */
  #dispatchAt (at: number): void {
    if (this.#timer != null && this.#timerAt <= at) return
    clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.dispatch()
    }, Math.max(10, at - Date.now()))
  }

  #ask (item: Item, peer: PeerId): void {
    item.state = 'asking'
    const { peers, blockstore } = this.#session.components
    // a seed holds every block: only a peer that may not have it is asked for the block as soon
    // as it lands when it is fetching it itself. Every peer, a seed too, is asked for an early
    // DONT_HAVE: a seed's redirects (holders named) come at once, not after the blocks waiting in
    // its upload line (a rollout's origin: 4 s on average, up to 42 s)
    const anyOrder = !this.#session.isSeed(peer)
    const ended = this.#session.components.asking(item.cid, peer)
    const busyOk = this.#mayBeBusy(item)
    peers.request(peer, item.cid, this.#signal, { redirectOk: item.direct.get(peer) == null, earlyDontHave: true, anyOrder, busyOk, havesOk: true }).then(async answer => {
      if (answer.kind === 'dont-have' && answer.holders != null) {
        // it holds the block and sent it to others lately: neither a hit nor a miss of its rate,
        // but a block it held (a seed)
        this.#session.answered(peer, 'redirect')
        this.#redirected(item, peer, answer.holders)
        return
      }
      if (answer.kind === 'dont-have' && answer.busy === true) {
        // it holds the block but its upload line is long: neither a hit nor a miss; asked again
        // later, when others may hold it too (the server named nobody: no one else does yet)
        this.#setAside(item)
        return
      }
      // only a holder a server named is waited for: a server names a peer it is sending the block
      // to, or one that asked it after another it named (`Recipients`), so those waits end at a
      // peer that holds the block; peers this session picked itself may be waiting on each other
      // in a ring, and each would answer `fetching` until the waits ran out
      if (answer.kind === 'dont-have' && answer.fetching === true && item.hints.some(h => h.equals(peer))) {
        if (busyOk) {
          // a server answers a want that takes `busy` at once, not once its own fetch landed: asked again later
          this.#setAside(item)
          return
        }
        if (item.waits < MAX_FETCH_WAITS) {
          // it is fetching the block and will hold it soon: neither a hit nor a miss
          item.waits++
          this.#fetchingAt(item, peer)
          return
        }
        this.#session.components.log('%c: peers said %d times they were fetching it, the last %p; asking others', item.cid, item.waits + 1, peer)
      }
      this.#session.answered(peer, answer.kind === 'block' ? 'hit' : 'miss')
      if (answer.kind === 'dont-have') {
        this.#retry(item, peer)
        return
      }
      // checked against its CID as it arrived (BulkConnection)
      await blockstore.put(item.cid, answer.bytes, { signal: this.#signal, verify: false })
      this.#progress(item.cid, answer.bytes, peer)
      this.#deliver(item, answer.bytes, peer)
    }, (err: Error) => {
      // this node failed to take it in (its hash worker): asked again, of the same peers too
      if (err?.name === 'BulkLocalError' && item.localFailures < MAX_LOCAL_FAILURES) {
        item.localFailures++
        this.#requeue(item)
        return
      }
      // refused, broken, stalled or lying: BulkPeers backs off or bans the peer
      this.#retry(item, peer)
    }).catch((err: Error) => {
      if (!this.#signal.aborted) this.#fail(err)
    }).finally(ended)
  }

  /** `peer` named `holders` instead of sending the block: they are asked first, then `peer` without redirect */
  #redirected (item: Item, peer: PeerId, holders: PeerId[]): void {
    if (this.#signal.aborted || item.state !== 'asking') return
    item.direct.set(peer, true)
    for (const holder of holders) {
      if (item.direct.get(holder) != null || item.hints.some(h => h.equals(holder))) continue
      // a server names peers it sent the block to: one that lacked it when asked before may hold it now
      item.lacking.delete(holder)
      if (this.#session.addHolder(holder)) item.hints.push(holder)
    }
    this.#requeue(item)
  }

  /** `peer`, a holder a server named, is fetching the block and has not stored it yet: it is asked again first, the block not asked of one that holds it */
  #fetchingAt (item: Item, peer: PeerId): void {
    if (this.#signal.aborted || item.state !== 'asking') return
    item.hints = [peer, ...item.hints.filter(p => !p.equals(peer))]
    this.#requeue(item)
  }

  #retry (item: Item, peer: PeerId): void {
    if (this.#signal.aborted || item.state !== 'asking') return
    item.lacking.set(peer, true)
    this.#requeue(item)
  }

  /** Back to the queue of a block being asked, to be asked again now */
  #requeue (item: Item): void {
    if (this.#signal.aborted || item.state !== 'asking') return
    item.state = 'queued'
    this.#queue.push(item)
    this.dispatch()
  }

  /** Hands blocks to the fallback session, those of one tick in one `want()` */
  #toFallback (item: Item, reason: string): void {
    item.state = 'fallback'
    this.#fallbackBatch.push(item)
    this.#fallbackReasons.set(reason, (this.#fallbackReasons.get(reason) ?? 0) + 1)
    if (this.#fallbackBatch.length > 1) return
    queueMicrotask(() => {
      const batch = this.#fallbackBatch
      this.#fallbackBatch = []
      // which blocks leave the bulk channel, and why: a rollout whose pullers use the fallback is slower
      const reasons = [...this.#fallbackReasons].map(([why, n]) => `${n} ${why}`).join(', ')
      this.#fallbackReasons.clear()
      this.#session.components.log('%d block(s) to the fallback (%s), the first %c', batch.length, reasons, batch[0].cid)
      void this.#runFallback(batch).catch((err: Error) => {
        if (!this.#signal.aborted) this.#fail(err)
      })
    })
  }

  /**
   * The fallback's blocks, delivered as they come. When it gives up (no
   * block for its stall timeout: on slow links, wants asked of a peer whose
   * connections are starved), its blocks go back to the bulk peers for
   * another round, MAX_FALLBACK_RETRIES times at most; then the want fails
   * with the fallback's error.
   */
  async #runFallback (batch: Item[]): Promise<void> {
    try {
      const wants = this.#session.fallback().want(batch.map(i => i.cid), { signal: this.#signal, onProgress: this.#options.onProgress, notHeld: true })
      for await (const block of wants) {
        const item = this.#items.get(blockKey(block.cid))
        if (item?.state === 'fallback') this.#deliver(item, block.bytes, block.from)
      }
    } catch (err: any) {
      if (this.#signal.aborted || err?.name !== 'BlocksUnavailableError') throw err
      const left = batch.filter(item => item.state === 'fallback')
      if (left.length === 0) return
      if (!this.#session.hasBulkPeers() || left.some(item => item.fallbacks >= MAX_FALLBACK_RETRIES)) throw err
      this.#session.components.log('the fallback gave up on %d block(s), asking the bulk peers again - %e', left.length, err)
      for (const item of left) {
        item.fallbacks++
        item.lacking.clear()
        item.direct.clear()
        item.hints = []
        item.waits = 0
        item.state = 'queued'
        this.#queue.push(item)
      }
      this.dispatch()
    }
  }

  #deliver (item: Item, bytes: Uint8Array, from: PeerId | undefined): void {
    if (item.state === 'done') return
    item.state = 'done'
    this.#items.delete(item.key)
    item.done(true)
    if (this.#window < this.#limit) this.#window++
    if (item.ahead) {
      // stored: read back when the caller reaches it; its buffer is free now
      this.#ahead--
      this.#stored.add(item.key)
      if (this.#options.transient === true) this.#session.components.release(bytes)
      this.#session.freed()
      return
    }
    this.#place({ cid: item.cid, bytes, ...(from != null ? { from } : {}) }, item.positions)
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
