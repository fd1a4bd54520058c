import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import all from 'it-all'
import { collect } from '../../src/swarm/bulk/blocks.js'
import { bulkNode, connect, randomBlock, storeBlocks, transportOf, waitUntil } from './helpers.js'
import type { BulkTestNode, TestBlock } from './helpers.js'
import type { TransportBlock, TransportWantOptions } from '../../src/swarm/transport.js'

const MIB = 1024 * 1024

function assertSame (got: TransportBlock[], want: TestBlock[]): void {
  assert.equal(got.length, want.length)
  const byCid = new Map(got.map(b => [b.cid.toString(), b.bytes]))
  for (const w of want) assert.deepEqual(new Uint8Array(byCid.get(w.cid.toString()) ?? []), new Uint8Array(w.bytes), `block ${w.cid.toString()}`)
}

describe('bulk channel: transfer', () => {
  let a: BulkTestNode
  let b: BulkTestNode
  let plain: BulkTestNode
  let blocks: TestBlock[]

  before(async () => {
    a = await bulkNode()
    b = await bulkNode()
    // a provider without a bulk channel: an older provenir node, or Helia
    plain = await bulkNode({ noListener: true })
    blocks = [...await storeBlocks(a.blockstore, 24, MIB), ...await storeBlocks(a.blockstore, 8, 3000)]
    await connect(b, a)
    await connect(b, plain)
  })

  after(async () => {
    await Promise.all([a, b, plain].map(async n => n?.stop()))
  })

  it('fetches blocks over the bulk channel: each hashed to its CID, stored, from the provider, and nothing over bitswap', async () => {
    const session = transportOf(b).createSession({ peers: [a.peerId] })
    const events: string[] = []
    const got = await all(session.want(blocks.map(x => x.cid), { onProgress: (e) => { events.push(e.type) } }))
    session.close()
    assertSame(got, blocks)
    assert.ok(got.every(x => x.from?.equals(a.peerId)))
    for (const x of blocks) assert.ok(await b.blockstore.has(x.cid))
    assert.equal(events.filter(e => e === 'bulk:block').length, blocks.length)
    // bitswap moved none of it
    assert.equal(a.services.bitswap.ledger(b.peerId)?.bytesSent ?? 0, 0)
    const { outbound } = b.services.bulk.connections(a.peerId)
    assert.ok(outbound >= 1 && outbound <= 2, `outbound bulk connections: ${outbound}`)
    assert.ok(a.services.bulk.connections(b.peerId).inbound <= 2)
  })

  it('blocks of every size around a serving buffer and its header room come whole', async () => {
    // up to 1 MiB a block goes out with its frame header in one buffer; a larger one in two
    const sizes = [1, 63, 64, 65, MIB - 1, MIB, MIB + 1, 1.5 * MIB, 2 * MIB]
    const edge = (await Promise.all(sizes.map(async size => storeBlocks(a.blockstore, 1, size)))).flat()
    const fresh = await bulkNode()
    try {
      await connect(fresh, a)
      const session = transportOf(fresh).createSession({ peers: [a.peerId] })
      const got = await all(session.want(edge.map(x => x.cid)))
      session.close()
      assertSame(got, edge)
      assert.ok(got.every(x => x.from?.equals(a.peerId)))
      assert.equal(a.services.bitswap.ledger(fresh.peerId)?.bytesSent ?? 0, 0)
    } finally {
      await fresh.stop()
    }
  })

  it('a transient caller gets every block right while their buffers are reused', async () => {
    const fresh = await bulkNode()
    try {
      await connect(fresh, a)
      const session = transportOf(fresh).createSession({ peers: [a.peerId], window: 4 })
      const expected = new Map(blocks.map(x => [x.cid.toString(), x.bytes]))
      const before = fresh.services.bulk.receiveBuffers().made
      let n = 0
      for await (const block of session.want(blocks.map(x => x.cid), { transient: true } as TransportWantOptions)) {
        // checked now: once the next block is asked for, these bytes may hold another block
        assert.deepEqual(new Uint8Array(block.bytes), new Uint8Array(expected.get(block.cid.toString()) ?? []))
        n++
      }
      session.close()
      assert.equal(n, blocks.length)
      // (a buffer moves to the hash worker and back as a new object over the same memory: counted, not compared)
      const made = fresh.services.bulk.receiveBuffers().made - before
      assert.ok(made > 0 && made < blocks.length, `the pool made ${made} buffers for ${blocks.length} blocks`)
      for (const x of blocks) assert.deepEqual(new Uint8Array(await all(fresh.blockstore.get(x.cid)).then(c => Buffer.concat(c))), new Uint8Array(x.bytes))
    } finally {
      await fresh.stop()
    }
  })

  it('yields in the order asked when told to, and blocks already held at once', async () => {
    const fresh = await bulkNode()
    try {
      await connect(fresh, a)
      await fresh.blockstore.put(blocks[5].cid, blocks[5].bytes)
      const session = transportOf(fresh).createSession({ peers: [a.peerId], window: 4 })
      const got = await all(session.want(blocks.map(x => x.cid), { ordered: true }))
      session.close()
      assert.deepEqual(got.map(x => x.cid.toString()), blocks.map(x => x.cid.toString()))
      assert.equal(got[5].from, undefined)
      assertSame(got, blocks)
    } finally {
      await fresh.stop()
    }
  })

  it('a block no bulk peer holds comes from the fallback (bitswap) of another peer', async () => {
    const only = await randomBlock(5000)
    await plain.blockstore.put(only.cid, only.bytes)
    const wanted = [blocks[0], only]
    const fresh = await bulkNode()
    try {
      await connect(fresh, a)
      await connect(fresh, plain)
      const session = transportOf(fresh).createSession({ peers: [a.peerId, plain.peerId] })
      const got = await all(session.want(wanted.map(x => x.cid)))
      session.close()
      assertSame(got, wanted)
      assert.ok(got.find(x => x.cid.equals(only.cid))?.from?.equals(plain.peerId))
      assert.ok(got.find(x => x.cid.equals(blocks[0].cid))?.from?.equals(a.peerId))
    } finally {
      await fresh.stop()
    }
  })

  it('a provider without a bulk channel is served by bitswap', async () => {
    const held = await storeBlocks(plain.blockstore, 3, 200_000)
    const session = transportOf(b).createSession({ peers: [plain.peerId] })
    const got = await all(session.want(held.map(x => x.cid)))
    session.close()
    assertSame(got, held)
    assert.ok(got.every(x => x.from?.equals(plain.peerId)))
    assert.deepEqual(b.services.bulk.connections(plain.peerId), { inbound: 0, outbound: 0 })
    assert.ok((plain.services.bitswap.ledger(b.peerId)?.bytesSent ?? 0) >= 600_000)
  })

  it('finds bulk peers through the session\'s providers, as bitswap does', async () => {
    const fresh = await bulkNode()
    try {
      await fresh.peerStore.merge(a.peerId, { multiaddrs: a.getMultiaddrs() })
      const asked: string[] = []
      const session = transportOf(fresh).createSession({
        providers: async function * (cid) {
          asked.push(cid.toString())
          yield a.peerId
        }
      })
      const got = await all(session.want(blocks.slice(0, 6).map(x => x.cid)))
      session.close()
      assertSame(got, blocks.slice(0, 6))
      assert.deepEqual(asked, [blocks[0].cid.toString()])
      assert.ok(fresh.services.bulk.connections(a.peerId).outbound >= 1)
    } finally {
      await fresh.stop()
    }
  })

  it('an announced address on a host the peer is not reached at is not dialled', async () => {
    const announcing = await bulkNode({ bulk: { announce: ['/ip4/127.0.0.2/tcp/1'] } })
    const fresh = await bulkNode()
    try {
      const held = await storeBlocks(announcing.blockstore, 2, 10_000)
      await connect(fresh, announcing)
      const session = transportOf(fresh).createSession({ peers: [announcing.peerId] })
      const got = await all(session.want(held.map(x => x.cid)))
      session.close()
      assertSame(got, held)
      // over the bulk channel, at the host we reach it at: nothing over bitswap
      assert.equal(fresh.services.bulk.connections(announcing.peerId).outbound >= 1, true)
      assert.equal(announcing.services.bitswap.ledger(fresh.peerId)?.bytesSent ?? 0, 0)
    } finally {
      await Promise.all([announcing.stop(), fresh.stop()])
    }
  })

  it('a single want is served by a known bulk peer, else by the fallback', async () => {
    const fresh = await bulkNode()
    try {
      await connect(fresh, a)
      await connect(fresh, plain)
      const transport = transportOf(fresh)
      // a session teaches the transport where a's bulk channel is
      const session = transport.createSession({ peers: [a.peerId] })
      await all(session.want([blocks[1].cid]))
      session.close()
      assert.deepEqual(new Uint8Array(await transport.want(blocks[2].cid, { signal: AbortSignal.timeout(10_000) })), new Uint8Array(blocks[2].bytes))
      const only = await randomBlock(2000)
      await plain.blockstore.put(only.cid, only.bytes)
      assert.deepEqual(new Uint8Array(await transport.want(only.cid, { signal: AbortSignal.timeout(10_000) })), new Uint8Array(only.bytes))
      assert.ok(await fresh.blockstore.has(blocks[2].cid))
    } finally {
      await fresh.stop()
    }
  })

  it('hold stores a block from a known bulk peer, else from the fallback, and resolves at once for one held', async () => {
    const fresh = await bulkNode()
    try {
      await connect(fresh, a)
      await connect(fresh, plain)
      const transport = transportOf(fresh)
      const session = transport.createSession({ peers: [a.peerId] })
      await all(session.want([blocks[1].cid]))
      session.close()
      const signal = AbortSignal.timeout(10_000)
      assert.equal(await fresh.blockstore.has(blocks[3].cid), false)
      await transport.hold(blocks[3].cid, { signal })
      assert.deepEqual(new Uint8Array(await collect(fresh.blockstore.get(blocks[3].cid))), new Uint8Array(blocks[3].bytes))
      assert.ok(fresh.services.bulk.connections(a.peerId).outbound >= 1)
      const only = await randomBlock(2000)
      await plain.blockstore.put(only.cid, only.bytes)
      await transport.hold(only.cid, { signal })
      assert.deepEqual(new Uint8Array(await collect(fresh.blockstore.get(only.cid))), new Uint8Array(only.bytes))
      // over a fallback that finds nothing: a held block resolves, one nobody has fails as a want does
      const stalling = fresh.services.bulk.transport(transportOfStalling(fresh))
      await stalling.hold(blocks[1].cid, { signal })
      const nowhere = await randomBlock()
      await assert.rejects(stalling.hold(nowhere.cid, { signal }), { name: 'BlocksUnavailableError' })
    } finally {
      await fresh.stop()
    }
  })

  it('a want nobody serves fails with the fallback\'s BlocksUnavailableError', async () => {
    const nowhere = await randomBlock()
    const fresh = await bulkNode()
    try {
      await connect(fresh, a)
      const session = fresh.services.bulk.transport(transportOfStalling(fresh)).createSession({ peers: [a.peerId] })
      await assert.rejects(all(session.want([nowhere.cid], { signal: AbortSignal.timeout(20_000) })), { name: 'BlocksUnavailableError' })
      session.close()
    } finally {
      await fresh.stop()
    }
  })

  it('bulk connections close when the libp2p connection to the peer ends', async () => {
    const fresh = await bulkNode()
    try {
      await connect(fresh, a)
      const session = transportOf(fresh).createSession({ peers: [a.peerId] })
      await all(session.want(blocks.slice(0, 4).map(x => x.cid)))
      session.close()
      assert.ok(fresh.services.bulk.connections(a.peerId).outbound >= 1)
      await fresh.hangUp(a.peerId)
      await waitUntil('bulk connections to close on both ends', () =>
        fresh.services.bulk.connections(a.peerId).outbound === 0 && a.services.bulk.connections(fresh.peerId).inbound === 0)
    } finally {
      await fresh.stop()
    }
  })

  it('an idle bulk connection closes after the idle timeout', async () => {
    const fresh = await bulkNode({ bulk: { idleTimeout: 200 } })
    try {
      await connect(fresh, a)
      const session = transportOf(fresh).createSession({ peers: [a.peerId] })
      await all(session.want([blocks[3].cid]))
      session.close()
      await waitUntil('the idle bulk connection to close', () => fresh.services.bulk.connections(a.peerId).outbound === 0 && a.services.bulk.connections(fresh.peerId).inbound === 0)
    } finally {
      await fresh.stop()
    }
  })
})

/** A fallback that never finds anything, failing as the bitswap adapter does once a session stalls */
function transportOfStalling (node: BulkTestNode): ReturnType<typeof transportOf> {
  const fail = (): never => { throw Object.assign(new Error('no provider delivered'), { name: 'BlocksUnavailableError' }) }
  void node
  return {
    name: 'nothing',
    createSession: () => ({
      want: async function * () { fail() },
      addPeer: () => {},
      peers: () => [],
      close: () => {}
    }),
    want: async () => fail(),
    hold: async () => { fail() }
  }
}
