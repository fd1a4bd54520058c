import { CID } from 'multiformats/cid'
import type { BytesLevel, BytesSublevel } from './level.js'
import type { Mutex } from './lock.js'
import type { AbortOptions } from '@provenir/interface'

/**
 * Pins, stored in level and keyed by multihash (so a CIDv0 and a CIDv1 of the
 * same block are one pin). A pin protects exactly the block it names; pinning
 * a DAG means pinning every CID in it (recursive pins are not implemented yet).
 * A CID may be pinned before its block arrives, to protect a download in
 * progress from garbage collection.
 */
export class PinStore {
  readonly #db: BytesLevel
  readonly #pins: BytesSublevel
  readonly #lock: Mutex
  readonly #sync: boolean
  readonly #durable: () => Promise<void>

  /**
   * @param durable - resolves once every block written so far is on disk; a pin waits for it
   * @internal
   */
  constructor (db: BytesLevel, pins: BytesSublevel, lock: Mutex, sync: boolean, durable: () => Promise<void> = async () => {}) {
    this.#db = db
    this.#pins = pins
    this.#lock = lock
    this.#sync = sync
    this.#durable = durable
  }

  /**
   * Pins each CID given; pinning a pinned CID is a no-op. It resolves once
   * the blocks written before it are on disk as well as the pins: what a pin
   * protects is never less durable than the pin.
   */
  async pin (cids: CID | Iterable<CID>, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const list = cids instanceof CID ? [cids] : [...cids]
    await this.#durable()
    await this.#lock.run(async () => {
      options?.signal?.throwIfAborted()
      await this.#db.batch(list.map(cid => ({
        sublevel: this.#pins,
        type: 'put' as const,
        key: cid.multihash.bytes,
        value: CID.createV1(cid.code, cid.multihash).bytes
      })), { sync: this.#sync })
    })
  }

  /** Removes the pin of each CID given; unpinning an unpinned CID is a no-op. */
  async unpin (cids: CID | Iterable<CID>, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const list = cids instanceof CID ? [cids] : [...cids]
    await this.#lock.run(async () => {
      options?.signal?.throwIfAborted()
      await this.#db.batch(list.map(cid => ({
        sublevel: this.#pins,
        type: 'del' as const,
        key: cid.multihash.bytes
      })), { sync: this.#sync })
    })
  }

  /** True when the block named by `cid` (by multihash) is pinned. */
  async isPinned (cid: CID, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return this.#pins.has(cid.multihash.bytes)
  }

  /** Every pinned CID, as CIDv1, in multihash order. */
  async * ls (options?: AbortOptions): AsyncGenerator<CID> {
    for await (const value of this.#pins.values()) {
      options?.signal?.throwIfAborted()
      yield CID.decode(value)
    }
  }

  /** @internal gc's check, made while it holds the lock */
  async hasKey (key: Uint8Array): Promise<boolean> {
    return this.#pins.has(key)
  }
}
