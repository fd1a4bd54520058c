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
import { copyInto } from '../transport.js'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

interface Fetch {
  promise: Promise<boolean>
  resolve(stored: boolean): void
  refs: number
  /** callers of `getInto` waiting: each copies the block's bytes as the fetch that stored them ends */
  copies: Set<(bytes: Uint8Array) => void>
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

  /**
   * A fetch of `cid` begins; the function returned tells whether it stored
   * the block, and with its bytes (checked and stored; read only while the
   * call runs) when it has them in hand
   */
  begin (cid: CID): (stored: boolean, bytes?: Uint8Array) => void {
    const key = blockKey(cid)
    let entry = this.#fetches.get(key)
    if (entry == null) {
      const { promise, resolve } = Promise.withResolvers<boolean>()
      entry = { promise, resolve, refs: 0, copies: new Set() }
      this.#fetches.set(key, entry)
    }
    const fetch = entry
    fetch.refs++
    let ended = false
    return (stored, bytes) => {
      if (ended) return
      ended = true
      fetch.refs--
      if (!stored && fetch.refs > 0) return
      if (this.#fetches.get(key) === fetch) this.#fetches.delete(key)
      if (stored) setNewest(this.#stored, key, Date.now(), MAX_REDIRECT_BLOCKS)
      // before the bytes' buffer may go back to a pool: the caller reuses it once this returns
      if (stored && bytes != null) for (const copy of [...fetch.copies]) copy(bytes)
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

  /**
   * For a caller of this node (not a peer): the fetch of `cid` running, also
   * one whose block waits in a session's queue, which this node's own pull
   * gets to (asking peers beside it would fetch the block twice); undefined
   * when none runs. The block's bytes are copied into `into` (or, larger
   * than it, into a buffer of their own) when the fetch that stores it has
   * them in hand: settles with those bytes, or with whether it was stored.
   * Rejects with `signal`'s reason once it aborts; nothing is written into
   * `into` after the promise settled. With `asked`, only a fetch asking a
   * peer now counts, as for `get` (a session waiting for another's: that
   * one's queue may not move before this one's).
   */
  getInto (cid: CID, into: Uint8Array, signal?: AbortSignal, asked = false): Promise<Uint8Array | boolean> | undefined {
    const key = blockKey(cid)
    const fetch = !asked || this.#asking.has(key) ? this.#fetches.get(key) : undefined
    if (fetch == null) return undefined
    return new Promise<Uint8Array | boolean>((resolve, reject) => {
      const end = (): void => {
        fetch.copies.delete(copy)
        signal?.removeEventListener('abort', onAbort)
      }
      const copy = (bytes: Uint8Array): void => {
        end()
        resolve(copyInto(bytes, into))
      }
      const onAbort = (): void => {
        end()
        reject(signal?.reason)
      }
      fetch.copies.add(copy)
      // settles after the copies, which ran as the fetch ended: a no-op then
      fetch.promise.then((stored) => {
        end()
        resolve(stored)
      }, () => {})
      if (signal?.aborted === true) onAbort()
      else signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}
