import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { importBlob } from '@provenir/content'
import all from 'it-all'
import { UPCOMING_BLOCKS } from '../../src/swarm/bulk/constants.js'
import { fetchBlob } from '../../src/swarm/fetch.js'
import { bulkNode, connect, slowReads, storeBlocks, transportOf, waitUntil } from './helpers.js'
import type { BulkTestNode } from './helpers.js'
import type { ContentBlockstore } from '@provenir/content'
import type { CID } from 'multiformats/cid'

/** How long the origin takes to read each block it holds (ms) */
const READ_DELAY = 150

describe('bulk channel: a single want of a block an ordered session will fetch', () => {
  async function pair (test: (t: { origin: BulkTestNode, puller: BulkTestNode }) => Promise<void>): Promise<void> {
    const origin = await bulkNode()
    const puller = await bulkNode()
    try {
      await connect(puller, origin)
      await test({ origin, puller })
    } finally {
      await Promise.all([origin, puller].map(async n => n.stop()))
    }
  }

  it('waits for the session past its window instead of asking the peer again (each block sent once)', async () => {
    await pair(async ({ origin, puller }) => {
      const blocks = await storeBlocks(origin.blockstore, 6, 64 * 1024)
      const reads = slowReads(origin, READ_DELAY)
      const transport = transportOf(puller)
      // one block in flight at a time: the fifth is past the window until the fourth has landed
      const session = transport.createSession({ peers: [origin.peerId], window: 1 })
      const pulled = all(session.want(blocks.map(b => b.cid), { ordered: true })).finally(() => { session.close() })
      await waitUntil('the origin reading the first block', () => reads.has(blocks[0].cid.toString()))
      const held = await transport.hold(blocks[4].cid, { signal: AbortSignal.timeout(10_000) }).then(() => ({ at: reads.size }))
      // it waited for the session's fetch: the blocks before it had been read by then
      assert.ok(held.at >= 5, `held after the origin read ${held.at} blocks`)
      assert.equal(await puller.blockstore.has(blocks[4].cid), true)
      const got = await pulled
      assert.deepEqual(got.map(b => b.cid.toString()), blocks.map(b => b.cid.toString()))
      assert.equal(origin.services.bulk.served().blocks, blocks.length, 'the origin sent each block once')
    })
  })

  it("has a reader of a blob's first leaves, woken as its root is stored, wait for the pull's session (each block sent once)", async () => {
    await pair(async ({ origin, puller }) => {
      const chunkSize = 64 * 1024
      const bytes = randomBytes(12 * chunkSize + 5)
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
      const { root, blocks } = await importBlob([bytes], origin.blockstore as ContentBlockstore, { expectedDigest: digest, size: bytes.length, chunkSize })
      const leaves = blocks.filter(cid => !cid.equals(root))
      assert.equal(leaves.length, 13)
      const transport = transportOf(puller)
      // as the gateway's stream does: once the root is stored, read the first 8 leaves
      const store = puller.blockstore
      const { put } = store
      let reads: Promise<void[]> | undefined
      store.put = async (cid: CID, block: Uint8Array, options?: any) => {
        const stored = await put.call(store, cid, block, options)
        if (cid.equals(root)) reads = Promise.all(leaves.slice(0, 8).map(async leaf => transport.hold(leaf, { signal: AbortSignal.timeout(10_000) })))
        return stored
      }
      const session = transport.createSession({ peers: [origin.peerId], window: 1 })
      try {
        await fetchBlob(session, store as ContentBlockstore, root, digest, bytes.length, { sequential: true, signal: AbortSignal.timeout(20_000) })
      } finally {
        session.close()
      }
      assert.ok(reads != null, 'the root was stored')
      await reads
      assert.equal(origin.services.bulk.served().blocks, 1 + leaves.length, 'the origin sent each block once')
    })
  })

  it('fetches a block further ahead than the session counts, and one of a session that ended, itself', async () => {
    await pair(async ({ origin, puller }) => {
      const blocks = await storeBlocks(origin.blockstore, UPCOMING_BLOCKS + 3, 1024)
      const reads = slowReads(origin, READ_DELAY)
      const transport = transportOf(puller)
      const session = transport.createSession({ peers: [origin.peerId], window: 1 })
      const controller = new AbortController()
      const pulled = all(session.want(blocks.map(b => b.cid), { ordered: true, signal: controller.signal })).catch((err: Error) => err)
      await waitUntil('the origin reading the first block', () => reads.has(blocks[0].cid.toString()))
      // past the blocks counted as upcoming: asked of the origin at once, beside the session
      const last = blocks[blocks.length - 1]
      const t0 = Date.now()
      await transport.hold(last.cid, { signal: AbortSignal.timeout(10_000) })
      assert.ok(Date.now() - t0 < READ_DELAY * 4, `held after ${Date.now() - t0} ms: it waited for the session`)
      // a block the session counted as upcoming, once the session's want ended, is fetched alone
      const waiting = transport.hold(blocks[3].cid, { signal: AbortSignal.timeout(10_000) })
      controller.abort()
      assert.ok((await pulled) instanceof Error)
      await waiting
      assert.equal(await puller.blockstore.has(blocks[3].cid), true)
      session.close()
    })
  })
})
