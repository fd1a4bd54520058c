/**
 * The store's size against its limits (`storage` in config.json): what it
 * holds (`stat`), eviction between the watermarks, `gc`, and removing an
 * image on purpose.
 *
 * What may go. Pins are flat and owned by the image records and the
 * registry's entries, so an image listed as cache (fetched for a client,
 * not pulled, pushed or imported on purpose) still pins its blocks against a
 * plain `gc`. Eviction first runs `gc` (blocks nothing pins: a refused pull's,
 * an abandoned upload's), then removes cached images least recently used
 * first (`AccessLog`: the last read or write of the manifest or any of its
 * blobs) and deletes those of their blocks nothing else pins, until the
 * store is at or below the low watermark. Kept images are never evicted.
 *
 * What is in use stays. A pull or upload in flight guards its blocks, and
 * `gc`/`collect` skip guarded blocks. A read holds its digest from its
 * lookup to the end of each read (`hold`); an image any of whose digests is
 * held is skipped, and one a read starts on after its record went is
 * fetched again by the read's next source.
 *
 * Models: Dragonfly's LRU between disk watermarks; Kubo's `StorageMax` and
 * `StorageGCWatermark`.
 */

import { InvalidParametersError } from '@provenir/interface'
import { ImageNotFoundError, isDigest } from '@provenir/content'
import { CID } from 'multiformats/cid'
import { EVICTION_CHECK_INTERVAL, EVICTION_TIMEOUT } from '../constants.js'
import type { StorageConfig } from '../storage-config.js'
import type { AbortOptions, ComponentLogger, Logger } from '@libp2p/interface'
import type { AccessLog, ContentBlockstore, GcResult, ImageIndex, ImageRecord, StoreUsage } from '@provenir/content'

export interface StorageComponents {
  blockstore: ContentBlockstore
  images: ImageIndex
  access: AccessLog
  logger: ComponentLogger
  /** Stop advertising a CID whose blocks are gone */
  unprovide(cid: CID): Promise<void>
}

/** An image eviction removed */
export interface EvictionDetail {
  digest: string
  /** Bytes of blocks deleted (blocks another image shares stay) */
  bytes: number
  blocks: number
  /** Last read or written, ms since the epoch (0: never recorded) */
  lastUsed: number
}

/** What one run of `gc` removed, and why it ran */
export interface GcDetail {
  reason: 'request' | 'eviction'
  bytes: number
  blocks: number
}

/** Events of the storage service: `evict` for each image evicted, `gc` for each gc run */
export interface StorageEvents {
  evict: CustomEvent<EvictionDetail>
  gc: CustomEvent<GcDetail>
}

/** `repo stat`: what the store holds, by kind, and its limits */
export interface StorageStat {
  /** Blocks and their bytes, as the store counts them */
  usage: StoreUsage
  /** The configured limits, and the watermarks in bytes (null without maxSize) */
  limits: StorageConfig & { highBytes: number | null, lowBytes: number | null }
  /** Images kept on purpose (pushed, imported, pulled with pin): never evicted */
  pinned: { images: number, bytes: number }
  /** Images kept as cache: evicted least recently used first */
  cache: { images: number, bytes: number }
  /** Each image: its digest, tags, size (of its blobs), whether it is cache, and when it was last used */
  images: Array<{ digest: string, tags: string[], size: number, cache: boolean, lastUsed: number }>
  /** More images than listed */
  truncated: boolean
  /** Blocks pinned in the store (by image records and the registry's entries) */
  pinnedBlocks: number
}

/** The image's size: the bytes of its blobs */
function sizeOf (record: ImageRecord): number {
  return record.blobs.reduce((n, b) => n + b.size, 0)
}

export class StorageService extends EventTarget {
  readonly limits: StorageConfig
  readonly #c: StorageComponents
  readonly #log: Logger
  /** Digests a read is using now, and how many reads */
  readonly #held = new Map<string, number>()
  #unwatch?: () => void
  #timer?: ReturnType<typeof setInterval>
  #running?: Promise<void>
  /** Aborted at stop, so a run in progress does not hold up the node's shutdown */
  #stopping = new AbortController()
  /** After a run that could not reach the low watermark, the size the store must pass before a write starts another */
  #retryAbove = 0

  constructor (components: StorageComponents, limits: StorageConfig) {
    super()
    this.#c = components
    this.limits = limits
    this.#log = components.logger.forComponent('provenir:storage')
  }

  get #high (): number | null {
    return this.limits.maxSize == null ? null : Math.floor(this.limits.maxSize * this.limits.highWatermark)
  }

  get #low (): number | null {
    return this.limits.maxSize == null ? null : Math.floor(this.limits.maxSize * this.limits.lowWatermark)
  }

  /** The blocks and bytes the store holds now */
  usage (): StoreUsage {
    return this.#c.blockstore.usage()
  }

  start (): void {
    if (this.#stopping.signal.aborted) this.#stopping = new AbortController()
    this.#c.access.start()
    if (this.limits.maxSize == null) return
    this.#unwatch = this.#c.blockstore.watchUsage((usage) => { this.#check(usage, false) })
    this.#timer = setInterval(() => { this.#check(this.#c.blockstore.usage(), true) }, EVICTION_CHECK_INTERVAL)
    this.#timer.unref()
    this.#check(this.#c.blockstore.usage(), true)
  }

  async stop (): Promise<void> {
    this.#unwatch?.()
    clearInterval(this.#timer)
    this.#stopping.abort()
    await this.#running?.catch(() => {})
    await this.#c.access.stop()
  }

  /** Records that a digest (a manifest or a blob) was read or written now */
  touch (...digests: string[]): void {
    this.#c.access.touch(...digests)
  }

  /** Keeps eviction off the images that use `digest` until the returned function is called */
  hold (digest: string): () => void {
    this.#held.set(digest, (this.#held.get(digest) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const n = (this.#held.get(digest) ?? 1) - 1
      if (n <= 0) this.#held.delete(digest)
      else this.#held.set(digest, n)
    }
  }

  #check (usage: StoreUsage, timer: boolean): void {
    const high = this.#high
    if (high == null || usage.bytes <= high || this.#running != null) return
    if (!timer && usage.bytes <= this.#retryAbove) return
    const signal = AbortSignal.any([AbortSignal.timeout(EVICTION_TIMEOUT), this.#stopping.signal])
    this.#running = this.evict({ signal })
      .catch((err: Error) => {
        if (this.#stopping.signal.aborted) return
        this.#log.error('eviction failed - %e', err)
      })
      .finally(() => { this.#running = undefined })
  }

  /** Settles once the eviction running now, if any, has ended */
  async settled (): Promise<void> {
    await this.#running
  }

  /**
   * Brings the store down to the low watermark: unpinned blocks first, then
   * cached images least recently used first. Does nothing without `maxSize`
   * or while the store is at or below the high watermark.
   */
  async evict (options: AbortOptions = {}): Promise<void> {
    const high = this.#high
    const low = this.#low
    if (high == null || low == null) return
    const start = this.#c.blockstore.usage().bytes
    if (start <= high) return
    const gc = await this.gc('eviction', options)
    if (gc.bytes > 0) this.#log('evicted %d unpinned block(s), %d bytes: the store was at %d bytes, over its high watermark of %d', gc.removed.length, gc.bytes, start, high)
    for (const candidate of await this.#candidates(options)) {
      if (this.#c.blockstore.usage().bytes <= low) break
      await this.#evictImage(candidate, options)
    }
    const end = this.#c.blockstore.usage().bytes
    if (end > low) {
      this.#retryAbove = end + (high - low)
      this.#log('the store holds %d bytes, over its low watermark of %d, and nothing more may be evicted now: the rest is pinned or in use', end, low)
    } else {
      this.#retryAbove = 0
    }
  }

  /** Cached images, least recently used first, with their last use */
  async #candidates (options: AbortOptions): Promise<Array<{ record: ImageRecord, lastUsed: number }>> {
    const out: Array<{ record: ImageRecord, lastUsed: number }> = []
    for await (const digest of this.#c.images.cached(options)) {
      const record = await this.#c.images.get(digest, options)
      if (record == null) continue
      out.push({ record, lastUsed: await this.#lastUsed(record) })
    }
    return out.sort((a, b) => a.lastUsed - b.lastUsed)
  }

  async #lastUsed (record: ImageRecord): Promise<number> {
    let last = 0
    for (const blob of record.blobs) last = Math.max(last, await this.#c.access.lastUsed(blob.digest))
    return last
  }

  #inUse (record: ImageRecord): boolean {
    return record.blobs.some(b => this.#held.has(b.digest))
  }

  async #evictImage ({ record, lastUsed }: { record: ImageRecord, lastUsed: number }, options: AbortOptions): Promise<void> {
    const digest = record.manifestDigest
    if (this.#inUse(record)) return
    const before = this.#c.blockstore.usage().bytes
    const { removed, bytes } = await this.#remove(record, options)
    if (removed < 0) return
    this.#log('evicted cached image %s (last used %s): %d block(s), %d bytes freed; the store was at %d bytes, over its high watermark of %d',
      digest, lastUsed === 0 ? 'never recorded' : new Date(lastUsed).toISOString(), removed, bytes, before, this.#high)
    this.dispatchEvent(new CustomEvent<EvictionDetail>('evict', { detail: { digest, bytes, blocks: removed, lastUsed } }))
  }

  /**
   * Removes an image's record (unpinning the blocks no other image or
   * registry entry pins) and deletes those blocks unless guarded or held;
   * stops advertising the roots that went. removed is -1 when it was not listed.
   */
  async #remove (record: ImageRecord, options: AbortOptions): Promise<{ removed: number, bytes: number }> {
    const digest = record.manifestDigest
    const blocks = await this.#c.images.blocks(digest) ?? []
    if (!await this.#c.images.remove(digest, options)) return { removed: -1, bytes: 0 }
    // a read that took hold after the check above keeps the blocks; the next gc takes them
    if (this.#inUse(record)) return { removed: 0, bytes: 0 }
    const { removed, bytes } = await this.#c.blockstore.collect(blocks, options)
    const hex = (cid: CID): string => Buffer.from(cid.multihash.bytes).toString('hex')
    const gone = new Set(removed.map(hex))
    for (const blob of record.blobs) {
      const root = CID.parse(blob.root)
      if (gone.has(hex(root))) await this.#c.unprovide(root).catch(() => {})
    }
    // a blob another image still lists keeps its time
    const forgotten: string[] = []
    for (const blob of record.blobs) if (await this.#c.images.getBlob(blob.digest) == null) forgotten.push(blob.digest)
    await this.#c.access.forget(forgotten)
    return { removed: removed.length, bytes }
  }

  /**
   * Removes an image on purpose (`provenir image rm`): its record, its pins,
   * and its blocks no other image shares. A digest or a tag of a held image.
   *
   * @throws ImageNotFoundError when no held image has this digest or tag
   * @throws InvalidParametersError when a tag names several images
   */
  async removeImage (ref: string, options: AbortOptions = {}): Promise<{ digest: string, blocks: number, bytes: number }> {
    const record = await this.#find(ref, options)
    const { removed, bytes } = await this.#remove(record, options)
    if (removed < 0) throw new ImageNotFoundError(`this node holds no image ${ref}`)
    this.#log('removed image %s on request: %d block(s), %d bytes freed', record.manifestDigest, removed, bytes)
    return { digest: record.manifestDigest, blocks: removed, bytes }
  }

  async #find (ref: string, options: AbortOptions): Promise<ImageRecord> {
    if (isDigest(ref)) {
      const record = await this.#c.images.get(ref, options)
      if (record == null) throw new ImageNotFoundError(`this node holds no image ${ref}`)
      return record
    }
    const found: ImageRecord[] = []
    for await (const record of this.#c.images.ls(options)) {
      if (record.tags?.includes(ref) === true) found.push(record)
    }
    if (found.length === 0) throw new ImageNotFoundError(`this node holds no image tagged ${JSON.stringify(ref)}; give its digest (provenir image ls lists them)`)
    if (found.length > 1) throw new InvalidParametersError(`the tag ${JSON.stringify(ref)} names ${found.length} images (${found.map(r => r.manifestDigest).join(', ')}); give a digest`)
    return found[0]
  }

  /** Deletes every block nothing pins or guards (see `ContentBlockstore.gc`), counted in the `gc` events */
  async gc (reason: GcDetail['reason'] = 'request', options: AbortOptions = {}): Promise<GcResult> {
    const result = await this.#c.blockstore.gc(options)
    this.dispatchEvent(new CustomEvent<GcDetail>('gc', { detail: { reason, bytes: result.bytes, blocks: result.removed.length + result.strays } }))
    return result
  }

  /** What the store holds, by kind, and its limits; lists at most `maxImages` images */
  async stat (options: AbortOptions & { maxImages?: number } = {}): Promise<StorageStat> {
    const out: StorageStat = {
      usage: this.#c.blockstore.usage(),
      limits: { ...this.limits, highBytes: this.#high, lowBytes: this.#low },
      pinned: { images: 0, bytes: 0 },
      cache: { images: 0, bytes: 0 },
      images: [],
      truncated: false,
      pinnedBlocks: 0
    }
    const max = options.maxImages ?? Infinity
    for await (const record of this.#c.images.ls(options)) {
      const cache = await this.#c.images.isCached(record.manifestDigest)
      const size = sizeOf(record)
      const kind = cache ? out.cache : out.pinned
      kind.images++
      kind.bytes += size
      if (out.images.length < max) out.images.push({ digest: record.manifestDigest, tags: record.tags ?? [], size, cache, lastUsed: await this.#lastUsed(record) })
      else out.truncated = true
    }
    for await (const _ of this.#c.blockstore.pins.ls(options)) out.pinnedBlocks++
    return out
  }
}
