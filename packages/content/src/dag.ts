/**
 * Blobs (layers, configs, manifests) as block DAGs.
 *
 * A blob of at most one chunk (1 MiB) is one raw block, so its CID's multihash
 * is the OCI sha256 digest itself. A larger blob is a UnixFS file DAG made by
 * ipfs-unixfs-importer with raw leaves, fixed 1 MiB chunks, the balanced
 * layout and CIDv1, so IPFS tools read it as an ordinary file. (The importer
 * with `rawLeaves` and `reduceSingleLeafToSelf` gives a one-chunk blob exactly
 * that raw block, so one code path makes both shapes.)
 */

import { createHash } from 'node:crypto'
import { exporter } from 'ipfs-unixfs-exporter'
import { importByteStream } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidParametersError } from '@provenir/interface'
import { concatChunks } from './block-bytes.js'
import { getBlockBytes } from './blockstore.js'
import { DEFAULT_CHUNK_SIZE, MAX_BLOCK_SIZE } from './constants.js'
import { BlobSizeMismatchError, DigestInvalidError, DigestMismatchError, NotABlobError } from './errors.js'
import { parseDigest } from './oci.js'
import type { ContentBlockstore, VerifyOptions } from './blockstore.js'
import type { Digest as OciDigest } from './oci.js'
import type { AbortOptions, ProgressOptions } from '@provenir/interface'
import type { Blockstore } from 'interface-blockstore'
import type { ImporterProgressEvents } from 'ipfs-unixfs-importer'

/** Multihash codes of the digest algorithms OCI registers */
const MULTIHASH: Record<'sha256' | 'sha512', number> = { sha256: 0x12, sha512: 0x13 }

/**
 * Chunks hashed and written at once. The importer reads this many chunks ahead,
 * so it bounds the memory an import holds (about 4 MiB).
 */
const BLOCK_WRITE_CONCURRENCY = 4

/** Where blobs are written: any blockstore's `put` (a provenir store skips re-hashing what the importer just hashed). */
export type BlobWriter = Pick<Blockstore<{}, VerifyOptions>, 'put'>

/** Where blobs are read from. */
export type BlobReader = Pick<Blockstore<{}, {}, {}, VerifyOptions>, 'get'>

export interface ImportBlobOptions extends AbortOptions, ProgressOptions<ImporterProgressEvents> {
  /**
   * The blob's OCI digest, `sha256:` or `sha512:`. A one-chunk sha512 blob
   * is stored as the raw block whose CID's multihash (sha2-512) is the
   * digest, as a sha256 one is; a larger one is a UnixFS DAG of sha2-256
   * blocks (ipfs-unixfs-importer names every block by sha2-256), whose root
   * an index maps from the digest.
   */
  expectedDigest: string

  /** The blob's size, when known: reading stops as soon as the stream passes it */
  size?: number

  /**
   * The caller has already hashed exactly these bytes and found
   * `expectedDigest` (a gateway hashes an upload as it arrives, before it
   * stages it): the blob is not hashed a second time. The size is still
   * checked, and every block is still hashed for its CID.
   *
   * @default false
   */
  digestChecked?: boolean

  /**
   * Chunk size, and the largest blob stored as a single raw block.
   *
   * @default DEFAULT_CHUNK_SIZE (1 MiB)
   */
  chunkSize?: number
}

export interface ImportBlobResult {
  /** The DAG root: a raw CID (whose multihash is the digest) or a dag-pb UnixFS file */
  root: CID
  /** The verified OCI digest */
  digest: OciDigest
  /** The blob's size in bytes */
  size: number
  /** Every block of the DAG, in write order (the root last): pin these to keep the blob */
  blocks: CID[]
}

/**
 * The raw CIDv1 of a blob that fits in one block: its multihash is the OCI
 * digest (sha2-256 for `sha256:`, sha2-512 for `sha512:`). Throws
 * `DigestInvalidError` for anything else.
 */
export function cidForDigest (digest: string): CID {
  const { algorithm, encoded } = parseDigest(digest)
  const code = MULTIHASH[algorithm]
  if (code == null) throw new DigestInvalidError(`Only sha256 and sha512 digests map to a block: ${digest}`)
  return CID.createV1(raw.code, Digest.create(code, Buffer.from(encoded, 'hex')))
}

/**
 * Imports a blob as it streams in, hashing it on the way, and returns its root
 * only when the whole stream has the expected digest (and size).
 *
 * It never holds more than about a chunk of the blob in memory. When the digest
 * or size is wrong it throws `DigestMismatchError` or `BlobSizeMismatchError`
 * before the root block is written, and returns no root: leaves already written
 * stay unpinned for `gc()` to collect. It deletes nothing itself, because a
 * leaf may be shared with a complete blob.
 */
export async function importBlob (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, blockstore: BlobWriter, options: ImportBlobOptions): Promise<ImportBlobResult> {
  const { algorithm } = parseDigest(options.expectedDigest)
  const expected = options.expectedDigest
  checkChunkSize(options.chunkSize)
  if (options.size != null && (!Number.isSafeInteger(options.size) || options.size < 0)) {
    throw new InvalidParametersError(`size must be an integer >= 0, not ${options.size}`)
  }
  const signal = options.signal
  signal?.throwIfAborted()

  let size = 0
  const hash = options.digestChecked === true ? undefined : createHash(algorithm)
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE
  // a sha512 blob that fits in one chunk is stored again under the CID its digest names
  let head: Uint8Array[] | undefined = algorithm === 'sha512' ? [] : undefined
  async function * verified (): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      signal?.throwIfAborted()
      size += chunk.byteLength
      if (options.size != null && size > options.size) {
        throw new BlobSizeMismatchError(`Blob ${expected} is longer than its declared ${options.size} bytes`)
      }
      hash?.update(chunk)
      if (head != null) head = size <= chunkSize ? [...head, chunk.slice()] : undefined
      yield chunk
    }
    // thrown from the source, so the importer stops before it writes the last chunk and the root
    if (options.size != null && size !== options.size) {
      throw new BlobSizeMismatchError(`Blob ${expected} is ${size} bytes, declared ${options.size}`)
    }
    if (hash == null) return
    const actual = `${algorithm}:${hash.digest('hex')}`
    if (actual !== expected) {
      throw new DigestMismatchError(`Blob has digest ${actual}, expected ${expected}`)
    }
  }

  const { root, blocks } = await importChunks(verified(), blockstore, { signal, chunkSize: options.chunkSize, onProgress: options.onProgress })
  if (head != null && root.code === raw.code) {
    // the importer named the one leaf by its sha2-256; the blob's block is named by its digest
    const named = cidForDigest(expected)
    await blockstore.put(named, concatChunks(head, size), { signal })
    return { root: named, digest: expected as OciDigest, size, blocks: [named] }
  }
  return { root, digest: expected as OciDigest, size, blocks }
}

function checkChunkSize (value: number | undefined): number {
  const chunkSize = value ?? DEFAULT_CHUNK_SIZE
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_BLOCK_SIZE) {
    throw new InvalidParametersError(`chunkSize must be an integer from 1 to ${MAX_BLOCK_SIZE}, not ${value}`)
  }
  return chunkSize
}

export interface ImportChunksOptions extends AbortOptions, ProgressOptions<ImporterProgressEvents> {
  /** @default DEFAULT_CHUNK_SIZE (1 MiB) */
  chunkSize?: number
}

/**
 * Whether a writer keeps no reference to the bytes `put` is given once it
 * resolves (provenir's blockstores write or copy them; `MemoryBlockstore`
 * keeps them). Such a writer's caller may reuse the buffer.
 */
export function copiesOnPut (writer: unknown): boolean {
  return (writer as { copiesOnPut?: unknown } | undefined)?.copiesOnPut === true
}

/**
 * The fixed-size chunker of ipfs-unixfs-importer (the same chunks, an empty
 * chunk for an empty stream), copying into buffers from `pool` that the
 * writer hands back once each block is written.
 */
function pooledChunker (chunkSize: number, pool: BufferPool): (source: AsyncIterable<Uint8Array>) => AsyncGenerator<Uint8Array> {
  return async function * (source) {
    let current = pool.take()
    let filled = 0
    let emitted = false
    for await (const chunk of source) {
      let offset = 0
      while (offset < chunk.byteLength) {
        const n = Math.min(chunkSize - filled, chunk.byteLength - offset)
        current.set(chunk.subarray(offset, offset + n), filled)
        filled += n
        offset += n
        if (filled === chunkSize) {
          yield current
          emitted = true
          current = pool.take()
          filled = 0
        }
      }
    }
    if (!emitted || filled > 0) yield current.subarray(0, filled)
    else pool.release(current)
  }
}

/**
 * Builds a blob's DAG from a byte stream (raw leaves, fixed chunks, balanced
 * layout, as `importBlob`) without checking any digest. For a caller that
 * hashes the bytes itself as they arrive, such as a gateway importing an
 * upload while it is still being sent: it must check the digest before it
 * pins or records the root. Blocks are hashed for their CIDs, and written
 * unpinned.
 */
export async function importChunks (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, blockstore: BlobWriter, options: ImportChunksOptions = {}): Promise<{ root: CID, size: number, blocks: CID[] }> {
  const chunkSize = checkChunkSize(options.chunkSize)
  const signal = options.signal
  const blocks: CID[] = []
  // a store that keeps no reference to the bytes it is given lets the chunker reuse its buffers:
  // no 1 MiB of garbage per block, and so no full GC every 64 MB imported
  const pool = copiesOnPut(blockstore) ? new BufferPool(chunkSize, 2 * BLOCK_WRITE_CONCURRENCY) : undefined
  const writer: BlobWriter = {
    async put (cid, bytes) {
      signal?.throwIfAborted()
      // the importer hashed these bytes itself a moment ago
      await blockstore.put(cid, bytes, { signal, verify: false })
      // the importer keeps only the CID and size of a leaf it has written
      if (pool != null && bytes instanceof Uint8Array) pool.release(bytes)
      blocks.push(cid)
      return cid
    }
  }
  let size = 0
  async function * counted (): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      size += chunk.byteLength
      yield chunk
    }
  }
  const result = await importByteStream(counted(), writer, {
    cidVersion: 1,
    rawLeaves: true,
    reduceSingleLeafToSelf: true,
    chunker: pool != null ? pooledChunker(chunkSize, pool) : fixedSize({ chunkSize }),
    layout: balanced(),
    blockWriteConcurrency: BLOCK_WRITE_CONCURRENCY,
    onProgress: options.onProgress
  })
  return { root: result.cid, size, blocks }
}

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

/**
 * Leaf-sized buffers a reader reuses, so serving a blob makes no garbage:
 * `take` one to read a leaf into, and `release` a chunk once its bytes are
 * no longer needed (written to a socket, say). A chunk whose buffer the pool
 * did not hand out is ignored; when every buffer is out, `take` makes another,
 * and the pool keeps at most `keep` of them.
 */
export class BufferPool {
  readonly #size: number
  readonly #keep: number
  readonly #free: Uint8Array[] = []
  readonly #ours = new WeakSet<ArrayBufferLike>()
  readonly #idleMs?: number
  #timer?: ReturnType<typeof setTimeout>
  #used = false

  /**
   * `idleMs`: free buffers are dropped once nothing was taken for that long,
   * so a pool that served one transfer does not hold its memory until the
   * next (the process's peak stays the transfer's, not the transfer's plus
   * whatever runs after it).
   */
  constructor (size = DEFAULT_CHUNK_SIZE, keep = 16, options: { idleMs?: number } = {}) {
    this.#size = size
    this.#keep = keep
    this.#idleMs = options.idleMs
  }

  take (): Uint8Array {
    this.#used = true
    const buffer = this.#free.pop()
    if (buffer != null) return buffer
    const made = new Uint8Array(this.#size)
    this.#ours.add(made.buffer)
    return made
  }

  release (chunk: Uint8Array): void {
    if (!this.#ours.has(chunk.buffer) || this.#free.length >= this.#keep) return
    if (this.#free.some(b => b.buffer === chunk.buffer)) return
    this.#free.push(new Uint8Array(chunk.buffer, 0, this.#size))
    this.#armTrim()
  }

  #armTrim (): void {
    if (this.#idleMs == null || this.#timer != null) return
    this.#used = false
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (this.#used) {
        this.#armTrim()
        return
      }
      this.#free.length = 0
    }, this.#idleMs)
    this.#timer.unref?.()
  }

  /** Drops the free buffers (those taken still come back, and are kept again) */
  trim (): void {
    this.#free.length = 0
  }

  /** Buffers waiting to be taken */
  get free (): number {
    return this.#free.length
  }
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
 */
export class BlobVerifier {
  readonly #root: CID
  readonly #store: BlobReader
  readonly #readInto?: ContentBlockstore['readInto']
  readonly #options: VerifyBlobOptions
  readonly #algorithm: string
  readonly #leaves: Array<{ cid: CID, size: number }>
  readonly #total: number
  readonly #hash: ReturnType<typeof createHash>
  #cursor = 0
  #length = 0
  #finished = false

  private constructor (root: CID, store: BlobReader, readInto: ContentBlockstore['readInto'] | undefined, options: VerifyBlobOptions, algorithm: string, found: { leaves: Array<{ cid: CID, size: number }>, total: number }) {
    this.#root = root
    this.#store = store
    this.#readInto = readInto
    this.#options = options
    this.#algorithm = algorithm
    this.#leaves = found.leaves
    this.#total = found.total
    this.#hash = createHash(algorithm)
  }

  /**
   * Walks the DAG under `root`, whose inner (dag-pb) nodes must be held
   * already; its leaves need not be. Returns undefined for a DAG of any other
   * shape (inline data, dag-pb leaves, inconsistent sizes): check those with
   * {@link verifyBlob} once every block is held.
   */
  static async open (root: CID, blockstore: BlobReader & Partial<Pick<ContentBlockstore, 'readInto'>>, options: VerifyBlobOptions): Promise<BlobVerifier | undefined> {
    const { algorithm } = parseDigest(options.expectedDigest)
    const unverified: BlobReader = { get: (cid, opts) => blockstore.get(cid, { ...opts, verify: false }) }
    // a provenir store reads the leaves back into a few reused buffers: no garbage per leaf
    const readInto = typeof blockstore.readInto === 'function' ? blockstore.readInto.bind(blockstore) : undefined
    try {
      return new BlobVerifier(root, unverified, readInto, options, algorithm, await leavesOf(root, unverified, options.signal))
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
    this.#take(leaf, bytes)
    return true
  }

  #take (leaf: { cid: CID, size: number }, bytes: Uint8Array): void {
    if (leaf.size !== -1 && bytes.byteLength !== leaf.size) {
      throw new BlobSizeMismatchError(`Blob ${this.#options.expectedDigest}: leaf ${leaf.cid} is ${bytes.byteLength} bytes, its parent says ${leaf.size}`)
    }
    this.#hash.update(bytes)
    this.#length += bytes.byteLength
    this.#cursor++
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
    const length = this.#length
    if (this.#total !== -1 && this.#total !== length) throw new BlobSizeMismatchError(`Blob ${options.expectedDigest} is ${length} bytes, its root says ${this.#total}`)
    if (length !== options.size) throw new BlobSizeMismatchError(`Blob ${options.expectedDigest} is ${length} bytes, expected ${options.size}`)
    const actual = `${this.#algorithm}:${this.#hash.digest('hex')}`
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
