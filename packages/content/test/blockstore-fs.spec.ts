import assert from 'node:assert/strict'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { base32upper } from 'multiformats/bases/base32'
import { FsBlockstore, blockPath } from '../src/blockstore-fs.js'
import { assertBytes } from './blockstore-suite.js'
import { makeBlock, readAll, tempDir } from './fixtures.js'

describe('FsBlockstore on disk', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let store: FsBlockstore

  beforeEach(async () => {
    dir = await tempDir()
    store = new FsBlockstore({ path: dir.path })
    await store.open()
  })

  afterEach(async () => {
    await store.close()
    await dir.remove()
  })

  it('names files as Kubo flatfs does: base32 upper multihash, sharded by the next-to-last two characters', async () => {
    const { cid, bytes } = await makeBlock(new TextEncoder().encode('hello world'))
    const name = base32upper.baseEncode(cid.multihash.bytes)
    assert.ok(name.startsWith('CIQ'), 'a sha2-256 multihash begins CIQ in base32 upper')
    assert.deepEqual(blockPath(cid.multihash.bytes), { shard: name.slice(-3, -1), name: `${name}.data` })
    await store.put(cid, bytes)
    assertBytes(await readFile(join(dir.path, 'blocks', name.slice(-3, -1), `${name}.data`)), bytes)
  })

  it('leaves no temporary file behind after writes', async () => {
    for (let i = 0; i < 5; i++) {
      const { cid, bytes } = await makeBlock(1000)
      await store.put(cid, bytes)
    }
    assert.deepEqual(await readdir(join(dir.path, 'tmp')), [])
  })

  it('removes temporary files left by a crash when it opens', async () => {
    await store.close()
    await writeFile(join(dir.path, 'tmp', 'interrupted.tmp'), new Uint8Array(10))
    await store.open()
    assert.deepEqual(await readdir(join(dir.path, 'tmp')), [])
  })

  it('does not report a block file that was never indexed (a crash between rename and index)', async () => {
    const { cid, bytes } = await makeBlock(100)
    const { shard, name } = blockPath(cid.multihash.bytes)
    await mkdir(join(dir.path, 'blocks', shard), { recursive: true })
    await writeFile(join(dir.path, 'blocks', shard, name), bytes)
    assert.equal(await store.has(cid), false)
    await assert.rejects(readAll(store.get(cid)), { name: 'NotFoundError' })
    // putting it properly indexes it
    await store.put(cid, bytes)
    assertBytes(await readAll(store.get(cid)), bytes)
  })

  it('gc removes stray block files that were never indexed, and leaves indexed and foreign files', async () => {
    const indexed = await makeBlock(100)
    await store.put(indexed.cid, indexed.bytes)
    await store.pins.pin(indexed.cid)
    const stray = await makeBlock(300)
    const { shard, name } = blockPath(stray.cid.multihash.bytes)
    await mkdir(join(dir.path, 'blocks', shard), { recursive: true })
    await writeFile(join(dir.path, 'blocks', shard, name), stray.bytes)
    await writeFile(join(dir.path, 'blocks', shard, 'README'), 'not a block')
    const result = await store.gc()
    assert.equal(result.removed.length, 0)
    assert.equal(result.strays, 1)
    assert.equal(result.bytes, 300)
    const left = await readdir(join(dir.path, 'blocks', shard))
    assert.ok(!left.includes(name), 'the stray file is still there')
    assert.ok(left.includes('README'))
    assertBytes(await readAll(store.get(indexed.cid)), indexed.bytes)
  })

  it('puts running alongside gc leave every block either collected or indexed and whole', async () => {
    const blocks = await Promise.all(Array.from({ length: 20 }, async () => makeBlock(2000)))
    const [, result] = await Promise.all([
      Promise.all(blocks.map(async ({ cid, bytes }) => { await store.put(cid, bytes); await store.pins.pin(cid) })),
      store.gc()
    ])
    const removed = new Set(result.removed.map(cid => cid.toString()))
    for (const { cid, bytes } of blocks) {
      // gc may take a block between its put and its pin; then it is gone, otherwise it must be whole
      const collected = removed.has(cid.toString())
      assert.equal(await store.has(cid), !collected)
      if (!collected) assertBytes(await readAll(store.get(cid)), bytes)
    }
  })

  it('detects a block corrupted on disk when read with { verify: true }', async () => {
    const { cid, bytes } = await makeBlock(4096)
    await store.put(cid, bytes)
    const { shard, name } = blockPath(cid.multihash.bytes)
    const corrupt = new Uint8Array(bytes)
    corrupt[100] ^= 0xff
    await writeFile(join(dir.path, 'blocks', shard, name), corrupt)
    await assert.rejects(readAll(store.get(cid, { verify: true })), { name: 'BlockVerificationError' })
  })

  it('readInto reads a block that fits into the buffer given, and one that does not into its own', async () => {
    const fits = await makeBlock(1000)
    const big = await makeBlock(5000)
    await store.put(fits.cid, fits.bytes)
    await store.put(big.cid, big.bytes)
    const target = new Uint8Array(4096)
    const a = await store.readInto(fits.cid, target)
    assert.equal(a.buffer, target.buffer)
    assertBytes(a, fits.bytes)
    const b = await store.readInto(big.cid, target)
    assert.notEqual(b.buffer, target.buffer)
    assertBytes(b, big.bytes)
  })

  it('delete removes the file as well as the index entry', async () => {
    const { cid, bytes } = await makeBlock(100)
    await store.put(cid, bytes)
    const { shard, name } = blockPath(cid.multihash.bytes)
    assert.deepEqual(await readdir(join(dir.path, 'blocks', shard)), [name])
    await store.delete(cid)
    assert.deepEqual(await readdir(join(dir.path, 'blocks', shard)), [])
    assert.equal(await store.has(cid), false)
  })
})
