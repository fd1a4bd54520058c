import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { appendFile, mkdir, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { CID } from 'multiformats/cid'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { base32upper } from 'multiformats/bases/base32'
import { FsBlockstore, blockPath } from '../src/blockstore-fs.js'
import { COARSE_STAMP_AGE_MS, VerifiedFiles, probeFineTimestamps } from '../src/file-stamps.js'
import { OFF_THREAD_WRITE_MAX, OFF_THREAD_WRITE_MIN } from '../src/constants.js'
import { assertBytes } from './blockstore-suite.js'
import { makeBlock, makeBlocks, readAll, tempDir } from './fixtures.js'
import type { TestBlock } from './fixtures.js'

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

  const fileOf = (cid: TestBlock['cid']): string => {
    const { shard, name } = blockPath(cid.multihash.bytes)
    return join(dir.path, 'blocks', shard, name)
  }

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

  it('writes a leaf-sized block on the hash worker and a small one from the event loop, both whole and stamped', async () => {
    const fine = await probeFineTimestamps(dir.path)
    const leaf = await makeBlock(OFF_THREAD_WRITE_MAX)
    const small = await makeBlock(OFF_THREAD_WRITE_MIN - 1)
    await store.put(leaf.cid, leaf.bytes)
    await store.put(small.cid, small.bytes)
    assert.deepEqual(store.fileWrites, { offThread: 1, eventLoop: 1 })
    assertBytes(await readFile(fileOf(leaf.cid)), leaf.bytes)
    assertBytes(await readAll(store.get(leaf.cid, { verify: true })), leaf.bytes)
    assertBytes(await readAll(store.get(small.cid, { verify: true })), small.bytes)
    // the worker's stamp of the file it wrote is trusted as the event loop's is
    assert.deepEqual(store.verifiedReads, fine ? { hashed: 0, unchanged: 2 } : { hashed: 2, unchanged: 0 })
    assert.deepEqual(await readdir(join(dir.path, 'tmp')), [])
    // indexed: a reopened store still has it
    await store.close()
    await store.open()
    assertBytes(await readAll(store.get(leaf.cid, { verify: true })), leaf.bytes)
  })

  it('an off-thread write that fails fails the put with its cause, and leaves neither a file nor an index entry', async () => {
    const leaf = await makeBlock(OFF_THREAD_WRITE_MAX)
    // a directory where the block's file goes: the rename onto it fails once the bytes are in tmp
    await mkdir(fileOf(leaf.cid), { recursive: true })
    await assert.rejects(store.put(leaf.cid, leaf.bytes), (err: any) => err.name === 'WorkerCallError' && typeof err.code === 'string' && /EISDIR|ENOTEMPTY|EEXIST/.test(err.code))
    assert.deepEqual(store.fileWrites, { offThread: 0, eventLoop: 0 })
    assert.equal(await store.has(leaf.cid), false)
    assert.deepEqual(await readdir(join(dir.path, 'tmp')), [])
    // the worker goes on: once the way is clear the same block is written
    await rm(fileOf(leaf.cid), { recursive: true })
    await store.put(leaf.cid, leaf.bytes)
    assertBytes(await readAll(store.get(leaf.cid, { verify: true })), leaf.bytes)
    assert.deepEqual(store.fileWrites, { offThread: 1, eventLoop: 0 })
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

  it('readInto fills a buffer the block fits exactly, and a view at an offset of a larger one', async () => {
    const block = await makeBlock(4096)
    await store.put(block.cid, block.bytes)
    const exact = new Uint8Array(4096)
    const a = await store.readInto(block.cid, exact)
    assert.equal(a.buffer, exact.buffer)
    assert.equal(a.byteLength, 4096)
    assertBytes(a, block.bytes)
    const whole = new Uint8Array(64 + 8192).fill(7)
    const b = await store.readInto(block.cid, whole.subarray(64))
    assert.equal(b.buffer, whole.buffer)
    assert.equal(b.byteOffset, 64)
    assertBytes(b, block.bytes)
    // nothing before the view, nor after the block, was written
    assert.ok(whole.subarray(0, 64).every(x => x === 7))
    assert.ok(whole.subarray(64 + 4096).every(x => x === 7))
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

  describe('verified reads of files unchanged since they were checked', () => {
    let fine: boolean
    beforeEach(async () => {
      fine = await probeFineTimestamps(dir.path)
    })

    it('skips the hash of a file unchanged since its own write, and hashes once it changed', async () => {
      const { cid, bytes } = await makeBlock(4096)
      await store.put(cid, bytes)
      assertBytes(await readAll(store.get(cid, { verify: true })), bytes)
      // where timestamps are coarse, a file just written is not trusted yet
      assert.deepEqual(store.verifiedReads, fine ? { hashed: 0, unchanged: 1 } : { hashed: 1, unchanged: 0 })
      // the same bytes written again: the stamp moved, so it is hashed, passes, and is remembered
      await writeFile(fileOf(cid), bytes)
      const before = { ...store.verifiedReads }
      assertBytes(await readAll(store.get(cid, { verify: true })), bytes)
      assert.equal(store.verifiedReads.hashed, before.hashed + 1)
      if (fine) {
        assertBytes(await readAll(store.get(cid, { verify: true })), bytes)
        assert.equal(store.verifiedReads.unchanged, before.unchanged + 1)
      }
    })

    it('catches a same-size rewrite and a truncation made after the file was trusted', async () => {
      const { cid, bytes } = await makeBlock(4096)
      await store.put(cid, bytes)
      await readAll(store.get(cid, { verify: true }))
      const corrupt = new Uint8Array(bytes)
      corrupt[7] ^= 0x01
      await writeFile(fileOf(cid), corrupt)
      await assert.rejects(readAll(store.get(cid, { verify: true })), { name: 'BlockVerificationError' })
      // still caught the second time: a failed check is not remembered
      await assert.rejects(readAll(store.get(cid, { verify: true })), { name: 'BlockVerificationError' })
      await writeFile(fileOf(cid), bytes)
      await readAll(store.get(cid, { verify: true }))
      await truncate(fileOf(cid), 4000)
      await assert.rejects(readAll(store.get(cid, { verify: true })), { name: 'BlockVerificationError' })
      // bytes appended after the block: its first bytes still hash right, but the file is not the block
      await writeFile(fileOf(cid), bytes)
      await readAll(store.get(cid, { verify: true }))
      await appendFile(fileOf(cid), new Uint8Array(10))
      await assert.rejects(readAll(store.get(cid, { verify: true })), { name: 'BlockVerificationError' })
      await assert.rejects(readAll(store.get(cid, { verify: true })), { name: 'BlockVerificationError' })
    })

    it('a read without verify neither hashes nor counts; a reopened store trusts nothing it had remembered', async () => {
      const { cid, bytes } = await makeBlock(2048)
      await store.put(cid, bytes)
      await readAll(store.get(cid))
      assert.deepEqual(store.verifiedReads, { hashed: 0, unchanged: 0 })
      await store.close()
      await store.open()
      await readAll(store.get(cid, { verify: true }))
      assert.deepEqual(store.verifiedReads, { hashed: 1, unchanged: 0 })
    })

    it('keeps at most verifiedFiles stamps, and none with 0', async () => {
      await store.close()
      store = new FsBlockstore({ path: dir.path, verifiedFiles: 2 })
      await store.open()
      const blocks = await makeBlocks(3, 1024)
      for (const { cid, bytes } of blocks) await store.put(cid, bytes)
      // newest first: the first block's stamp went to make room for the third
      for (const { cid } of [...blocks].reverse()) await readAll(store.get(cid, { verify: true }))
      assert.deepEqual(store.verifiedReads, fine ? { hashed: 1, unchanged: 2 } : { hashed: 3, unchanged: 0 })
      await store.close()
      store = new FsBlockstore({ path: dir.path, verifiedFiles: 0 })
      await store.open()
      for (const { cid } of blocks) await readAll(store.get(cid, { verify: true }))
      for (const { cid } of blocks) await readAll(store.get(cid, { verify: true }))
      assert.deepEqual(store.verifiedReads, { hashed: 6, unchanged: 0 })
      assert.throws(() => new FsBlockstore({ path: dir.path, verifiedFiles: -1 }), { name: 'InvalidConfigError' })
    })

    it('where timestamps are coarse, remembers only a file changed more than COARSE_STAMP_AGE_MS ago', async () => {
      const { cid, bytes } = await makeBlock(100)
      await store.put(cid, bytes)
      const st = await stat(fileOf(cid), { bigint: true })
      const changedAt = Number(st.ctimeNs / 1_000_000n)
      const coarse = new VerifiedFiles(10, false)
      coarse.remember('a', st, changedAt + 10)
      assert.equal(coarse.matches('a', st), false, 'a file changed 10 ms ago could change again in the same tick')
      coarse.remember('a', st, changedAt + COARSE_STAMP_AGE_MS + 1)
      assert.equal(coarse.matches('a', st), true)
      const fineFiles = new VerifiedFiles(10, true)
      fineFiles.remember('a', st, changedAt)
      assert.equal(fineFiles.matches('a', st), true)
    })
  })

  describe('group commit: puts do not wait for the disk, pins and close do', () => {
    it('a pin resolves only once every block written before it is durable', async () => {
      const blocks = await makeBlocks(100, 8192)
      await Promise.all(blocks.map(async ({ cid, bytes }) => store.put(cid, bytes)))
      await store.pins.pin(blocks[0].cid)
      assert.equal(store.unsynced, 0)
    })

    it('flush resolves once the writes before it are durable, and close flushes', async () => {
      const blocks = await makeBlocks(70, 4096)
      for (const { cid, bytes } of blocks) await store.put(cid, bytes)
      await store.flush()
      assert.equal(store.unsynced, 0)
      for (const { cid, bytes } of await makeBlocks(10, 4096)) await store.put(cid, bytes)
      await store.close()
      await store.open()
      assert.deepEqual(store.recovered, { checked: 0, dropped: 0 }, 'a clean close leaves nothing to check')
      for (const { cid, bytes } of blocks) assertBytes(await readAll(store.get(cid, { verify: true })), bytes)
    })

    it('delete and put again of a block whose first write is still queued keeps the second write dirty until it is durable', async () => {
      const { cid, bytes } = await makeBlock(4096)
      await store.put(cid, bytes)
      await store.delete(cid)
      assert.equal(store.unsynced, 0, 'the delete waited for the queued write')
      await store.put(cid, bytes)
      await store.flush()
      assertBytes(await readAll(store.get(cid, { verify: true })), bytes)
    })

    it('after a kill -9, open() checks the blocks left dirty, keeps whole ones and drops a torn one', async () => {
      await store.close()
      const child = spawn(process.execPath, [fileURLToPath(new URL('./crash-child.js', import.meta.url)), dir.path, '300', '16384'], { stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
      const exit = await new Promise<NodeJS.Signals | null>(resolve => child.once('exit', (_code, signal) => { resolve(signal) }))
      assert.equal(exit, 'SIGKILL')
      const { cids, unsynced } = JSON.parse(out.trim()) as { cids: string[], unsynced: number }
      assert.ok(unsynced >= 1, `the child died with ${unsynced} blocks not yet durable`)
      // the last block written is among those still dirty; tear it as a power cut could
      const torn = CID.parse(cids[cids.length - 1])
      await truncate(fileOf(torn), 100)
      await store.open()
      assert.ok(store.recovered.checked >= 1 && store.recovered.checked <= unsynced, `checked ${store.recovered.checked} of ${unsynced} left dirty`)
      assert.equal(store.recovered.dropped, 1)
      assert.equal(await store.has(torn), false, 'the torn block is not indexed any more')
      for (const s of cids.slice(0, -1)) {
        const cid = CID.parse(s)
        assert.equal(await store.has(cid), true)
        assert.equal((await readAll(store.get(cid, { verify: true }))).byteLength, 16384)
      }
      // nothing is dirty any more: the next open checks nothing
      await store.close()
      await store.open()
      assert.deepEqual(store.recovered, { checked: 0, dropped: 0 })
    })
  })
})
