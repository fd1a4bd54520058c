import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { importer } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { FsBlockstore, blockPath } from '../src/blockstore-fs.js'
import { DEFAULT_CHUNK_SIZE } from '../src/constants.js'
import { BufferPool } from '../src/buffer-pool.js'
import { cidForDigest, copiesOnPut, importBlob, importChunks } from '../src/dag.js'
import { BlobVerifier, exportBlob, readBlob, verifyBlob } from '../src/read.js'
import { computeDigest } from '../src/oci.js'
import { assertBytes } from './blockstore-suite.js'
import { readAll, tempDir } from './fixtures.js'

const RAW = raw.code // 0x55
const DAG_PB = 0x70
const MIB = 1024 * 1024

/** Yields `bytes` in pieces of `piece` bytes, counting how many were pulled. */
function stream (bytes: Uint8Array, piece = 64 * 1024): AsyncGenerator<Uint8Array> & { pulled: number } {
  const state = { pulled: 0 }
  const gen = (async function * () {
    for (let offset = 0; offset < bytes.byteLength; offset += piece) {
      state.pulled += 1
      yield bytes.subarray(offset, offset + piece)
    }
  })()
  return Object.assign(gen, { get pulled () { return state.pulled } })
}

/** Blobs of one block, of one level and of two levels (300 chunks of 1 KiB: more than one node's 174 links) */
function threeShapes (): Array<{ bytes: Uint8Array, chunkSize: number | undefined }> {
  return [
    { bytes: new Uint8Array(randomBytes(1000)), chunkSize: undefined },
    { bytes: new Uint8Array(randomBytes(3 * MIB + 5)), chunkSize: undefined },
    { bytes: new Uint8Array(randomBytes(300 * 1024 - 7)), chunkSize: 1024 }
  ]
}

describe('blob <-> DAG', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let store: FsBlockstore

  /** Overwrites a stored block's file with as many zero bytes, as a disk fault or a stray writer would */
  async function corruptOnDisk (cid: CID): Promise<void> {
    const { shard, name } = blockPath(cid.multihash.bytes)
    const file = join(dir.path, 'blocks', shard, name)
    await writeFile(file, new Uint8Array((await stat(file)).size))
  }

  beforeEach(async () => {
    dir = await tempDir()
    store = new FsBlockstore({ path: dir.path })
    await store.open()
  })

  afterEach(async () => {
    await store.close()
    await dir.remove()
  })

  async function storedCodecs (): Promise<{ raw: number, dagPb: number, sizes: number[] }> {
    const out = { raw: 0, dagPb: 0, sizes: [] as number[] }
    for await (const info of store.infos()) {
      if (info.cid.code === RAW) { out.raw++; out.sizes.push(info.size) }
      if (info.cid.code === DAG_PB) out.dagPb++
    }
    return out
  }

  it('importChunks into a store that copies on put (its chunk buffers reused) writes whole blocks and the same DAG as into one that keeps them', async () => {
    assert.equal(copiesOnPut(store), true)
    for (const { bytes, chunkSize } of [...threeShapes(), { bytes: new Uint8Array(0), chunkSize: undefined }, { bytes: new Uint8Array(randomBytes(2 * MIB)), chunkSize: undefined }]) {
      const kept = new MemoryBlockstore()
      assert.equal(copiesOnPut(kept), false)
      const pooled = await importChunks(stream(bytes, 100_000), store, { chunkSize })
      const plain = await importChunks(stream(bytes, 100_000), kept, { chunkSize })
      assert.equal(pooled.root.toString(), plain.root.toString(), `${bytes.byteLength} bytes in ${chunkSize ?? MIB} byte chunks`)
      assert.deepEqual(pooled.blocks.map(String).sort(), plain.blocks.map(String).sort(), 'the same blocks (written in parallel, so in any order)')
      // every block as written is whole: no buffer was reused before its write was done
      assertBytes(await readAll(exportBlob(pooled.root, store, { expectedDigest: computeDigest(bytes) })), bytes)
    }
  })

  it('round-trips a 5 MiB random blob as a UnixFS file of five 1 MiB raw leaves', async () => {
    const blob = new Uint8Array(randomBytes(5 * MIB))
    const digest = computeDigest(blob)
    const result = await importBlob(stream(blob), store, { expectedDigest: digest, size: blob.byteLength })
    assert.equal(result.root.version, 1)
    assert.equal(result.root.code, DAG_PB)
    assert.equal(result.digest, digest)
    assert.equal(result.size, 5 * MIB)
    assert.equal(result.blocks.length, 6)
    assert.ok(result.blocks[result.blocks.length - 1].equals(result.root), 'the root is written last')
    const stored = await storedCodecs()
    assert.deepEqual(stored, { raw: 5, dagPb: 1, sizes: [MIB, MIB, MIB, MIB, MIB] })
    assertBytes(await readAll(exportBlob(result.root, store, { expectedDigest: digest })), blob)
  })

  it('stores a blob of up to one chunk as one raw block whose multihash is the OCI digest', async () => {
    for (const size of [1000, DEFAULT_CHUNK_SIZE]) {
      const blob = new Uint8Array(randomBytes(size))
      const digest = computeDigest(blob)
      const result = await importBlob(stream(blob), store, { expectedDigest: digest })
      assert.equal(result.root.code, RAW)
      assert.ok(result.root.equals(cidForDigest(digest)), `root of a ${size} byte blob is not cidForDigest(digest)`)
      assert.equal(result.blocks.length, 1)
      assertBytes(await readAll(exportBlob(result.root, store)), blob)
    }
  })

  it('stores the empty blob as the raw block of the sha256 of nothing', async () => {
    const digest = computeDigest(new Uint8Array())
    const result = await importBlob([], store, { expectedDigest: digest, size: 0 })
    assert.ok(result.root.equals(cidForDigest(digest)))
    assert.equal((await readAll(exportBlob(result.root, store))).byteLength, 0)
  })

  it('refuses a blob with the wrong digest: DigestMismatchError, no root written, the leaves left for gc', async () => {
    const blob = new Uint8Array(randomBytes(5 * MIB))
    const wrong = computeDigest(new Uint8Array([1, 2, 3]))
    await assert.rejects(importBlob(stream(blob), store, { expectedDigest: wrong }), { name: 'DigestMismatchError' })
    const stored = await storedCodecs()
    assert.equal(stored.dagPb, 0, 'a root was written for a blob that failed verification')
    const collected = await store.gc()
    assert.equal(collected.removed.length, stored.raw)
    assert.equal((await storedCodecs()).raw, 0)
  })

  it('refuses a one-chunk blob with the wrong digest and writes nothing', async () => {
    const blob = new Uint8Array(randomBytes(1000))
    await assert.rejects(importBlob(stream(blob), store, { expectedDigest: computeDigest(new Uint8Array()) }), { name: 'DigestMismatchError' })
    assert.deepEqual(await storedCodecs(), { raw: 0, dagPb: 0, sizes: [] })
  })

  it('stops reading as soon as a blob passes its declared size', async () => {
    const blob = new Uint8Array(randomBytes(3 * MIB))
    const source = stream(blob, 64 * 1024)
    await assert.rejects(importBlob(source, store, { expectedDigest: computeDigest(blob), size: MIB }), { name: 'BlobSizeMismatchError' })
    assert.ok(source.pulled <= MIB / (64 * 1024) + 1, `pulled ${source.pulled} pieces past a 1 MiB limit`)
  })

  it('refuses a blob shorter than its declared size', async () => {
    const blob = new Uint8Array(randomBytes(1000))
    await assert.rejects(importBlob(stream(blob), store, { expectedDigest: computeDigest(blob), size: 1001 }), { name: 'BlobSizeMismatchError' })
  })

  it('imports sha256 and sha512 digests only: a one-chunk sha512 blob is the raw block its digest names, a larger one a DAG the index maps the digest to', async () => {
    const small = new Uint8Array(randomBytes(10))
    const one = await importBlob([small], store, { expectedDigest: computeDigest(small, 'sha512') })
    assert.ok(one.root.equals(cidForDigest(computeDigest(small, 'sha512'))), 'the raw block named by the digest')
    assert.equal(one.root.multihash.code, 0x13)
    const large = new Uint8Array(randomBytes(2 * MIB + 3))
    const digest = computeDigest(large, 'sha512')
    const dag = await importBlob(stream(large), store, { expectedDigest: digest })
    assert.ok(dag.blocks.length > 1, 'a DAG of several blocks')
    assertBytes(await readAll(exportBlob(dag.root, store, { expectedDigest: digest })), large)
    await verifyBlob(dag.root, store, { expectedDigest: digest, size: large.byteLength })
    await assert.rejects(importBlob([small], store, { expectedDigest: computeDigest(large, 'sha512') }), { name: 'DigestMismatchError' })
    await assert.rejects(importBlob([small], store, { expectedDigest: 'md5:d41d8cd98f00b204e9800998ecf8427e' }), { name: 'DigestInvalidError' })
    await assert.rejects(importBlob([small], store, { expectedDigest: 'sha256:nothex' }), { name: 'DigestInvalidError' })
  })

  it('refuses a chunk size over the block limit and a negative size with InvalidParametersError', async () => {
    const digest = computeDigest(new Uint8Array())
    await assert.rejects(importBlob([], store, { expectedDigest: digest, chunkSize: 2 * MIB + 1 }), { name: 'InvalidParametersError' })
    await assert.rejects(importBlob([], store, { expectedDigest: digest, size: -1 }), { name: 'InvalidParametersError' })
  })

  it('pinning the blocks an import returns keeps the blob through gc', async () => {
    const blob = new Uint8Array(randomBytes(2 * MIB + 5))
    const digest = computeDigest(blob)
    const result = await importBlob(stream(blob), store, { expectedDigest: digest })
    await store.pins.pin(result.blocks)
    assert.equal((await store.gc()).removed.length, 0)
    assertBytes(await readAll(exportBlob(result.root, store, { expectedDigest: digest })), blob)
  })

  it('exportBlob throws DigestMismatchError when the blob is not the expected one', async () => {
    const blob = new Uint8Array(randomBytes(1.5 * MIB))
    const result = await importBlob(stream(blob), store, { expectedDigest: computeDigest(blob) })
    await assert.rejects(readAll(exportBlob(result.root, store, { expectedDigest: computeDigest(new Uint8Array()) })), { name: 'DigestMismatchError' })
  })

  it('exportBlob verifies each block: a leaf that does not match its CID fails the export', async () => {
    const blob = new Uint8Array(randomBytes(2 * MIB))
    const result = await importBlob(stream(blob), store, { expectedDigest: computeDigest(blob) })
    const leaf: CID = result.blocks.find(cid => cid.code === RAW) as CID
    await corruptOnDisk(leaf)
    await assert.rejects(readAll(exportBlob(result.root, store)), { name: 'BlockVerificationError' })
  })

  it('exportBlob refuses a root that is a directory with NotABlobError', async () => {
    let dirCid: CID | undefined
    for await (const entry of importer([{ path: 'dir' }], store)) dirCid = entry.cid
    assert.ok(dirCid != null)
    await assert.rejects(readAll(exportBlob(dirCid, store)), { name: 'NotABlobError' })
  })
  it('verifyBlob accepts a stored blob of one block, one level and two levels, and refuses a wrong digest or size', async () => {
    const cases = threeShapes()
    for (const { bytes, chunkSize } of cases) {
      const digest = computeDigest(bytes)
      const { root } = await importBlob(stream(bytes), store, { expectedDigest: digest, chunkSize })
      await verifyBlob(root, store, { expectedDigest: digest, size: bytes.byteLength })
      await assert.rejects(verifyBlob(root, store, { expectedDigest: computeDigest(new Uint8Array()), size: bytes.byteLength }), { name: 'DigestMismatchError' })
      await assert.rejects(verifyBlob(root, store, { expectedDigest: digest, size: bytes.byteLength + 1 }), { name: 'BlobSizeMismatchError' })
    }
  })

  /** The raw leaves `importBlob` makes of `bytes`, in order, each with its bytes */
  function leavesOf (bytes: Uint8Array, chunkSize = DEFAULT_CHUNK_SIZE): Array<{ cid: CID, bytes: Uint8Array }> {
    const out: Array<{ cid: CID, bytes: Uint8Array }> = []
    for (let offset = 0; offset < bytes.byteLength; offset += chunkSize) {
      const chunk = bytes.subarray(offset, offset + chunkSize)
      out.push({ cid: CID.createV1(RAW, Digest.create(0x12, createHash('sha256').update(chunk).digest())), bytes: chunk })
    }
    return out
  }

  it('BlobVerifier hashes leaves offered in order and reads none of them back', async () => {
    const cases = threeShapes()
    for (const { bytes, chunkSize } of cases) {
      const digest = computeDigest(bytes)
      const { root } = await importBlob(stream(bytes), store, { expectedDigest: digest, chunkSize })
      const leaves = leavesOf(bytes, chunkSize)
      const verifier = await BlobVerifier.open(root, store, { expectedDigest: digest, size: bytes.byteLength })
      assert.ok(verifier != null)
      // the leaves are gone from the store: finish() can pass only on what was offered
      if (leaves.length > 1) {
        for (const leaf of leaves) await store.delete(leaf.cid)
      }
      for (const leaf of leaves) assert.equal(verifier.offer(leaf.cid, leaf.bytes), true)
      assert.equal(verifier.hashed, leaves.length)
      await verifier.finish()
      await assert.rejects(verifier.finish(), { name: 'InvalidParametersError' })
    }
  })

  it('BlobVerifier reads back the leaves after the first gap, and checks what was offered', async () => {
    const bytes = new Uint8Array(randomBytes(5 * MIB + 11))
    const digest = computeDigest(bytes)
    const { root } = await importBlob(stream(bytes), store, { expectedDigest: digest })
    const leaves = leavesOf(bytes)

    // out of order: leaf 1 before leaf 0 is not taken; 0 then 2 are; the rest is read back
    const verifier = await BlobVerifier.open(root, store, { expectedDigest: digest, size: bytes.byteLength })
    assert.ok(verifier != null)
    assert.equal(verifier.offer(leaves[1].cid, leaves[1].bytes), false)
    assert.equal(verifier.offer(leaves[0].cid, leaves[0].bytes), true)
    assert.equal(verifier.offer(leaves[2].cid, leaves[2].bytes), false)
    assert.equal(verifier.offer(leaves[1].cid, leaves[1].bytes), true)
    assert.equal(verifier.hashed, 2)
    await verifier.finish()

    // bytes offered under a leaf's CID are what is hashed: other bytes of the same size fail the digest
    const forged = await BlobVerifier.open(root, store, { expectedDigest: digest, size: bytes.byteLength })
    assert.ok(forged != null)
    assert.equal(forged.offer(leaves[0].cid, new Uint8Array(leaves[0].bytes.byteLength)), true)
    await assert.rejects(forged.finish(), { name: 'DigestMismatchError' })

    // and a leaf of another size than its parent declares is refused when offered
    const short = await BlobVerifier.open(root, store, { expectedDigest: digest, size: bytes.byteLength })
    assert.ok(short != null)
    assert.throws(() => short.offer(leaves[0].cid, leaves[0].bytes.subarray(1)), { name: 'BlobSizeMismatchError' })

    // a wrong size or digest is still found when every leaf was offered
    for (const [expectedDigest, size, name] of [[digest, bytes.byteLength - 1, 'BlobSizeMismatchError'], [computeDigest(new Uint8Array()), bytes.byteLength, 'DigestMismatchError']] as const) {
      const wrong = await BlobVerifier.open(root, store, { expectedDigest, size })
      assert.ok(wrong != null)
      for (const leaf of leaves) wrong.offer(leaf.cid, leaf.bytes)
      await assert.rejects(wrong.finish(), { name })
    }
  })

  it('BlobVerifier.open gives undefined for a DAG of another shape (dag-pb leaves)', async () => {
    const bytes = new Uint8Array(randomBytes(2 * MIB + 3))
    let root: CID | undefined
    for await (const entry of importer([{ content: bytes }], store, { rawLeaves: false, cidVersion: 1 })) root = entry.cid
    assert.ok(root != null)
    assert.equal(await BlobVerifier.open(root, store, { expectedDigest: computeDigest(bytes), size: bytes.byteLength }), undefined)
  })

  it('verifyBlob checks a DAG of another shape (dag-pb leaves) through exportBlob, and refuses a directory', async () => {
    const bytes = new Uint8Array(randomBytes(2 * MIB + 3))
    let root: CID | undefined
    for await (const entry of importer([{ content: bytes }], store, { rawLeaves: false, cidVersion: 1 })) root = entry.cid
    assert.ok(root != null)
    await verifyBlob(root, store, { expectedDigest: computeDigest(bytes), size: bytes.byteLength })
    await assert.rejects(verifyBlob(root, store, { expectedDigest: computeDigest(new Uint8Array()), size: bytes.byteLength }), { name: 'DigestMismatchError' })
    let dirCid: CID | undefined
    for await (const entry of importer([{ path: 'dir' }], store)) dirCid = entry.cid
    assert.ok(dirCid != null)
    await assert.rejects(verifyBlob(dirCid, store, { expectedDigest: computeDigest(bytes), size: 0 }), { name: 'NotABlobError' })
  })

  it('readBlob streams a blob of one block, one level and two levels, whole and in ranges across leaf boundaries', async () => {
    const cases = threeShapes()
    for (const { bytes, chunkSize } of cases) {
      const { root } = await importBlob(stream(bytes), store, { expectedDigest: computeDigest(bytes), chunkSize })
      assertBytes(await readAll(readBlob(root, store)), bytes)
      const size = bytes.byteLength
      for (const [offset, length] of [[0, 1], [1, size - 2], [size - 1, 1], [Math.floor(size / 2), undefined], [700, 2000], [size, 0]] as Array<[number, number | undefined]>) {
        const want = bytes.subarray(offset, length == null ? size : offset + length)
        assertBytes(await readAll(readBlob(root, store, { offset, ...(length != null ? { length } : {}), readAhead: 3 })), want)
      }
    }
  })

  it('readBlob with a BufferPool reads leaves into reused buffers, whole and in ranges, and still catches a corrupt leaf', async () => {
    const blob = new Uint8Array(randomBytes(5 * MIB + 77))
    const { root, blocks } = await importBlob(stream(blob), store, { expectedDigest: computeDigest(blob) })
    const pool = new BufferPool(MIB, 4)
    const seen = new Set<ArrayBufferLike>()
    const read = async (options: { offset?: number, length?: number } = {}): Promise<Uint8Array> => {
      const parts: Uint8Array[] = []
      for await (const chunk of readBlob(root, store, { ...options, buffers: pool, readAhead: 2 })) {
        seen.add(chunk.buffer)
        parts.push(new Uint8Array(chunk)) // a copy: the chunk's buffer goes back to the pool now
        pool.release(chunk)
      }
      return Buffer.concat(parts)
    }
    assertBytes(await read(), blob)
    assertBytes(await read({ offset: MIB - 5, length: 2 * MIB + 10 }), blob.subarray(MIB - 5, 3 * MIB + 5))
    assert.ok(seen.size <= 4, `${seen.size} buffers for 6 leaves read twice: they were reused`)
    assert.ok(pool.free >= 1 && pool.free <= 4)
    const leaf = blocks.find(cid => cid.code === RAW) as CID
    await corruptOnDisk(leaf)
    await assert.rejects(read(), { name: 'BlockVerificationError' })
  })

  it('a BufferPool owns views of the buffers it made, and a view released goes back as its whole buffer', async () => {
    const pool = new BufferPool(1024, 4)
    const a = pool.take()
    assert.ok(pool.owns(a))
    assert.ok(pool.owns(a.subarray(64, 100)))
    assert.equal(pool.owns(new Uint8Array(1024)), false)
    pool.release(a.subarray(64, 100))
    const again = pool.take()
    assert.equal(again.buffer, a.buffer)
    assert.equal(again.byteOffset, 0)
    assert.equal(again.byteLength, 1024)
  })

  it('a BufferPool with idleMs drops its free buffers once nothing was taken for that long, and keeps them while they are taken', async () => {
    const pool = new BufferPool(1024, 4, { idleMs: 60 })
    const a = pool.take()
    const b = pool.take()
    pool.release(a)
    pool.release(b)
    assert.equal(pool.free, 2)
    // taken and given back every 20 ms: never idle for 60 ms, so the buffers stay
    for (let i = 0; i < 6; i++) {
      await new Promise(resolve => setTimeout(resolve, 20))
      pool.release(pool.take())
    }
    assert.equal(pool.free, 2, 'a pool in use keeps its buffers')
    const c = pool.take()
    assert.ok(c === a || c === b || c.buffer === a.buffer || c.buffer === b.buffer, 'a kept buffer is reused')
    pool.release(c)
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(pool.free, 0, 'an idle pool dropped its buffers')
    // and works as before afterwards
    const d = pool.take()
    pool.release(d)
    assert.equal(pool.free, 1)
    const plain = new BufferPool(1024, 4)
    plain.release(plain.take())
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(plain.free, 1, 'without idleMs the pool keeps its buffers')
    // trim drops them at once; a buffer taken before comes back and is kept again
    const out = plain.take()
    plain.release(plain.take())
    plain.trim()
    assert.equal(plain.free, 0)
    plain.release(out)
    assert.equal(plain.free, 1)
  })

  it('readBlob verifies each block: a corrupt leaf fails the read, and a DAG of another shape reads through the exporter', async () => {
    const blob = new Uint8Array(randomBytes(2 * MIB))
    const result = await importBlob(stream(blob), store, { expectedDigest: computeDigest(blob) })
    const leaf: CID = result.blocks.find(cid => cid.code === RAW) as CID
    await corruptOnDisk(leaf)
    await assert.rejects(readAll(readBlob(result.root, store)), { name: 'BlockVerificationError' })
    const other = new Uint8Array(randomBytes(2 * MIB + 3))
    let root: CID | undefined
    for await (const entry of importer([{ content: other }], store, { rawLeaves: false, cidVersion: 1 })) root = entry.cid
    assert.ok(root != null)
    assertBytes(await readAll(readBlob(root, store)), other)
    assertBytes(await readAll(readBlob(root, store, { offset: MIB - 3, length: 10 })), other.subarray(MIB - 3, MIB + 7))
  })
})

