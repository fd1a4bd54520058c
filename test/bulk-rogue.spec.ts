/**
 * A rogue provider on the bulk channel: it holds the image, provides it in
 * the DHT like an honest node, and sends every block over its bulk channel
 * with a byte flipped (over bitswap it would send the truth). A pull from it
 * and an honest provider completes with every blob byte-identical; the
 * rogue is cut off (bitswap's ledger holds the bad block, its libp2p
 * connection is hung up, no bulk connection to it stays open). That its
 * ban also closes the puller's own bulk listener to it is checked in
 * packages/node/test/bulk/rogue.spec.ts.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { cidForDigest, exportBlob } from '@provenir/content'
import { CID } from 'multiformats/cid'
import { createSwarm } from '@provenir/testbed'
import { waitFor } from './daemon-helpers.js'
import { collect, digestOf, makeImage, seedImage } from './images.js'
import type { ProvenirNode } from '@provenir/node'
import type { Swarm } from '@provenir/testbed'

const LAYER = 8 * 1024 * 1024

/** Makes `node`'s bulk listener send each block it serves with its first byte flipped: its store's `readInto` is what the bulk channel serves from */
function lieOverBulk (node: ProvenirNode): void {
  const store = node.blockstore!
  const readInto = store.readInto.bind(store)
  store.readInto = async (cid, target, options) => {
    const bytes = await readInto(cid, target, options)
    bytes[0] ^= 0xff
    return bytes
  }
}

describe('a rogue provider over the bulk channel', () => {
  let swarm: Swarm
  const image = makeImage(LAYER)
  const manifestDigest = digestOf(image.manifest)

  before(async () => {
    // node 0 pulls; 1 is honest, 2 the rogue; noise under libp2p as the
    // testbed runs it, the bulk channel on (createNode's default)
    swarm = await createSwarm({ size: 3, transport: 'tcp', difficulty: 4, topology: 'star', blockstores: true })
    await swarm.waitForRoutingTables(1)
    const [puller, honest, rogue] = swarm.nodes
    assert.ok(puller.libp2p.services.bulk != null && rogue.libp2p.services.bulk?.address != null, 'the bulk channel runs')
    await seedImage(honest, image)
    await seedImage(rogue, image)
    lieOverBulk(rogue)
  })

  after(async () => {
    await swarm?.stop()
  })

  it('is cut off, and the pull completes from the honest provider with every blob byte-identical', async () => {
    const [puller, honest, rogue] = swarm.nodes
    await waitFor('the puller to find both providers', async () => {
      const found: string[] = []
      for await (const p of puller.libp2p.contentRouting.findProviders(cidForDigest(manifestDigest), { signal: AbortSignal.timeout(5_000) })) found.push(p.id.toString())
      return found.includes(honest.peerId.toString()) && found.includes(rogue.peerId.toString()) ? true : undefined
    }, 60_000)
    // the rogue may dial back (it is a DHT peer): what counts is that it was hung up
    let hungUp = false
    puller.libp2p.addEventListener('peer:disconnect', (evt) => { if (evt.detail.equals(rogue.peerId)) hungUp = true })
    const pulled = await puller.pull(manifestDigest, { signal: AbortSignal.timeout(120_000) })
    assert.equal(pulled.record.blobs.length, image.blobs.length + 1)
    for (const blob of image.blobs) {
      const entry = pulled.record.blobs.find(b => b.digest === digestOf(blob.bytes))!
      const out = await collect(exportBlob(CID.parse(entry.root), puller.blockstore!, { expectedDigest: entry.digest }))
      assert.ok(Buffer.from(blob.bytes).equals(out), `${entry.digest} is byte-identical`)
    }
    // the rogue was asked over the bulk channel, caught, and cut off on both channels
    const ledger = puller.libp2p.services.bitswap.ledger(rogue.peerId)
    assert.ok((ledger?.badBlocks ?? 0) >= 1, 'the rogue\'s bad block is in the puller\'s bitswap ledger')
    await waitFor('the rogue to be disconnected', async () => hungUp ? true : undefined)
    assert.equal(puller.libp2p.services.bulk!.connections(rogue.peerId).outbound, 0, 'no bulk connection to the rogue stays open')
    // the honest provider's blocks came over the bulk channel, not bitswap
    const overBitswap = puller.libp2p.services.bitswap.ledger(honest.peerId)?.bytesReceived ?? 0
    assert.ok(overBitswap < LAYER, `the layer did not come over bitswap (${overBitswap} bytes did)`)
  })
})
