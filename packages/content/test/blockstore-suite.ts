/**
 * The blockstore contract, as one suite run against every implementation
 * (the pattern of js-stores' interface-blockstore-tests). `blockstoreSuite`
 * holds what any `interface-blockstore` store must do, and runs against
 * blockstore-core's MemoryBlockstore as the reference; `contentBlockstoreSuite`
 * adds what a provenir store promises on top (size cap, verification, lifecycle,
 * pins and gc).
 */

import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { MAX_BLOCK_SIZE } from '../src/constants.js'
import { makeBlock, makeBlocks, readAll, v0Of } from './fixtures.js'
import type { ContentBlockstore } from '../src/blockstore.js'
import type { Blockstore } from 'interface-blockstore'

export interface StoreHandle<S> {
  store: S
  /** Closes the store and removes its files */
  teardown(): Promise<void>
  /** Replaces a stored block's bytes behind the store's back, as a disk fault would (content stores only) */
  corrupt?(cid: CID, bytes: Uint8Array): Promise<void>
}

/** Asserts two byte arrays are equal, whatever their concrete class (Buffer or Uint8Array). */
export function assertBytes (actual: Uint8Array, expected: Uint8Array, message?: string): void {
  assert.equal(actual.byteLength, expected.byteLength, message ?? 'byte length')
  assert.ok(Buffer.compare(actual, expected) === 0, message ?? 'bytes differ')
}

const mhKey = (cid: CID): string => Buffer.from(cid.multihash.bytes).toString('hex')

export function blockstoreSuite (name: string, create: () => Promise<StoreHandle<Blockstore>>): void {
  describe(`${name}: interface-blockstore contract`, () => {
    let handle: StoreHandle<Blockstore>
    let store: Blockstore

    beforeEach(async () => {
      handle = await create()
      store = handle.store
    })

    afterEach(async () => {
      await handle.teardown()
    })

    it('put returns the CID and get returns the same bytes', async () => {
      const { cid, bytes } = await makeBlock(1000)
      const returned = await store.put(cid, bytes)
      assert.ok(returned.equals(cid))
      assertBytes(await readAll(store.get(cid)), bytes)
    })

    it('put accepts a block given as sync and async iterables of chunks', async () => {
      const a = await makeBlock(3000)
      const b = await makeBlock(3000)
      await store.put(a.cid, [a.bytes.subarray(0, 1000), a.bytes.subarray(1000)])
      await store.put(b.cid, (async function * () {
        yield b.bytes.subarray(0, 10)
        yield b.bytes.subarray(10, 2000)
        yield b.bytes.subarray(2000)
      })())
      assertBytes(await readAll(store.get(a.cid)), a.bytes)
      assertBytes(await readAll(store.get(b.cid)), b.bytes)
    })

    it('has is true for a stored block and false for an absent one', async () => {
      const present = await makeBlock()
      const absent = await makeBlock()
      await store.put(present.cid, present.bytes)
      assert.equal(await store.has(present.cid), true)
      assert.equal(await store.has(absent.cid), false)
    })

    it('get of an absent block throws NotFoundError', async () => {
      const { cid } = await makeBlock()
      await assert.rejects(readAll(store.get(cid)), { name: 'NotFoundError' })
    })

    it('delete removes a block, and deleting an absent block is not an error', async () => {
      const { cid, bytes } = await makeBlock()
      await store.put(cid, bytes)
      await store.delete(cid)
      assert.equal(await store.has(cid), false)
      await assert.rejects(readAll(store.get(cid)), { name: 'NotFoundError' })
      await store.delete(cid)
    })

    it('a block is keyed by multihash: a CIDv0 and a CIDv1 of the same digest name one block', async () => {
      const { bytes, cid } = await makeBlock(100)
      const v0 = v0Of(cid)
      await store.put(v0, bytes)
      assert.equal(await store.has(cid), true)
      assertBytes(await readAll(store.get(cid)), bytes)
    })

    it('putting the same block twice keeps one copy', async () => {
      const { cid, bytes } = await makeBlock()
      await store.put(cid, bytes)
      await store.put(cid, bytes)
      const all = []
      for await (const pair of store.getAll()) all.push(pair.cid)
      assert.equal(all.length, 1)
      assert.ok(all[0].multihash.bytes.every((b, i) => b === cid.multihash.bytes[i]))
    })

    it('putMany yields every CID of an async source, and all are then readable', async () => {
      const blocks = await makeBlocks(20)
      const yielded: CID[] = []
      for await (const cid of store.putMany((async function * () { yield * blocks })())) {
        yielded.push(cid)
      }
      assert.deepEqual(yielded.map(c => c.toString()).sort(), blocks.map(b => b.cid.toString()).sort())
      for (const { cid, bytes } of blocks) {
        assertBytes(await readAll(store.get(cid)), bytes)
      }
    })

    it('getMany yields each requested block with its bytes, in order', async () => {
      const blocks = await makeBlocks(10)
      for (const { cid, bytes } of blocks) await store.put(cid, bytes)
      let i = 0
      for await (const pair of store.getMany(blocks.map(b => b.cid))) {
        assert.ok(pair.cid.equals(blocks[i].cid))
        assertBytes(await readAll(pair.bytes), blocks[i].bytes)
        i++
      }
      assert.equal(i, blocks.length)
    })

    it('getMany fails with NotFoundError when a requested block is absent', async () => {
      const present = await makeBlock()
      const absent = await makeBlock()
      await store.put(present.cid, present.bytes)
      await assert.rejects((async () => {
        for await (const pair of store.getMany([present.cid, absent.cid])) {
          await readAll(pair.bytes)
        }
      })(), { name: 'NotFoundError' })
    })

    it('deleteMany yields each CID and removes it, leaving the others', async () => {
      const blocks = await makeBlocks(6)
      for (const { cid, bytes } of blocks) await store.put(cid, bytes)
      const doomed = blocks.slice(0, 4).map(b => b.cid)
      const yielded: CID[] = []
      for await (const cid of store.deleteMany(doomed)) yielded.push(cid)
      assert.equal(yielded.length, 4)
      for (const cid of doomed) assert.equal(await store.has(cid), false)
      for (const { cid } of blocks.slice(4)) assert.equal(await store.has(cid), true)
    })

    it('getAll yields every stored block once, with its bytes', async () => {
      const blocks = await makeBlocks(15, 200)
      for (const { cid, bytes } of blocks) await store.put(cid, bytes)
      const expected = new Map(blocks.map(b => [mhKey(b.cid), b.bytes]))
      const seen = new Set<string>()
      for await (const pair of store.getAll()) {
        const key = mhKey(pair.cid)
        assert.ok(expected.has(key), 'getAll yielded a block that was never put')
        assert.ok(!seen.has(key), 'getAll yielded a block twice')
        seen.add(key)
        assertBytes(await readAll(pair.bytes), expected.get(key) ?? new Uint8Array())
      }
      assert.equal(seen.size, blocks.length)
    })

    it('concurrent puts all land', async () => {
      const blocks = await makeBlocks(50, 4096)
      await Promise.all(blocks.map(async ({ cid, bytes }) => store.put(cid, bytes)))
      for (const { cid, bytes } of blocks) {
        assertBytes(await readAll(store.get(cid)), bytes)
      }
    })
  })
}

export function contentBlockstoreSuite (name: string, create: () => Promise<StoreHandle<ContentBlockstore>>): void {
  describe(`${name}: provenir blockstore`, () => {
    let handle: StoreHandle<ContentBlockstore>
    let store: ContentBlockstore

    beforeEach(async () => {
      handle = await create()
      store = handle.store
    })

    afterEach(async () => {
      await handle.teardown()
    })

    it('readInto gives a block\'s bytes (in the buffer given when it fits), and NotFoundError for an absent one', async () => {
      const small = await makeBlock(3000)
      const exact = await makeBlock(4096)
      const large = await makeBlock(10_000)
      for (const b of [small, exact, large]) await store.put(b.cid, b.bytes)
      const target = new Uint8Array(4096)
      for (const b of [small, exact, large]) {
        const got = await store.readInto(b.cid, target)
        assertBytes(got, b.bytes)
        if (got.buffer === target.buffer) assert.ok(b.bytes.byteLength <= target.byteLength, 'only a block that fits is in the buffer given')
      }
      await assert.rejects(store.readInto((await makeBlock(10)).cid, target), { name: 'NotFoundError' })
    })

    it('blockSize gives a stored block\'s size from the index, and undefined for an absent one', async () => {
      const present = await makeBlock(3000)
      const absent = await makeBlock(10)
      await store.put(present.cid, present.bytes)
      assert.equal(await store.blockSize(present.cid), 3000)
      assert.equal(await store.blockSize(absent.cid), undefined)
      await store.delete(present.cid)
      assert.equal(await store.blockSize(present.cid), undefined)
    })

    it('accepts a block of exactly 2 MiB', async () => {
      const { cid, bytes } = await makeBlock(MAX_BLOCK_SIZE)
      await store.put(cid, bytes)
      assert.equal((await readAll(store.get(cid))).byteLength, MAX_BLOCK_SIZE)
    })

    it('refuses a block over 2 MiB with BlockTooLargeError, whole or streamed, and stores nothing', async () => {
      const { cid, bytes } = await makeBlock(MAX_BLOCK_SIZE + 1)
      await assert.rejects(async () => store.put(cid, bytes), { name: 'BlockTooLargeError' })
      await assert.rejects(async () => store.put(cid, (async function * () {
        yield bytes.subarray(0, MAX_BLOCK_SIZE)
        yield bytes.subarray(MAX_BLOCK_SIZE)
      })()), { name: 'BlockTooLargeError' })
      assert.equal(await store.has(cid), false)
    })

    it('refuses bytes that do not match the CID with BlockVerificationError, and stores nothing', async () => {
      const { cid } = await makeBlock(100)
      const other = await makeBlock(100)
      await assert.rejects(async () => store.put(cid, other.bytes), { name: 'BlockVerificationError' })
      assert.equal(await store.has(cid), false)
    })

    it('get with { verify: true } detects a block changed on disk so it no longer matches its CID', async () => {
      assert.ok(handle.corrupt != null, 'a content store test handle can corrupt a block')
      const { cid, bytes } = await makeBlock(100)
      const other = await makeBlock(100)
      await store.put(cid, bytes)
      assertBytes(await readAll(store.get(cid, { verify: true })), bytes)
      await handle.corrupt(cid, other.bytes)
      // the default read path trusts what put verified, so it returns the bytes as stored
      assertBytes(await readAll(store.get(cid)), other.bytes)
      await assert.rejects(readAll(store.get(cid, { verify: true })), { name: 'BlockVerificationError' })
    })

    it('get with { verify: true } passes a good block', async () => {
      const { cid, bytes } = await makeBlock(5000)
      await store.put(cid, bytes)
      assertBytes(await readAll(store.get(cid, { verify: true })), bytes)
    })

    it('refuses a CID whose hash it cannot verify with UnsupportedHashError', async () => {
      const bytes = new Uint8Array([1, 2, 3])
      const cid = CID.createV1(raw.code, Digest.create(0xb220, new Uint8Array(32))) // blake2b-256
      await assert.rejects(async () => store.put(cid, bytes), { name: 'UnsupportedHashError' })
      await assert.rejects(async () => store.put(cid, bytes, { verify: false }), { name: 'UnsupportedHashError' })
    })

    it('infos lists CIDv1 with the codec and size recorded at put, a CIDv0 coming back as dag-pb v1', async () => {
      const a = await makeBlock(123)
      const b = await makeBlock(456)
      const v0 = v0Of(b.cid)
      await store.put(a.cid, a.bytes)
      await store.put(v0, b.bytes)
      const infos = new Map<string, { cid: CID, size: number }>()
      for await (const info of store.infos()) infos.set(mhKey(info.cid), info)
      assert.equal(infos.size, 2)
      const ia = infos.get(mhKey(a.cid))
      const ib = infos.get(mhKey(b.cid))
      assert.equal(ia?.cid.toString(), a.cid.toString())
      assert.equal(ia?.size, 123)
      assert.equal(ib?.cid.version, 1)
      assert.equal(ib?.cid.code, 0x70)
      assert.equal(ib?.size, 456)
    })

    it('putting a stored block again writes nothing: the first codec is kept', async () => {
      const { cid, bytes } = await makeBlock(100)
      await store.put(cid, bytes)
      await store.put(v0Of(cid), bytes)
      const infos = []
      for await (const info of store.infos()) infos.push(info)
      assert.equal(infos.length, 1)
      assert.equal(infos[0].cid.toString(), cid.toString())
    })

    it('an aborted signal stops put and get', async () => {
      const { cid, bytes } = await makeBlock()
      const signal = AbortSignal.abort()
      await assert.rejects(async () => store.put(cid, bytes, { signal }), { name: 'AbortError' })
      assert.equal(await store.has(cid), false)
      await store.put(cid, bytes)
      await assert.rejects(readAll(store.get(cid, { signal })), { name: 'AbortError' })
    })

    it('after close, operations throw BlockstoreNotOpenError', async () => {
      const { cid, bytes } = await makeBlock()
      await store.close()
      await assert.rejects(async () => store.put(cid, bytes), { name: 'BlockstoreNotOpenError' })
      await assert.rejects(async () => store.has(cid), { name: 'BlockstoreNotOpenError' })
      await store.open()
    })

    it('blocks, sizes and pins survive close and reopen', async () => {
      const blocks = await makeBlocks(5, 1000)
      for (const { cid, bytes } of blocks) await store.put(cid, bytes)
      await store.pins.pin(blocks[0].cid)
      await store.close()
      await store.open()
      for (const { cid, bytes } of blocks) assertBytes(await readAll(store.get(cid)), bytes)
      assert.equal(await store.pins.isPinned(blocks[0].cid), true)
      assert.equal(await store.pins.isPinned(blocks[1].cid), false)
    })

    it('pin, isPinned, ls and unpin; a pin covers the CIDv0 and CIDv1 of one multihash', async () => {
      const [a, b, c] = await makeBlocks(3)
      await store.pins.pin([a.cid, b.cid])
      await store.pins.pin(a.cid) // again: a no-op
      assert.equal(await store.pins.isPinned(a.cid), true)
      assert.equal(await store.pins.isPinned(c.cid), false)
      assert.equal(await store.pins.isPinned(v0Of(a.cid)), true)
      const listed = []
      for await (const cid of store.pins.ls()) listed.push(cid.toString())
      assert.deepEqual(listed.sort(), [a.cid.toString(), b.cid.toString()].sort())
      await store.pins.unpin(a.cid)
      await store.pins.unpin(c.cid) // not pinned: a no-op
      assert.equal(await store.pins.isPinned(a.cid), false)
      assert.equal(await store.pins.isPinned(b.cid), true)
    })

    it('gc deletes exactly the unpinned blocks and reports them and their bytes', async () => {
      const blocks = await makeBlocks(8, 1000)
      for (const { cid, bytes } of blocks) await store.put(cid, bytes)
      const pinned = blocks.slice(0, 3)
      const unpinned = blocks.slice(3)
      await store.pins.pin(pinned.map(b => b.cid))
      const result = await store.gc()
      assert.deepEqual(result.removed.map(c => c.toString()).sort(), unpinned.map(b => b.cid.toString()).sort())
      assert.equal(result.bytes, unpinned.length * 1000)
      for (const { cid, bytes } of pinned) assertBytes(await readAll(store.get(cid)), bytes)
      for (const { cid } of unpinned) assert.equal(await store.has(cid), false)
      const again = await store.gc()
      assert.equal(again.removed.length, 0)
      assert.equal(again.bytes, 0)
    })

    it('a CID pinned before its block arrives protects the block from gc', async () => {
      const { cid, bytes } = await makeBlock()
      await store.pins.pin(cid)
      await store.put(cid, bytes)
      const result = await store.gc()
      assert.equal(result.removed.length, 0)
      assert.equal(await store.has(cid), true)
    })

    it('a guard keeps unpinned blocks from gc until it is released; guards nest', async () => {
      const [a, b] = await makeBlocks(2, 500)
      const first = store.guard([a.cid, b.cid])
      const second = store.guard([a.cid])
      await store.put(a.cid, a.bytes)
      await store.put(b.cid, b.bytes)
      assert.equal((await store.gc()).removed.length, 0)
      first()
      first() // a second call releases nothing more
      const onlyB = await store.gc()
      assert.deepEqual(onlyB.removed.map(c => c.toString()), [b.cid.toString()], 'b went; a is still guarded by the second guard')
      assert.equal(await store.has(a.cid), true)
      second()
      assert.deepEqual((await store.gc()).removed.map(c => c.toString()), [a.cid.toString()])
    })

    it('unpinning makes a block collectable', async () => {
      const { cid, bytes } = await makeBlock()
      await store.put(cid, bytes)
      await store.pins.pin(cid)
      assert.equal((await store.gc()).removed.length, 0)
      await store.pins.unpin(cid)
      const result = await store.gc()
      assert.equal(result.removed.length, 1)
      assert.equal(await store.has(cid), false)
    })
  })
}
