import { randomUUID } from 'node:crypto'
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { base32upper } from 'multiformats/bases/base32'
import { InvalidConfigError } from '@provenir/interface'
import { BaseContentBlockstore, decodeInfo } from './blockstore.js'
import { DEFAULT_VERIFIED_FILES, SYNC_BATCH_SIZE, MAX_UNSYNCED_BLOCKS, syncConcurrency, OFF_THREAD_WRITE_MAX, OFF_THREAD_WRITE_MIN, OFF_THREAD_WRITE_SLOTS } from './constants.js'
import { VerifiedFiles, probeFineTimestamps } from './file-stamps.js'
import { bytesLevel, bytesSublevel } from './level.js'
import { SyncQueue } from './sync-queue.js'
import { BlockVerificationError } from './errors.js'
import { verifyBlock, verifyMultihash } from './verify.js'
import { isErrno, readFully, writeFully } from './fs-util.js'
import { OffThreadWrites } from './off-thread-hash.js'
import { WorkerFailedError } from './lazy-worker.js'
import type { BytesSublevel } from './level.js'
import type { BlockstoreInit } from './blockstore.js'
import type { CID } from 'multiformats/cid'

export interface FsBlockstoreInit extends BlockstoreInit {
  /**
   * Repo directory. Blocks go in `<path>/blocks`, the level index and pins in
   * `<path>/index`, writes in progress in `<path>/tmp`.
   */
  path: string

  /**
   * Block files remembered as hashed, so that a verified read of a file
   * unchanged since (same inode, size, ctime and mtime) skips the hash. 0
   * hashes on every verified read.
   *
   * @default DEFAULT_VERIFIED_FILES (32,768)
   */
  verifiedFiles?: number
}

/**
 * The file name and shard of a block, as Kubo's flatfs names them
 * (`/repo/flatfs/shard/v1/next-to-last/2`): base32 upper of the multihash,
 * without padding or multibase prefix, in a directory named by its next-to-last
 * two characters. (The last character of a 34-byte multihash in base32 holds
 * only 2 bits, so sharding on the last two would give 128 directories, not 1024.)
 *
 * @internal
 */
export function blockPath (key: Uint8Array): { shard: string, name: string } {
  const name = base32upper.baseEncode(key)
  return { shard: name.slice(-3, -1), name: `${name}.data` }
}

/** The multihash a block file is named after, or undefined if `name` is not a block file's name. */
function keyOf (name: string): Uint8Array | undefined {
  if (!name.endsWith('.data')) return undefined
  try {
    const key = base32upper.baseDecode(name.slice(0, -'.data'.length))
    return blockPath(key).name === name ? key : undefined
  } catch {
    return undefined
  }
}

/** One set of shared buffers for every store of the process, as there is one hash worker */
const offThread = new OffThreadWrites(OFF_THREAD_WRITE_MAX, OFF_THREAD_WRITE_SLOTS)

/**
 * Blocks stored as files in sharded directories, with `level` holding the
 * index and the pins. A block is written to `tmp/`, renamed into its shard,
 * and only then indexed: the index is the record of what is stored, so a
 * crash leaves a block either indexed or unindexed. Unfinished tmp files are
 * removed on `open()`; block files that were never indexed ("strays") are
 * removed by `gc()`.
 *
 * Durability is a group commit (`sync-queue.ts`). A `put` does not wait for
 * the disk: its index entry is written together with a dirty mark, and a
 * background queue fdatasyncs the files, fsyncs their shard directories and
 * then clears the marks in one synced level write. `pins.pin()`, `flush()`
 * and `close()` wait until every block written before them is durable, so
 * whatever is pinned (a complete blob, an image) is on disk first. After a
 * crash, `open()` hashes every block still marked dirty and drops those whose
 * file is missing, short or wrong: an index entry never outlives its bytes.
 * This replaced a file fsync, a directory fsync and a synced level write on
 * every put, which held each 1 MiB block of a pull for ~50 ms (`BENCHMARKS.md`).
 */
export class FsBlockstore extends BaseContentBlockstore {
  /** The repo directory given at construction */
  readonly path: string
  readonly #blocks: string
  readonly #tmp: string
  readonly #shards = new Set<string>()
  /** Block file names with a write, delete or sweep in progress, so the three never interleave on one file */
  readonly #busy = new Map<string, Promise<void>>()
  readonly #maxVerified: number
  /** Files whose bytes were checked, by block file name; set up by `openStorage` once the timestamps are probed */
  #verified: VerifiedFiles
  /** Verified reads since this store was made: hashed, or skipped because the file was unchanged */
  readonly verifiedReads = { hashed: 0, unchanged: 0 }
  /** Block files written since this store was made: on the hash worker, or from the event loop (small or large blocks, or the worker failed) */
  readonly fileWrites = { offThread: 0, eventLoop: 0 }
  /** Keys of blocks written but not yet known durable */
  readonly #dirty: BytesSublevel
  /** Makes written blocks durable in the background (only when `sync`); a new one for each open */
  #queue?: SyncQueue
  /** What the last `open()` found of blocks left dirty by a crash: how many it checked, and dropped */
  recovered = { checked: 0, dropped: 0 }

  constructor (init: FsBlockstoreInit) {
    if (typeof init.path !== 'string' || init.path.length === 0) {
      throw new InvalidConfigError('FsBlockstore needs a path')
    }
    const maxVerified = init.verifiedFiles ?? DEFAULT_VERIFIED_FILES
    if (!Number.isSafeInteger(maxVerified) || maxVerified < 0) {
      throw new InvalidConfigError(`verifiedFiles must be a non-negative integer, not ${init.verifiedFiles}`)
    }
    super(bytesLevel(join(init.path, 'index')), init)
    this.path = init.path
    this.#blocks = join(init.path, 'blocks')
    this.#tmp = join(init.path, 'tmp')
    this.#maxVerified = maxVerified
    this.#verified = new VerifiedFiles(0, false)
    this.#dirty = bytesSublevel(this.db, 'dirty')
    this.sublevels.push(this.#dirty)
  }

  protected override async openStorage (): Promise<void> {
    await mkdir(this.#blocks, { recursive: true })
    await rm(this.#tmp, { recursive: true, force: true })
    await mkdir(this.#tmp, { recursive: true })
    for (const shard of await readdir(this.#blocks)) {
      this.#shards.add(shard)
    }
    // nothing is remembered across a close: the files may change while no one watches
    this.#verified = new VerifiedFiles(this.#maxVerified, this.#maxVerified > 0 && await probeFineTimestamps(this.#tmp))
    this.recovered = await this.#recover()
    // a queue that failed before a close (its dirty marks left for the recovery above) does not outlive it
    this.#queue = this.sync ? new SyncQueue({ db: this.db, dirty: this.#dirty, batchSize: SYNC_BATCH_SIZE, concurrency: syncConcurrency(), maxUnsynced: MAX_UNSYNCED_BLOCKS }) : undefined
  }

  /**
   * Hashes every block a crash left dirty (written, not known durable) and
   * drops from the index those whose file is missing or does not match.
   */
  async #recover (): Promise<{ checked: number, dropped: number }> {
    let checked = 0
    let dropped = 0
    let ops: Array<{ type: 'del', sublevel: BytesSublevel, key: Uint8Array }> = []
    const commit = async (): Promise<void> => {
      if (ops.length === 0) return
      await this.db.batch(ops, { sync: true })
      ops = []
    }
    for await (const key of this.#dirty.keys()) {
      checked++
      const { shard, name } = blockPath(key)
      const file = join(this.#blocks, shard, name)
      let whole = false
      try {
        whole = verifyMultihash(key, await readFile(file))
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err
      }
      if (!whole) {
        dropped++
        ops.push({ type: 'del', sublevel: this.index, key })
        await rm(file, { force: true })
      }
      ops.push({ type: 'del', sublevel: this.#dirty, key })
      if (ops.length >= 1000) await commit()
    }
    await commit()
    return { checked, dropped }
  }

  /** Blocks written and not yet known to be on disk */
  get unsynced (): number {
    return this.#queue?.unsynced ?? 0
  }

  /** Resolves once every block written before the call is durable */
  override async flush (): Promise<void> {
    await this.#queue?.flush()
  }

  override async close (): Promise<void> {
    try {
      await this.flush()
    } finally {
      await super.close()
    }
  }

  async #exclusive <T> (name: string, fn: () => Promise<T>): Promise<T> {
    // no await between the last check and the set, so two callers cannot both pass
    for (let busy = this.#busy.get(name); busy != null; busy = this.#busy.get(name)) {
      await busy
    }
    let release!: () => void
    this.#busy.set(name, new Promise<void>(resolve => { release = resolve }))
    try {
      return await fn()
    } finally {
      this.#busy.delete(name)
      release()
    }
  }

  protected async writeBlock (key: Uint8Array, info: Uint8Array, bytes: Uint8Array): Promise<void> {
    const { shard, name } = blockPath(key)
    await this.#exclusive(name, async () => this.#write(key, info, bytes, shard, name))
  }

  async #write (key: Uint8Array, info: Uint8Array, bytes: Uint8Array, shard: string, name: string): Promise<void> {
    const dir = join(this.#blocks, shard)
    if (!this.#shards.has(shard)) {
      await mkdir(dir, { recursive: true })
      this.#shards.add(shard)
    }
    const tmp = join(this.#tmp, `${randomUUID()}.tmp`)
    const path = join(dir, name)
    // the bytes were checked against the key before this write (put verifies, or its caller hashed them)
    if (bytes.byteLength >= OFF_THREAD_WRITE_MIN && bytes.byteLength <= OFF_THREAD_WRITE_MAX && await this.#writeOffThread(tmp, path, name, bytes)) {
      this.fileWrites.offThread++
    } else {
      try {
        const file = await open(tmp, 'wx')
        try {
          await writeFully(file, bytes, 0)
        } finally {
          await file.close()
        }
        await rename(tmp, path)
      } catch (err) {
        await rm(tmp, { force: true })
        throw err
      }
      this.fileWrites.eventLoop++
      await this.#verified.rememberPath(name, path).catch(() => {})
    }
    if (this.#queue == null) {
      await this.db.batch([{ type: 'put', sublevel: this.index, key, value: info }], { sync: false })
      return
    }
    // indexed now, durable later: the dirty mark makes the next open check it if a crash comes first
    await this.db.batch([
      { type: 'put', sublevel: this.index, key, value: info },
      { type: 'put', sublevel: this.#dirty, key, value: new Uint8Array(0) }
    ], { sync: false })
    await this.#queue.add({ key, path, dir })
  }

  /**
   * The block file written on the hash worker, its stamp remembered. False
   * when the worker failed before it was done: the caller writes it then.
   *
   * @throws what the write threw (its `code`: ENOSPC, EACCES, ...); no file is left in tmp
   */
  async #writeOffThread (tmp: string, path: string, name: string, bytes: Uint8Array): Promise<boolean> {
    let stamp
    try {
      stamp = await offThread.write(tmp, path, bytes)
    } catch (err) {
      await rm(tmp, { force: true })
      if (err instanceof WorkerFailedError) return false
      throw err
    }
    this.#verified.remember(name, stamp)
    return true
  }

  protected async readBlock (key: Uint8Array): Promise<Uint8Array | undefined> {
    if (!(await this.index.has(key))) {
      return undefined
    }
    const { shard, name } = blockPath(key)
    try {
      return await readFile(join(this.#blocks, shard, name))
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined
      throw err
    }
  }

  /**
   * Reads the file, and hashes its bytes unless its stamp, taken after the
   * read, shows it unchanged since they were last hashed or written (see
   * `file-stamps.ts`). A change during the read shows in that stamp too, so
   * the bytes returned unhashed are the bytes that were checked.
   */
  protected override async readVerified (key: Uint8Array, cid: CID, target?: Uint8Array): Promise<Uint8Array | undefined> {
    const { shard, name } = blockPath(key)
    // a file remembered as checked is indexed (a delete forgets it first), and its stamp has its size
    let size = this.#verified.sizeOf(name)
    if (size == null) {
      const info = await this.index.get(key)
      if (info == null) return undefined
      size = decodeInfo(info).size
    }
    let file
    try {
      file = await open(join(this.#blocks, shard, name), 'r')
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        this.#verified.forget(name)
        return undefined
      }
      throw err
    }
    let bytes: Uint8Array
    let st
    try {
      const want = Math.min(size, this.maxBlockSize)
      const buffer = target != null && target.byteLength >= want ? target.subarray(0, want) : Buffer.allocUnsafe(want)
      bytes = buffer.subarray(0, await readFully(file, buffer))
      // taken after the read: a change before or during it shows here
      st = await file.stat({ bigint: true })
    } finally {
      await file.close()
    }
    // a file that grew or shrank fails the size check, and then the hash
    if (BigInt(bytes.byteLength) === st.size && this.#verified.matches(name, st)) {
      this.verifiedReads.unchanged++
      return bytes
    }
    this.#verified.forget(name)
    this.verifiedReads.hashed++
    if (BigInt(bytes.byteLength) !== st.size) {
      throw new BlockVerificationError(`Block ${cid} is ${bytes.byteLength} bytes in the index, but its file has ${st.size}`)
    }
    verifyBlock(cid, bytes)
    this.#verified.remember(name, st)
    return bytes
  }

  protected override blockFile (key: Uint8Array): string {
    const { shard, name } = blockPath(key)
    return join(this.#blocks, shard, name)
  }

  protected override async readBlockInto (key: Uint8Array, target: Uint8Array): Promise<Uint8Array | undefined> {
    // the index has the block's size: a block that fills `target` exactly needs no stat to know it fits
    const info = await this.index.get(key)
    if (info == null) return undefined
    const { size } = decodeInfo(info)
    const { shard, name } = blockPath(key)
    let file
    try {
      file = await open(join(this.#blocks, shard, name), 'r')
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined
      throw err
    }
    try {
      // a larger block is read whole; of a file longer than its index entry only the indexed size is
      // read, and one shorter gives fewer bytes, which a check of them (size or hash) refuses
      if (size > target.byteLength) return await file.readFile()
      return target.subarray(0, await readFully(file, target.subarray(0, size)))
    } finally {
      await file.close()
    }
  }

  protected async deleteBlock (key: Uint8Array): Promise<void> {
    const { shard, name } = blockPath(key)
    const path = join(this.#blocks, shard, name)
    await this.#exclusive(name, async () => {
      // a write still on its way to the disk goes first, so its queued dirty-mark clear cannot
      // land after a later write of the same block has set the mark again
      if (this.#queue?.has(path) === true) await this.#queue.flush()
      this.#verified.forget(name)
      await this.db.batch([
        { type: 'del', sublevel: this.index, key },
        { type: 'del', sublevel: this.#dirty, key }
      ], { sync: this.sync })
      await rm(path, { force: true })
    })
  }

  /**
   * Removes block files with no index entry: left by a crash between the
   * rename and the index write, or by a delete that stopped after its index
   * entry went. Files that are not block files are left alone.
   */
  protected override async sweepStrays (): Promise<{ files: number, bytes: number }> {
    let files = 0
    let bytes = 0
    for (const shard of await readdir(this.#blocks)) {
      let names: string[]
      try {
        names = await readdir(join(this.#blocks, shard))
      } catch (err) {
        if (isErrno(err, 'ENOTDIR') || isErrno(err, 'ENOENT')) continue
        throw err
      }
      for (const name of names) {
        const key = keyOf(name)
        if (key == null || blockPath(key).shard !== shard) continue
        const file = join(this.#blocks, shard, name)
        await this.#exclusive(name, async () => {
          if (await this.index.has(key)) return
          try {
            const { size } = await stat(file)
            await rm(file)
            files++
            bytes += size
          } catch (err) {
            if (!isErrno(err, 'ENOENT')) throw err
          }
        })
      }
    }
    return { files, bytes }
  }
}
