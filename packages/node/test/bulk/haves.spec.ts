import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import all from 'it-all'
import { REDIRECT_MIN_SIZE } from '../../src/swarm/bulk/constants.js'
import { bulkNode, connect, storeBlocks, transportOf, waitUntil } from './helpers.js'
import type { BulkTestNode } from './helpers.js'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** The holders a node's bulk peers heard of (HAVE frames) */
const holdersOf = (node: BulkTestNode, cid: CID): PeerId[] => (node.services.bulk as unknown as { peers: { holdersOf(cid: CID): PeerId[] } }).peers.holdersOf(cid)

describe('bulk channel: HAVE frames', () => {
  it('a server tells the clients that took HAVE frames of each block it fetched, and a session asks it first, not peers at random', async () => {
    const origin = await bulkNode()
    const holder = await bulkNode()
    const asker = await bulkNode()
    const other = await bulkNode()
    const nodes = [origin, holder, asker, other]
    try {
      await Promise.all([connect(holder, origin), connect(asker, origin), connect(asker, holder), connect(asker, other)])
      const blocks = await storeBlocks(origin.blockstore, 6, REDIRECT_MIN_SIZE)
      const [first] = await storeBlocks(holder.blockstore, 1, 1024)
      // the asker's connection to the holder takes HAVE frames from its first want on
      const opening = transportOf(asker).createSession({ peers: [holder.peerId] })
      await all(opening.want([first.cid]))
      opening.close()
      assert.equal(holder.services.bulk.served().haves, 0, 'nothing fetched yet: nothing told')
      const fetching = transportOf(holder).createSession({ peers: [origin.peerId] })
      await all(fetching.want(blocks.map(b => b.cid)))
      fetching.close()
      assert.equal(holder.services.bulk.served().haves, blocks.length, 'one HAVE per block fetched, to the one connection that took them')
      assert.equal(origin.services.bulk.served().haves, 0, 'a node that fetched nothing tells nothing')
      await waitUntil('the asker heard of every block', () => blocks.every(b => holdersOf(asker, b.cid).some(p => p.equals(holder.peerId))))
      const asked = new Set<string>()
      for (const node of [origin, other]) {
        const store = node.blockstore
        const { has, readInto } = store
        store.has = async (cid, options) => { asked.add(cid.toString()); return has.call(store, cid, options) }
        if (readInto != null) store.readInto = async (cid, target, options) => { asked.add(cid.toString()); return readInto.call(store, cid, target, options) }
      }
      const redirects = origin.services.bulk.served().redirects
      // the whole list at once: without HAVE the session would spread it over its three peers by load
      const session = transportOf(asker).createSession({ peers: [other.peerId, origin.peerId, holder.peerId], window: blocks.length, initialWindow: blocks.length })
      const got = await all(session.want(blocks.map(b => b.cid)))
      session.close()
      assert.equal(got.length, blocks.length)
      for (const b of blocks) assert.deepEqual(new Uint8Array(got.find(g => g.cid.equals(b.cid))?.bytes ?? []), new Uint8Array(b.bytes))
      assert.ok(got.every(g => g.from?.equals(holder.peerId) === true), `from: ${got.map(g => g.from?.toString()).join(', ')}`)
      assert.deepEqual([...asked], [], 'neither the origin nor the other peer was asked')
      assert.equal(origin.services.bulk.served().redirects, redirects)
    } finally {
      await Promise.all(nodes.map(async n => n.stop()))
    }
  })
})
