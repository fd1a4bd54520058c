import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { bytesLevel, bytesSublevel } from '../src/level.js'
import { SYNC_SPARE_THREADS, syncConcurrency } from '../src/constants.js'
import { SyncQueue } from '../src/sync-queue.js'
import { tempDir } from './fixtures.js'
import type { BytesLevel, BytesSublevel } from '../src/level.js'

describe('SyncQueue (group commit)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let db: BytesLevel
  let dirty: BytesSublevel

  beforeEach(async () => {
    dir = await tempDir()
    db = bytesLevel(join(dir.path, 'db'))
    await db.open()
    dirty = bytesSublevel(db, 'dirty')
    await dirty.open()
  })

  afterEach(async () => {
    await db.close()
    await dir.remove()
  })

  /** A block file and its dirty mark, as FsBlockstore writes them before queueing */
  async function written (i: number): Promise<{ key: Uint8Array, path: string, dir: string }> {
    const key = new Uint8Array([0x12, 0x20, ...new Uint8Array(31), i])
    const path = join(dir.path, `block-${i}`)
    await writeFile(path, new Uint8Array([i]))
    await dirty.put(key, new Uint8Array(0))
    return { key, path, dir: dir.path }
  }

  async function within <T> (ms: number, p: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`not settled within ${ms} ms`)) }, ms) })])
    } finally {
      clearTimeout(timer)
    }
  }

  it('flush resolves once what was added before it is durable, and a block added just after a flush is made durable too', async () => {
    const queue = new SyncQueue({ db, dirty, batchSize: 4, concurrency: 2, maxUnsynced: 100 })
    for (let round = 0; round < 5; round++) {
      // added in the continuation of the previous flush, while the queue's run is finishing
      await queue.add(await written(round))
      await within(5_000, queue.flush())
      assert.equal(queue.unsynced, 0)
      assert.equal(queue.has(join(dir.path, `block-${round}`)), false)
    }
    assert.deepEqual(await dirty.keys().all(), [], 'every dirty mark is cleared once durable')
  })

  it('makes many blocks durable in batches, and add waits once more than maxUnsynced are not yet durable', async () => {
    const queue = new SyncQueue({ db, dirty, batchSize: 3, concurrency: 2, maxUnsynced: 5 })
    const blocks = await Promise.all(Array.from({ length: 20 }, async (_, i) => written(i)))
    for (const block of blocks) {
      await queue.add(block)
      assert.ok(queue.unsynced <= 6, `${queue.unsynced} blocks not yet durable`)
    }
    await within(5_000, queue.flush())
    assert.deepEqual(await dirty.keys().all(), [])
  })

  it('a failure to make a batch durable rejects flush, and keeps the dirty marks for the next open', async () => {
    const queue = new SyncQueue({ db, dirty, batchSize: 4, concurrency: 2, maxUnsynced: 100 })
    const block = await written(1)
    // a shard directory that is not one: fsync of it fails with ENOTDIR
    await queue.add({ ...block, dir: join(block.path, 'not-a-dir') })
    await assert.rejects(within(5_000, queue.flush()), { code: 'ENOTDIR' })
    assert.equal((await dirty.keys().all()).length, 1)
  })
})

describe('syncConcurrency: the group commit\'s share of libuv\'s pool', () => {
  it('leaves SYNC_SPARE_THREADS threads to other I/O, and runs 2 to 8 syncs', (t) => {
    const before = process.env.UV_THREADPOOL_SIZE
    t.after(() => {
      if (before == null) delete process.env.UV_THREADPOOL_SIZE
      else process.env.UV_THREADPOOL_SIZE = before
    })
    const expect: Array<[string | undefined, number]> = [
      [undefined, 2], // libuv's default of 4
      ['4', 2], ['6', 2], [String(SYNC_SPARE_THREADS + 5), 5], ['12', 8], ['128', 8],
      ['0', 2], ['-3', 2], ['2.5', 2], ['many', 2]
    ]
    for (const [size, concurrency] of expect) {
      if (size == null) delete process.env.UV_THREADPOOL_SIZE
      else process.env.UV_THREADPOOL_SIZE = size
      assert.equal(syncConcurrency(), concurrency, `UV_THREADPOOL_SIZE=${size}`)
    }
  })
})
