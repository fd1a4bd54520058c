/**
 * The redirect policy of the bulk listener: whom it sent each block to, and
 * whom it told to get the block from them (see `Recipients`).
 */

import { blockKey, setNewest, within } from './blocks.js'
import { MAX_HOLDERS, MAX_REDIRECT_BLOCKS, MAX_REDIRECTED, REDIRECT_AFTER_COPIES, REDIRECT_MIN_SIZE, REDIRECT_WINDOW, RELAY_REDIRECT_AFTER_COPIES } from './constants.js'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** What a server remembers of one block it sent */
interface Entry {
  /** the latest MAX_HOLDERS peers it was sent to (or is being sent to) */
  sent: PeerId[]
  /** the latest MAX_HOLDERS of them it was written to in full: they hold it, or will in a moment */
  landed: PeerId[]
  /** the first MAX_REDIRECTED askers told to go to its holders */
  redirected: PeerId[]
  at: number
}

/**
 * Whom this server sent each block to lately, and whom it told to get it
 * from them. Once REDIRECT_AFTER_COPIES peers were sent a block within
 * REDIRECT_WINDOW, a client that asks for it with `redirect_ok` is told to
 * ask them instead (a DONT_HAVE naming them), and is itself named to those
 * that ask after it: it is fetching the block, and a peer fetching a block
 * answers a want of it once it lands (`inFlightWait`). An asker is named
 * only to later askers, never to earlier ones, so no two of them are told
 * to wait for each other. A relay (a server that fetched the block itself
 * lately) sends it to RELAY_REDIRECT_AFTER_COPIES peers and names only
 * those. So the origin of a rollout sends each block about once and the
 * pullers pass it on among themselves, instead of it sending
 * the block to every puller that asks it first (BENCHMARKS.md). Only blocks
 * of REDIRECT_MIN_SIZE bytes or more are remembered, so a small block is
 * always sent. Bounded by MAX_REDIRECT_BLOCKS blocks, the oldest forgotten
 * first, each with its last MAX_HOLDERS recipients and its first
 * MAX_REDIRECTED askers. Only peers still `live` (admitted by this node:
 * connected, not banned) are named or counted: a recipient that left is not
 * sent askers that would find nobody there. An asker that takes `busy` is
 * named only recipients the block was written to in full (`landedHolders`).
 */
export class Recipients {
  readonly #blocks = new Map<string, Entry>()
  readonly #reading = new Map<string, { count: number, idle: PromiseWithResolvers<void> }>()

  /**
   * A block is being read to be sent: a peer asking for it meanwhile waits
   * (`settled`) until the read ended and its peer was counted (`sent`),
   * instead of being sent a copy of its own because the first was not
   * counted yet. Call the function returned once the read ended.
   */
  reading (cid: CID): () => void {
    const key = blockKey(cid)
    let entry = this.#reading.get(key)
    if (entry == null) {
      entry = { count: 0, idle: Promise.withResolvers<void>() }
      this.#reading.set(key, entry)
    }
    const reading = entry
    reading.count++
    let ended = false
    return () => {
      if (ended) return
      ended = true
      if (--reading.count > 0) return
      if (this.#reading.get(key) === reading) this.#reading.delete(key)
      reading.idle.resolve()
    }
  }

  /** Whether a read of `cid` to send it is under way */
  isReading (cid: CID): boolean {
    return this.#reading.has(blockKey(cid))
  }

  /** Resolves once the reads of `cid` under way now ended, or after `timeout` ms */
  async settled (cid: CID, timeout: number): Promise<void> {
    const reading = this.#reading.get(blockKey(cid))
    if (reading != null) await within(reading.idle.promise, timeout, undefined)
  }

  /** `peer` is to be sent `cid`, `size` bytes, read for it (it waits for them when asked for the block meanwhile) */
  sent (cid: CID, peer: PeerId, size: number): void {
    if (size < REDIRECT_MIN_SIZE) return
    const entry = this.#entry(blockKey(cid))
    const sent = entry.sent.filter(p => !p.equals(peer))
    sent.push(peer)
    // the latest few: they are likely still connected
    if (sent.length > MAX_HOLDERS) sent.shift()
    entry.sent = sent
  }

  /** `peer` is not to be sent `cid` after all (its want was answered `busy`): it is not named as a holder */
  unsent (cid: CID, peer: PeerId): void {
    const entry = this.#blocks.get(blockKey(cid))
    if (entry != null) entry.sent = entry.sent.filter(p => !p.equals(peer))
  }

  /** `cid` was written to `peer` in full (a peer it was `sent`): named to askers that take `busy` */
  landed (cid: CID, peer: PeerId): void {
    const entry = this.#blocks.get(blockKey(cid))
    if (entry == null || !entry.sent.some(p => p.equals(peer))) return
    const landed = entry.landed.filter(p => !p.equals(peer))
    landed.push(peer)
    if (landed.length > MAX_HOLDERS) landed.shift()
    entry.landed = landed
  }

  /**
   * The peers to name instead of sending `cid` to `asker`, those sent it
   * first; undefined when it is to be sent. An asker told to go to them is
   * named to those asking after it, unless this server is a `relay` of the
   * block (it fetched it lately): a relay sends it to
   * RELAY_REDIRECT_AFTER_COPIES peers and names only those. Peers for which
   * `live` is false (gone from this node) are neither named nor counted.
   */
  holders (cid: CID, asker: PeerId, relay = false, live: (peer: PeerId) => boolean = () => true): PeerId[] | undefined {
    const found = this.#redirecting(cid, asker, relay, live)
    if (found == null) return undefined
    if (relay) return found.sent
    const entry = this.#entry(blockKey(cid))
    const at = entry.redirected.findIndex(p => p.equals(asker))
    const before = entry.redirected.slice(0, at < 0 ? entry.redirected.length : at)
    if (at < 0 && entry.redirected.length < MAX_REDIRECTED) entry.redirected.push(asker)
    const waiting = before.filter(p => !found.sent.some(q => q.equals(p)) && live(p))
    const room = Math.max(0, MAX_HOLDERS - found.sent.length)
    return [...found.sent, ...(room > 0 ? waiting.slice(-room) : [])]
  }

  /**
   * `holders` for an asker that takes `busy`: only peers the block was
   * written to in full (`landed`) are named, never one still waiting for
   * it, since an asker told to wait for a holder still fetching the block
   * waits with it, and each link of such a chain waits for the one before
   * (BENCHMARKS.md). When the block went only to peers still waiting for
   * it, a relay sends it itself and any other server (a seed, whose upload
   * is a rollout's scarcest) answers `'busy'`: its asker asks again later.
   */
  landedHolders (cid: CID, asker: PeerId, relay = false, live: (peer: PeerId) => boolean = () => true): PeerId[] | 'busy' | undefined {
    const found = this.#redirecting(cid, asker, relay, live)
    if (found == null) return undefined
    const landed = found.entry.landed.filter(p => !p.equals(asker) && live(p))
    if (landed.length > 0) return landed
    return relay ? undefined : 'busy'
  }

  /** The block's entry and its live recipients but `asker` when they are enough to redirect `asker`; undefined when it is to be sent */
  #redirecting (cid: CID, asker: PeerId, relay: boolean, live: (peer: PeerId) => boolean): { entry: Entry, sent: PeerId[] } | undefined {
    const entry = this.#blocks.get(blockKey(cid))
    if (entry == null || Date.now() - entry.at > REDIRECT_WINDOW) return undefined
    const sent = entry.sent.filter(p => !p.equals(asker) && live(p))
    if (sent.length < (relay ? RELAY_REDIRECT_AFTER_COPIES : REDIRECT_AFTER_COPIES)) return undefined
    return { entry, sent }
  }

  /** The block's entry, made anew when none is remembered within REDIRECT_WINDOW; its time moves to now */
  #entry (key: string): Entry {
    const now = Date.now()
    let entry = this.#blocks.get(key)
    if (entry == null || now - entry.at > REDIRECT_WINDOW) entry = { sent: [], landed: [], redirected: [], at: now }
    entry.at = now
    setNewest(this.#blocks, key, entry, MAX_REDIRECT_BLOCKS)
    return entry
  }

  /** Blocks remembered (for tests) */
  get size (): number {
    return this.#blocks.size
  }
}
