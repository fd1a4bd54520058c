import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import all from 'it-all'
import { PREFETCH_BLOCKS, UPCOMING_BLOCKS } from '../../src/swarm/bulk/constants.js'
import { bulkNode, connect, slowReads, storeBlocks, transportOf } from './helpers.js'
import type { BulkTestNode } from './helpers.js'

describe('bulk channel: an ordered want fetches ahead while its window is full', () => {
  /**
   * An ordered want of the origin's blocks (a window of 2), asked of the
   * origin and of `others` more peers that hold none; returns the positions
   * of the origin's reads in the order they began
   */
  async function orderedPull (others: number): Promise<number[]> {
    const origin = await bulkNode()
    const puller = await bulkNode()
    const empty: BulkTestNode[] = []
    try {
      for (let i = 0; i < others; i++) empty.push(await bulkNode())
      for (const node of [origin, ...empty]) await connect(puller, node)
      const count = UPCOMING_BLOCKS + 2 * PREFETCH_BLOCKS
      const blocks = await storeBlocks(origin.blockstore, count, 16 * 1024)
      const position = new Map(blocks.map((b, i) => [b.cid.toString(), i]))
      const reads = slowReads(origin, 40)
      const session = transportOf(puller).createSession({ peers: [origin.peerId, ...empty.map(n => n.peerId)], window: 2 })
      let got
      try {
        got = await all(session.want(blocks.map(b => b.cid), { ordered: true, notHeld: true, transient: true, signal: AbortSignal.timeout(30_000) }))
      } finally {
        session.close()
      }
      assert.deepEqual(got.map(b => b.cid.toString()), blocks.map(b => b.cid.toString()), 'yielded in order')
      for (const [i, block] of got.entries()) assert.deepEqual(block.bytes, blocks[i].bytes)
      assert.equal(origin.services.bulk.served().blocks, count, 'the origin sent each block once')
      for (const block of blocks) assert.equal(await puller.blockstore.has(block.cid), true)
      return [...reads].map(cid => position.get(cid) as number)
    } finally {
      await Promise.all([origin, puller, ...empty].map(async n => n.stop()))
    }
  }

  it('with more than one bulk peer, asks for blocks further on at random, and yields every block in order, each sent once', async () => {
    const order = await orderedPull(1)
    const early = order.slice(0, 2 + PREFETCH_BLOCKS)
    assert.ok(early.filter(at => at >= UPCOMING_BLOCKS).length >= PREFETCH_BLOCKS / 2, `the origin's first reads were of ${early.join(', ')}`)
  })

  it('from a single peer, fetches in order only (nothing to trade: the read-back would cost the puller for nothing)', async () => {
    const order = await orderedPull(0)
    const early = order.slice(0, 2 + PREFETCH_BLOCKS)
    assert.ok(early.every(at => at < 2 + PREFETCH_BLOCKS + 2), `the origin's first reads were of ${early.join(', ')}`)
  })
})
