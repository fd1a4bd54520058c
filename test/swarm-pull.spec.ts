import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { exportBlob } from '@provenir/content'
import { CID } from 'multiformats/cid'
import { createSwarm } from '@provenir/testbed'
import { collect, digestOf, makeImage, seedImage } from './images.js'
import type { Swarm } from '@provenir/testbed'

const LAYER = 16 * 1024 * 1024

describe('a rollout: nodes 1 to 8 pull one image from one origin at the same time', () => {
  let swarm: Swarm
  const image = makeImage(LAYER)
  const manifestDigest = digestOf(image.manifest)
  const imageBytes = image.manifest.byteLength + image.blobs.reduce((a, b) => a + b.bytes.byteLength, 0)

  before(async () => {
    swarm = await createSwarm({ size: 9, transport: 'tcp', difficulty: 4, topology: 'star', blockstores: true })
    await swarm.waitForRoutingTables(3)
    await seedImage(swarm.nodes[0], image)
  })

  after(async () => {
    await swarm?.stop()
  })

  it('every puller completes with every blob verified, and the origin egress is counted', async () => {
    const origin = swarm.nodes[0]
    const pullers = swarm.nodes.slice(1)
    const results = await Promise.all(pullers.map(async n => n.pull(manifestDigest, { signal: AbortSignal.timeout(120_000) })))
    for (const [i, pulled] of results.entries()) {
      assert.equal(pulled.record.blobs.length, 4, `puller ${i + 1} has every blob`)
      for (const blob of image.blobs) {
        const entry = pulled.record.blobs.find(b => b.digest === digestOf(blob.bytes))!
        const out = await collect(exportBlob(CID.parse(entry.root), pullers[i].blockstore!, { expectedDigest: entry.digest }))
        assert.ok(Buffer.from(blob.bytes).equals(out), `puller ${i + 1}: ${entry.digest} is byte-identical`)
      }
    }
    const originSent = origin.libp2p.services.bitswap.ledgers().reduce((a, l) => a + l.bytesSent, 0)
    const peerSent = pullers.reduce((a, n) => a + n.libp2p.services.bitswap.ledgers().reduce((b, l) => b + l.bytesSent, 0), 0)
    // reported, not only asserted: the rollout's egress split
    console.info(`rollout of a ${(imageBytes / 2 ** 20).toFixed(1)} MiB image to 8 pullers: origin sent ${(originSent / 2 ** 20).toFixed(1)} MiB (${(originSent / imageBytes).toFixed(2)}x the image), pullers sent each other ${(peerSent / 2 ** 20).toFixed(1)} MiB`)
    assert.ok(originSent >= LAYER, 'the origin served at least one copy')
    assert.ok(originSent + peerSent >= 8 * LAYER, 'the 8 pullers received at least 8 copies in all')
  })
})
