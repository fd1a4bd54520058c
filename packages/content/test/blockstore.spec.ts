import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { FsBlockstore, blockPath } from '../src/blockstore-fs.js'
import { LevelBlockstore } from '../src/blockstore-level.js'
import { blockstoreSuite, contentBlockstoreSuite } from './blockstore-suite.js'
import { makeBlock, tempDir } from './fixtures.js'
import type { StoreHandle } from './blockstore-suite.js'

async function levelStore (): Promise<StoreHandle<LevelBlockstore>> {
  const dir = await tempDir()
  const store = new LevelBlockstore({ path: dir.path })
  await store.open()
  return {
    store,
    teardown: async () => { await store.close(); await dir.remove() },
    // level keeps the bytes itself: swap them in unchecked, under the same index entry
    corrupt: async (cid, bytes) => { await store.delete(cid); await store.put(cid, bytes, { verify: false }) }
  }
}

async function fsStore (): Promise<StoreHandle<FsBlockstore>> {
  const dir = await tempDir()
  const store = new FsBlockstore({ path: dir.path })
  await store.open()
  return {
    store,
    teardown: async () => { await store.close(); await dir.remove() },
    corrupt: async (cid, bytes) => {
      const { shard, name } = blockPath(cid.multihash.bytes)
      await writeFile(join(dir.path, 'blocks', shard, name), bytes)
    }
  }
}

blockstoreSuite('MemoryBlockstore (reference)', async () => ({ store: new MemoryBlockstore(), teardown: async () => {} }))
blockstoreSuite('LevelBlockstore', levelStore)
blockstoreSuite('FsBlockstore', fsStore)
contentBlockstoreSuite('LevelBlockstore', levelStore)
contentBlockstoreSuite('FsBlockstore', fsStore)

describe('blockstore config', () => {
  it('refuses an invalid maxBlockSize or a missing path with InvalidConfigError', () => {
    assert.throws(() => new LevelBlockstore({ path: '/tmp/unused', maxBlockSize: 0 }), { name: 'InvalidConfigError' })
    assert.throws(() => new FsBlockstore({ path: '/tmp/unused', maxBlockSize: 1.5 }), { name: 'InvalidConfigError' })
    assert.throws(() => new FsBlockstore({ path: '' }), { name: 'InvalidConfigError' })
    assert.throws(() => new LevelBlockstore({ path: '' }), { name: 'InvalidConfigError' })
  })

  it('honours a smaller maxBlockSize', async () => {
    const dir = await tempDir()
    const store = new FsBlockstore({ path: dir.path, maxBlockSize: 1024 })
    await store.open()
    try {
      const small = await makeBlock(1024)
      const big = await makeBlock(1025)
      await store.put(small.cid, small.bytes)
      await assert.rejects(store.put(big.cid, big.bytes), { name: 'BlockTooLargeError' })
    } finally {
      await store.close()
      await dir.remove()
    }
  })
})
