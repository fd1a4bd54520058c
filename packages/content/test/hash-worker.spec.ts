import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { getBlockBytes } from '../src/block-bytes.js'
import { FsBlockstore } from '../src/blockstore-fs.js'
import { LevelBlockstore } from '../src/blockstore-level.js'
import { importBlob } from '../src/dag.js'
import { FileDigestStream, digestFiles } from '../src/off-thread-hash.js'
import { BlobVerifier, WORKER_DIGEST_MIN_LEAVES, verifyBlob } from '../src/read.js'
import { computeDigest } from '../src/oci.js'
import { tempDir } from './fixtures.js'
import type { ContentBlockstore } from '../src/blockstore.js'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

const MIB = 1024 * 1024

async function * once (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

describe('hash worker: files', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let store: FsBlockstore

  beforeEach(async () => {
    dir = await tempDir()
    store = new FsBlockstore({ path: join(dir.path, 'repo') })
    await store.open()
  })

  afterEach(async () => {
    await store.close()
    await dir.remove()
  })

  /** A blob of `leaves` 1 MiB leaves (the last one shorter) stored in `store` */
  async function storedBlob (leaves: number): Promise<{ root: CID, digest: string, size: number, blocks: CID[], leaves: CID[] }> {
    const bytes = new Uint8Array(randomBytes(leaves * MIB - 5))
    const digest = computeDigest(bytes)
    const { root, blocks } = await importBlob(once(bytes), store, { expectedDigest: digest })
    // the leaves in order: raw blocks of 1 MiB chunks
    const inOrder: CID[] = []
    for (let offset = 0; offset < bytes.byteLength; offset += MIB) inOrder.push(CID.createV1(raw.code, await sha256.digest(bytes.subarray(offset, offset + MIB))))
    return { root, digest, size: bytes.byteLength, blocks, leaves: inOrder }
  }

  /** What BlobVerifier reads of the store, counting the calls to its `blockFiles` and those that gave files */
  type Spy = Pick<ContentBlockstore, 'get' | 'readInto' | 'blockFiles'> & { asked: number, given: number }
  function counting (inner: ContentBlockstore, files?: (cids: CID[], held: boolean) => string[] | undefined): Spy {
    const spy: Spy = {
      asked: 0,
      given: 0,
      get: inner.get.bind(inner),
      readInto: inner.readInto.bind(inner),
      blockFiles: async (cids, options) => {
        spy.asked++
        const found = files != null ? files(cids, options?.held !== false) : await inner.blockFiles(cids, options)
        if (found != null) spy.given++
        return found
      }
    }
    return spy
  }

  it('hashes files in order as one stream, with each file\'s size', async () => {
    const parts = [randomBytes(3 * MIB + 1), randomBytes(0), randomBytes(17)]
    const paths = parts.map((_, i) => join(dir.path, `part${i}`))
    for (let i = 0; i < parts.length; i++) await writeFile(paths[i], parts[i])
    const expected = createHash('sha256')
    for (const part of parts) expected.update(part)
    const result = await digestFiles(paths, 'sha256')
    assert.equal(result.digest, expected.digest('hex'))
    assert.deepEqual(result.sizes, parts.map(p => p.byteLength))
    // and another algorithm, in reverse order
    const reversed = createHash('sha512')
    for (const part of [...parts].reverse()) reversed.update(part)
    assert.equal((await digestFiles([...paths].reverse(), 'sha512')).digest, reversed.digest('hex'))
  })

  it('names a file it cannot read with its system error code, and an aborted job rejects', async () => {
    const missing = join(dir.path, 'missing')
    await assert.rejects(digestFiles([missing], 'sha256'), (err: any) => err.name === 'WorkerCallError' && err.code === 'ENOENT')
    await assert.rejects(digestFiles([dir.path], 'sha256'), (err: any) => err.name === 'WorkerCallError' && err.code === 'EISDIR')
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(digestFiles([missing], 'sha256', { signal: controller.signal }), { name: 'AbortError' })
    // the worker still serves after those
    await writeFile(join(dir.path, 'x'), 'x')
    assert.equal((await digestFiles([join(dir.path, 'x')], 'sha256')).digest, createHash('sha256').update('x').digest('hex'))
  })

  it('an FsBlockstore gives its blocks\' files only when it holds every one; a LevelBlockstore gives none', async () => {
    const { root } = await storedBlob(2)
    const files = await store.blockFiles([root])
    assert.equal(files?.length, 1)
    assert.equal((await stat(files[0])).isFile(), true)
    await store.delete(root)
    assert.equal(await store.blockFiles([root]), undefined)
    const level = new LevelBlockstore({ path: join(dir.path, 'level') })
    await level.open()
    try {
      const bytes = new Uint8Array(randomBytes(2 * MIB))
      const imported = await importBlob(once(bytes), level, { expectedDigest: computeDigest(bytes) })
      assert.equal(await level.blockFiles([imported.root]), undefined)
    } finally {
      await level.close()
    }
  })

  it(`BlobVerifier reads back ${WORKER_DIGEST_MIN_LEAVES} leaves or more on the worker, and still finds a wrong digest, size or byte`, async () => {
    const { root, digest, size, blocks } = await storedBlob(WORKER_DIGEST_MIN_LEAVES + 2)
    const spy = counting(store)
    const verifier = await BlobVerifier.open(root, spy, { expectedDigest: digest, size })
    assert.ok(verifier != null)
    await verifier.finish()
    assert.equal(spy.given, 1)

    for (const [expectedDigest, wrongSize, name] of [[digest, size + 1, 'BlobSizeMismatchError'], [computeDigest(new Uint8Array()), size, 'DigestMismatchError']] as const) {
      const wrong = counting(store)
      await assert.rejects(verifyBlob(root, wrong, { expectedDigest, size: wrongSize }), { name })
      assert.equal(wrong.given, 1)
    }

    // a leaf's file overwritten on disk (same size): the worker hashes what the store holds
    // (the blocks in write order: the leaves first)
    const leaf = (await store.blockFiles([blocks[3]]))?.[0]
    assert.ok(leaf != null)
    await writeFile(leaf, new Uint8Array((await stat(leaf)).size))
    const corrupt = counting(store)
    await assert.rejects(verifyBlob(root, corrupt, { expectedDigest: digest, size }), { name: 'DigestMismatchError' })
    assert.equal(corrupt.given, 1)
  })

  it('BlobVerifier reads back fewer leaves on the event loop, and falls back to it when the worker cannot read a file', async () => {
    const small = await storedBlob(WORKER_DIGEST_MIN_LEAVES - 1)
    const spy = counting(store)
    await verifyBlob(small.root, spy, { expectedDigest: small.digest, size: small.size })
    assert.equal(spy.asked, 0)

    // files that are not there: the worker fails, the event loop reads the blocks from the store and passes
    const large = await storedBlob(WORKER_DIGEST_MIN_LEAVES + 1)
    const lost = counting(store, cids => cids.map((_, i) => join(dir.path, `gone-${i}`)))
    await verifyBlob(large.root, lost, { expectedDigest: large.digest, size: large.size })
    assert.equal(lost.given, 1)
  })

  it('a stream hashes the files added, in order, and names one it cannot read', async () => {
    const parts = [randomBytes(MIB + 3), randomBytes(10), randomBytes(0)]
    const paths = parts.map((_, i) => join(dir.path, `s${i}`))
    for (let i = 0; i < parts.length; i++) await writeFile(paths[i], parts[i])
    const expected = createHash('sha256')
    for (const part of parts) expected.update(part)
    const stream = new FileDigestStream('sha256')
    for (const path of paths) stream.add(path)
    assert.deepEqual(await stream.digest(), { digest: expected.digest('hex'), sizes: parts.map(p => p.byteLength) })
    assert.equal((await new FileDigestStream('sha256').digest()).digest, createHash('sha256').digest('hex'))
    const broken = new FileDigestStream('sha256')
    broken.add(paths[0])
    broken.add(join(dir.path, 'missing'))
    broken.add(paths[1])
    await assert.rejects(broken.digest(), (err: any) => err.name === 'WorkerCallError')
    // a dropped stream is gone from the worker
    const dropped = new FileDigestStream('sha256')
    dropped.add(paths[0])
    dropped.drop()
    await assert.rejects(dropped.digest(), { name: 'WorkerCallError' })
  })

  for (const [what, offered] of [['stored as offered: their files, as offered', true], ['not said to be stored: the bytes', false]] as const) {
    it(`BlobVerifier hashes leaves offered in order and ${what}`, async () => {
      const { root, digest, size, leaves } = await storedBlob(WORKER_DIGEST_MIN_LEAVES + 2)
      const bytesOf = async (cid: CID): Promise<Uint8Array> => getBlockBytes(store, cid)
      const spy = counting(store)
      const verifier = await BlobVerifier.open(root, spy, { expectedDigest: digest, size, offeredAreStored: offered })
      assert.ok(verifier != null)
      for (const cid of leaves) assert.equal(verifier.offer(cid, await bytesOf(cid)), true)
      await verifier.finish()
      // the leaves' files were asked for once (not looked up) to be read as offered; no read-back
      assert.equal(spy.asked, offered ? 1 : 0)

      // a leaf's file other than the bytes offered (same size): the file is what is hashed, or the bytes
      const changed = await BlobVerifier.open(root, store, { expectedDigest: digest, size, offeredAreStored: offered })
      assert.ok(changed != null)
      const file = (await store.blockFiles([leaves[2]]))?.[0]
      assert.ok(file != null)
      const original = await bytesOf(leaves[2])
      await writeFile(file, new Uint8Array(original.byteLength))
      for (const cid of leaves) changed.offer(cid, cid.equals(leaves[2]) ? original : await bytesOf(cid))
      try {
        if (offered) await assert.rejects(changed.finish(), { name: 'DigestMismatchError' })
        else await changed.finish()
      } finally {
        await writeFile(file, original)
      }
    })
  }

  it('BlobVerifier, stored as offered: a gap, or files the worker cannot read, are read back from the first leaf', async () => {
    const { root, digest, size, leaves } = await storedBlob(WORKER_DIGEST_MIN_LEAVES + 2)
    // a gap: leaves 0 and 1 offered, then 3
    const gap = counting(store)
    const verifier = await BlobVerifier.open(root, gap, { expectedDigest: digest, size, offeredAreStored: true })
    assert.ok(verifier != null)
    for (const i of [0, 1, 3]) verifier.offer(leaves[i], await getBlockBytes(store, leaves[i]))
    assert.equal(verifier.hashed, 2)
    await verifier.finish()
    // once to offer, once to read back (from the first leaf, on the worker)
    assert.equal(gap.asked, 2)
    assert.equal(gap.given, 2)

    // the files given to offer are not there: every leaf offered, the read-back still passes
    const lost = counting(store, (cids, held) => held ? undefined : cids.map((_, i) => join(dir.path, `gone-${i}`)))
    const missing = await BlobVerifier.open(root, lost, { expectedDigest: digest, size, offeredAreStored: true })
    assert.ok(missing != null)
    for (const cid of leaves) missing.offer(cid, await getBlockBytes(store, cid))
    await missing.finish()
    assert.equal(lost.asked, 2)
  })
})
