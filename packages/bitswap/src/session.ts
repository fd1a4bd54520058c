/**
 * Sessions: fetch a set of related blocks from every peer that can help.
 *
 * For each CID entering the window the session sends want-have to every peer
 * it knows. Peers answering Have become candidates; the want-block goes to
 * the least-loaded candidate (round-robin among equals), with a per-peer cap
 * so early answers do not take the whole window. A peer that delivers nothing
 * for `wantTimeout` is slow: its wants move to another candidate. A peer that
 * disconnects or sends a bad block loses its wants the same way. When no
 * candidate is left the session asks its `providers` function (and, when
 * broadcasting, every connected peer) for more.
 *
 * @internal
 */

import { PeerMap, PeerSet } from '@libp2p/peer-collections'
import { CID } from 'multiformats/cid'
import { CustomProgressEvent } from 'progress-events'
import { AbortError, InvalidParametersError, NoHonestProviderError, NotStartedError, SessionStalledError } from './errors.js'
import { effectiveLoad, isSeed } from './peer-choice.js'
import { cidKey, readBlock } from './utils.js'
import { WantFetch } from './want-fetch.js'
import type { BitswapWantProgressEvents, BlockResult, ProvidersFunction, Session, WantOptions } from './index.js'
import type { Hashers } from './utils.js'
import type { WantType } from './outgoing.js'
import type { ComponentLogger, Logger, PeerId } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'

/** Receives what arrives for the keys it registered */
export interface WantListener {
  onHave(peer: PeerId, key: string): void
  onDontHave(peer: PeerId, key: string): void
  /** A verified block, already in the blockstore */
  onBlock(peer: PeerId, key: string, bytes: Uint8Array): void
  /** Storing the block for `key` failed */
  onBlockError(key: string, err: Error): void
  onPeerDisconnect(peer: PeerId): void
  /** `peer` sent a bad block and was disconnected */
  onBadPeer(peer: PeerId): void
}

export interface SessionComponents {
  peerId: PeerId
  blockstore: Blockstore
  hashers: Hashers
  logger: ComponentLogger
  wantManager: {
    want(peer: PeerId, cid: CID, type: WantType, owner: string, priority: number): void
    cancel(peer: PeerId, key: string, owner: string): void
  }
  network: {
    connectedPeers(): PeerId[]
    connect(peer: PeerId, signal: AbortSignal): Promise<void>
    hasConnection(peer: PeerId): boolean
    isUnreachable(peer: PeerId): boolean
    readonly isRunning: boolean
  }
  registry: {
    register(key: string, cid: CID, priority: number, listener: WantListener): void
    unregister(key: string, listener: WantListener): void
  }
  isBanned(peer: PeerId): boolean
  onLatency?(seconds: number): void
}

export interface ResolvedSessionInit {
  providers?: ProvidersFunction
  peers: PeerId[]
  broadcast: boolean
  window: number
  /** blocks in flight when a `want()` starts; grows by one per block delivered, up to `window` */
  initialWindow?: number
  wantTimeout: number
  stallTimeout: number
  maxProviders: number
  providerTimeout: number
  providerLookupInterval: number
  blockstoreTimeout: number
}

interface SessionPeer {
  id: PeerId
  /** Want-blocks sent and not yet answered */
  load: number
  /** Last block delivered (ms) */
  lastBlockAt: number
  /** The last presence it sent for any of our wants */
  lastPresence?: 'have' | 'dont-have'
  /** It left want-haves unanswered; not counted as a candidate until then (ms) */
  silentUntil: number
  /** It timed out on a want-block; ranked behind others until then (ms) */
  slowUntil: number
  /** For round-robin among equally loaded peers */
  lastAssigned: number
  blocks: number
  bytes: number
  /** Have and DontHave answers it gave to our want-haves */
  haves: number
  dontHaves: number
}

interface Waiter {
  fetch: WantFetch
  index: number
  cid: CID
}

interface SessionWant {
  cid: CID
  key: string
  priority: number
  haves: PeerSet
  dontHaves: PeerSet
  asked: PeerSet
  /** Peers it timed out on: chosen again only when nobody else has it */
  excluded: PeerSet
  /** Peers that were asked for it (or said Have) and were banned for a bad block */
  liars: PeerSet
  /** When the last of them was banned (ms), or 0 */
  liarAt: number
  blockPeer?: PeerId
  blockSentAt: number
  askedAt: number
  startedAt: number
  waiters: Waiter[]
}

let sessionCounter = 0
const MIN_PEER_CAP = 2

/** A want-block is moved to a less busy peer that says Have only after it has waited this long (ms) at the first */
const MOVE_AFTER = 25

export class BitswapSession implements Session, WantListener {
  readonly id: string
  private readonly components: SessionComponents
  private readonly init: ResolvedSessionInit
  private readonly log: Logger
  private readonly sessionPeers: PeerMap<SessionPeer>
  private readonly wants: Map<string, SessionWant>
  private readonly fetches: Set<WantFetch>
  private readonly controller: AbortController
  private readonly activate: (session: BitswapSession, active: boolean) => void
  private assignScheduled: boolean
  private ticker?: ReturnType<typeof setInterval>
  private assignCounter: number
  private nextPriority: number
  private lookupRunning: boolean
  private lastLookupAt: number
  private closed: boolean
  private active: boolean

  constructor (components: SessionComponents, init: ResolvedSessionInit, activate: (session: BitswapSession, active: boolean) => void) {
    this.id = `s${++sessionCounter}`
    this.components = components
    this.init = init
    this.activate = activate
    this.log = components.logger.forComponent(`provenir:bitswap:session:${this.id}`)
    this.sessionPeers = new PeerMap()
    this.wants = new Map()
    this.fetches = new Set()
    this.controller = new AbortController()
    this.assignScheduled = false
    this.assignCounter = 0
    this.nextPriority = 0x7fffffff
    this.lookupRunning = false
    this.lastLookupAt = 0
    this.closed = false
    this.active = false
    for (const peer of init.peers) {
      this.addPeerState(peer)
    }
  }

  peers (): PeerId[] {
    return [...this.sessionPeers.values()].map(p => p.id)
  }

  addPeer (peer: PeerId): void {
    if (this.closed) throw new NotStartedError('Session is closed')
    // a banned peer is neither asked nor dialled: a provider refresh that
    // names it again must not cost another connection and another bad block
    if (this.components.isBanned(peer)) return
    if (this.sessionPeers.has(peer) || this.components.network.hasConnection(peer)) {
      this.addPeerState(peer)
      return
    }
    // a provider record can outlive its node: dial first, and ask only a peer that answered
    if (this.components.network.isUnreachable(peer)) return
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.providerTimeout)])
    this.components.network.connect(peer, signal).then(() => {
      if (!this.closed) this.addPeerState(peer)
    }, (err: Error) => {
      this.log('could not connect to added peer %p - %s', peer, err.message)
    })
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.controller.abort()
    for (const fetch of this.fetches) {
      fetch.fail(new AbortError('Session closed'))
    }
    for (const want of [...this.wants.values()]) {
      this.dropWant(want)
    }
    this.stopTicker()
  }

  async * want (cids: Iterable<CID> | AsyncIterable<CID>, options: WantOptions = {}): AsyncGenerator<BlockResult, void, undefined> {
    if (this.closed) throw new NotStartedError('Session is closed')
    if (!this.components.network.isRunning) throw new NotStartedError('Bitswap is not started')
    options.signal?.throwIfAborted()
    const fetch = new WantFetch(options, this.init.window, this.init.initialWindow)
    this.fetches.add(fetch)
    const onAbort = (): void => { fetch.fail(new AbortError('Want aborted')) }
    options.signal?.addEventListener('abort', onAbort)
    this.startTicker()
    const pump = this.pump(fetch, cids)
    try {
      while (true) {
        if (fetch.error != null) throw fetch.error
        const result = fetch.take()
        if (result != null) {
          fetch.outstanding--
          if (fetch.window < fetch.limit) fetch.window++
          fetch.wake()
          yield result
          continue
        }
        if (fetch.inputDone && fetch.outstanding === 0) return
        await fetch.waitForChange()
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
      fetch.closed = true
      fetch.wake()
      this.fetches.delete(fetch)
      for (const want of [...this.wants.values()]) {
        want.waiters = want.waiters.filter(w => w.fetch !== fetch)
        if (want.waiters.length === 0) this.dropWant(want)
      }
      if (this.fetches.size === 0) this.stopTicker()
      // the pump sees `closed` and stops at its next step; an input iterator
      // that never settles must not hold up the caller
      void pump
    }
  }

  // ------------------------------------------------------------ input

  private async pump (fetch: WantFetch, cids: Iterable<CID> | AsyncIterable<CID>): Promise<void> {
    const iterator: Iterator<CID> | AsyncIterator<CID> = Symbol.asyncIterator in cids
      ? (cids as AsyncIterable<CID>)[Symbol.asyncIterator]()
      : (cids as Iterable<CID>)[Symbol.iterator]()
    let index = 0
    let finished = false
    try {
      while (!fetch.closed && fetch.error == null) {
        if (fetch.outstanding >= fetch.window) {
          await fetch.waitForSlot()
          continue
        }
        const next = await iterator.next()
        if (next.done === true) {
          finished = true
          break
        }
        const cid = CID.asCID(next.value)
        if (cid == null) {
          throw new InvalidParametersError('want() takes CIDs')
        }
        fetch.outstanding++
        await this.start(fetch, cid, index++)
      }
    } catch (err: any) {
      fetch.fail(err)
    } finally {
      fetch.inputDone = true
      fetch.wake()
      if (!finished) {
        try {
          await iterator.return?.()
        } catch {}
      }
    }
  }

  /** Starts fetching one CID: inline, local, joined to a running want, or new */
  private async start (fetch: WantFetch, cid: CID, index: number): Promise<void> {
    if (cid.multihash.code === 0x00) {
      // identity: the bytes are the digest
      fetch.deliver(index, { cid, bytes: cid.multihash.digest })
      return
    }
    this.components.hashers.assertSupported(cid)
    const key = cidKey(cid)
    fetch.progress(new CustomProgressEvent('bitswap:want', cid))

    if (!this.joinWant(key, fetch, index, cid)) {
      const signal = AbortSignal.timeout(this.init.blockstoreTimeout)
      if (!fetch.notHeld && await this.components.blockstore.has(cid, { signal })) {
        const bytes = await readBlock(this.components.blockstore, cid, { signal })
        fetch.progress(new CustomProgressEvent('bitswap:block', { cid, bytes: bytes.byteLength, local: true }))
        fetch.deliver(index, { cid, bytes })
        return
      }
      if (fetch.closed || fetch.error != null) return
      // another fetch may have started it while we looked locally
      if (this.joinWant(key, fetch, index, cid)) return
      this.newWant(key, cid, { fetch, index, cid })
    }
  }

  private joinWant (key: string, fetch: WantFetch, index: number, cid: CID): boolean {
    const want = this.wants.get(key)
    if (want == null) return false
    want.waiters.push({ fetch, index, cid })
    return true
  }

  private newWant (key: string, cid: CID, waiter: Waiter): void {
    const now = Date.now()
    const want: SessionWant = {
      cid,
      key,
      priority: this.nextPriority > 1 ? this.nextPriority-- : 1,
      haves: new PeerSet(),
      dontHaves: new PeerSet(),
      asked: new PeerSet(),
      excluded: new PeerSet(),
      liars: new PeerSet(),
      liarAt: 0,
      blockSentAt: 0,
      askedAt: now,
      startedAt: now,
      waiters: [waiter]
    }
    this.wants.set(key, want)
    if (!this.active) {
      this.active = true
      this.activate(this, true)
    }
    this.components.registry.register(key, cid, want.priority, this)

    if (this.init.broadcast) {
      for (const peer of this.components.network.connectedPeers()) {
        this.addPeerState(peer)
      }
    }
    let asked = 0
    for (const sp of this.sessionPeers.values()) {
      if (this.components.isBanned(sp.id)) continue
      this.components.wantManager.want(sp.id, cid, 'have', this.id, want.priority)
      want.asked.add(sp.id)
      asked++
    }
    if (asked === 0 || (this.init.providers != null && this.lastLookupAt === 0)) {
      this.discover(cid)
    }
    // when every peer of the session is a seed (a pull from its origin, or
    // from peers that all hold the whole DAG), a Have round trip tells us
    // nothing: the want-block goes out with the want-haves
    const seed = this.seedFor()
    if (seed != null) this.sendWantBlock(want, seed, now)
  }

  /**
   * The least busy peer of the session, if every usable peer of the session
   * is a seed and it is under its fair share of the wants; otherwise
   * undefined, and want-blocks wait for Haves. A peer that joins the
   * session (another puller, found in the DHT) is no seed until it has said
   * Have to SEED_MIN_HAVES want-haves, so a rollout's pullers still trade.
   */
  private seedFor (): SessionPeer | undefined {
    const now = Date.now()
    let best: SessionPeer | undefined
    let usable = 0
    for (const sp of this.sessionPeers.values()) {
      if (this.components.isBanned(sp.id) || sp.slowUntil > now) continue
      if (!isSeed(sp)) return undefined
      usable++
      if (best == null || sp.load < best.load || (sp.load === best.load && sp.lastAssigned < best.lastAssigned)) best = sp
    }
    if (best == null) return undefined
    const cap = Math.max(MIN_PEER_CAP, Math.ceil(this.wants.size / usable))
    return best.load < cap ? best : undefined
  }

  /** Removes a want nobody waits for any more */
  private dropWant (want: SessionWant): void {
    if (this.wants.get(want.key) !== want) return
    this.wants.delete(want.key)
    if (want.blockPeer != null) {
      const sp = this.sessionPeers.get(want.blockPeer)
      if (sp != null) sp.load--
    }
    for (const peer of want.asked) {
      this.components.wantManager.cancel(peer, want.key, this.id)
    }
    this.components.registry.unregister(want.key, this)
    this.maybeDeactivate()
  }

  private maybeDeactivate (): void {
    if (this.active && this.wants.size === 0) {
      this.active = false
      this.activate(this, false)
    }
  }

  // ------------------------------------------------------------ peers

  private addPeerState (peer: PeerId): SessionPeer | undefined {
    if (peer.equals(this.components.peerId) || this.components.isBanned(peer)) return undefined
    let sp = this.sessionPeers.get(peer)
    if (sp != null) return sp
    sp = {
      id: peer,
      load: 0,
      lastBlockAt: 0,
      silentUntil: 0,
      slowUntil: 0,
      lastAssigned: 0,
      blocks: 0,
      bytes: 0,
      haves: 0,
      dontHaves: 0
    }
    this.sessionPeers.set(peer, sp)
    this.log('added peer %p', peer)
    for (const fetch of this.fetches) {
      fetch.progress(new CustomProgressEvent('bitswap:provider', { peer }))
    }
    for (const want of this.wants.values()) {
      if (want.asked.has(peer)) continue
      this.components.wantManager.want(peer, want.cid, 'have', this.id, want.priority)
      want.asked.add(peer)
    }
    return sp
  }

  private removePeer (peer: PeerId, reason: 'disconnect' | 'bad-peer'): void {
    const sp = this.sessionPeers.get(peer)
    if (sp == null) return
    this.sessionPeers.delete(peer)
    const now = Date.now()
    for (const want of this.wants.values()) {
      if (reason === 'bad-peer' && (want.asked.has(peer) || want.haves.has(peer))) {
        want.liars.add(peer)
        want.liarAt = now
      }
      want.haves.delete(peer)
      want.dontHaves.delete(peer)
      want.asked.delete(peer)
      if (want.blockPeer?.equals(peer) === true) {
        want.blockPeer = undefined
        this.progress(want, new CustomProgressEvent('bitswap:retry', { cid: want.cid, peer, reason }))
      }
      if (want.haves.size === 0) {
        this.discover(want.cid)
      }
    }
    this.scheduleAssign()
  }

  /** Finds more peers: every connected peer when broadcasting, and the providers function */
  private discover (cid: CID): void {
    if (this.closed) return
    if (this.init.broadcast) {
      for (const peer of this.components.network.connectedPeers()) {
        this.addPeerState(peer)
      }
    }
    const providers = this.init.providers
    if (providers == null || this.lookupRunning) return
    const now = Date.now()
    if (this.lastLookupAt !== 0 && now - this.lastLookupAt < this.init.providerLookupInterval) return
    this.lookupRunning = true
    this.lastLookupAt = now
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.providerTimeout)])
    const run = async (): Promise<void> => {
      const dials: Array<Promise<void>> = []
      let count = 0
      for await (const peer of providers(cid, { signal })) {
        if (this.closed) break
        if (this.components.isBanned(peer)) {
          this.bannedProvider(cid, peer)
          continue
        }
        if (peer.equals(this.components.peerId) || this.sessionPeers.has(peer) || this.components.network.isUnreachable(peer)) continue
        dials.push(this.components.network.connect(peer, signal)
          .then(() => { this.addPeerState(peer) }, (err: Error) => {
            this.log('could not connect to provider %p - %s', peer, err.message)
          }))
        if (++count >= this.init.maxProviders) break
      }
      await Promise.all(dials)
    }
    run()
      .catch((err: Error) => {
        if (!this.closed) this.log('provider lookup for %c failed - %s', cid, err.message)
      })
      .finally(() => {
        this.lookupRunning = false
        this.lastLookupAt = Date.now()
      })
  }

  /** A provider of `cid` is banned for bad blocks: it counts as one of the want's liars */
  private bannedProvider (cid: CID, peer: PeerId): void {
    const want = this.wants.get(cidKey(cid))
    if (want == null || want.liars.has(peer)) return
    want.liars.add(peer)
    want.liarAt = Date.now()
  }

  // ------------------------------------------------------------ events

  onHave (peer: PeerId, key: string): void {
    const want = this.wants.get(key)
    if (want == null || this.components.isBanned(peer)) return
    const sp = this.addPeerState(peer)
    if (sp == null) return
    sp.lastPresence = 'have'
    sp.silentUntil = 0
    sp.haves++
    want.haves.add(peer)
    want.dontHaves.delete(peer)
    this.progress(want, new CustomProgressEvent('bitswap:have', { cid: want.cid, peer }))
    if (want.blockPeer != null && !want.blockPeer.equals(peer)) {
      this.maybeMove(want, sp)
    }
    this.scheduleAssign()
  }

  /**
   * A peer that just said Have is clearly less busy than the one the
   * want-block went to: move the want to it. In a rollout the origin answers
   * Have for every block first and its queue is long; a puller that got the
   * block meanwhile sends it sooner, and the origin's upload is saved. If
   * the first peer had already sent the block, it arrives as a duplicate.
   */
  private maybeMove (want: SessionWant, to: SessionPeer): void {
    const from = want.blockPeer == null ? undefined : this.sessionPeers.get(want.blockPeer)
    if (from == null) return
    const now = Date.now()
    if (now - want.blockSentAt < MOVE_AFTER || effectiveLoad(to, want.haves.size) + 1 >= effectiveLoad(from, want.haves.size)) return
    if (want.excluded.has(to.id) || to.slowUntil > now) return
    from.load--
    this.components.wantManager.cancel(from.id, want.key, this.id)
    want.asked.delete(from.id)
    this.progress(want, new CustomProgressEvent('bitswap:retry', { cid: want.cid, peer: from.id, reason: 'moved' as const }))
    this.sendWantBlock(want, to, now)
  }

  /** Send the want-block for `want` to `peer`, counting it in the peer's load */
  private sendWantBlock (want: SessionWant, peer: SessionPeer, now: number): void {
    want.blockPeer = peer.id
    want.blockSentAt = now
    peer.load++
    peer.lastAssigned = ++this.assignCounter
    this.components.wantManager.want(peer.id, want.cid, 'block', this.id, want.priority)
    want.asked.add(peer.id)
    this.progress(want, new CustomProgressEvent('bitswap:want-block', { cid: want.cid, peer: peer.id }))
  }

  onDontHave (peer: PeerId, key: string): void {
    const want = this.wants.get(key)
    const sp = this.sessionPeers.get(peer)
    if (want == null || sp == null) return
    sp.lastPresence = 'dont-have'
    sp.silentUntil = 0
    sp.dontHaves++
    want.dontHaves.add(peer)
    want.haves.delete(peer)
    this.progress(want, new CustomProgressEvent('bitswap:dont-have', { cid: want.cid, peer }))
    if (want.blockPeer?.equals(peer) === true) {
      want.blockPeer = undefined
      sp.load--
      this.components.wantManager.cancel(peer, key, this.id)
      want.asked.delete(peer)
      this.progress(want, new CustomProgressEvent('bitswap:retry', { cid: want.cid, peer, reason: 'dont-have' as const }))
    }
    if (want.haves.size === 0 && want.blockPeer == null && [...want.asked].every(p => want.dontHaves.has(p))) {
      this.discover(want.cid)
    }
    this.scheduleAssign()
  }

  onBlock (peer: PeerId, key: string, bytes: Uint8Array): void {
    const want = this.wants.get(key)
    if (want == null) return
    this.wants.delete(key)
    this.components.registry.unregister(key, this)
    const now = Date.now()
    if (want.blockPeer != null) {
      const assigned = this.sessionPeers.get(want.blockPeer)
      if (assigned != null) assigned.load--
    }
    const sp = this.sessionPeers.get(peer)
    if (sp != null) {
      sp.lastBlockAt = now
      sp.lastPresence = 'have'
      sp.blocks++
      sp.bytes += bytes.byteLength
    }
    this.components.onLatency?.((now - want.startedAt) / 1000)
    for (const waiter of want.waiters) {
      waiter.fetch.progress(new CustomProgressEvent('bitswap:block', { cid: waiter.cid, peer, bytes: bytes.byteLength, local: false }))
      waiter.fetch.deliver(waiter.index, { cid: waiter.cid, bytes, from: peer })
    }
    this.scheduleAssign()
    this.maybeDeactivate()
  }

  onBlockError (key: string, err: Error): void {
    const want = this.wants.get(key)
    if (want == null) return
    this.failWant(want, err)
  }

  private failWant (want: SessionWant, err: Error): void {
    for (const waiter of want.waiters) {
      waiter.fetch.fail(err)
    }
  }

  onPeerDisconnect (peer: PeerId): void {
    this.removePeer(peer, 'disconnect')
  }

  onBadPeer (peer: PeerId): void {
    this.removePeer(peer, 'bad-peer')
  }

  private progress (want: SessionWant, evt: BitswapWantProgressEvents): void {
    for (const waiter of want.waiters) {
      waiter.fetch.progress(evt)
    }
  }

  // ------------------------------------------------------------ scheduling

  private scheduleAssign (): void {
    if (this.assignScheduled || this.closed) return
    this.assignScheduled = true
    queueMicrotask(() => {
      this.assignScheduled = false
      this.assign()
    })
  }

  /**
   * Sends want-blocks for wants that have candidates and none in flight. Each
   * peer takes at most a fair share of the wants in flight, so the first peer
   * to answer does not take them all.
   */
  private assign (): void {
    if (this.closed) return
    const now = Date.now()
    let potential = 0
    for (const sp of this.sessionPeers.values()) {
      if (sp.lastPresence !== 'dont-have' && sp.silentUntil <= now && !this.components.isBanned(sp.id)) potential++
    }
    const cap = Math.max(MIN_PEER_CAP, Math.ceil(this.wants.size / Math.max(1, potential)))

    for (const want of this.wants.values()) {
      if (want.blockPeer != null || want.haves.size === 0) continue
      let best: SessionPeer | undefined
      let bestScore = Infinity
      for (const peer of want.haves) {
        const sp = this.sessionPeers.get(peer)
        if (sp == null || sp.load >= cap || this.components.isBanned(peer)) continue
        let score = effectiveLoad(sp, want.haves.size)
        if (want.excluded.has(peer)) score += 1_000_000
        if (sp.slowUntil > now) score += 1_000
        if (score < bestScore || (score === bestScore && best != null && sp.lastAssigned < best.lastAssigned)) {
          best = sp
          bestScore = score
        }
      }
      if (best == null) continue
      this.sendWantBlock(want, best, now)
    }
  }

  private startTicker (): void {
    if (this.ticker != null) return
    const period = Math.max(25, Math.min(1_000, Math.floor(Math.min(this.init.wantTimeout, this.init.stallTimeout) / 4)))
    this.ticker = setInterval(() => { this.tick() }, period)
    this.ticker.unref?.()
  }

  private stopTicker (): void {
    clearInterval(this.ticker)
    this.ticker = undefined
  }

  /** Moves wants off slow peers, re-asks for unanswered wants, fails stalled fetches */
  private tick (): void {
    const now = Date.now()
    let reassign = false
    for (const want of this.wants.values()) {
      if (want.blockPeer != null) {
        const sp = this.sessionPeers.get(want.blockPeer)
        if (sp == null) continue
        if (now - Math.max(want.blockSentAt, sp.lastBlockAt) <= this.init.wantTimeout) continue
        // slow: move the want elsewhere
        this.log('%p delivered nothing for %d ms, moving %c', sp.id, this.init.wantTimeout, want.cid)
        sp.load--
        sp.slowUntil = now + this.init.wantTimeout
        want.excluded.add(sp.id)
        want.blockPeer = undefined
        this.components.wantManager.cancel(sp.id, want.key, this.id)
        want.asked.delete(sp.id)
        // it stays in `haves`: chosen again only if nobody else has the block
        this.progress(want, new CustomProgressEvent('bitswap:retry', { cid: want.cid, peer: sp.id, reason: 'timeout' as const }))
        reassign = true
      } else if (want.haves.size === 0 && want.liars.size > 0 && now - want.liarAt > this.init.wantTimeout && !this.lookupRunning) {
        // the peers that had it lied, and in a want timeout (with a provider
        // lookup in it) nobody else said Have: name the cause rather than
        // wait for the stall timeout
        this.failWant(want, new NoHonestProviderError(`no honest provider of ${want.cid}: the ${want.liars.size} peer(s) that had it sent bad blocks and were banned (${[...want.liars].map(String).join(', ')}), and no other peer has it`))
      } else if (want.haves.size === 0 && now - want.askedAt > this.init.wantTimeout) {
        want.askedAt = now
        for (const peer of want.asked) {
          const sp = this.sessionPeers.get(peer)
          if (sp != null && !want.dontHaves.has(peer)) sp.silentUntil = now + this.init.wantTimeout
        }
        this.discover(want.cid)
        reassign = true
      }
    }
    for (const fetch of this.fetches) {
      if (fetch.outstanding > 0 && !fetch.hasReady && now - fetch.lastProgressAt > this.init.stallTimeout) {
        fetch.fail(new SessionStalledError(`No block arrived for ${this.init.stallTimeout} ms`))
      }
    }
    if (reassign) this.scheduleAssign()
  }
}
