/**
 * The asking side of the wire: what we have asked each peer for.
 *
 * For every connected peer it keeps the entries the peer should hold for us
 * (want-have or want-block, possibly wanted by several sessions at once) and
 * the changes not yet sent. Changes made in one turn of the event loop go out
 * together as one delta message per peer; a newly connected peer, or one whose
 * last message failed, gets the full wantlist instead.
 *
 * @internal
 */

import { PeerMap } from '@libp2p/peer-collections'
import { OutgoingMessage } from './outgoing.js'
import { cidKey } from './utils.js'
import type { WantType } from './outgoing.js'
import type { ComponentLogger, Logger, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface WantManagerNetwork {
  send(peer: PeerId, data: Uint8ArrayList, signal?: AbortSignal): Promise<void>
}

export interface WantManagerComponents {
  network: WantManagerNetwork
  logger: ComponentLogger
  /** A peer that sent a bad block: it is sent no want until its ban ends */
  isBanned?(peer: PeerId): boolean
}

export interface WantManagerInit {
  maxMessageSize: number
  /** Cancelled keys remembered per peer */
  cancelledWantMemory: number
  /** Keys wanted by any session remembered, so a late block for one is not taken for a bad block */
  recentWantMemory: number
}

/** A peer's state is dropped once it has had no entries for this long (ms) */
const IDLE_PEER_STATE_TTL = 60_000
const PRUNE_INTERVAL = 10_000

/** One CID wanted from one peer */
interface PeerEntry {
  cid: CID
  bytes: Uint8Array
  priority: number
  /** Who wants it and how: session id -> type */
  owners: Map<string, WantType>
  /** The type the peer was last told (or will be told by the pending delta) */
  type: WantType
}

/** An insertion-ordered set that forgets its oldest members past a size */
class BoundedSet {
  private readonly items: Set<string>
  private readonly max: number

  constructor (max: number) {
    this.items = new Set()
    this.max = max
  }

  add (key: string): void {
    this.items.delete(key)
    this.items.add(key)
    if (this.items.size > this.max) {
      const oldest = this.items.values().next()
      if (oldest.done !== true) this.items.delete(oldest.value)
    }
  }

  delete (key: string): void {
    this.items.delete(key)
  }

  has (key: string): boolean {
    return this.items.has(key)
  }
}

class PeerWants {
  readonly peer: PeerId
  readonly entries: Map<string, PeerEntry>
  /** Keys whose entry changed (added, upgraded or cancelled) since the last flush */
  readonly dirty: Set<string>
  /** Recently cancelled keys and their CID bytes, for cancel entries and late blocks */
  readonly cancelled: BoundedSet
  readonly cancelledBytes: Map<string, Uint8Array>
  needsFull: boolean
  /** When the last entry went (ms), or 0 while there are entries */
  emptySince: number

  constructor (peer: PeerId, memory: number) {
    this.peer = peer
    this.entries = new Map()
    this.dirty = new Set()
    this.cancelled = new BoundedSet(memory)
    this.cancelledBytes = new Map()
    this.needsFull = false
    this.emptySince = 0
  }
}

export interface GlobalWant {
  cid: CID
  priority: number
}

export class WantManager {
  private readonly components: WantManagerComponents
  private readonly init: WantManagerInit
  private readonly log: Logger
  private readonly peers: PeerMap<PeerWants>
  /** Everything any session wants now: sent in full to newly connected peers */
  private readonly global: Map<string, GlobalWant>
  /** Every key a session wanted lately, whoever it was asked from */
  private readonly recent: BoundedSet
  private flushTimer?: ReturnType<typeof setTimeout>
  private readonly dirtyPeers: PeerMap<PeerWants>
  private running: boolean
  private lastPruneAt: number

  constructor (components: WantManagerComponents, init: WantManagerInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('provenir:bitswap:want-manager')
    this.peers = new PeerMap()
    this.global = new Map()
    this.recent = new BoundedSet(init.recentWantMemory)
    this.dirtyPeers = new PeerMap()
    this.running = false
    this.lastPruneAt = Date.now()
  }

  start (): void {
    this.running = true
  }

  stop (): void {
    this.running = false
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    this.peers.clear()
    this.dirtyPeers.clear()
    this.global.clear()
  }

  /** The current wantlist: every CID some session is waiting for */
  wantlist (): CID[] {
    return [...this.global.values()].map(w => w.cid)
  }

  get size (): number {
    return this.global.size
  }

  addGlobal (cid: CID, priority: number): void {
    const key = cidKey(cid)
    this.global.set(key, { cid, priority })
    this.recent.add(key)
  }

  removeGlobal (key: string): void {
    this.global.delete(key)
  }

  /**
   * A peer connected: it gets the full current wantlist as want-haves with
   * send-dont-have, so sessions learn whether it can help.
   */
  peerConnected (peer: PeerId): void {
    // a banned peer that reconnects (or that we dialled for another reason)
    // is asked for nothing: each want would cost another bad block
    if (this.components.isBanned?.(peer) === true) return
    let state = this.peers.get(peer)
    if (state == null) {
      state = new PeerWants(peer, this.init.cancelledWantMemory)
      this.peers.set(peer, state)
    }
    for (const [key, want] of this.global) {
      if (!state.entries.has(key)) {
        state.entries.set(key, {
          cid: want.cid,
          bytes: want.cid.bytes,
          priority: want.priority,
          owners: new Map([['', 'have']]),
          type: 'have'
        })
      }
    }
    // with nothing to ask for, the peer's empty wantlist for us is already right
    if (state.entries.size > 0) {
      state.needsFull = true
      this.markDirty(state)
    }
  }

  peerDisconnected (peer: PeerId): void {
    this.peers.delete(peer)
    this.dirtyPeers.delete(peer)
  }

  /** Asks `peer` for `cid` on behalf of `owner` (a session id) */
  want (peer: PeerId, cid: CID, type: WantType, owner: string, priority: number): void {
    if (this.components.isBanned?.(peer) === true) return
    const state = this.stateFor(peer)
    const key = cidKey(cid)
    let entry = state.entries.get(key)
    if (entry == null) {
      entry = { cid, bytes: cid.bytes, priority, owners: new Map(), type }
      state.entries.set(key, entry)
      state.cancelled.delete(key)
      state.dirty.add(key)
    }
    const previous = entry.owners.get(owner)
    if (previous === 'block' && type === 'have') {
      return
    }
    entry.owners.set(owner, type)
    // the entry only ever upgrades, so any owner asking for the block makes it a want-block
    if (type === 'block' && entry.type !== 'block') {
      entry.type = 'block'
      state.dirty.add(key)
    }
    if (state.dirty.size > 0) this.markDirty(state)
  }

  /** Withdraws `owner`'s want of `key` from `peer`; cancels it when no owner is left */
  cancel (peer: PeerId, key: string, owner: string): void {
    const state = this.peers.get(peer)
    const entry = state?.entries.get(key)
    if (state == null || entry == null) return
    entry.owners.delete(owner)
    // the placeholder owner of a connect-time want-have goes with the last real one
    if (entry.owners.size === 1 && entry.owners.has('') && owner !== '') {
      entry.owners.delete('')
    }
    if (entry.owners.size === 0) {
      this.remove(state, key, entry, true)
      this.markDirty(state)
    }
    // otherwise the entry stays as it is: a want-block is never downgraded,
    // because peers only ever upgrade an entry
  }

  /** Nobody wants `key` any more: cancel it at every peer */
  cancelEverywhere (key: string): void {
    this.global.delete(key)
    for (const state of this.peers.values()) {
      const entry = state.entries.get(key)
      if (entry != null) {
        this.remove(state, key, entry, true)
        this.markDirty(state)
      }
    }
  }

  /**
   * A block for `key` arrived from `from`. Every other peer we asked gets a
   * cancel; so does the sender if we had only sent it a want-have (a server
   * drops a want-block itself once it has sent the block).
   */
  blockReceived (key: string, from: PeerId): void {
    this.global.delete(key)
    for (const state of this.peers.values()) {
      const entry = state.entries.get(key)
      if (entry == null) continue
      const sendCancel = !(state.peer.equals(from) && entry.type === 'block')
      this.remove(state, key, entry, sendCancel)
      if (sendCancel) this.markDirty(state)
    }
  }

  /**
   * True when a block for `key` from `peer` is no surprise: we asked that peer
   * for it (now or recently), or some session wanted it lately (a peer may
   * answer a want whose cancel it never got). A block that hashes to nothing
   * of the kind is a bad block.
   */
  askedFor (peer: PeerId, key: string): boolean {
    const state = this.peers.get(peer)
    if (state != null && (state.entries.has(key) || state.cancelled.has(key))) return true
    return this.recent.has(key)
  }

  /** What we asked `peer` for */
  sentTo (peer: PeerId): Array<{ cid: CID, type: WantType }> {
    const state = this.peers.get(peer)
    if (state == null) return []
    return [...state.entries.values()].map(e => ({ cid: e.cid, type: e.type }))
  }

  private stateFor (peer: PeerId): PeerWants {
    let state = this.peers.get(peer)
    if (state == null) {
      state = new PeerWants(peer, this.init.cancelledWantMemory)
      this.peers.set(peer, state)
    }
    return state
  }

  private remove (state: PeerWants, key: string, entry: PeerEntry, sendCancel: boolean): void {
    state.entries.delete(key)
    state.cancelled.add(key)
    if (sendCancel) {
      state.cancelledBytes.set(key, entry.bytes)
      state.dirty.add(key)
    } else {
      state.dirty.delete(key)
    }
  }

  private markDirty (state: PeerWants): void {
    if (!this.running) return
    this.dirtyPeers.set(state.peer, state)
    if (this.flushTimer == null) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined
        this.flush()
      }, 0)
    }
  }

  /** Sends every pending change, one message (or more if large) per peer */
  flush (): void {
    const states = [...this.dirtyPeers.values()]
    this.dirtyPeers.clear()
    this.prune()
    for (const state of states) {
      if (this.peers.get(state.peer) !== state) continue
      if (this.components.isBanned?.(state.peer) === true) {
        this.peers.delete(state.peer)
        continue
      }
      const messages = this.buildMessages(state)
      for (const message of messages) {
        this.components.network.send(state.peer, message.encode())
          .catch((err: Error) => {
            // the peer may have missed this delta: resend everything next time
            this.log('sending wantlist to %p failed - %s', state.peer, err.message)
            if (this.peers.get(state.peer) === state) {
              state.needsFull = true
            }
          })
      }
    }
  }

  /** Forgets peers that have had nothing from us for a while (e.g. providers that were never reached) */
  private prune (): void {
    const now = Date.now()
    if (now - this.lastPruneAt < PRUNE_INTERVAL) return
    this.lastPruneAt = now
    for (const state of [...this.peers.values()]) {
      if (state.entries.size > 0 || state.dirty.size > 0) {
        state.emptySince = 0
      } else if (state.emptySince === 0) {
        state.emptySince = now
      } else if (now - state.emptySince > IDLE_PEER_STATE_TTL) {
        this.peers.delete(state.peer)
      }
    }
  }

  private buildMessages (state: PeerWants): OutgoingMessage[] {
    const messages: OutgoingMessage[] = []
    const full = state.needsFull
    let message = new OutgoingMessage(full)
    const add = (entry: { bytes: Uint8Array, priority: number, cancel: boolean, type: WantType }): void => {
      const out = {
        bytes: entry.bytes,
        priority: clampPriority(entry.priority),
        cancel: entry.cancel,
        wantType: entry.type,
        sendDontHave: !entry.cancel
      }
      if (message.entries.length > 0 && message.sizeWithEntry(OutgoingMessage.entrySize(out)) > this.init.maxMessageSize) {
        messages.push(message)
        message = new OutgoingMessage()
      }
      message.addEntry(out)
    }

    if (full) {
      for (const entry of state.entries.values()) {
        add({ bytes: entry.bytes, priority: entry.priority, cancel: false, type: entry.type })
      }
      state.needsFull = false
    } else {
      for (const key of state.dirty) {
        const entry = state.entries.get(key)
        if (entry != null) {
          add({ bytes: entry.bytes, priority: entry.priority, cancel: false, type: entry.type })
        } else {
          const bytes = state.cancelledBytes.get(key)
          if (bytes != null) {
            add({ bytes, priority: 0, cancel: true, type: 'block' })
          }
        }
      }
    }
    state.dirty.clear()
    state.cancelledBytes.clear()
    if (!message.isEmpty) {
      messages.push(message)
    }
    return messages
  }
}

function clampPriority (priority: number): number {
  if (!Number.isFinite(priority) || priority < 0) return 0
  return Math.min(Math.floor(priority), 0x7fffffff)
}
