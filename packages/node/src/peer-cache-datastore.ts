/**
 * The libp2p datastore of a node with a level datastore, with the peer
 * store's records (`/peers/...`) held in memory and written behind.
 *
 * libp2p's peer store reads a peer's record from the datastore on every
 * `get` and `merge`, and writes it back on every `merge` (kad-dht merges
 * every peer its answers name, identify every peer it meets). On level each
 * is a trip to LevelDB: in an 8-host rollout in the lab LevelDB was the
 * largest single package in the daemons' CPU profiles (12%, more than TLS),
 * nearly all of it the peer store's. Here a peer's record is read from level
 * once, and a changed record is written back every PEER_FLUSH_INTERVAL, at a
 * query that can return peer records,
 * and at close: a crash loses at most the last few seconds of peer
 * addresses, which the node learns again. Every other key goes straight to
 * level, as before.
 */

import { BaseDatastore } from 'datastore-core'
import type { AbortOptions } from '@libp2p/interface'
import type { Datastore, Key, Pair, Query, KeyQuery } from 'interface-datastore'

/** The peer store's keys */
const PEERS_PREFIX = '/peers/'

/** How often changed peer records are written to the datastore (ms) */
export const PEER_FLUSH_INTERVAL = 5_000

/** Peer records kept in memory; the least recently used clean ones go first past this */
export const PEER_CACHE_ENTRIES = 4_096

export interface PeerCacheInit {
  flushInterval?: number
  maxEntries?: number
  /** Called with a failed write-behind (the records stay dirty and are tried again) */
  onError?(err: Error): void
}

/**
 * Whether a query by `prefix` can return peer records: only then does it
 * flush them first. kad-dht reads a key's providers with a query (on every
 * GET_PROVIDERS it answers), which has no business waiting for a batch of
 * peer records to be written.
 */
function mayHoldPeers (prefix: string | undefined): boolean {
  return prefix == null || PEERS_PREFIX.startsWith(prefix) || prefix.startsWith(PEERS_PREFIX)
}

export class PeerCacheDatastore extends BaseDatastore {
  readonly #inner: Datastore
  readonly #cache = new Map<string, { key: Key, value: Uint8Array }>()
  readonly #dirty = new Set<string>()
  readonly #flushInterval: number
  readonly #maxEntries: number
  readonly #onError: (err: Error) => void
  #timer?: ReturnType<typeof setTimeout>
  #flushing?: Promise<void>

  constructor (inner: Datastore, init: PeerCacheInit = {}) {
    super()
    this.#inner = inner
    this.#flushInterval = init.flushInterval ?? PEER_FLUSH_INTERVAL
    this.#maxEntries = Math.max(1, init.maxEntries ?? PEER_CACHE_ENTRIES)
    this.#onError = init.onError ?? (() => {})
  }

  /** Records changed and not yet written */
  get unflushed (): number {
    return this.#dirty.size
  }

  override async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const k = key.toString()
    if (!k.startsWith(PEERS_PREFIX)) return this.#inner.put(key, value, options)
    // dirty before it is remembered: the bound never forgets an unwritten record
    this.#dirty.add(k)
    this.#remember(k, key, value)
    this.#schedule()
    return key
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    const k = key.toString()
    if (!k.startsWith(PEERS_PREFIX)) return this.#inner.get(key, options)
    const hit = this.#cache.get(k)
    if (hit != null) {
      // most recently used last
      this.#cache.delete(k)
      this.#cache.set(k, hit)
      return hit.value
    }
    const value = await this.#inner.get(key, options)
    // a put that raced the read is newer than what was read
    if (!this.#cache.has(k)) this.#remember(k, key, value)
    return this.#cache.get(k)?.value ?? value
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    const k = key.toString()
    if (k.startsWith(PEERS_PREFIX) && this.#cache.has(k)) return true
    return this.#inner.has(key, options)
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    const k = key.toString()
    if (k.startsWith(PEERS_PREFIX)) {
      this.#cache.delete(k)
      this.#dirty.delete(k)
      // a write-behind under way may hold the record: the delete lands after it
      while (this.#flushing != null) await this.#flushing
    }
    await this.#inner.delete(key, options)
  }

  override async * query (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    if (mayHoldPeers(q.prefix)) await this.flush()
    yield * this.#inner.query(q, options)
  }

  override async * queryKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    if (mayHoldPeers(q.prefix)) await this.flush()
    yield * this.#inner.queryKeys(q, options)
  }

  /** Writes every changed peer record to the datastore */
  async flush (options?: AbortOptions): Promise<void> {
    while (this.#flushing != null) await this.#flushing
    if (this.#dirty.size === 0) return
    clearTimeout(this.#timer)
    this.#timer = undefined
    const keys = [...this.#dirty]
    this.#dirty.clear()
    const batch = this.#inner.batch()
    for (const k of keys) {
      const entry = this.#cache.get(k)
      if (entry != null) batch.put(entry.key, entry.value)
    }
    this.#flushing = Promise.resolve(batch.commit(options)).catch((err: Error) => {
      // written again at the next flush, unless changed or deleted meanwhile (then that wins)
      for (const k of keys) if (this.#cache.has(k)) this.#dirty.add(k)
      this.#onError(err)
      this.#schedule()
    }).finally(() => {
      this.#flushing = undefined
    })
    await this.#flushing
  }

  /** Flushes and stops the timer; the inner datastore stays open (its owner closes it) */
  async close (): Promise<void> {
    await this.flush()
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #remember (k: string, key: Key, value: Uint8Array): void {
    this.#cache.delete(k)
    this.#cache.set(k, { key, value })
    if (this.#cache.size <= this.#maxEntries) return
    // past the bound: the least recently used records that are written go
    for (const old of this.#cache.keys()) {
      if (this.#cache.size <= this.#maxEntries) break
      if (old !== k && !this.#dirty.has(old)) this.#cache.delete(old)
    }
  }

  #schedule (): void {
    if (this.#timer != null) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.flush()
    }, this.#flushInterval)
    this.#timer.unref?.()
  }
}
