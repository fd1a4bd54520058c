import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import all from 'it-all'
import { hashTransferring } from '@provenir/content'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { LOST_CONNECTION_GRACE, MAX_FALLBACK_RETRIES, MAX_MISSES_PER_BLOCK } from '../../src/swarm/bulk/constants.js'
import { bulkNode, connect, randomBlock, slowReads, storeBlocks, waitUntil } from './helpers.js'
import type { BulkTestNode, TestBlock } from './helpers.js'
import type { BlockTransport } from '../../src/swarm/transport.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * An origin whose uplink is starved, as at 25 Mbit/s among 16 pullers: it
 * holds the blocks and reads none while `stalling`, on either channel
 */
class StarvedStore extends MemoryBlockstore {
  stalling = true

  async readInto (cid: CID, target: Uint8Array, options?: AbortOptions): Promise<Uint8Array> {
    const bytes = await all(this.get(cid, options))
    const out = target.subarray(0, bytes[0].byteLength)
    out.set(bytes[0])
    return out
  }

  async * get (cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    while (this.stalling) {
      options?.signal?.throwIfAborted()
      await sleep(20)
    }
    yield * super.get(cid, options)
  }
}

/**
 * A fallback that finds nothing: after `delay` ms each want fails as the
 * bitswap adapter does once its session stalls. `onWant` sees each want's CIDs.
 */
function givingUp (delay: number, onWant: (cids: CID[]) => void): BlockTransport {
  const fail = (): never => { throw Object.assign(new Error('No block arrived for 60000 ms'), { name: 'BlocksUnavailableError' }) }
  return {
    name: 'giving-up',
    createSession: () => ({
      async * want (cids) {
        const list: CID[] = []
        for await (const cid of cids) list.push(cid)
        onWant(list)
        await sleep(delay)
        fail()
      },
      addPeer: () => {},
      peers: () => [],
      close: () => {}
    }),
    want: async (cid) => {
      onWant([cid])
      await sleep(delay)
      return fail()
    },
    hold: async (cid) => {
      onWant([cid])
      await sleep(delay)
      fail()
    }
  }
}

describe('bulk channel: blocks the fallback gave up on', () => {
  let store: StarvedStore
  let origin: BulkTestNode
  let blocks: TestBlock[]

  before(async () => {
    store = new StarvedStore()
    origin = await bulkNode({ blockstore: store, bulk: { blockstoreTimeout: 60_000 } })
    blocks = await storeBlocks(store, 4, 64 * 1024)
  })

  after(async () => {
    await origin?.stop()
  })

  it('go back to the bulk peer whose channel stalled once its backoff ends, and the pull completes from it', async () => {
    store.stalling = true
    // the bulk connection stalls, the origin backs off for a second, and the blocks go to the fallback
    const puller = await bulkNode({ bulk: { stallTimeout: 500, failureBackoff: 1_000 } })
    const asked: CID[] = []
    try {
      await connect(puller, origin)
      const fallback = givingUp(200, cids => {
        asked.push(...cids)
        // the origin's link recovers while bitswap finds nothing
        store.stalling = false
      })
      const session = puller.services.bulk.transport(fallback).createSession({ peers: [origin.peerId] })
      const started = Date.now()
      const got = await all(session.want(blocks.map(b => b.cid), { signal: AbortSignal.timeout(20_000) }))
      session.close()
      assert.equal(got.length, blocks.length)
      assert.ok(got.every(g => g.from?.equals(origin.peerId)), 'every block from the origin over the bulk channel')
      for (const b of blocks) assert.deepEqual(await all(puller.blockstore.get(b.cid)), [b.bytes])
      // blocks went to the fallback, once each, and came from the origin after its backoff (a block
      // asked on a second connection, which stalls later, may find the origin recovered already)
      const wanted = new Set(blocks.map(b => b.cid.toString()))
      assert.ok(asked.length > 0 && asked.every(c => wanted.has(c.toString())), `${asked.length} blocks asked of the fallback`)
      assert.equal(new Set(asked.map(c => c.toString())).size, asked.length)
      assert.ok(Date.now() - started >= 1_000, `${Date.now() - started} ms: not before the backoff ended`)
    } finally {
      store.stalling = false
      await puller.stop()
    }
  })

  it(`are asked of every bulk peer, a peer that lacked blocks before too, once ${MAX_MISSES_PER_BLOCK} pullers lacked them again`, async () => {
    // as in the 10 Mbit/s lab: bitswap gave up on a block the origin holds; the origin is no seed
    // for this puller (it lacked blocks asked of it), and the pullers asked first lack the block
    store.stalling = false
    const puller = await bulkNode()
    const lackers = await Promise.all(Array.from({ length: MAX_MISSES_PER_BLOCK }, async () => bulkNode()))
    const asked: string[] = []
    try {
      await Promise.all([connect(puller, origin), ...lackers.map(async l => connect(puller, l))])
      const session = puller.services.bulk.transport(givingUp(100, cids => { asked.push(...cids.map(String)) })).createSession({ peers: [origin.peerId] })
      // a block nobody holds: the origin lacks it in every round, and the want fails
      const nowhere = await randomBlock()
      await assert.rejects(all(session.want([nowhere.cid], { signal: AbortSignal.timeout(20_000) })), { name: 'BlocksUnavailableError' })
      for (const l of lackers) session.addPeer(l.peerId)
      const bulkPeers = puller.services.bulk as unknown as { peers: { usable(peer: PeerId): boolean | undefined } }
      await waitUntil('the lackers\' channels are known', () => lackers.every(l => bulkPeers.peers.usable(l.peerId) === true))
      asked.length = 0
      const [got] = await all(session.want([blocks[0].cid], { signal: AbortSignal.timeout(20_000) }))
      session.close()
      assert.ok(got.from?.equals(origin.peerId), `from ${got.from?.toString() ?? 'nobody'}`)
      assert.deepEqual(asked, [blocks[0].cid.toString()], 'bitswap was asked once, and gave up')
    } finally {
      await Promise.all([puller, ...lackers].map(async n => n.stop()))
    }
  })

  it('a single want (a gateway\'s, a manifest\'s) goes back to the bulk peers, who may hold the block by then', async () => {
    store.stalling = false
    const puller = await bulkNode()
    const asked: string[] = []
    try {
      await connect(puller, origin)
      const bulkPeers = puller.services.bulk as unknown as { peers: { probe(peer: PeerId): Promise<boolean> } }
      const late = await randomBlock(64 * 1024)
      const transport = puller.services.bulk.transport(givingUp(100, cids => {
        asked.push(...cids.map(String))
        // the origin gets the block while bitswap finds nothing
        void store.put(late.cid, late.bytes)
      }))
      assert.equal(await bulkPeers.peers.probe(origin.peerId), true, 'the origin\'s channel is known')
      const bytes = await transport.want(late.cid, { signal: AbortSignal.timeout(20_000) })
      assert.deepEqual(new Uint8Array(bytes), new Uint8Array(late.bytes))
      assert.deepEqual(asked, [late.cid.toString()], 'bitswap was asked once, and gave up')
      // one nobody holds: every round, then the fallback's error
      asked.length = 0
      const nowhere = await randomBlock()
      await assert.rejects(transport.hold(nowhere.cid, { signal: AbortSignal.timeout(20_000) }), { name: 'BlocksUnavailableError' })
      assert.deepEqual(asked, Array.from({ length: 1 + MAX_FALLBACK_RETRIES }, () => nowhere.cid.toString()))
    } finally {
      await puller.stop()
    }
  })

  it(`fail the want with the fallback's error once it gave up ${1 + MAX_FALLBACK_RETRIES} times, when the bulk peer never recovers`, async () => {
    store.stalling = true
    const puller = await bulkNode({ bulk: { stallTimeout: 300, failureBackoff: 500 } })
    const asked = new Map<string, number>()
    try {
      await connect(puller, origin)
      const fallback = givingUp(100, cids => { for (const c of cids) asked.set(c.toString(), (asked.get(c.toString()) ?? 0) + 1) })
      const session = puller.services.bulk.transport(fallback).createSession({ peers: [origin.peerId] })
      const started = Date.now()
      await assert.rejects(all(session.want([blocks[0].cid], { signal: AbortSignal.timeout(30_000) })), { name: 'BlocksUnavailableError' })
      session.close()
      assert.deepEqual([...asked.entries()], [[blocks[0].cid.toString(), 1 + MAX_FALLBACK_RETRIES]])
      // each round: a stall timeout, the fallback's delay, and the wait for the backoff; not the want's own timeout
      assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`)
    } finally {
      store.stalling = false
      await puller.stop()
    }
  })
})

describe('bulk channel: this node\'s own failures', () => {
  it('a block whose hashing failed here (the hash worker crashed) is asked of the same peer again, which is not backed off', async () => {
    const origin = await bulkNode()
    // blocks large enough to be hashed on the worker, small enough for the pooled buffers
    const blocks = await storeBlocks(origin.blockstore, 4, 256 * 1024)
    let calls = 0
    const puller = await bulkNode({
      bulk: {
        hashBlock: async (bytes, algorithm) => {
          // the first two fail as a worker that exited does: the buffer is lost with it
          if (++calls <= 2) throw Object.assign(new Error('worker hash-worker.js exited with code 1'), { name: 'WorkerFailedError' })
          return hashTransferring(bytes, algorithm)
        }
      }
    })
    const asked: string[] = []
    try {
      await connect(puller, origin)
      const session = puller.services.bulk.transport(givingUp(100, cids => { asked.push(...cids.map(String)) })).createSession({ peers: [origin.peerId] })
      const got = await all(session.want(blocks.map(b => b.cid), { signal: AbortSignal.timeout(20_000) }))
      session.close()
      assert.equal(got.length, blocks.length)
      assert.ok(got.every(g => g.from?.equals(origin.peerId)), 'every block from the origin over the bulk channel')
      for (const b of blocks) assert.deepEqual(await all(puller.blockstore.get(b.cid)), [b.bytes])
      assert.deepEqual(asked, [], 'nothing went to the fallback')
      assert.ok(calls >= blocks.length + 2, `${calls} blocks hashed`)
      const bulkPeers = puller.services.bulk as unknown as { peers: { usable(peer: PeerId): boolean | undefined } }
      assert.equal(bulkPeers.peers.usable(origin.peerId), true, 'the origin is not backed off for this node\'s failure')
    } finally {
      await Promise.all([puller.stop(), origin.stop()])
    }
  })
})

describe('bulk channel: a libp2p connection lost and back', () => {
  interface PeersView { usable(peer: PeerId): boolean | undefined, request(peer: PeerId, cid: CID, signal: AbortSignal): Promise<{ kind: string }> }
  const peersOf = (node: BulkTestNode): PeersView => (node.services.bulk as unknown as { peers: PeersView }).peers

  it('a peer whose bulk connection ended with its libp2p connection is used again as soon as it is connected again, not after the backoff', async () => {
    const origin = await bulkNode()
    const blocks = await storeBlocks(origin.blockstore, 2, 64 * 1024)
    const read = slowReads(origin, 1_000)
    // the default backoff (30 s) would outlast the test
    const puller = await bulkNode({ bulk: { failureBackoff: 60_000 } })
    const peers = peersOf(puller)
    try {
      await connect(puller, origin)
      const lost = peers.request(origin.peerId, blocks[0].cid, AbortSignal.timeout(10_000))
      lost.catch(() => {})
      await waitUntil('the origin to be reading the block', () => read.has(blocks[0].cid.toString()))
      await origin.hangUp(puller.peerId)
      await assert.rejects(lost)
      await waitUntil('the puller to back off', () => peers.usable(origin.peerId) === false)
      await connect(puller, origin)
      await waitUntil('the backoff to end with the reconnect', () => peers.usable(origin.peerId) !== false, 5_000)
      const answer = await peers.request(origin.peerId, blocks[1].cid, AbortSignal.timeout(10_000))
      assert.equal(answer.kind, 'block')
    } finally {
      await Promise.all([puller.stop(), origin.stop()])
    }
  })

  it('a failure of the channel alone (a stall) keeps its backoff across a reconnect', async () => {
    const origin = await bulkNode()
    const blocks = await storeBlocks(origin.blockstore, 1, 64 * 1024)
    slowReads(origin, 2_000)
    const puller = await bulkNode({ bulk: { failureBackoff: 60_000, stallTimeout: 300 } })
    const peers = peersOf(puller)
    try {
      await connect(puller, origin)
      await assert.rejects(peers.request(origin.peerId, blocks[0].cid, AbortSignal.timeout(10_000)), { name: 'BulkStalledError' })
      assert.equal(peers.usable(origin.peerId), false)
      // past LOST_CONNECTION_GRACE: the stall is not the disconnect's
      await sleep(LOST_CONNECTION_GRACE + 200)
      await origin.hangUp(puller.peerId)
      await waitUntil('the puller to see the disconnect', () => puller.getConnections(origin.peerId).length === 0)
      await connect(puller, origin)
      await sleep(200)
      assert.equal(peers.usable(origin.peerId), false)
    } finally {
      await Promise.all([puller.stop(), origin.stop()])
    }
  })
})
