import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import all from 'it-all'
import { BUSY_RETRY, MAX_FETCH_WAITS, REDIRECT_MIN_SIZE } from '../../src/swarm/bulk/constants.js'
import { bulkNode, connect, openBulkConnection, slowReads, storeBlocks, transportOf, waitUntil } from './helpers.js'
import type { BulkTestNode, TestBlock } from './helpers.js'
import type { TransportSession } from '../../src/swarm/transport.js'
import type { BulkConnection } from '../../src/swarm/bulk/client.js'

/** How long the origin takes to read each block it holds (ms) */
const READ_DELAY = 600

describe('bulk channel: a want of a block the server is fetching itself', () => {
  /** `puller` fetching `blocks` from `origin`; resolves once the origin began reading the first (slowly) */
  async function fetching (puller: BulkTestNode, origin: BulkTestNode, reads: Set<string>, blocks: TestBlock[]): Promise<{ pulled: Promise<unknown> }> {
    const session = transportOf(puller).createSession({ peers: [origin.peerId] })
    const done = all(session.want(blocks.map(b => b.cid))).finally(() => { session.close() })
    await waitUntil('the origin reading the block', () => reads.has(blocks[0].cid.toString()))
    // wrapped: an async function's promise would take on this one's, resolving when the pull ends
    return { pulled: done }
  }

  it('is answered with the block once it lands, not DONT_HAVE; a block not being fetched is DONT_HAVE at once', async () => {
    const origin = await bulkNode()
    const puller = await bulkNode()
    const key = await generateKeyPair('Ed25519')
    const asker = await bulkNode({ privateKey: key })
    try {
      const [block, other] = await storeBlocks(origin.blockstore, 2, REDIRECT_MIN_SIZE)
      await Promise.all([connect(puller, origin), connect(asker, puller)])
      const reads = slowReads(origin, READ_DELAY)
      // opened first: a connection's first certificate takes a while to make
      const conn = await openBulkConnection(puller, key)
      const { pulled } = await fetching(puller, origin, reads, [block])
      try {
        const t0 = Date.now()
        const [answer, miss] = await Promise.all([
          conn.request(block.cid, { earlyDontHave: true, signal: AbortSignal.timeout(10_000) }),
          conn.request(other.cid, { earlyDontHave: true, signal: AbortSignal.timeout(10_000) }).then(a => ({ ...a, at: Date.now() - t0 }))
        ])
        assert.equal(answer.kind, 'block')
        assert.deepEqual(new Uint8Array(answer.kind === 'block' ? answer.bytes : []), new Uint8Array(block.bytes))
        assert.equal(miss.kind, 'dont-have')
        assert.ok(miss.at < READ_DELAY, `the block not being fetched was answered after ${miss.at} ms, behind the one waited for`)
        // the same for a client that takes answers only in order: the want waits in its place
        const again = await storeBlocks(origin.blockstore, 1, REDIRECT_MIN_SIZE)
        const { pulled: pulledAgain } = await fetching(puller, origin, reads, again)
        const inOrder = await conn.request(again[0].cid, { signal: AbortSignal.timeout(10_000) })
        assert.equal(inOrder.kind, 'block')
        await pulledAgain
      } finally {
        conn.close()
        await pulled
      }
      assert.equal(puller.services.bulk.served().blocks, 2)
    } finally {
      await Promise.all([origin, puller, asker].map(async n => n.stop()))
    }
  })

  /**
   * An origin holding one block, which it reads for READ_DELAY x 2 ms; a
   * puller fetching it, whose listener waits `inFlightWait` ms for it per
   * want; an asker's connection to the puller
   */
  async function askWhileFetching (inFlightWait: number | undefined, test: (t: { puller: BulkTestNode, block: TestBlock, conn: BulkConnection }) => Promise<void>): Promise<void> {
    const origin = await bulkNode()
    const puller = await bulkNode(inFlightWait != null ? { bulk: { inFlightWait } } : {})
    const key = await generateKeyPair('Ed25519')
    const asker = await bulkNode({ privateKey: key })
    try {
      const [block] = await storeBlocks(origin.blockstore, 1, REDIRECT_MIN_SIZE)
      await Promise.all([connect(puller, origin), connect(asker, puller)])
      const reads = slowReads(origin, READ_DELAY * 2)
      const conn = await openBulkConnection(puller, key)
      const { pulled } = await fetching(puller, origin, reads, [block])
      try {
        await test({ puller, block, conn })
      } finally {
        conn.close()
        await pulled
      }
    } finally {
      await Promise.all([origin, puller, asker].map(async n => n.stop()))
    }
  }

  it('is answered DONT_HAVE after inFlightWait when the fetch takes longer', async () => {
    await askWhileFetching(100, async ({ puller, block, conn }) => {
      const t0 = Date.now()
      const answer = await conn.request(block.cid, { earlyDontHave: true, signal: AbortSignal.timeout(10_000) })
      const took = Date.now() - t0
      // saying that its fetch goes on, so that the asker may ask again rather than ask the origin
      assert.deepEqual(answer, { kind: 'dont-have', fetching: true })
      assert.ok(took >= 90 && took < READ_DELAY * 2, `answered after ${took} ms`)
      assert.equal(puller.services.bulk.served().fetching, 1)
    })
  })

  it('is answered DONT_HAVE fetching at once when the want takes busy: its client asks again later instead of waiting with it', async () => {
    await askWhileFetching(undefined, async ({ puller, block, conn }) => {
      const t0 = Date.now()
      // one answered early, the other in the queue's order
      const [early, inOrder] = await Promise.all([
        conn.request(block.cid, { earlyDontHave: true, busyOk: true, signal: AbortSignal.timeout(10_000) }),
        conn.request(block.cid, { busyOk: true, signal: AbortSignal.timeout(10_000) })
      ])
      const took = Date.now() - t0
      assert.deepEqual(early, { kind: 'dont-have', fetching: true })
      assert.deepEqual(inOrder, { kind: 'dont-have', fetching: true })
      assert.ok(took < READ_DELAY, `answered after ${took} ms: it waited for the fetch (the origin reads for ${READ_DELAY * 2} ms)`)
      assert.equal(puller.services.bulk.served().fetching, 2)
      const after = await conn.request(block.cid, { earlyDontHave: true, signal: AbortSignal.timeout(10_000) })
      assert.equal(after.kind, 'block', 'asked without busy, the want waits for the block')
    })
  })

  /**
   * An origin holding one block; a relay that fetched it from the origin
   * and stores it in `putDelay` ms, whose listener waits `inFlightWait` ms
   * for it per want; an asker's session of the origin, or of the relay only
   * (`peers`), connected to both
   */
  async function relayFetching (inFlightWait: number, putDelay: number, peers: 'origin' | 'relay', test: (t: { origin: BulkTestNode, relay: BulkTestNode, block: TestBlock, session: TransportSession }) => Promise<void>): Promise<void> {
    const origin = await bulkNode()
    const relay = await bulkNode({ bulk: { inFlightWait } })
    const asker = await bulkNode()
    try {
      const [block] = await storeBlocks(origin.blockstore, 1, REDIRECT_MIN_SIZE)
      await Promise.all([connect(relay, origin), connect(asker, origin), connect(asker, relay)])
      const store = relay.blockstore
      const put = store.put.bind(store)
      let putting = false
      store.put = async (cid, bytes, options) => {
        putting = true
        await new Promise(resolve => setTimeout(resolve, putDelay))
        return put(cid, bytes, options)
      }
      const relaySession = transportOf(relay).createSession({ peers: [origin.peerId] })
      const pulled = all(relaySession.want([block.cid])).finally(() => { relaySession.close() })
      // the origin sent it: it names the relay to the next asker
      await waitUntil('the relay storing the block', () => putting)
      const session = transportOf(asker).createSession({ peers: [peers === 'origin' ? origin.peerId : relay.peerId] })
      try {
        await test({ origin, relay, block, session })
      } finally {
        session.close()
        await pulled
      }
    } finally {
      await Promise.all([origin, relay, asker].map(async n => n.stop()))
    }
  }

  it('a session asks a holder it was named that is fetching the block again, and takes it from that holder, not from the server that named it', async () => {
    await relayFetching(100, READ_DELAY, 'origin', async ({ origin, relay, block, session }) => {
      // an ordered want (the gateway's stream) takes no `busy`: it waits on the holder
      const [got] = await all(session.want([block.cid], { ordered: true }))
      assert.deepEqual(new Uint8Array(got.bytes), new Uint8Array(block.bytes))
      assert.ok(got.from?.equals(relay.peerId), `from ${got.from?.toString() ?? 'nobody'}`)
      const served = relay.services.bulk.served()
      assert.ok(served.fetching >= 2, `the relay said ${served.fetching} time(s) that it was fetching the block`)
      assert.equal(served.blocks, 1)
      // a DONT_HAVE counted as a miss would have had the asker ask the origin directly: a second copy
      assert.equal(origin.services.bulk.served().blocks, 1)
      assert.equal(origin.services.bulk.served().redirects, 1)
    })
  })

  it('a session whose want takes busy sets a block aside while the holder it was named still fetches it, then takes it from that holder', async () => {
    await relayFetching(100, READ_DELAY, 'origin', async ({ origin, relay, block, session }) => {
      const t0 = Date.now()
      const [got] = await all(session.want([block.cid]))
      assert.ok(got.from?.equals(relay.peerId), `from ${got.from?.toString() ?? 'nobody'}`)
      assert.ok(Date.now() - t0 >= BUSY_RETRY, 'asked again after the block was set aside')
      // told at once, not after the relay's inFlightWait: the want did not wait there
      assert.equal(relay.services.bulk.served().fetching, 1)
      assert.equal(relay.services.bulk.served().blocks, 1)
      assert.equal(origin.services.bulk.served().blocks, 1)
    })
  })

  it('a session asks a named holder that is fetching the block again MAX_FETCH_WAITS times at most, then the server that named it', async () => {
    // MAX_FETCH_WAITS + 1 waits of 50 ms and their round trips end well before the put does
    await relayFetching(50, 8_000, 'origin', async ({ origin, relay, block, session }) => {
      const [got] = await all(session.want([block.cid], { signal: AbortSignal.timeout(7_000), ordered: true }))
      assert.ok(got.from?.equals(origin.peerId), `from ${got.from?.toString() ?? 'nobody'}`)
      // the first want and MAX_FETCH_WAITS more; the last answer counts as DONT_HAVE
      assert.equal(relay.services.bulk.served().fetching, MAX_FETCH_WAITS + 1)
      assert.equal(relay.services.bulk.served().blocks, 0)
      assert.equal(origin.services.bulk.served().blocks, 2)
    })
  })

  it('a session does not wait for a peer it picked itself that is fetching the block (peers may wait on each other in a ring)', async () => {
    await relayFetching(50, 3_000, 'relay', async ({ relay, block, session }) => {
      // the relay's answer counts as DONT_HAVE and the block goes to the fallback (bitswap) before
      // the relay stores it; waited for, the relay would be asked every ~50 ms meanwhile
      await assert.rejects(all(session.want([block.cid], { signal: AbortSignal.timeout(1_500) })))
      assert.equal(relay.services.bulk.served().fetching, 1)
      assert.equal(relay.services.bulk.served().blocks, 0)
    })
  })

  it('a rollout: pullers asking the origin at once get every block, and the origin sends each about once', async () => {
    const origin = await bulkNode()
    // a ring of pullers waiting for each other would hold the pull up for this long
    const inFlightWait = 8_000
    const pullers = await Promise.all(Array.from({ length: 5 }, async () => bulkNode({ bulk: { inFlightWait } })))
    try {
      const blocks = await storeBlocks(origin.blockstore, 16, 256 * 1024)
      const nodes = [origin, ...pullers]
      const links: Array<Promise<void>> = []
      for (let i = 0; i < nodes.length; i++) {
        for (let j = i + 1; j < nodes.length; j++) links.push(connect(nodes[j], nodes[i]))
      }
      await Promise.all(links)
      // the origin reads slowly, so the pullers' wants of a block overlap its first send
      slowReads(origin, 50)
      const t0 = Date.now()
      await Promise.all(pullers.map(async puller => {
        const session = transportOf(puller).createSession({ peers: [origin.peerId] })
        try {
          const got = await all(session.want(blocks.map(b => b.cid)))
          assert.equal(got.length, blocks.length)
          for (const b of blocks) assert.deepEqual(new Uint8Array(got.find(g => g.cid.equals(b.cid))?.bytes ?? []), new Uint8Array(b.bytes))
        } finally {
          session.close()
        }
      }))
      const took = Date.now() - t0
      assert.ok(took < inFlightWait, `the pulls took ${took} ms: some want waited for a peer that waited in turn`)
      const sent = origin.services.bulk.served().blocks
      const relayed = pullers.reduce((n, p) => n + p.services.bulk.served().blocks, 0)
      // the bound: a server whose named holders do not serve what they are still fetching must send
      // each block at least twice (to name two holders that have it) and again to each asker they fail
      assert.ok(sent < 1.5 * blocks.length, `the origin sent ${sent} blocks for ${blocks.length}`)
      assert.equal(sent + relayed >= pullers.length * blocks.length, true, `${sent} + ${relayed} blocks sent for ${pullers.length} x ${blocks.length}`)
    } finally {
      await Promise.all([origin, ...pullers].map(async n => n.stop()))
    }
  })
})
