/**
 * The blockstore contract shared by both implementations (level and files),
 * and the logic they share: size cap, verification, the index, pins and gc.
 *
 * Blocks are keyed by multihash, as the js-stores blockstores are, so a CIDv0
 * and a CIDv1 of the same bytes name one block. The codec of the first CID a
 * block was stored under is kept in the index, and `getAll()` / `infos()`
 * return CIDv1 with that codec. Putting a block that is already stored writes
 * nothing.
 *
 * Verification. sha256 costs about 0.5 ms per MiB here (node crypto, one
 * core, ~2.1 GB/s; see `scripts/bench/blockstore.mjs`). Next to a write that is small
 * (a durable 1 MiB file write takes ~2 ms, a level one ~11 ms), so `put`
 * verifies by default: "every block is verified on receipt". Next to a read it
 * is not: a 1 MiB block comes back from the page cache in ~0.2 ms (files) to
 * ~1 ms (level), so verifying every read would cut the file store's serve rate
 * from ~5.7 GB/s to ~1.5 GB/s, for bytes that were verified when written.
 * So `get` verifies only when asked: pass `{ verify: true }` (or set
 * `verifyOnGet: true`) where bytes may have rotted on disk and
 * leave the node for a client that does not check them itself.
 * `FsBlockstore` remembers which files it has hashed (or written from checked
 * bytes) and skips the hash of a verified read while a file's inode, size and
 * change times are the ones it had then (`file-stamps.ts`): any change made
 * through the file system is still caught, rot of the medium under an
 * unchanged file is not.
 */

import { NotFoundError } from 'interface-store'
import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { MAX_BLOCK_SIZE } from './constants.js'
import { InvalidConfigError } from '@provenir/interface'
import { BlockstoreNotOpenError } from './errors.js'
import { collectBlock } from './block-bytes.js'
import { bytesSublevel } from './level.js'
import { Mutex } from './lock.js'
import { PinStore } from './pins.js'
import { assertSupportedHash, verifyBlock } from './verify.js'
import type { BytesLevel, BytesSublevel } from './level.js'
import type { AbortOptions } from '@provenir/interface'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'

/** Per-call option of `get`, `getMany`, `put` and `putMany`. */
export interface VerifyOptions {
  /**
   * Hash the bytes and compare them with the CID's multihash; a mismatch
   * throws `BlockVerificationError`. On `put`, `false` means the caller has
   * checked the bytes against the CID itself (it computed the CID from them,
   * as bitswap and the importer do), and the store takes them as checked.
   *
   * @default the store's `verifyOnGet` / `verifyOnPut`
   */
  verify?: boolean
}

/** Options common to every provenir blockstore. */
export interface BlockstoreInit {
  /**
   * Largest block accepted, in bytes; a larger one throws `BlockTooLargeError`.
   *
   * @default MAX_BLOCK_SIZE (2 MiB)
   */
  maxBlockSize?: number

  /**
   * Verify blocks against their CID when they are read.
   *
   * @default false
   */
  verifyOnGet?: boolean

  /**
   * Verify blocks against their CID when they are written.
   *
   * @default true
   */
  verifyOnPut?: boolean

  /**
   * Make each write durable before it resolves (fsync of files and directories,
   * `sync` level writes). Turn off only for caches and benchmarks.
   *
   * @default true
   */
  sync?: boolean
}

/** What `gc()` removed. */
export interface GcResult {
  /** The blocks deleted, as CIDv1 */
  removed: CID[]
  /** Their total size in bytes */
  bytes: number
  /** Block files found on disk without an index entry (crash leftovers) and removed; always 0 for level */
  strays: number
}

/** How much the store holds: indexed blocks and their bytes (block bytes only, not the index) */
export interface StoreUsage {
  blocks: number
  bytes: number
}

/** What `collect()` removed */
export interface CollectResult {
  /** The blocks deleted, as CIDv1 */
  removed: CID[]
  /** Their total size in bytes */
  bytes: number
}

/** A block's index entry. */
export interface BlockInfo {
  cid: CID
  size: number
}

/**
 * A provenir blockstore: the `interface-blockstore` contract, plus lifecycle,
 * a keys-only listing, pins and garbage collection.
 */
export interface ContentBlockstore extends Blockstore<{}, VerifyOptions, VerifyOptions, VerifyOptions, VerifyOptions> {
  /** Pins that protect blocks from `gc()` */
  readonly pins: PinStore

  /** `put` keeps no reference to the bytes it is given once it resolves (they are written or copied) */
  readonly copiesOnPut: true

  /** Opens the underlying storage; call before anything else. */
  open(): Promise<void>

  /** Closes the underlying storage. */
  close(): Promise<void>

  /** Every stored block's CIDv1 and size, without reading the blocks. */
  infos(options?: AbortOptions): AsyncGenerator<BlockInfo>

  /** A stored block's size in bytes, from the index without reading the block; undefined when it is not stored. */
  blockSize(cid: CID, options?: AbortOptions): Promise<number | undefined>

  /** Deletes every block that is neither pinned nor guarded and returns what it removed. */
  gc(options?: AbortOptions): Promise<GcResult>

  /**
   * Deletes those of `cids` that are neither pinned nor guarded (the blocks
   * an image held, once it is unpinned), without walking the whole index
   * as `gc()` does.
   */
  collect(cids: Iterable<CID>, options?: AbortOptions): Promise<CollectResult>

  /** The blocks and bytes the store holds now, kept as blocks are written and deleted (no walk of the index) */
  usage(): StoreUsage

  /**
   * Calls `listener` after each write of a new block with the usage then, until the returned
   * function is called: how eviction learns that the store grew.
   */
  watchUsage(listener: (usage: StoreUsage) => void): () => void

  /** Resolves once every block written before the call is on disk (`pins.pin()` waits for this too). */
  flush(): Promise<void>

  /**
   * Keeps blocks from `gc()` until the returned function is called, without
   * pinning them: for blocks written before they can be pinned, such as those
   * of a pull or an upload in progress (their blob is pinned only once its
   * digest has been checked). Guard a block before it is written. Guards nest;
   * they live in memory, so a restart drops them (and whatever they kept is
   * garbage then).
   */
  guard(cids: Iterable<CID>): () => void

  /**
   * Reads a block into `target` and returns the part of it holding the
   * block, when the block fits; otherwise (or from a store that cannot read
   * into a buffer) a buffer of its own. For a reader that is done with the
   * bytes before it reads the next block (a hash): one buffer serves every
   * block, and no garbage is made. Verified against the CID only with
   * `{ verify: true }` (not `verifyOnGet`).
   *
   * @throws NotFoundError when the block is not stored
   * @throws BlockVerificationError with `verify` when the bytes do not match
   */
  readInto(cid: CID, target: Uint8Array, options?: AbortOptions & VerifyOptions): Promise<Uint8Array>

  /**
   * The files holding these blocks' bytes, in the order given, when the
   * store keeps each block as a file of its own and holds every one of
   * them; otherwise undefined. For a reader on another thread (the hash
   * worker) that reads the bytes without checking them against their CIDs,
   * as `readInto` without `verify` does. With `held: false` the blocks are
   * not looked up: the files a block is kept in once it is stored.
   */
  blockFiles(cids: CID[], options?: AbortOptions & { held?: boolean }): Promise<string[] | undefined>
}

export { getBlockBytes } from './block-bytes.js'

/** @internal */
export function encodeInfo (codec: number, size: number): Uint8Array {
  const out = new Uint8Array(varint.encodingLength(codec) + varint.encodingLength(size))
  varint.encodeTo(codec, out, 0)
  varint.encodeTo(size, out, varint.encodingLength(codec))
  return out
}

/** @internal */
export function decodeInfo (bytes: Uint8Array): { codec: number, size: number } {
  const [codec, n] = varint.decode(bytes, 0)
  const [size] = varint.decode(bytes, n)
  return { codec, size }
}

function hexKey (key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
}

/**
 * The shared half of both blockstores. A subclass stores the bytes; this class
 * keeps the index (multihash -> codec, size), the pins, and gc.
 *
 * @internal
 */
export abstract class BaseContentBlockstore implements ContentBlockstore {
  readonly pins: PinStore
  readonly copiesOnPut = true as const
  protected readonly db: BytesLevel
  protected readonly index: BytesSublevel
  /** Every sublevel in use; a reopened database does not reopen its sublevels by itself */
  protected readonly sublevels: BytesSublevel[]
  protected readonly maxBlockSize: number
  protected readonly verifyOnGet: boolean
  protected readonly verifyOnPut: boolean
  protected readonly sync: boolean
  readonly #lock = new Mutex()
  /** Guarded blocks (multihash as hex) and how many guards hold each */
  readonly #guards = new Map<string, number>()
  /** Writes and deletes in progress by key (multihash as hex), so those of one block run one at a time and the usage counts each once */
  readonly #keyed = new Map<string, Promise<unknown>>()
  readonly #usage: StoreUsage = { blocks: 0, bytes: 0 }
  readonly #watchers = new Set<(usage: StoreUsage) => void>()
  #open = false

  protected constructor (db: BytesLevel, init: BlockstoreInit = {}) {
    this.db = db
    this.index = bytesSublevel(db, 'index')
    this.maxBlockSize = init.maxBlockSize ?? MAX_BLOCK_SIZE
    if (!Number.isSafeInteger(this.maxBlockSize) || this.maxBlockSize < 1) {
      throw new InvalidConfigError(`maxBlockSize must be a positive integer, not ${init.maxBlockSize}`)
    }
    this.verifyOnGet = init.verifyOnGet ?? false
    this.verifyOnPut = init.verifyOnPut ?? true
    this.sync = init.sync ?? true
    const pins = bytesSublevel(db, 'pins')
    this.sublevels = [this.index, pins]
    this.pins = new PinStore(db, pins, this.#lock, this.sync, async () => { await this.flush() })
  }

  /** Writes the bytes and then (or atomically with them) the index entry. */
  protected abstract writeBlock (key: Uint8Array, info: Uint8Array, bytes: Uint8Array): Promise<void>

  /** Reads a block's bytes, or `undefined` when it is not stored. */
  protected abstract readBlock (key: Uint8Array): Promise<Uint8Array | undefined>

  /**
   * Reads a block's bytes (into `target` when given and it fits, as
   * `readBlockInto`) and checks them against `cid`, or `undefined` when it is
   * not stored; throws `BlockVerificationError` on a mismatch. A store
   * may skip the hash for bytes it knows it has already checked (`FsBlockstore`
   * does for files unchanged since it hashed them).
   */
  protected async readVerified (key: Uint8Array, cid: CID, target?: Uint8Array): Promise<Uint8Array | undefined> {
    const bytes = target != null ? await this.readBlockInto(key, target) : await this.readBlock(key)
    if (bytes != null) verifyBlock(cid, bytes)
    return bytes
  }

  /**
   * Reads a block's bytes into `target` when it fits (see `readInto`); a
   * store that keeps blocks elsewhere than in files reads them whole.
   */
  protected async readBlockInto (key: Uint8Array, _target: Uint8Array): Promise<Uint8Array | undefined> {
    return this.readBlock(key)
  }

  /** The file holding a block's bytes, when the store keeps one per block (see `blockFiles`) */
  protected blockFile (_key: Uint8Array): string | undefined {
    return undefined
  }

  /** Deletes the index entry and then (or atomically with it) the bytes. */
  protected abstract deleteBlock (key: Uint8Array): Promise<void>

  /** Removes stored bytes that have no index entry; called at the end of `gc()`. */
  protected async sweepStrays (): Promise<{ files: number, bytes: number }> {
    return { files: 0, bytes: 0 }
  }

  /** Prepares storage once level is open. */
  protected async openStorage (): Promise<void> {}

  async open (): Promise<void> {
    await this.db.open()
    await Promise.all(this.sublevels.map(async sublevel => sublevel.open()))
    await this.openStorage()
    // one walk of the index at open; from then on each write and delete keeps the count
    this.#usage.blocks = 0
    this.#usage.bytes = 0
    for await (const value of this.index.values()) {
      this.#usage.blocks++
      this.#usage.bytes += decodeInfo(value).size
    }
    this.#open = true
  }

  usage (): StoreUsage {
    return { ...this.#usage }
  }

  watchUsage (listener: (usage: StoreUsage) => void): () => void {
    this.#watchers.add(listener)
    return () => { this.#watchers.delete(listener) }
  }

  /** Runs `fn` once no other write or delete of the block `key` runs */
  async #perKey <T> (key: Uint8Array, fn: () => Promise<T>): Promise<T> {
    const k = hexKey(key)
    // no await between the last check and the set, so two callers cannot both pass
    for (let busy = this.#keyed.get(k); busy != null; busy = this.#keyed.get(k)) {
      await busy.catch(() => {})
    }
    const run = fn()
    this.#keyed.set(k, run)
    try {
      return await run
    } finally {
      this.#keyed.delete(k)
    }
  }

  /** Deletes a block and its index entry; returns its size, or undefined when it was not stored */
  async #remove (key: Uint8Array): Promise<number | undefined> {
    return this.#perKey(key, async () => {
      const info = await this.index.get(key)
      if (info == null) return undefined
      await this.deleteBlock(key)
      const { size } = decodeInfo(info)
      this.#usage.blocks--
      this.#usage.bytes -= size
      return size
    })
  }

  async close (): Promise<void> {
    this.#open = false
    await this.db.close()
  }

  /** Writes here are durable when they resolve; a store that defers them waits for them here */
  async flush (): Promise<void> {}

  protected assertOpen (options?: AbortOptions): void {
    if (!this.#open) {
      throw new BlockstoreNotOpenError('The blockstore is not open')
    }
    options?.signal?.throwIfAborted()
  }

  async put (cid: CID, input: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options?: AbortOptions & VerifyOptions): Promise<CID> {
    this.assertOpen(options)
    const bytes = await collectBlock(input, this.maxBlockSize, cid)
    if (options?.verify ?? this.verifyOnPut) {
      verifyBlock(cid, bytes)
    } else {
      assertSupportedHash(cid.multihash)
    }
    options?.signal?.throwIfAborted()
    const key = cid.multihash.bytes
    // one index lookup, under the key's lock: a block that is held already is not written again
    const written = await this.#perKey(key, async () => {
      if (await this.index.has(key)) return false
      await this.writeBlock(key, encodeInfo(cid.code, bytes.byteLength), bytes)
      this.#usage.blocks++
      this.#usage.bytes += bytes.byteLength
      return true
    })
    if (written) {
      const usage = this.usage()
      for (const watcher of this.#watchers) watcher(usage)
    }
    return cid
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions & VerifyOptions): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) {
      yield await this.put(cid, bytes, options)
    }
  }

  async * get (cid: CID, options?: AbortOptions & VerifyOptions): AsyncGenerator<Uint8Array> {
    yield await this.#read(cid, options)
  }

  async #read (cid: CID, options?: AbortOptions & VerifyOptions): Promise<Uint8Array> {
    this.assertOpen(options)
    const key = cid.multihash.bytes
    const bytes = (options?.verify ?? this.verifyOnGet) ? await this.readVerified(key, cid) : await this.readBlock(key)
    if (bytes == null) {
      throw new NotFoundError(`Block ${cid} not found`)
    }
    return bytes
  }

  /** Reads each block as it is asked for, so a missing one throws `NotFoundError` from this iterator. */
  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions & VerifyOptions): AsyncGenerator<Pair> {
    for await (const cid of source) {
      const bytes = await this.#read(cid, options)
      yield { cid, bytes: (function * () { yield bytes })() }
    }
  }

  async readInto (cid: CID, target: Uint8Array, options?: AbortOptions & VerifyOptions): Promise<Uint8Array> {
    this.assertOpen(options)
    const key = cid.multihash.bytes
    const bytes = options?.verify === true ? await this.readVerified(key, cid, target) : await this.readBlockInto(key, target)
    if (bytes == null) throw new NotFoundError(`Block ${cid} not found`)
    return bytes
  }

  async blockFiles (cids: CID[], options?: AbortOptions & { held?: boolean }): Promise<string[] | undefined> {
    this.assertOpen(options)
    const files: string[] = []
    for (const cid of cids) {
      const file = this.blockFile(cid.multihash.bytes)
      if (file == null || (options?.held !== false && !(await this.index.has(cid.multihash.bytes)))) return undefined
      files.push(file)
    }
    return files
  }

  async blockSize (cid: CID, options?: AbortOptions): Promise<number | undefined> {
    this.assertOpen(options)
    const info = await this.index.get(cid.multihash.bytes)
    return info == null ? undefined : decodeInfo(info).size
  }

  async has (cid: CID, options?: AbortOptions): Promise<boolean> {
    this.assertOpen(options)
    return this.index.has(cid.multihash.bytes)
  }

  async delete (cid: CID, options?: AbortOptions): Promise<void> {
    this.assertOpen(options)
    await this.#remove(cid.multihash.bytes)
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const cid of source) {
      await this.delete(cid, options)
      yield cid
    }
  }

  async * getAll (options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const { cid } of this.infos(options)) {
      yield { cid, bytes: this.get(cid, options) }
    }
  }

  async * infos (options?: AbortOptions): AsyncGenerator<BlockInfo> {
    this.assertOpen(options)
    for await (const [key, value] of this.index.iterator()) {
      options?.signal?.throwIfAborted()
      const { codec, size } = decodeInfo(value)
      yield { cid: CID.createV1(codec, Digest.decode(key)), size }
    }
  }

  /**
   * Deletes every block that is not pinned. The candidate list is a snapshot
   * of the index when gc starts, so blocks written during gc survive it; each
   * pin check and delete runs under the pin lock, so a block pinned during gc
   * survives too. Last, stray bytes with no index entry are swept.
   */
  guard (cids: Iterable<CID>): () => void {
    const keys = [...cids].map(cid => hexKey(cid.multihash.bytes))
    for (const k of keys) this.#guards.set(k, (this.#guards.get(k) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      for (const k of keys) {
        const n = (this.#guards.get(k) ?? 1) - 1
        if (n <= 0) this.#guards.delete(k)
        else this.#guards.set(k, n)
      }
    }
  }

  async gc (options?: AbortOptions): Promise<GcResult> {
    const removed: CID[] = []
    let bytes = 0
    for await (const info of this.infos(options)) {
      const key = info.cid.multihash.bytes
      const size = await this.#collectOne(key)
      if (size != null) {
        removed.push(info.cid)
        bytes += size
      }
    }
    options?.signal?.throwIfAborted()
    const strays = await this.sweepStrays()
    return { removed, bytes: bytes + strays.bytes, strays: strays.files }
  }

  async collect (cids: Iterable<CID>, options?: AbortOptions): Promise<CollectResult> {
    this.assertOpen(options)
    const removed: CID[] = []
    let bytes = 0
    for (const cid of cids) {
      options?.signal?.throwIfAborted()
      const size = await this.#collectOne(cid.multihash.bytes)
      if (size != null) {
        removed.push(CID.createV1(cid.code, cid.multihash))
        bytes += size
      }
    }
    return { removed, bytes }
  }

  /** Deletes the block unless it is pinned or guarded (checked under the pin lock); its size when deleted */
  async #collectOne (key: Uint8Array): Promise<number | undefined> {
    return this.#lock.run(async () => {
      if (this.#guards.has(hexKey(key)) || await this.pins.hasKey(key)) return undefined
      return this.#remove(key)
    })
  }
}
