import assert from 'node:assert/strict'
import { describe, it, before, after } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { MemoryBlockstore } from 'blockstore-core'
import { createHelia } from 'helia'
import { createNode, equalBytes, makeBlocks, putBlocks, waitFor } from './fixtures/nodes.js'
import type { TestBlock, TestNode } from './fixtures/nodes.js'

type Helia = ReturnType<typeof createHelia>

/** A stock Helia node: its own libp2p over TCP on 127.0.0.1, noise, yamux, identify; no HTTP routers or gateways */
async function createStockHelia (): Promise<Helia> {
  const helia = await createHelia({
    blockstore: new MemoryBlockstore(),
    libp2p: {
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    },
    http: { delegatedRouters: [], recursiveGateways: [] },
    routers: []
  })
  await helia.start()
  return helia
}

/** 64 blocks: every fourth small (below 1 KiB, so sent in place of a Have), the rest 256 KiB */
async function blockSet (seed: number): Promise<TestBlock[]> {
  return makeBlocks(64, i => i % 4 === 0 ? 700 : 256 * 1024, seed)
}

async function readAll (source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return chunks.length === 1 ? chunks[0] : new Uint8Array(Buffer.concat(chunks))
}

describe('interop with a stock Helia node', () => {
  let helia: Helia
  let node: TestNode

  before(async () => {
    helia = await createStockHelia()
    node = await createNode()
    await helia.libp2p.dial(node.libp2p.getMultiaddrs(), { signal: AbortSignal.timeout(10_000) })
    await waitFor(() => node.bitswap.peers().some(p => p.equals(helia.libp2p.peerId)), 'Helia to show up as a bitswap peer')
  })

  after(async () => {
    await helia?.stop()
    await node?.libp2p.stop()
  })

  it('Helia fetches 64 blocks from a provenir node', async () => {
    const blocks = await blockSet(31)
    await putBlocks(node.blockstore, blocks)
    const fetched = await Promise.all(blocks.map(async b => readAll(helia.blockstore.get(b.cid, { signal: AbortSignal.timeout(30_000) }))))
    fetched.forEach((bytes, i) => {
      assert.ok(equalBytes(bytes, blocks[i].bytes), `block ${i} matches`)
    })
    const ledger = node.bitswap.ledger(helia.libp2p.peerId)
    assert.equal(ledger?.blocksSent, 64, 'our engine served every block, once')
    assert.equal(ledger?.bytesSent, blocks.reduce((acc, b) => acc + b.bytes.byteLength, 0))
  })

  it('a provenir node fetches 64 blocks from Helia', async () => {
    const blocks = await blockSet(32)
    for (const { cid, bytes } of blocks) {
      await helia.blockstore.put(cid, bytes)
    }
    const session = node.bitswap.createSession({ peers: [helia.libp2p.peerId] })
    const byCid = new Map(blocks.map(b => [b.cid.toString(), b]))
    const seen = new Set<string>()
    for await (const { cid, bytes, from } of session.want(blocks.map(b => b.cid), { signal: AbortSignal.timeout(30_000) })) {
      const expected = byCid.get(cid.toString())
      assert.ok(expected != null, 'only blocks we asked for')
      assert.ok(equalBytes(bytes, expected.bytes), `${cid} matches`)
      assert.ok(from?.equals(helia.libp2p.peerId), 'sent by Helia')
      seen.add(cid.toString())
      // and it is in our blockstore
      assert.ok(await node.blockstore.has(cid))
    }
    assert.equal(seen.size, 64)
    const ledger = node.bitswap.ledger(helia.libp2p.peerId)
    assert.equal(ledger?.blocksReceived, 64)
    assert.equal(ledger?.duplicateBlocks, 0)
    assert.equal(ledger?.penalties, 0)
  })

  it('a provenir node fetches one block from Helia with want()', async () => {
    const [block] = await makeBlocks(1, 100_000, 33)
    await helia.blockstore.put(block.cid, block.bytes)
    const bytes = await node.bitswap.want(block.cid, { signal: AbortSignal.timeout(10_000) })
    assert.ok(equalBytes(bytes, block.bytes))
  })
})
