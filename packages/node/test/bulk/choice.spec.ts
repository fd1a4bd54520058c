import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import * as dagPb from '@ipld/dag-pb'
import all from 'it-all'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { MAX_MISSES_PER_BLOCK, REDIRECT_MIN_SIZE, SEED_MIN_HITS } from '../../src/swarm/bulk/constants.js'
import { bulkNode, connect, storeBlocks, transportOf, waitUntil } from './helpers.js'
import type { BulkTestNode, TestBlock } from './helpers.js'
import type { TransportSession } from '../../src/swarm/transport.js'
import type { PeerId } from '@libp2p/interface'

/** A dag-pb node (a blob DAG's inner node) of `size` random bytes of data, stored in each of `stores` */
async function dagNode (stores: BulkTestNode[], size = 2048): Promise<TestBlock> {
  const bytes = dagPb.encode(dagPb.prepare({ Data: randomBytes(size), Links: [] }))
  const cid = CID.createV1(dagPb.code, await sha256.digest(bytes))
  for (const n of stores) await n.blockstore.put(cid, bytes)
  return { cid, bytes }
}

describe('bulk channel: which peer a DAG node is asked of', () => {
  let origin: BulkTestNode
  let holder: BulkTestNode
  let puller: BulkTestNode

  before(async () => {
    origin = await bulkNode()
    holder = await bulkNode()
    puller = await bulkNode()
    await Promise.all([connect(puller, origin), connect(puller, holder)])
  })

  after(async () => {
    await Promise.all([origin, holder, puller].map(async n => n?.stop()))
  })

  it('a peer already connected over the bulk channel, not one that needs a dial, while both hold it', async () => {
    // as in a rollout's pull: the session has had blocks from the origin, knows where a puller's
    // channel is without having dialled it, and has a request in flight to the origin when it asks
    // for a blob's root. By the score alone (hits over requests in flight) the puller would be asked.
    const [first, busy] = await storeBlocks(origin.blockstore, 2, 256 * 1024)
    const node = await dagNode([origin, holder])
    const session = transportOf(puller).createSession({ peers: [origin.peerId] })
    await all(session.want([first.cid]))
    assert.equal(puller.services.bulk.connections(origin.peerId).outbound, 1)
    session.addPeer(holder.peerId)
    await waitUntil('the holder\'s channel is known', () => (puller.services.bulk as unknown as { peers: { usable(peer: PeerId): boolean | undefined } }).peers.usable(holder.peerId) === true)
    await sleep(20)
    const got = await all(session.want([busy.cid, node.cid]))
    session.close()
    const dag = got.find(g => g.cid.equals(node.cid))
    assert.deepEqual(new Uint8Array(dag?.bytes ?? []), new Uint8Array(node.bytes))
    assert.ok(dag?.from?.equals(origin.peerId), `the DAG node came from ${dag?.from?.toString() ?? 'nobody'}`)
    assert.equal(puller.services.bulk.connections(holder.peerId).outbound, 0, 'the holder was never dialled')
    assert.equal(holder.services.bulk.served().blocks, 0)
  })

  it('a DAG node only an unconnected peer holds is still asked of it, once the connected one lacks it', async () => {
    const node = await dagNode([holder])
    const session = transportOf(puller).createSession({ peers: [origin.peerId, holder.peerId] })
    const [got] = await all(session.want([node.cid]))
    session.close()
    assert.deepEqual(new Uint8Array(got.bytes), new Uint8Array(node.bytes))
    assert.ok(got.from?.equals(holder.peerId))
    assert.equal(puller.services.bulk.connections(holder.peerId).outbound, 1)
  })
})

describe('bulk channel: a block the pullers lacked goes to the origin, not to bitswap', () => {
  const nodes: BulkTestNode[] = []
  let origin: BulkTestNode
  let relay: BulkTestNode
  let puller: BulkTestNode
  let lackers: BulkTestNode[]

  before(async () => {
    origin = await bulkNode()
    relay = await bulkNode()
    puller = await bulkNode()
    lackers = await Promise.all(Array.from({ length: MAX_MISSES_PER_BLOCK }, async () => bulkNode()))
    nodes.push(origin, relay, puller, ...lackers)
    await Promise.all([connect(relay, origin), connect(puller, origin), connect(puller, relay), ...lackers.map(async l => connect(puller, l))])
  })

  after(async () => {
    await Promise.all(nodes.map(async n => n.stop()))
  })

  /** The relay fetches `blocks` from the origin, which then names it to later askers */
  async function relayFetches (blocks: TestBlock[]): Promise<void> {
    const relayed = transportOf(relay).createSession({ peers: [origin.peerId] })
    await all(relayed.want(blocks.map(b => b.cid)))
    relayed.close()
  }

  /** The lackers join `session`, their bulk channels known */
  async function lackersJoin (session: TransportSession): Promise<void> {
    for (const l of lackers) session.addPeer(l.peerId)
    const bulkPeers = puller.services.bulk as unknown as { peers: { usable(peer: PeerId): boolean | undefined } }
    await waitUntil('the lackers\' channels are known', () => lackers.every(l => bulkPeers.peers.usable(l.peerId) === true))
    await sleep(20)
  }

  /** Two blocks only the origin holds, each wanted alone: each comes from the origin over the bulk channel */
  async function onlyTheOriginHolds (session: TransportSession): Promise<void> {
    const only = await storeBlocks(origin.blockstore, 2, REDIRECT_MIN_SIZE)
    const sentBefore = origin.services.bulk.served().blocks
    for (const b of only) {
      const [got] = await all(session.want([b.cid]))
      assert.deepEqual(new Uint8Array(got.bytes), new Uint8Array(b.bytes))
      assert.ok(got.from?.equals(origin.peerId), `from ${got.from?.toString() ?? 'nobody'}`)
    }
    assert.equal(origin.services.bulk.served().blocks, sentBefore + only.length, 'the origin sent each block over the bulk channel')
  }

  it(`a block ${MAX_MISSES_PER_BLOCK} pullers lacked goes to it over the bulk channel, not to bitswap`, async () => {
    // as in a rollout on slow links: the origin answered this puller only by naming holders (it had
    // sent each block to another puller), so it never sent it a block; the pullers, asked for a
    // block only the origin holds, answer DONT_HAVE. Counted as held blocks, the origin's redirects
    // make it a seed, which is asked once the pullers lacked the block; counted as nothing, it was
    // no seed, and the block went to bitswap, whose want-have fetched it from the origin as a
    // second copy.
    // more than a seed's answers: a want added once the relay is known (the puller's feed is slow
    // under load) goes to the relay without a redirect
    const named = await storeBlocks(origin.blockstore, SEED_MIN_HITS + 4, REDIRECT_MIN_SIZE)
    const warm = await storeBlocks(origin.blockstore, 2 * lackers.length, REDIRECT_MIN_SIZE)
    await relayFetches([...named, ...warm])
    const session = transportOf(puller).createSession({ peers: [origin.peerId] })
    const redirectsBefore = origin.services.bulk.served().redirects
    const got = await all(session.want(named.map(b => b.cid)))
    assert.ok(got.every(g => g.from?.equals(relay.peerId) === true), 'the origin named the relay for each block')
    const redirects = origin.services.bulk.served().redirects - redirectsBefore
    assert.ok(redirects >= SEED_MIN_HITS && redirects <= named.length, `the origin named holders ${redirects} times`)
    await lackersJoin(session)
    // the pullers sent this session blocks before (the first wants go one to each peer): each
    // answered more of its wants with a block than the origin, which named the relay again
    for (const l of lackers) for (const b of warm) await l.blockstore.put(b.cid, b.bytes)
    await all(session.want(warm.map(b => b.cid)))
    await onlyTheOriginHolds(session)
    session.close()
  })

  it(`early in a pull, a block ${MAX_MISSES_PER_BLOCK} pullers lacked goes to a peer that held every block asked of it, not to bitswap`, async () => {
    // the origin named holders for the few wants it was asked (fewer than a seed's answers, none
    // DONT_HAVE); each puller answered one or more with a block. The pullers lack the next block.
    const warm = await storeBlocks(origin.blockstore, 2 * lackers.length, REDIRECT_MIN_SIZE)
    await relayFetches(warm)
    for (const l of lackers) for (const b of warm) await l.blockstore.put(b.cid, b.bytes)
    const session = transportOf(puller).createSession({ peers: [origin.peerId] })
    await lackersJoin(session)
    const redirectsBefore = origin.services.bulk.served().redirects
    await all(session.want(warm.map(b => b.cid)))
    const redirects = origin.services.bulk.served().redirects - redirectsBefore
    assert.ok(redirects > 0 && redirects < SEED_MIN_HITS, `the origin named holders ${redirects} times`)
    await onlyTheOriginHolds(session)
    session.close()
  })

  it(`a block ${MAX_MISSES_PER_BLOCK} pullers lacked goes to a peer this session has not asked anything yet (an origin found after the pullers), not to bitswap`, async () => {
    // the pullers sent this session blocks before; the origin joined it since and was asked
    // nothing: it is neither a seed nor a peer that held every block asked of it, yet it may hold
    // the block. Left out, the block went to bitswap, whose want-have fetched it from the origin
    // outside its upload slots (the lab's slowest rollouts, BENCHMARKS.md)
    const warm = await storeBlocks(origin.blockstore, 3 * lackers.length, REDIRECT_MIN_SIZE)
    for (const l of lackers) for (const b of warm) await l.blockstore.put(b.cid, b.bytes)
    const session = transportOf(puller).createSession({ peers: [] })
    await lackersJoin(session)
    const got = await all(session.want(warm.map(b => b.cid)))
    assert.ok(got.every(g => lackers.some(l => g.from?.equals(l.peerId) === true)), 'the pullers sent the first blocks')
    session.addPeer(origin.peerId)
    await sleep(50)
    await onlyTheOriginHolds(session)
    session.close()
  })
})
