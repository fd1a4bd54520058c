/**
 * A stock Helia node and a provenir node that runs the bulk channel (as
 * createNode does by default) still trade blocks: Helia fetches from it over
 * bitswap, and the provenir node's block transport (the bulk channel over
 * bitswap, as its content path uses it) falls back to bitswap for a peer
 * without a bulk channel and fetches from Helia. (`packages/bitswap/test/interop.spec.ts` checks the bitswap
 * service alone against Helia.)
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { bitswapTransport, createNode } from '@provenir/node'
import { MemoryBlockstore } from 'blockstore-core'
import { createHelia } from 'helia'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { tempDir, waitFor } from './daemon-helpers.js'
import type { ProvenirNode } from '@provenir/node'

type Helia = Awaited<ReturnType<typeof createHelia>>

async function makeBlocks (count: number): Promise<Array<{ cid: CID, bytes: Uint8Array }>> {
  const out = []
  for (let i = 0; i < count; i++) {
    const bytes = new Uint8Array(randomBytes(i % 4 === 0 ? 700 : 256 * 1024))
    out.push({ cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes })
  }
  return out
}

async function readAll (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return Buffer.concat(chunks)
}

describe('a stock Helia node and a provenir node with the bulk channel trade blocks', () => {
  let helia: Helia
  let node: ProvenirNode
  let dir: string

  before(async () => {
    dir = await tempDir()
    node = await createNode({
      privateKey: await generateKeyPair('Ed25519'),
      blockstorePath: path.join(dir, 'blocks'),
      config: { difficulty: 0, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true, encryption: ['noise'] }
    })
    assert.ok(node.libp2p.services.bulk?.address != null, 'the provenir node runs its bulk channel')
    helia = await createHelia({
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
    } as any)
    await helia.start()
    await helia.libp2p.dial(node.libp2p.getMultiaddrs(), { signal: AbortSignal.timeout(10_000) })
    await waitFor('Helia to be a bitswap peer', async () => node.libp2p.services.bitswap.peers().some(p => p.equals(helia.libp2p.peerId)) ? true : undefined)
  })

  after(async () => {
    await helia?.stop()
    await node?.stop()
    if (dir != null) await fs.rm(dir, { recursive: true, force: true })
  })

  it('Helia fetches 16 blocks from the provenir node', async () => {
    const blocks = await makeBlocks(16)
    for (const b of blocks) await node.blockstore!.put(b.cid, b.bytes)
    const fetched = await Promise.all(blocks.map(async b => readAll(helia.blockstore.get(b.cid, { signal: AbortSignal.timeout(30_000) }))))
    fetched.forEach((bytes, i) => { assert.ok(bytes.equals(blocks[i].bytes), `block ${i} matches`) })
    assert.equal(node.libp2p.services.bitswap.ledger(helia.libp2p.peerId)?.blocksSent, 16)
  })

  it('the provenir node\'s bulk transport falls back to bitswap for Helia and fetches 16 blocks from it', async () => {
    const blocks = await makeBlocks(16)
    for (const b of blocks) await helia.blockstore.put(b.cid, b.bytes)
    // the transport the content path's swarm source uses (node.ts): the bulk channel over bitswap
    const transport = node.libp2p.services.bulk!.transport(bitswapTransport(node.libp2p.services.bitswap))
    const session = transport.createSession({ peers: [helia.libp2p.peerId] })
    const got = new Map<string, Uint8Array>()
    try {
      for await (const block of session.want(blocks.map(b => b.cid), { signal: AbortSignal.timeout(30_000) })) {
        assert.ok(block.from?.equals(helia.libp2p.peerId), 'sent by Helia')
        got.set(block.cid.toString(), block.bytes)
      }
    } finally {
      session.close()
    }
    for (const b of blocks) assert.ok(Buffer.from(got.get(b.cid.toString()) ?? []).equals(b.bytes), `${b.cid} matches`)
    for (const b of blocks) assert.ok(await node.blockstore!.has(b.cid), 'stored')
    const ledger = node.libp2p.services.bitswap.ledger(helia.libp2p.peerId)
    assert.equal(ledger?.blocksReceived, 16, 'every block came from Helia over bitswap')
    assert.equal(ledger?.penalties, 0)
    assert.equal(node.libp2p.services.bulk!.connections(helia.libp2p.peerId).outbound, 0, 'no bulk connection to a peer without a channel')
  })
})
