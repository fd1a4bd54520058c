/**
 * Reading a blob DAG back (its two shapes: see dag.ts): whole through the
 * UnixFS exporter, leaf by leaf straight from the store, and checking a blob
 * against its digest while its leaves arrive.
 */

import { createHash } from 'node:crypto'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { InvalidParametersError } from '@provenir/interface'
import { getBlockBytes } from './blockstore.js'
import { DEFAULT_CHUNK_SIZE } from './constants.js'
import { BlobSizeMismatchError, DigestMismatchError, NotABlobError } from './errors.js'
import { FileDigestStream, digestFiles } from './off-thread-hash.js'
import { parseDigest } from './oci.js'
import type { ContentBlockstore } from './blockstore.js'
import type { AbortOptions } from '@provenir/interface'
import type { BlobReader } from './dag.js'
import type { BufferPool } from './buffer-pool.js'

export interface ExportBlobOptions extends AbortOptions {
  /** Verify every block against its CID as it is read (a provenir store's `verify` option). @default true */
  verifyBlocks?: boolean
  /**
   * The OCI digest the whole blob must have: it is hashed as it streams and a
   * mismatch throws `DigestMismatchError` after the last chunk (a streaming
   * consumer must then discard what it received).
   */
  expectedDigest?: string

  /**
   * Leaves read at once, and the size of the window (in 1 MiB chunks) read per
   * exporter call: the most of a blob held in memory. The exporter's own
   * default is unbounded.
   *
   * @default BLOCK_READ_CONCURRENCY (8 blocks, ~8 MiB)
   */
  blockReadConcurrency?: number
}

/** Leaves `exportBlob` reads ahead of the consumer by default. */
export const BLOCK_READ_CONCURRENCY = 8

/**
 * Streams a blob back out of its DAG: the single raw block, or the UnixFS
 * file's leaves in order. Throws `NotABlobError` if `root` is neither.
 */
export async function * exportBlob (root: CID, blockstore: BlobReader, options: ExportBlobOptions = {}): AsyncGenerator<Uint8Array> {
  const verify = options.verifyBlocks ?? true
  const reader: BlobReader = {
    get: (cid, opts) => blockstore.get(cid, { ...opts, verify })
  }
  const entry = await exporter(root, reader, { signal: options.signal })
  if (entry.type !== 'raw' && entry.type !== 'file') {
    throw new NotABlobError(`${root} is a ${entry.type}, not a blob`)
  }
  const expected = options.expectedDigest
  const hash = expected != null ? createHash(parseDigest(expected).algorithm) : undefined
  const blockReadConcurrency = options.blockReadConcurrency ?? BLOCK_READ_CONCURRENCY
  if (entry.type === 'raw') {
    for await (const chunk of entry.content({ signal: options.signal })) {
      hash?.update(chunk)
      yield chunk
    }
  } else {
    // The exporter's file walk pushes blocks into a queue with no backpressure,
    // so one content() call over a whole layer buffers as much of it as the
    // disk can read ahead of the consumer (a 100 MiB layer exported to disk
    // peaked at ~300 MB RSS). Reading a window at a time bounds that: each
    // call walks only the children that overlap its range.
    const size = Number(entry.unixfs.fileSize())
    const window = Math.max(1, blockReadConcurrency) * DEFAULT_CHUNK_SIZE
    for (let offset = 0; offset < size; offset += window) {
      const length = Math.min(window, size - offset)
      for await (const chunk of entry.content({ signal: options.signal, blockReadConcurrency, offset, length })) {
        hash?.update(chunk)
        yield chunk
      }
    }
  }
  if (hash != null && expected != null) {
    const actual = `${parseDigest(expected).algorithm}:${hash.digest('hex')}`
    if (actual !== expected) throw new DigestMismatchError(`Blob ${root} has digest ${actual}, expected ${expected}`)
  }
}

export interface VerifyBlobOptions extends AbortOptions {
  /** The OCI digest the blob must have */
  expectedDigest: string
  /** The size the blob must have */
  size: number
  /** Leaves read ahead of the hash. @default 4 */
  readAhead?: number
  /**
   * Each leaf `BlobVerifier.offer` is given is already in the store, with
   * the bytes offered (a transport's blocks: checked against their CIDs and
   * stored before they are handed on). The verifier may then hash a leaf's
   * file instead of the bytes, on the hash worker.
   */
  offeredAreStored?: boolean
}

/** A DAG this walk reads directly: dag-pb UnixFS file nodes with no inline data, raw leaves, consistent sizes */
class UnusualShape extends Error {}

/**
 * The raw leaves of a blob's DAG in order, each with the size its parent
 * declares (-1 for a root that is itself a raw block), and the total the
 * root declares (-1 likewise). Throws UnusualShape for any DAG that is not
 * dag-pb UnixFS file nodes without inline data over raw leaves, with
 * consistent sizes.
 */
async function leavesOf (root: CID, reader: BlobReader, signal?: AbortSignal): Promise<{ leaves: Array<{ cid: CID, size: number }>, total: number }> {
  const leaves: Array<{ cid: CID, size: number }> = []
  const total = await (async function walk (cid: CID, depth: number): Promise<number> {
    if (cid.code === raw.code) {
      leaves.push({ cid, size: -1 })
      return -1
    }
    if (depth > 16) throw new UnusualShape()
    const entry = await exporter(cid, reader, { signal })
    if (entry.type !== 'file') throw new UnusualShape()
    const { unixfs, node } = entry
    if ((unixfs.data?.byteLength ?? 0) > 0 || unixfs.blockSizes.length !== node.Links.length) throw new UnusualShape()
    let sum = 0
    for (let i = 0; i < node.Links.length; i++) {
      const declared = Number(unixfs.blockSizes[i])
      const size = await walk(node.Links[i].Hash, depth + 1)
      if (size === -1) leaves[leaves.length - 1].size = declared
      else if (size !== declared) throw new UnusualShape()
      sum += declared
    }
    if (Number(unixfs.fileSize()) !== sum) throw new UnusualShape()
    return sum
  })(root, 0)
  return { leaves, total }
}

export interface ReadBlobOptions extends AbortOptions {
  /** Verify every block (the dag-pb nodes and the leaves) against its CID as it is read. @default true */
  verifyBlocks?: boolean
  /** Leaves read ahead of the consumer: the most of the blob held in memory, in 1 MiB chunks. @default 8 */
  readAhead?: number
  /** First byte to read. @default 0 */
  offset?: number
  /** Bytes to read from `offset`. @default to the end */
  length?: number
  /**
   * Read leaves into buffers from this pool (with a store that has
   * `readInto`); the caller releases each chunk yielded once done with it.
   */
  buffers?: BufferPool
}

/**
 * Streams a stored blob's bytes, or a range of them, in order: the fast
 * path for serving. For the usual shape (a raw block, or dag-pb UnixFS file
 * nodes over raw leaves with consistent sizes) it reads the leaves straight
 * from the store, `readAhead` at a time, skipping those before `offset`;
 * any other shape goes through `exportBlob`'s exporter. Every block is
 * checked against its CID unless `verifyBlocks` is false. The whole-blob
 * digest is not computed here (see `exportBlob`'s `expectedDigest`).
 *
 * @throws BlobSizeMismatchError when a leaf is not the size its parent declares
 */
export async function * readBlob (root: CID, blockstore: BlobReader & Partial<Pick<ContentBlockstore, 'readInto'>>, options: ReadBlobOptions = {}): AsyncGenerator<Uint8Array> {
  const verify = options.verifyBlocks ?? true
  const pool = typeof blockstore.readInto === 'function' ? options.buffers : undefined
  const reader: BlobReader = { get: (cid, opts) => blockstore.get(cid, { ...opts, verify }) }
  const start = options.offset ?? 0
  let found: Awaited<ReturnType<typeof leavesOf>>
  try {
    found = await leavesOf(root, reader, options.signal)
  } catch (err) {
    if (!(err instanceof UnusualShape)) throw err
    const entry = await exporter(root, reader, { signal: options.signal })
    if (entry.type !== 'raw' && entry.type !== 'file') throw new NotABlobError(`${root} is a ${entry.type}, not a blob`)
    yield * entry.content({ signal: options.signal, offset: start, ...(options.length != null ? { length: options.length } : {}), blockReadConcurrency: options.readAhead ?? BLOCK_READ_CONCURRENCY })
    return
  }
  const { leaves } = found
  const end = options.length != null ? start + options.length : Infinity
  // skip the leaves wholly before the range (sizes from their parents); a root leaf is read
  let first = 0
  let position = 0
  while (first < leaves.length && leaves[first].size !== -1 && position + leaves[first].size <= start) {
    position += leaves[first].size
    first++
  }
  const ahead = Math.max(1, options.readAhead ?? BLOCK_READ_CONCURRENCY)
  const reads: Array<Promise<Uint8Array>> = []
  const read = async (cid: CID): Promise<Uint8Array> => {
    if (pool == null || blockstore.readInto == null) return getBlockBytes(reader, cid, { signal: options.signal })
    const target = pool.take()
    try {
      const bytes = await blockstore.readInto(cid, target, { signal: options.signal, verify })
      if (bytes.buffer !== target.buffer) pool.release(target) // it did not fit: read into a buffer of its own
      return bytes
    } catch (err) {
      pool.release(target)
      throw err
    }
  }
  let next = first
  try {
    for (let i = first; i < leaves.length && position < end; i++) {
      while (next < leaves.length && reads.length < ahead) {
        const p = read(leaves[next++].cid)
        p.catch(() => {}) // awaited in turn below; a failed read ahead must not be unhandled meanwhile
        reads.push(p)
      }
      const bytes = await reads.shift() as Uint8Array
      const leaf = leaves[i]
      if (leaf.size !== -1 && bytes.byteLength !== leaf.size) {
        pool?.release(bytes)
        throw new BlobSizeMismatchError(`Blob ${root}: leaf ${leaf.cid} is ${bytes.byteLength} bytes, its parent says ${leaf.size}`)
      }
      const from = Math.max(0, start - position)
      const to = Math.min(bytes.byteLength, end - position)
      position += bytes.byteLength
      if (to > from) yield from === 0 && to === bytes.byteLength ? bytes : bytes.subarray(from, to)
      else pool?.release(bytes)
    }
  } finally {
    // reads ahead that nobody will take: their buffers go back once they finish
    for (const p of reads) p.then(bytes => { pool?.release(bytes) }, () => {})
  }
}

/**
 * Leaves from which `BlobVerifier` hashes a blob on the hash worker rather
 * than on the event loop (the leaves offered, or a read-back of this many):
 * below it, the worker's round trips cost about what they save.
 */
export const WORKER_DIGEST_MIN_LEAVES = 8

/**
 * Checks a blob against its digest and size, taking its leaves in order as
 * they arrive (`offer`) and reading the rest back from the store (`finish`):
 * the check that makes a fetched blob complete. A fetch that gets the leaves
 * in order hashes each one once, on receipt, and reads nothing back; one that
 * gets them in another order reads back the leaves after the first gap.
 *
 * It reads the same bytes `exportBlob` would give: the leaves of a dag-pb
 * UnixFS file over raw leaves, where each node's block sizes must match what
 * is under it (so a ranged export reads the same bytes). Leaves are not
 * re-hashed against their CIDs: each was checked when it was stored.
 *
 * From a store that keeps each block as a file (`blockFiles`), a blob of at
 * least {@link WORKER_DIGEST_MIN_LEAVES} leaves is hashed on the hash worker
 * (`off-thread-hash.ts`), which reads the files itself: the event loop is
 * left to the transfers still running. The leaves offered in order are
 * hashed from their files as they are offered when the caller says they are
 * stored as offered (`offeredAreStored`: a transport's blocks), and a
 * read-back of that many leaves or more, from the first leaf. If the worker
 * fails, the blob is read back and hashed on the event loop.
 */
export class BlobVerifier {
  readonly #root: CID
  readonly #store: BlobReader
  readonly #readInto?: ContentBlockstore['readInto']
  readonly #blockFiles?: ContentBlockstore['blockFiles']
  /** the leaves' files, and the worker's hash of those offered: a blob of WORKER_DIGEST_MIN_LEAVES leaves or more */
  #files?: { paths: string[], stream: FileDigestStream }
  readonly #options: VerifyBlobOptions
  readonly #algorithm: string
  readonly #leaves: Array<{ cid: CID, size: number }>
  readonly #total: number
  #hash: ReturnType<typeof createHash>
  #cursor = 0
  #length = 0
  #finished = false

  private constructor (root: CID, store: BlobReader, access: Partial<Pick<ContentBlockstore, 'readInto' | 'blockFiles'>>, options: VerifyBlobOptions, algorithm: string, found: { leaves: Array<{ cid: CID, size: number }>, total: number }, paths: string[] | undefined) {
    this.#root = root
    this.#store = store
    this.#readInto = access.readInto
    this.#blockFiles = access.blockFiles
    this.#options = options
    this.#algorithm = algorithm
    this.#leaves = found.leaves
    this.#total = found.total
    this.#hash = createHash(algorithm)
    if (paths != null) this.#files = { paths, stream: new FileDigestStream(algorithm) }
  }

  /**
   * Walks the DAG under `root`, whose inner (dag-pb) nodes must be held
   * already; its leaves need not be. Returns undefined for a DAG of any other
   * shape (inline data, dag-pb leaves, inconsistent sizes): check those with
   * {@link verifyBlob} once every block is held.
   */
  static async open (root: CID, blockstore: BlobReader & Partial<Pick<ContentBlockstore, 'readInto' | 'blockFiles'>>, options: VerifyBlobOptions): Promise<BlobVerifier | undefined> {
    const { algorithm } = parseDigest(options.expectedDigest)
    const unverified: BlobReader = { get: (cid, opts) => blockstore.get(cid, { ...opts, verify: false }) }
    const access = {
      // a provenir store reads the leaves back into a few reused buffers: no garbage per leaf
      readInto: typeof blockstore.readInto === 'function' ? blockstore.readInto.bind(blockstore) : undefined,
      // and an FsBlockstore's files can be hashed on the hash worker
      blockFiles: typeof blockstore.blockFiles === 'function' ? blockstore.blockFiles.bind(blockstore) : undefined
    }
    try {
      const found = await leavesOf(root, unverified, options.signal)
      const paths = options.offeredAreStored === true && found.leaves.length >= WORKER_DIGEST_MIN_LEAVES ? await access.blockFiles?.(found.leaves.map(leaf => leaf.cid), { held: false, signal: options.signal }) : undefined
      return new BlobVerifier(root, unverified, access, options, algorithm, found, paths)
    } catch (err) {
      if (err instanceof UnusualShape) return undefined
      throw err
    }
  }

  /** Leaves hashed so far, in order from the first */
  get hashed (): number {
    return this.#cursor
  }

  /**
   * Hash `bytes` if `cid` is the next leaf in order; anything else is left
   * for `finish` to read back. Returns whether the leaf was taken.
   *
   * @throws BlobSizeMismatchError when the leaf is not the size its parent declares
   */
  offer (cid: CID, bytes: Uint8Array): boolean {
    const leaf = this.#leaves[this.#cursor]
    if (this.#finished || leaf == null || !leaf.cid.equals(cid)) return false
    if (this.#files == null) {
      this.#take(leaf, bytes)
      return true
    }
    this.#checkLeaf(leaf, bytes.byteLength)
    this.#files.stream.add(this.#files.paths[this.#cursor])
    this.#length += bytes.byteLength
    this.#cursor++
    return true
  }

  #checkLeaf (leaf: { cid: CID, size: number }, size: number): void {
    if (leaf.size !== -1 && size !== leaf.size) {
      throw new BlobSizeMismatchError(`Blob ${this.#options.expectedDigest}: leaf ${leaf.cid} is ${size} bytes, its parent says ${leaf.size}`)
    }
  }

  /** Hashes a leaf here */
  #take (leaf: { cid: CID, size: number }, bytes: Uint8Array): void {
    this.#checkLeaf(leaf, bytes.byteLength)
    this.#hash.update(bytes)
    this.#length += bytes.byteLength
    this.#cursor++
  }

  /**
   * The worker's hash of the leaves offered, when every leaf was: undefined
   * (and nothing checked) after a gap or when the worker lost the hash;
   * `finish` then reads the leaves back from the first.
   */
  async #finishStream (files: { paths: string[], stream: FileDigestStream }): Promise<boolean> {
    if (this.#cursor < this.#leaves.length) {
      files.stream.drop()
      return false
    }
    let result
    try {
      result = await files.stream.digest()
    } catch (err) {
      this.#options.signal?.throwIfAborted()
      if ((err as Error).name === 'WorkerCallError' || (err as Error).name === 'WorkerFailedError') return false
      throw err
    }
    this.#check(this.#checkSizes(result.sizes), result.digest)
    return true
  }

  /** The sizes of the leaves' files, against those their parents declare; returns their total */
  #checkSizes (sizes: number[]): number {
    let length = 0
    for (let i = 0; i < this.#leaves.length; i++) {
      this.#checkLeaf(this.#leaves[i], sizes[i])
      length += sizes[i]
    }
    return length
  }

  /**
   * Hash the leaves not offered, reading them from the store a few ahead,
   * then check the total size and the digest.
   *
   * @throws DigestMismatchError, BlobSizeMismatchError
   */
  async finish (): Promise<void> {
    if (this.#finished) throw new InvalidParametersError('this blob was already checked')
    this.#finished = true
    const options = this.#options
    const leaves = this.#leaves
    if (this.#files != null) {
      const files = this.#files
      this.#files = undefined
      if (await this.#finishStream(files)) return
      // the leaves offered were hashed there only: read back from the first
      this.#hash = createHash(this.#algorithm)
      this.#cursor = 0
      this.#length = 0
    }
    if (leaves.length - this.#cursor >= WORKER_DIGEST_MIN_LEAVES && await this.#finishOnWorker()) return
    const ahead = Math.max(1, options.readAhead ?? 4)
    const reads: Array<Promise<Uint8Array>> = []
    // read `ahead` at a time, leaf i into buffer i % ahead: a leaf is hashed (synchronously)
    // before the read that reuses its buffer is started
    const readInto = this.#readInto
    const buffers = readInto != null && this.#cursor < leaves.length ? Array.from({ length: ahead }, () => new Uint8Array(DEFAULT_CHUNK_SIZE)) : undefined
    let next = this.#cursor
    while (this.#cursor < leaves.length) {
      while (next < leaves.length && reads.length < ahead) {
        const cid = leaves[next].cid
        const p = readInto != null && buffers != null
          ? readInto(cid, buffers[next % ahead], { signal: options.signal })
          : getBlockBytes(this.#store, cid, { signal: options.signal })
        next++
        p.catch(() => {}) // awaited in turn below; a failed read ahead must not be unhandled meanwhile
        reads.push(p)
      }
      this.#take(leaves[this.#cursor], await (reads.shift() as Promise<Uint8Array>))
    }
    this.#check(this.#length, this.#hash.digest('hex'))
  }

  /**
   * Hashes every leaf, from the first, on the hash worker; returns false
   * (nothing checked) when the store keeps no files or the worker could
   * not read them: `finish` then reads them here, and a missing block
   * throws its own error there.
   */
  async #finishOnWorker (): Promise<boolean> {
    const options = this.#options
    const leaves = this.#leaves
    const files = await this.#blockFiles?.(leaves.map(leaf => leaf.cid), { signal: options.signal })
    if (files == null) return false
    let result
    try {
      result = await digestFiles(files, this.#algorithm, { signal: options.signal })
    } catch (err) {
      options.signal?.throwIfAborted()
      if ((err as Error).name === 'WorkerCallError' || (err as Error).name === 'WorkerFailedError') return false
      throw err
    }
    this.#check(this.#checkSizes(result.sizes), result.digest)
    return true
  }

  /** The whole blob's size against its root's and the expected one, then its digest */
  #check (length: number, hex: string): void {
    const options = this.#options
    if (this.#total !== -1 && this.#total !== length) throw new BlobSizeMismatchError(`Blob ${options.expectedDigest} is ${length} bytes, its root says ${this.#total}`)
    if (length !== options.size) throw new BlobSizeMismatchError(`Blob ${options.expectedDigest} is ${length} bytes, expected ${options.size}`)
    const actual = `${this.#algorithm}:${hex}`
    if (actual !== options.expectedDigest) throw new DigestMismatchError(`Blob ${this.#root} has digest ${actual}, expected ${options.expectedDigest}`)
  }
}

/**
 * Hashes a stored blob's bytes in order and checks them against its digest
 * and size (a {@link BlobVerifier} given no leaves). A DAG of another shape
 * than `BlobVerifier` reads (inline data, dag-pb leaves) is checked through
 * `exportBlob`. Blocks are not re-hashed against their CIDs.
 *
 * @throws DigestMismatchError, BlobSizeMismatchError
 */
export async function verifyBlob (root: CID, blockstore: BlobReader, options: VerifyBlobOptions): Promise<void> {
  const verifier = await BlobVerifier.open(root, blockstore, options)
  if (verifier != null) {
    await verifier.finish()
    return
  }
  let length = 0
  for await (const chunk of exportBlob(root, blockstore, { expectedDigest: options.expectedDigest, verifyBlocks: false, signal: options.signal })) {
    length += chunk.byteLength
  }
  if (length !== options.size) throw new BlobSizeMismatchError(`Blob ${options.expectedDigest} is ${length} bytes, expected ${options.size}`)
}
