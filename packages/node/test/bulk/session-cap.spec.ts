import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import all from 'it-all'
import { bulkNode, connect, slowReads, storeBlocks, transportOf } from './helpers.js'
import type { BulkTestNode, TestBlock } from './helpers.js'
import type { TransportSessionInit } from '../../src/swarm/transport.js'

/** How long the origin takes to read each block it holds (ms) */
const READ_DELAY = 200

/** Counts the most requests `node` had in flight over its bulk channels at once */
function countRequests (node: BulkTestNode): { max: number } {
  const peers = (node.services.bulk as unknown as { peers: { request: (...args: unknown[]) => Promise<unknown> } }).peers
  const request = peers.request.bind(peers)
  const seen = { max: 0 }
  let now = 0
  peers.request = async (...args: unknown[]) => {
    seen.max = Math.max(seen.max, ++now)
    try {
      return await request(...args)
    } finally {
      now--
    }
  }
  return seen
}

describe('bulk channel: the blocks in flight across a session\'s wants', () => {
  /** Two ordered wants of one session at once, 6 blocks each; the most requests the puller had in flight at once */
  async function twoWants (init: TransportSessionInit): Promise<number> {
    const origin = await bulkNode()
    const puller = await bulkNode()
    try {
      await connect(puller, origin)
      const first = await storeBlocks(origin.blockstore, 6, 64 * 1024)
      const second = await storeBlocks(origin.blockstore, 6, 64 * 1024)
      slowReads(origin, READ_DELAY)
      const requests = countRequests(puller)
      const session = transportOf(puller).createSession({ peers: [origin.peerId], ...init })
      try {
        const cids = (blocks: TestBlock[]): string[] => blocks.map(b => b.cid.toString())
        const [a, b] = await Promise.all([first, second].map(async blocks => all(session.want(blocks.map(b => b.cid), { ordered: true, signal: AbortSignal.timeout(20_000) }))))
        assert.deepEqual(a.map(x => x.cid.toString()), cids(first))
        assert.deepEqual(b.map(x => x.cid.toString()), cids(second))
      } finally {
        session.close()
      }
      return requests.max
    } finally {
      await Promise.all([origin, puller].map(async n => n.stop()))
    }
  }

  it('with a shared window the wants share its total, each keeping one block in flight at least', async () => {
    const uncapped = await twoWants({ window: 3, initialWindow: 3 })
    const capped = await twoWants({ window: 1, initialWindow: 3, sharedWindow: { perWant: 3, total: 3 } })
    // the cap counts blocks taken and not handed back: one want at the cap, the other with its one
    assert.ok(capped <= 4, `${capped} requests in flight at once`)
    assert.equal(uncapped, 6, 'without the cap each want keeps its window in flight')
  })
})
