/**
 * Blocks this node is fetching over the bulk transport now, shared by the
 * transport and the listener: a single `want()` of one waits for that fetch
 * instead of starting its own, and a peer that asks the listener for one
 * (a server of a rollout named this node as a holder, see `Recipients`) is
 * answered once it arrives, instead of DONT_HAVE; but not a peer this node
 * is asking for that block itself, or the two would wait for each other.
 */

import { PeerMap } from '@libp2p/peer-collections'
import { blockKey, setNewest } from './blocks.js'
import { MAX_REDIRECT_BLOCKS, REDIRECT_WINDOW } from './constants.js'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

interface Fetch {
  promise: Promise<boolean>
  resolve(stored: boolean): void
  refs: number
}

export class Fetches {
  readonly #onStored?: (cid: CID) => void
  readonly #fetches = new Map<string, Fetch>()
  /** per block, the peers asked for it now (and how many times) */
  readonly #asking = new Map<string, PeerMap<number>>()
  /** blocks fetched and stored lately, and when (the oldest first) */
  readonly #stored = new Map<string, number>()

  /** @param onStored - called once a fetch stored a block (the listener tells its clients, HAVE) */
  constructor (onStored?: (cid: CID) => void) {
    this.#onStored = onStored
  }

  /** A fetch of `cid` begins; the function returned tells whether it stored the block */
  begin (cid: CID): (stored: boolean) => void {
    const key = blockKey(cid)
    let entry = this.#fetches.get(key)
    if (entry == null) {
      const { promise, resolve } = Promise.withResolvers<boolean>()
      entry = { promise, resolve, refs: 0 }
      this.#fetches.set(key, entry)
    }
    const fetch = entry
    fetch.refs++
    let ended = false
    return (stored) => {
      if (ended) return
      ended = true
      fetch.refs--
      if (!stored && fetch.refs > 0) return
      if (this.#fetches.get(key) === fetch) this.#fetches.delete(key)
      if (stored) setNewest(this.#stored, key, Date.now(), MAX_REDIRECT_BLOCKS)
      fetch.resolve(stored)
      if (stored) this.#onStored?.(cid)
    }
  }

  /** Whether this node fetched `cid` and stored it within REDIRECT_WINDOW */
  storedLately (cid: CID): boolean {
    const at = this.#stored.get(blockKey(cid))
    return at != null && Date.now() - at <= REDIRECT_WINDOW
  }

  /** A fetch of `cid` asks `peer` for it; the function returned tells that the request ended */
  asking (cid: CID, peer: PeerId): () => void {
    const key = blockKey(cid)
    let peers = this.#asking.get(key)
    if (peers == null) {
      peers = new PeerMap()
      this.#asking.set(key, peers)
    }
    const asked = peers
    asked.set(peer, (asked.get(peer) ?? 0) + 1)
    let ended = false
    return () => {
      if (ended) return
      ended = true
      const left = (asked.get(peer) ?? 1) - 1
      if (left > 0) asked.set(peer, left)
      else asked.delete(peer)
      if (asked.size === 0 && this.#asking.get(key) === asked) this.#asking.delete(key)
    }
  }

  /**
   * Settles with whether the block was stored, once the fetches of `cid`
   * end; undefined when none runs. For this node's own readers: a fetch
   * counts whether or not a peer is being asked now (a session's block
   * waiting for room in its window, or with the fallback, is on its way).
   */
  pending (cid: CID): Promise<boolean> | undefined {
    return this.#fetches.get(blockKey(cid))?.promise
  }

  /**
   * Settles with whether the block was stored, once the fetches of `cid`
   * end; undefined when none runs, when none is asking a peer for it now
   * (set aside after a `busy` answer, waiting for peers, or with the
   * fallback: its asker would wait for a block not on its way), or when one
   * asks `asker` itself for the block (each would wait for the other)
   */
  get (cid: CID, asker?: PeerId): Promise<boolean> | undefined {
    const key = blockKey(cid)
    const asked = this.#asking.get(key)
    if (asked == null || (asker != null && asked.has(asker))) return undefined
    return this.#fetches.get(key)?.promise
  }
}
