import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { logger } from '@libp2p/logger'
import all from 'it-all'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { BulkConnection } from '../../src/swarm/bulk/client.js'
import { INLINE_HASH_LIMIT } from '../../src/swarm/bulk/constants.js'
import { bulkCredentials } from '../../src/swarm/bulk/tls.js'
import { bulkNode, connect, openBulkConnection, randomBlock, storeBlocks, transportOf, waitUntil } from './helpers.js'
import type { BulkTestNode, TestBlock } from './helpers.js'
import type { TransportWantOptions } from '../../src/swarm/transport.js'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** A provider that holds the blocks and serves every one with its first byte flipped */
class LyingStore extends MemoryBlockstore {
  async readInto (cid: CID, target: Uint8Array, options?: AbortOptions): Promise<Uint8Array> {
    const bytes = await all(this.get(cid, options))
    const out = target.subarray(0, bytes[0].byteLength)
    out.set(bytes[0])
    out[0] ^= 0xff
    return out
  }
}

/** A store that records every buffer the server reads into (it holds only what is put) */
class TargetRecordingStore extends MemoryBlockstore {
  readonly targets = new Set<ArrayBufferLike>()
  async readInto (cid: CID, target: Uint8Array, options?: AbortOptions): Promise<Uint8Array> {
    this.targets.add(target.buffer)
    const bytes = await all(this.get(cid, options))
    const out = target.subarray(0, bytes[0].byteLength)
    out.set(bytes[0])
    return out
  }
}

/** Never settles until `signal` aborts */
async function never (signal?: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    signal?.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
  })
}

/** A provider that says it holds the blocks and never reads one, on either channel */
class StallingStore extends MemoryBlockstore {
  async readInto (_cid: CID, _target: Uint8Array, options?: AbortOptions): Promise<Uint8Array> {
    return never(options?.signal)
  }

  async * get (_cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    yield await never(options?.signal)
  }
}

describe('bulk channel: lying, stalled and rotted providers', () => {
  let honest: BulkTestNode
  let blocks: TestBlock[]
  /** blocks hashed on the event loop as they arrive, not on the hash worker */
  let small: TestBlock[]

  before(async () => {
    honest = await bulkNode()
    blocks = await storeBlocks(honest.blockstore, 12, 256 * 1024)
    small = await storeBlocks(honest.blockstore, 12, INLINE_HASH_LIMIT / 2)
  })

  after(async () => {
    await honest?.stop()
  })

  it('a provider that sends wrong bytes is cut off on both channels, banned, and the blocks come from an honest one', async () => {
    const lying = new LyingStore()
    for (const b of blocks) await lying.put(b.cid, b.bytes)
    const rogueKey = await generateKeyPair('Ed25519')
    const rogue = await bulkNode({ blockstore: lying, privateKey: rogueKey })
    const puller = await bulkNode()
    try {
      await connect(puller, rogue)
      await connect(puller, honest)
      const session = transportOf(puller).createSession({ peers: [rogue.peerId, honest.peerId] })
      const got = await all(session.want(blocks.map(b => b.cid), { signal: AbortSignal.timeout(30_000) }))
      session.close()
      assert.equal(got.length, blocks.length)
      for (const b of blocks) {
        const block = got.find(g => g.cid.equals(b.cid))
        assert.deepEqual(new Uint8Array(block?.bytes ?? []), new Uint8Array(b.bytes))
        assert.ok(block?.from?.equals(honest.peerId))
      }
      // bitswap's bad-peer mechanism ran: penalised, and its libp2p connection hung up
      const ledger = puller.services.bitswap.ledger(rogue.peerId)
      assert.ok((ledger?.badBlocks ?? 0) >= 1, 'the bad block is in bitswap\'s ledger')
      await waitUntil('the rogue to be disconnected', () => puller.getConnections(rogue.peerId).length === 0)
      assert.equal(puller.services.bulk.connections(rogue.peerId).outbound, 0)
      // banned: a later session asks it nothing over the bulk channel
      const again = transportOf(puller).createSession({ peers: [rogue.peerId, honest.peerId] })
      const more = await randomBlock(5000)
      await honest.blockstore.put(more.cid, more.bytes)
      await lying.put(more.cid, more.bytes)
      const next = await all(again.want([more.cid], { signal: AbortSignal.timeout(30_000) }))
      again.close()
      assert.ok(next[0].from?.equals(honest.peerId))
      assert.equal(puller.services.bulk.connections(rogue.peerId).outbound, 0)
      // nor is it served by the puller's listener, though connected again over libp2p
      await connect(rogue, puller)
      await assert.rejects(BulkConnection.open({ peer: puller.peerId, ...puller.services.bulk.address!, credentials: await bulkCredentials(rogueKey), maxBlockSize: 2 << 20, stallTimeout: 10_000, queuedTimeout: 60_000, idleTimeout: 10_000, signal: AbortSignal.timeout(10_000), log: logger('test') }), { name: 'BulkRefusedError' })
    } finally {
      await Promise.all([rogue.stop(), puller.stop()])
    }
  })

  for (const kind of ['pooled', 'small'] as const) {
    it(`a transient caller's blocks catch a liar as well: ${kind === 'pooled' ? 'received into reused buffers, hashed on the hash worker' : `blocks under ${INLINE_HASH_LIMIT} bytes, hashed as they arrive`}`, async () => {
      const wanted = kind === 'pooled' ? blocks : small
      const lying = new LyingStore()
      for (const b of wanted) await lying.put(b.cid, b.bytes)
      const rogue = await bulkNode({ blockstore: lying })
      const puller = await bulkNode()
      try {
        await connect(puller, rogue)
        await connect(puller, honest)
        const session = transportOf(puller).createSession({ peers: [rogue.peerId, honest.peerId] })
        let n = 0
        for await (const block of session.want(wanted.map(b => b.cid), { signal: AbortSignal.timeout(30_000), transient: true } as TransportWantOptions)) {
          const want = wanted.find(b => b.cid.equals(block.cid))
          assert.deepEqual(new Uint8Array(block.bytes), new Uint8Array(want?.bytes ?? []))
          assert.ok(block.from?.equals(honest.peerId))
          n++
        }
        session.close()
        assert.equal(n, wanted.length)
        assert.ok((puller.services.bitswap.ledger(rogue.peerId)?.badBlocks ?? 0) >= 1)
        await waitUntil('the rogue to be disconnected', () => puller.getConnections(rogue.peerId).length === 0)
      } finally {
        await Promise.all([rogue.stop(), puller.stop()])
      }
    })
  }

  it('a provider that stops answering loses its wants to another after the stall timeout', async () => {
    const stalling = new StallingStore()
    for (const b of blocks) await stalling.put(b.cid, b.bytes)
    const staller = await bulkNode({ blockstore: stalling, bulk: { blockstoreTimeout: 60_000 } })
    const puller = await bulkNode({ bulk: { stallTimeout: 1_000 } })
    try {
      await connect(puller, staller)
      await connect(puller, honest)
      const session = transportOf(puller).createSession({ peers: [staller.peerId, honest.peerId] })
      const got = await all(session.want(blocks.map(b => b.cid), { signal: AbortSignal.timeout(30_000) }))
      session.close()
      assert.equal(got.length, blocks.length)
      assert.ok(got.every(g => g.from?.equals(honest.peerId)), got.map(g => String(g.from?.equals(staller.peerId) ? 'staller' : g.from?.equals(honest.peerId) ? 'honest' : g.from)).join(','))
      assert.equal(puller.services.bulk.connections(staller.peerId).outbound, 0)
      // a stall is no lie: nobody is penalised
      assert.equal(puller.services.bitswap.ledger(staller.peerId)?.badBlocks ?? 0, 0)
    } finally {
      await Promise.all([staller.stop(), puller.stop()])
    }
  })

  it('a server answering DONT_HAVE gives the buffer it read into back: 64 misses and 8 blocks use no more than its read-ahead', async () => {
    const key = await generateKeyPair('Ed25519')
    const store = new TargetRecordingStore()
    const provider = await bulkNode({ blockstore: store })
    const puller = await bulkNode({ privateKey: key })
    try {
      const held = await storeBlocks(store, 8, 100_000)
      const missing = await Promise.all(Array.from({ length: 64 }, async () => randomBlock(1000)))
      await connect(puller, provider)
      const conn = await openBulkConnection(provider, key)
      try {
        // asked one at a time: each is read and answered before the next
        for (const m of missing) assert.deepEqual(await conn.request(m.cid), { kind: 'dont-have' })
        for (const h of held) assert.equal((await conn.request(h.cid)).kind, 'block')
      } finally {
        conn.close()
      }
      // before, each DONT_HAVE kept its buffer from the pool, and the next read took a fresh one
      assert.ok(store.targets.size <= 4, `${store.targets.size} buffers for 72 reads`)
    } finally {
      await Promise.all([provider.stop(), puller.stop()])
    }
  })

  it('a block rotted on the provider\'s disk is answered DONT_HAVE, not sent: the provider is not taken for a liar', async () => {
    const key = await generateKeyPair('Ed25519')
    const rotten = await bulkNode()
    const puller = await bulkNode({ privateKey: key })
    try {
      const [block] = await storeBlocks(rotten.blockstore, 1, 100_000)
      // flip a byte of the one block file, same length
      const shards = join(rotten.dir, 'blocks')
      for (const shard of await readdir(shards)) {
        for (const name of await readdir(join(shards, shard))) {
          const file = join(shards, shard, name)
          const bytes = await readFile(file)
          bytes[10] ^= 0xff
          await writeFile(file, bytes)
        }
      }
      const [good] = await storeBlocks(rotten.blockstore, 1, 100_000)
      await connect(puller, rotten)
      const conn = await openBulkConnection(rotten, key)
      try {
        assert.deepEqual(await conn.request(block.cid), { kind: 'dont-have' })
        const served = await conn.request(good.cid)
        assert.equal(served.kind, 'block')
        assert.deepEqual(new Uint8Array(served.kind === 'block' ? served.bytes : []), new Uint8Array(good.bytes))
      } finally {
        conn.close()
      }
    } finally {
      await Promise.all([rotten.stop(), puller.stop()])
    }
  })
})
