/**
 * The storage service over a real FsBlockstore and image index on disk:
 * config validation, the LRU order between the watermarks, what eviction
 * must leave (kept images, images in use, blocks a pull guards), image
 * removal, the stat, and the events the metrics count.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { defaultLogger } from '@libp2p/logger'
import { AccessLog, FsBlockstore, ImageIndex, importBlob, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_MANIFEST } from '@provenir/content'
import { parseSize, StorageService, validateStorageConfig } from '../src/index.js'
import type { EvictionDetail, GcDetail } from '../src/index.js'
import type { ImageRecord } from '@provenir/content'
import type { CID } from 'multiformats/cid'

const MiB = 1024 * 1024
const digestOf = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

describe('storage config', () => {
  it('defaults to no limit with watermarks 0.9 and 0.8', () => {
    assert.deepEqual(validateStorageConfig(undefined), { maxSize: null, highWatermark: 0.9, lowWatermark: 0.8 })
    assert.deepEqual(validateStorageConfig({}), { maxSize: null, highWatermark: 0.9, lowWatermark: 0.8 })
  })

  it('takes bytes or a size with a unit', () => {
    assert.equal(parseSize('20GB'), 20e9)
    assert.equal(parseSize('512 MiB'), 512 * MiB)
    assert.equal(parseSize(1234), 1234)
    assert.equal(parseSize('12 parsecs'), undefined)
    assert.equal(validateStorageConfig({ maxSize: '1.5KiB', highWatermark: 0.5, lowWatermark: 0.25 }).maxSize, 1536)
  })

  it('refuses a bad size, watermarks out of range or in the wrong order, and unknown fields, naming the field', () => {
    for (const [input, field] of [
      [{ maxSize: -1 }, 'storage.maxSize'],
      [{ maxSize: '10 XB' }, 'storage.maxSize'],
      [{ maxSize: 2 ** 51 }, 'storage.maxSize'],
      [{ highWatermark: 1.5 }, 'storage.highWatermark'],
      [{ lowWatermark: 0 }, 'storage.lowWatermark'],
      [{ highWatermark: 0.5, lowWatermark: 0.6 }, 'storage.lowWatermark'],
      [{ maxsize: 10 }, 'storage.maxsize']
    ] as const) {
      assert.throws(() => validateStorageConfig(input, 'config.json'), (err: Error) => err.name === 'InvalidConfigError' && err.message.includes(`"${field}"`) && err.message.startsWith('config.json'), JSON.stringify(input))
    }
  })
})

describe('StorageService: LRU eviction between the watermarks', () => {
  let dir: string
  let store: FsBlockstore
  let images: ImageIndex
  let access: AccessLog
  let now: number
  let unprovided: string[]

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-storage-'))
    store = new FsBlockstore({ path: dir })
    await store.open()
    images = new ImageIndex({ path: path.join(dir, 'images'), blockstore: store })
    await images.open()
    now = 1_000_000
    access = new AccessLog({ db: images.sublevel('access'), now: () => now })
    unprovided = []
  })

  afterEach(async () => {
    await images.close()
    await store.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  function service (maxSize: number | null, high = 0.9, low = 0.5): StorageService {
    return new StorageService({ blockstore: store, images, access, logger: defaultLogger(), unprovide: async (cid) => { unprovided.push(cid.toString()) } }, { maxSize, highWatermark: high, lowWatermark: low })
  }

  /** An image of one layer of `size` random bytes (a DAG above 1 MiB), listed as cache or kept */
  async function image (size: number, options: { cache: boolean, tags?: string[], shared?: Uint8Array }): Promise<ImageRecord> {
    const layer = randomBytes(size)
    const config = new TextEncoder().encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } }))
    const blobs: Array<{ bytes: Uint8Array, mediaType: string }> = [{ bytes: config, mediaType: MEDIA_TYPE_OCI_CONFIG }, { bytes: layer, mediaType: MEDIA_TYPE_OCI_LAYER }]
    if (options.shared != null) blobs.push({ bytes: options.shared, mediaType: MEDIA_TYPE_OCI_LAYER })
    const desc = (b: { bytes: Uint8Array, mediaType: string }): object => ({ mediaType: b.mediaType, digest: digestOf(b.bytes), size: b.bytes.byteLength })
    const manifest = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST, config: desc(blobs[0]), layers: blobs.slice(1).map(desc) }))
    const records: ImageRecord['blobs'] = []
    const blocks: CID[] = []
    // guarded until the record pins them, as every writer of the node does
    const releases: Array<() => void> = []
    const writer = { put: async (cid: CID, bytes: Uint8Array) => { releases.push(store.guard([cid])); return store.put(cid, bytes) } }
    for (const b of [{ bytes: manifest, mediaType: MEDIA_TYPE_OCI_MANIFEST }, ...blobs]) {
      const res = await importBlob([b.bytes], writer, { expectedDigest: digestOf(b.bytes) })
      records.push({ digest: res.digest as ImageRecord['manifestDigest'], size: res.size, root: res.root.toString(), mediaType: b.mediaType })
      blocks.push(...res.blocks)
    }
    const record = await images.add({ manifestDigest: records[0].digest, mediaType: MEDIA_TYPE_OCI_MANIFEST, blobs: records, ...(options.tags != null ? { tags: options.tags } : {}) }, blocks, { cache: options.cache })
    for (const release of releases) release()
    access.touch(...records.map(r => r.digest))
    now += 1000
    return record
  }

  it('does nothing without maxSize, or at or below the high watermark', async () => {
    await image(2 * MiB, { cache: true })
    const before = store.usage()
    await service(null).evict()
    await service(2.5 * MiB, 0.9).evict()
    assert.deepEqual(store.usage(), before)
  })

  it('runs gc first, then evicts cached images least recently used first, down to the low watermark; kept images stay', async () => {
    const kept = await image(2 * MiB, { cache: false })
    const old = await image(2 * MiB, { cache: true })
    const used = await image(2 * MiB, { cache: true })
    const newest = await image(2 * MiB, { cache: true })
    // the oldest cached image is read again: it is now the most recently used
    now += 1000
    access.touch(old.blobs[1].digest)
    const garbage = randomBytes(100_000)
    await importBlob([garbage], store, { expectedDigest: digestOf(garbage) })
    // about 8 MiB held: above 0.9 × 8 MiB; down to 0.6 × 8 MiB = 4.8 MiB takes the two least recently used
    const storage = service(8 * MiB, 0.9, 0.6)
    const evicted: EvictionDetail[] = []
    const gcs: GcDetail[] = []
    storage.addEventListener('evict', (e) => { evicted.push((e as CustomEvent<EvictionDetail>).detail) })
    storage.addEventListener('gc', (e) => { gcs.push((e as CustomEvent<GcDetail>).detail) })
    await storage.evict()
    assert.deepEqual(gcs.map(g => [g.reason, g.bytes]), [['eviction', 100_000]], 'the unpinned block went first, in a gc')
    assert.deepEqual(evicted.map(e => e.digest), [used.manifestDigest, newest.manifestDigest], 'least recently used first')
    assert.ok(evicted.every(e => e.bytes >= 2 * MiB), 'each eviction deleted its layer')
    assert.ok(store.usage().bytes <= 0.6 * 8 * MiB, `the store is at or below the low watermark (${store.usage().bytes})`)
    assert.ok(await images.has(kept.manifestDigest), 'the kept image stays')
    assert.ok(await images.has(old.manifestDigest), 'the image read last stays')
    assert.equal(await images.has(used.manifestDigest), false)
    for (const blob of used.blobs) assert.ok(unprovided.includes(blob.root), 'an evicted root is no longer provided')
  })

  it('never evicts a kept image, an image a read holds, or blocks a pull guards; says what it could not reach', async () => {
    const kept = await image(3 * MiB, { cache: false })
    const read = await image(2 * MiB, { cache: true })
    const pulling = await image(2 * MiB, { cache: true })
    const storage = service(4 * MiB, 0.9, 0.5)
    const release = storage.hold(read.blobs[1].digest)
    const guardBlocks = (await images.blocks(pulling.manifestDigest))!
    const unguard = store.guard(guardBlocks)
    await storage.evict()
    assert.ok(await images.has(kept.manifestDigest))
    assert.ok(await images.has(read.manifestDigest), 'held by a read')
    assert.equal(await images.has(pulling.manifestDigest), false, 'its record went')
    for (const cid of guardBlocks) assert.equal(await store.has(cid), true, 'but no block a pull guards')
    release()
    unguard()
    await storage.evict()
    assert.equal(await images.has(read.manifestDigest), false, 'evicted once the read let go')
    assert.ok(store.usage().bytes <= 3.2 * MiB, 'the guarded blocks went in the next run\'s gc')
  })

  it('a shared blob stays while another image uses it', async () => {
    const shared = randomBytes(MiB + 10)
    const kept = await image(MiB, { cache: false, shared })
    const cached = await image(MiB, { cache: true, shared })
    await service(2 * MiB, 0.5, 0.25).evict()
    assert.equal(await images.has(cached.manifestDigest), false)
    const sharedBlob = kept.blobs.find(b => b.digest === digestOf(shared))!
    assert.ok(await images.getBlob(sharedBlob.digest) != null)
    assert.equal(unprovided.includes(sharedBlob.root), false, 'the shared root is still provided')
  })

  it('removeImage by digest or tag deletes the blocks no other image shares; an unknown one is ImageNotFoundError', async () => {
    const a = await image(MiB, { cache: false, tags: ['example/a:1'] })
    const b = await image(MiB, { cache: false, tags: ['example/b:1'] })
    const storage = service(null)
    const before = store.usage()
    const removed = await storage.removeImage('example/a:1')
    assert.equal(removed.digest, a.manifestDigest)
    assert.equal(store.usage().bytes, before.bytes - removed.bytes)
    assert.ok(removed.bytes >= MiB)
    await assert.rejects(storage.removeImage(a.manifestDigest), { name: 'ImageNotFoundError' })
    await assert.rejects(storage.removeImage('example/none:1'), { name: 'ImageNotFoundError' })
    await storage.removeImage(b.manifestDigest)
    assert.deepEqual(store.usage(), { blocks: 0, bytes: 0 })
  })

  it('stat gives the usage, the limits in bytes, and pinned and cached images apart', async () => {
    const kept = await image(MiB, { cache: false, tags: ['example/kept:1'] })
    const cached = await image(2 * MiB, { cache: true })
    const stat = await service(10 * MiB, 0.9, 0.5).stat()
    assert.deepEqual(stat.usage, store.usage())
    assert.equal(stat.limits.maxSize, 10 * MiB)
    assert.equal(stat.limits.highBytes, Math.floor(9 * MiB))
    assert.equal(stat.limits.lowBytes, 5 * MiB)
    assert.equal(stat.pinned.images, 1)
    assert.equal(stat.cache.images, 1)
    assert.equal(stat.pinned.bytes, kept.blobs.reduce((n, b) => n + b.size, 0))
    assert.equal(stat.cache.bytes, cached.blobs.reduce((n, b) => n + b.size, 0))
    assert.deepEqual(stat.images.map(i => [i.digest, i.cache]).sort(), [[kept.manifestDigest, false], [cached.manifestDigest, true]].sort())
    assert.ok(stat.pinnedBlocks > 0)
  })

  it('starts a run by itself when a write takes the store past the high watermark', async () => {
    await image(2 * MiB, { cache: true })
    const storage = service(3 * MiB, 0.9, 0.5)
    const evicted = new Promise<EvictionDetail>(resolve => { storage.addEventListener('evict', (e) => { resolve((e as CustomEvent<EvictionDetail>).detail) }, { once: true }) })
    storage.start()
    try {
      await image(2 * MiB, { cache: false })
      const detail = await evicted
      await storage.settled()
      assert.ok(detail.bytes >= 2 * MiB)
      assert.ok(store.usage().bytes <= 2.7 * MiB)
    } finally {
      await storage.stop()
    }
  })
})
