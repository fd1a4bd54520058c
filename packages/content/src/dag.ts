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
import { importByteStream } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidParametersError } from '@provenir/interface'
import { concatChunks } from './block-bytes.js'
import { BufferPool } from './buffer-pool.js'
import { DEFAULT_CHUNK_SIZE, MAX_BLOCK_SIZE } from './constants.js'
import { BlobSizeMismatchError, DigestInvalidError, DigestMismatchError } from './errors.js'
import { parseDigest } from './oci.js'
import type { VerifyOptions } from './blockstore.js'
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
