/**
 * The serving side: keeps each peer's wantlist (bounded), answers want-have
 * with Have/DontHave (or the block itself when it is small), want-block with
 * the block or DontHave, and batches answers up to the message size limit.
 *
 * @internal
 */

import { PeerMap } from '@libp2p/peer-collections'
import { cidToPrefix, decodeCID } from './message.js'
import { OutgoingMessage } from './outgoing.js'
import { cidKey, readBlock } from './utils.js'
import type { WantlistEntry } from './index.js'
import type { Ledgers, Strategy } from './ledger.js'
import type { Message } from './pb/message.js'
import type { ComponentLogger, Logger, PeerId } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { Uint8ArrayList } from 'uint8arraylist'

/**
 * A blockstore that can tell a stored block's size without reading it, as
 * provenir's ContentBlockstore can: a want-have for a big block is then
 * answered from the index alone.
 */
export interface BlockSizes {
  blockSize(cid: CID, options?: { signal?: AbortSignal }): Promise<number | undefined>
}

function blockSizes (store: Blockstore): BlockSizes | undefined {
  const candidate = store as Blockstore & Partial<BlockSizes>
  return typeof candidate.blockSize === 'function' ? candidate as BlockSizes : undefined
}

/** Blocks the engine remembers having sent, to serve blocks sent to nobody yet first */
const SENT_MEMORY = 4096

/** What the engine needs from the network */
export interface EngineNetwork {
  send(peer: PeerId, data: Uint8ArrayList, signal?: AbortSignal): Promise<void>
}

export interface EngineComponents {
  blockstore: Blockstore
  network: EngineNetwork
  ledgers: Ledgers
  logger: ComponentLogger
}

export interface EngineInit {
  maxWantlistSize: number
  maxMessageSize: number
  maxBlockSize: number
  maxCidSize: number
  maxSizeReplaceHasWithBlock: number
  strategy: Strategy
  blockstoreTimeout: number
  concurrency: number
  /** Called after a response carrying blocks was written */
  onSent?(peer: PeerId, blocks: number, bytes: number): void
  /** Called when entries are dropped because a peer's wantlist is full */
  onOverflow?(peer: PeerId, dropped: number): void
}

interface PeerWant {
  cid: CID
  key: string
  wantType: 'block' | 'have'
  sendDontHave: boolean
  priority: number
  seq: number
  /** Not answered yet */
  pending: boolean
}

class PeerState {
  readonly peer: PeerId
  readonly wants: Map<string, PeerWant>
  seq: number
  running: boolean
  closed: boolean
  /** Entries dropped because the wantlist was full */
  overflow: number

  constructor (peer: PeerId) {
    this.peer = peer
    this.wants = new Map()
    this.seq = 0
    this.running = false
    this.closed = false
    this.overflow = 0
  }

  hasPending (): boolean {
    for (const want of this.wants.values()) {
      if (want.pending) return true
    }
    return false
  }
}

/** A counting semaphore bounding how many peers' responses are built at once */
class Semaphore {
  private available: number
  private readonly waiters: Array<() => void>

  constructor (n: number) {
    this.available = n
    this.waiters = []
  }

  async acquire (): Promise<void> {
    if (this.available > 0) {
      this.available--
      return
    }
    await new Promise<void>(resolve => { this.waiters.push(resolve) })
  }

  release (): void {
    const next = this.waiters.shift()
    if (next != null) {
      next()
    } else {
      this.available++
    }
  }
}

export class Engine {
  private readonly components: EngineComponents
  private readonly init: EngineInit
  private readonly log: Logger
  private readonly peers: PeerMap<PeerState>
  private readonly semaphore: Semaphore
  /** Blocks sent lately (to any peer) and how often, oldest first; at most SENT_MEMORY keys */
  private readonly sent: Map<string, number>
  private running: boolean

  constructor (components: EngineComponents, init: EngineInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('provenir:bitswap:engine')
    this.peers = new PeerMap()
    this.semaphore = new Semaphore(init.concurrency)
    this.sent = new Map()
    this.running = false
  }

  start (): void {
    this.running = true
  }

  stop (): void {
    this.running = false
    for (const state of this.peers.values()) {
      state.closed = true
    }
    this.peers.clear()
  }

  /**
   * Applies a wantlist from `peer`. Every CID is validated before anything
   * changes, so a malformed wantlist leaves the stored one untouched (and the
   * caller resets the stream).
   */
  receiveWantlist (peer: PeerId, wantlist: Message.Wantlist): void {
    const parsed = wantlist.entries.map(entry => {
      const cid = decodeCID(entry.block, this.init.maxCidSize)
      return { entry, cid, key: cidKey(cid) }
    })
    let state = this.peers.get(peer)
    if (state == null) {
      if (parsed.length === 0) return
      state = new PeerState(peer)
      this.peers.set(peer, state)
    }
    if (wantlist.full) {
      state.wants.clear()
    }
    let dropped = 0
    for (const { entry, cid, key } of parsed) {
      if (entry.cancel) {
        state.wants.delete(key)
        continue
      }
      const wantType = entry.wantType === 'Have' ? 'have' : 'block'
      const existing = state.wants.get(key)
      if (existing != null) {
        if (existing.wantType === 'have' && wantType === 'block') {
          existing.wantType = 'block'
          existing.pending = true
        }
        existing.priority = entry.priority
        existing.sendDontHave = entry.sendDontHave
        continue
      }
      if (state.wants.size >= this.init.maxWantlistSize) {
        dropped++
        continue
      }
      state.wants.set(key, {
        cid,
        key,
        wantType,
        sendDontHave: entry.sendDontHave,
        priority: entry.priority,
        seq: state.seq++,
        pending: true
      })
    }
    if (dropped > 0) {
      state.overflow += dropped
      this.log('wantlist of %p is full (%d entries), dropped %d entries', peer, this.init.maxWantlistSize, dropped)
      this.init.onOverflow?.(peer, dropped)
    }
    this.schedule(state)
  }

  /** Blocks arrived locally: answer peers that wanted them and were told DontHave */
  notifyNewBlocks (keys: string[]): void {
    for (const state of this.peers.values()) {
      let changed = false
      for (const key of keys) {
        const want = state.wants.get(key)
        if (want != null && !want.pending) {
          want.pending = true
          changed = true
        }
      }
      if (changed) this.schedule(state)
    }
  }

  peerDisconnected (peer: PeerId): void {
    const state = this.peers.get(peer)
    if (state != null) {
      this.drop(state)
    }
  }

  /** The wantlist stored for `peer` */
  wantlist (peer: PeerId): WantlistEntry[] | undefined {
    const state = this.peers.get(peer)
    if (state == null) return undefined
    return [...state.wants.values()].map(w => ({
      cid: w.cid,
      priority: w.priority,
      wantType: w.wantType,
      sendDontHave: w.sendDontHave
    }))
  }

  /** Entries stored over all peers */
  get totalWantlistSize (): number {
    let n = 0
    for (const state of this.peers.values()) n += state.wants.size
    return n
  }

  private schedule (state: PeerState): void {
    if (state.running || state.closed || !this.running) return
    state.running = true
    this.serve(state)
      .catch(err => {
        // the peer is gone or the blockstore failed: forget its wants rather
        // than retry in a loop; a peer that reconnects sends its wantlist again
        this.log.error('serving %p failed, dropping its wantlist - %e', state.peer, err)
        this.drop(state)
      })
      .finally(() => {
        state.running = false
        if (state.closed || !this.running) return
        if (state.wants.size === 0) {
          this.drop(state)
        } else if (state.hasPending()) {
          // wants arrived while the last send was finishing
          this.schedule(state)
        }
      })
  }

  private drop (state: PeerState): void {
    state.closed = true
    if (this.peers.get(state.peer) === state) {
      this.peers.delete(state.peer)
    }
  }

  /**
   * Builds and sends responses until nothing is pending. The next response is
   * built while the previous one is being written.
   */
  private async serve (state: PeerState): Promise<void> {
    let sending: Promise<void> | undefined
    try {
      while (!state.closed && this.running && state.hasPending()) {
        await this.semaphore.acquire()
        let message: OutgoingMessage
        try {
          message = await this.build(state)
        } finally {
          this.semaphore.release()
        }
        if (sending != null) {
          await sending
          sending = undefined
        }
        if (message.isEmpty || state.closed) continue
        const blocks = message.blocks.length
        const bytes = message.blockBytes
        sending = this.components.network.send(state.peer, message.encode())
          .then(() => {
            if (blocks > 0) this.init.onSent?.(state.peer, blocks, bytes)
          })
        // the next response is built before this send is awaited: a peer that
        // drops its connection meanwhile rejects it, and that rejection must
        // not go unhandled until then (it is still thrown by the await below)
        sending.catch(() => {})
      }
    } finally {
      if (sending != null) await sending
    }
  }

  /**
   * Answers pending wants until the message is full: want-haves first (they
   * are small, and the peer waits on them before it asks for more blocks),
   * then want-blocks, each by priority and then arrival.
   */
  private async build (state: PeerState): Promise<OutgoingMessage> {
    const pending = [...state.wants.values()]
      .filter(w => w.pending)
      .sort((a, b) => (a.wantType === b.wantType ? 0 : a.wantType === 'have' ? -1 : 1) || (this.sentCount(a) - this.sentCount(b)) || (b.priority - a.priority) || (a.seq - b.seq))
    const message = new OutgoingMessage()
    const limit = this.init.maxMessageSize
    const { ledgers } = this.components

    for (const want of pending) {
      if (state.closed) break
      if (message.size >= limit) break
      // the want may have been cancelled or replaced while we awaited the store
      if (state.wants.get(want.key) !== want || !want.pending) continue

      // a want-have needs the block only when it is small enough to send
      // instead of Have; a store that knows sizes spares reading a big one
      let data: Uint8Array | undefined
      let size: number | undefined
      const sizes = want.wantType === 'have' ? blockSizes(this.components.blockstore) : undefined
      if (sizes != null) {
        size = await sizes.blockSize(want.cid, { signal: AbortSignal.timeout(this.init.blockstoreTimeout) })
        if (size != null && size <= this.init.maxSizeReplaceHasWithBlock) {
          data = await this.readIfPresent(want)
          size = data?.byteLength
        }
      } else {
        data = await this.readIfPresent(want)
        size = data?.byteLength
      }
      if (state.wants.get(want.key) !== want) continue
      if (size == null) {
        want.pending = false
        if (want.sendDontHave && !this.addPresence(message, want, 'dont-have')) {
          want.pending = true
          break
        }
        continue
      }

      if (size > this.init.maxBlockSize) {
        // never serve what no peer would accept
        want.pending = false
        if (want.sendDontHave) this.addPresence(message, want, 'dont-have')
        continue
      }

      if (want.wantType === 'have') {
        const ledger = ledgers.entry(state.peer)
        if (data != null && size <= this.init.maxSizeReplaceHasWithBlock && this.init.strategy.shouldServe(ledger, { cid: want.cid, size, wantType: 'have' })) {
          if (!this.addBlock(message, want, data, state.peer)) break
        } else if (!this.addPresence(message, want, 'have')) {
          break
        }
        // answered: an upgrade to want-block arrives as a new entry
        state.wants.delete(want.key)
        continue
      }

      if (data == null) continue // a want-block always reads the block; this only narrows the type
      const ledger = ledgers.entry(state.peer)
      if (!this.init.strategy.shouldServe(ledger, { cid: want.cid, size: data.byteLength, wantType: 'block' })) {
        ledgers.declined(state.peer)
        state.wants.delete(want.key)
        if (want.sendDontHave) this.addPresence(message, want, 'dont-have')
        continue
      }
      if (!this.addBlock(message, want, data, state.peer)) break
      state.wants.delete(want.key)
    }
    return message
  }

  /** The block, or undefined when the blockstore does not hold it (or lost it between `has` and `get`) */
  private async readIfPresent (want: PeerWant): Promise<Uint8Array | undefined> {
    const { blockstore } = this.components
    const signal = AbortSignal.timeout(this.init.blockstoreTimeout)
    if (!(await blockstore.has(want.cid, { signal }))) {
      return undefined
    }
    try {
      return await readBlock(blockstore, want.cid, { signal })
    } catch (err: any) {
      if (err?.name === 'NotFoundError') return undefined
      throw err
    }
  }

  /**
   * Adds a block unless that would overflow a non-empty message. The ledger
   * is charged here, when the block is committed, so the strategy's next
   * decision sees it (and decisions do not depend on network timing).
   */
  private addBlock (message: OutgoingMessage, want: PeerWant, data: Uint8Array, peer: PeerId): boolean {
    const block = { prefix: cidToPrefix(want.cid), data }
    if (!message.isEmpty && message.size + OutgoingMessage.blockSize(block) > this.init.maxMessageSize) {
      return false
    }
    message.addBlock(block)
    this.components.ledgers.sent(peer, 1, data.byteLength)
    const count = this.sent.get(want.key) ?? 0
    this.sent.delete(want.key)
    this.sent.set(want.key, count + 1)
    if (this.sent.size > SENT_MEMORY) this.sent.delete(this.sent.keys().next().value as string)
    return true
  }

  /**
   * How often a want-block's block went out lately. Blocks sent to nobody yet
   * go first: when many peers fetch the same blocks from us at once (a
   * rollout from an origin), each new block we send is one more the peers
   * can trade among themselves, and a want for a block already sent may
   * meanwhile move to a peer that holds it.
   */
  private sentCount (want: PeerWant): number {
    return want.wantType === 'block' ? this.sent.get(want.key) ?? 0 : 0
  }

  private addPresence (message: OutgoingMessage, want: PeerWant, type: 'have' | 'dont-have'): boolean {
    const presence = { cid: want.cid.bytes, type }
    if (!message.isEmpty && message.size + OutgoingMessage.presenceSize(presence) > this.init.maxMessageSize) {
      return false
    }
    message.addPresence(presence)
    return true
  }
}
