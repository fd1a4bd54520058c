/**
 * What eviction stands on: the store's usage counts (kept as blocks are
 * written and deleted), `collect`, cache marks in the image index, and the
 * access log's last-use times. Real FsBlockstore and level databases on disk.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { AccessLog } from '../src/access-log.js'
import { FsBlockstore } from '../src/blockstore-fs.js'
import { ImageIndex } from '../src/image-index.js'
import { importBlob } from '../src/dag.js'
import { MEDIA_TYPE_OCI_MANIFEST } from '../src/oci.js'
import { makeBlock, makeBlocks, tempDir } from './fixtures.js'
import type { ImageRecord } from '../src/image-index.js'
import type { CID } from 'multiformats/cid'

describe('FsBlockstore usage and collect', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let store: FsBlockstore

  beforeEach(async () => {
    dir = await tempDir()
    store = new FsBlockstore({ path: dir.path })
    await store.open()
  })

  afterEach(async () => {
    await store.close().catch(() => {})
    await dir.remove()
  })

  it('counts each block once, even when the same block is put concurrently, and a delete takes it off', async () => {
    const blocks = await makeBlocks(3, 1000)
    const seen: number[] = []
    const unwatch = store.watchUsage(u => { seen.push(u.bytes) })
    await Promise.all([...blocks, blocks[0], blocks[0]].map(async b => store.put(b.cid, b.bytes)))
    assert.deepEqual(store.usage(), { blocks: 3, bytes: 3000 })
    assert.deepEqual(seen.sort((a, b) => a - b), [1000, 2000, 3000], 'a watcher hears each new block once')
    unwatch()
    await Promise.all([store.delete(blocks[1].cid), store.delete(blocks[1].cid)])
    assert.deepEqual(store.usage(), { blocks: 2, bytes: 2000 })
    assert.equal(seen.length, 3, 'an unwatched listener hears nothing more')
  })

  it('recomputes the usage from the index when reopened', async () => {
    for (const b of await makeBlocks(4, 512)) await store.put(b.cid, b.bytes)
    await store.close()
    store = new FsBlockstore({ path: dir.path })
    await store.open()
    assert.deepEqual(store.usage(), { blocks: 4, bytes: 2048 })
  })

  it('collect deletes only the given blocks nothing pins or guards, and gc keeps the usage right', async () => {
    const [a, b, c, d] = await makeBlocks(4, 100)
    for (const x of [a, b, c, d]) await store.put(x.cid, x.bytes)
    await store.pins.pin(a.cid)
    const release = store.guard([b.cid])
    const res = await store.collect([a.cid, b.cid, c.cid])
    assert.deepEqual(res.removed.map(String), [c.cid.toString()], 'the pinned and the guarded blocks stay')
    assert.equal(res.bytes, 100)
    assert.equal(await store.has(d.cid), true, 'a block not named is not collected')
    assert.deepEqual(store.usage(), { blocks: 3, bytes: 300 })
    release()
    const gc = await store.gc()
    assert.equal(gc.removed.length, 2, 'gc takes the released block and the unnamed one')
    assert.deepEqual(store.usage(), { blocks: 1, bytes: 100 })
  })
})

describe('ImageIndex cache marks', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let store: FsBlockstore
  let images: ImageIndex

  beforeEach(async () => {
    dir = await tempDir()
    store = new FsBlockstore({ path: dir.path })
    await store.open()
    images = new ImageIndex({ path: join(dir.path, 'images'), blockstore: store })
    await images.open()
  })

  afterEach(async () => {
    await images.close().catch(() => {})
    await store.close().catch(() => {})
    await dir.remove()
  })

  async function image (seed: number): Promise<{ record: ImageRecord, blocks: CID[] }> {
    const manifest = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, seed }))
    const config = (await makeBlock(200 + seed)).bytes
    const blobs: ImageRecord['blobs'] = []
    const blocks: CID[] = []
    for (const bytes of [manifest, config]) {
      const res = await importBlob([bytes], store, { expectedDigest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` })
      blobs.push({ digest: res.digest as ImageRecord['manifestDigest'], size: res.size, root: res.root.toString(), mediaType: MEDIA_TYPE_OCI_MANIFEST })
      blocks.push(...res.blocks)
    }
    return { record: { manifestDigest: blobs[0].digest, mediaType: MEDIA_TYPE_OCI_MANIFEST, blobs }, blocks }
  }

  it('an image added as cache is listed as cache and its blocks are pinned (a plain gc keeps it)', async () => {
    const { record, blocks } = await image(1)
    await images.add(record, blocks, { cache: true })
    assert.equal(await images.isCached(record.manifestDigest), true)
    assert.deepEqual(await toArray(images.cached()), [record.manifestDigest])
    assert.equal((await store.gc()).removed.length, 0)
  })

  it('adding a cached image without cache keeps it; adding a kept image as cache leaves it kept; remove drops the mark', async () => {
    const one = await image(2)
    const two = await image(3)
    await images.add(one.record, one.blocks, { cache: true })
    await images.add(one.record, one.blocks)
    assert.equal(await images.isCached(one.record.manifestDigest), false, 'promoted to kept')
    await images.add(two.record, two.blocks)
    await images.add(two.record, two.blocks, { cache: true })
    assert.equal(await images.isCached(two.record.manifestDigest), false, 'never demoted')
    const three = await image(4)
    await images.add(three.record, three.blocks, { cache: true })
    assert.equal(await images.remove(three.record.manifestDigest), true)
    assert.equal(await images.isCached(three.record.manifestDigest), false)
    assert.deepEqual(await toArray(images.cached()), [])
  })
})

describe('AccessLog', () => {
  it('answers from memory at once, writes in one batch on flush, survives a reopen and forgets', async () => {
    const dir = await tempDir()
    const store = new FsBlockstore({ path: dir.path })
    await store.open()
    let images = new ImageIndex({ path: join(dir.path, 'images'), blockstore: store })
    await images.open()
    try {
      let now = 1000
      let log = new AccessLog({ db: images.sublevel('access'), now: () => now })
      assert.equal(await log.lastUsed('sha256:a'), 0, 'never used')
      log.touch('sha256:a', 'sha256:b')
      now = 2000
      log.touch('sha256:b')
      assert.equal(await log.lastUsed('sha256:a'), 1000)
      assert.equal(await log.lastUsed('sha256:b'), 2000)
      await log.stop()
      await images.close()
      images = new ImageIndex({ path: join(dir.path, 'images'), blockstore: store })
      await images.open()
      log = new AccessLog({ db: images.sublevel('access') })
      assert.equal(await log.lastUsed('sha256:b'), 2000, 'the flushed time was kept')
      await log.forget(['sha256:b'])
      assert.equal(await log.lastUsed('sha256:b'), 0)
      assert.equal(await log.lastUsed('sha256:a'), 1000)
    } finally {
      await images.close()
      await store.close()
      await dir.remove()
    }
  })
})

async function toArray<T> (source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of source) out.push(x)
  return out
}
