import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { cidForDigest, exportBlob } from '@provenir/content'
import { CID } from 'multiformats/cid'
import { createSwarm } from '@provenir/testbed'

/** These tests watch bitswap (its progress events, ledgers and sessions): the bulk channel stays off */
const BITSWAP_ONLY = { bulk: { enabled: false, announce: [], connectionsPerPeer: 2, sendSlots: 2 } }
import { collect, digestOf, makeImage, seedImage } from './images.js'
import type { Swarm } from '@provenir/testbed'

describe('node.pull: an image by manifest digest, through the DHT and bitswap', () => {
  let swarm: Swarm
  const image = makeImage()
  const manifestDigest = digestOf(image.manifest)

  before(async () => {
    swarm = await createSwarm({ size: 4, transport: 'tcp', difficulty: 4, topology: 'line', blockstores: true, config: BITSWAP_ONLY })
    await swarm.waitForRoutingTables(2)
    await seedImage(swarm.nodes[0], image)
  })

  after(async () => {
    await swarm?.stop()
  })

  it('the farthest node pulls every blob byte for byte, and then provides it too', async () => {
    const origin = swarm.nodes[0]
    const far = swarm.nodes[3]
    const manifestCid = cidForDigest(manifestDigest)
    // wait until the manifest is findable, as a puller would in a rollout
    await swarm.waitForProviders(far, manifestCid, [origin])

    const events: string[] = []
    const pulled = await far.pull(manifestDigest, { signal: AbortSignal.timeout(60_000), onProgress: (e) => { events.push(e.type) } })
    assert.equal(pulled.record.manifestDigest, manifestDigest)
    assert.equal(pulled.record.blobs.length, 4, 'manifest, config and two layers')
    assert.deepEqual(await far.images!.get(manifestDigest), pulled.record, 'the image is recorded in the index')
    for (const blob of image.blobs) {
      const entry = pulled.record.blobs.find(b => b.digest === digestOf(blob.bytes))
      assert.ok(entry != null, `blob ${digestOf(blob.bytes)} was pulled`)
      const out = await collect(exportBlob(CID.parse(entry.root), far.blockstore!, { expectedDigest: entry.digest }))
      assert.ok(Buffer.from(blob.bytes).equals(out), 'byte-identical')
    }
    assert.ok(events.includes('pull:blob-complete'))
    assert.ok(events.includes('bitswap:block'))
    // bytes came from the origin
    const ledger = far.libp2p.services.bitswap.ledger(origin.peerId)
    assert.ok(ledger != null && ledger.bytesReceived >= 3.5 * 1024 * 1024, 'the origin sent the blocks')
    // the puller now provides the big layer's root: a rollout swarms
    const bigRoot = CID.parse(pulled.record.blobs.find(b => b.size > 1024 * 1024)!.root)
    let farProvides = false
    for (let i = 0; i < 50 && !farProvides; i++) {
      for await (const p of swarm.nodes[1].findProviders(bigRoot, { signal: AbortSignal.timeout(5_000) })) {
        if (p.id.equals(far.peerId)) { farProvides = true; break }
      }
    }
    assert.ok(farProvides, 'the puller advertised the layer it fetched')
  })

  it('a second pull fetches nothing again (resume from the blocks held)', async () => {
    const far = swarm.nodes[3]
    let fetched = 0
    await far.pull(manifestDigest, {
      signal: AbortSignal.timeout(30_000),
      onProgress: (e: any) => { if (e.type === 'bitswap:block' && e.detail.local !== true) fetched++ }
    })
    assert.equal(fetched, 0)
  })

  it('a gc that runs while a pull fetches takes none of its blocks (they are guarded until the record pins them)', async () => {
    const puller = swarm.nodes[1]
    const other = makeImage(3 * 1024 * 1024)
    await seedImage(swarm.nodes[0], other)
    const gcs: Array<Promise<unknown>> = []
    let blocks = 0
    let removed = 0
    const pulled = await puller.pull(digestOf(other.manifest), {
      signal: AbortSignal.timeout(60_000),
      onProgress: (e) => {
        // a gc after every block the puller stores
        if (e.type === 'bitswap:block') {
          blocks++
          gcs.push(puller.blockstore!.gc().then(r => { removed += r.removed.length }))
        }
      }
    })
    await Promise.all(gcs)
    assert.ok(blocks >= 4, `${blocks} blocks arrived`)
    assert.equal(removed, 0, 'no gc removed a block of the pull')
    for (const blob of other.blobs) {
      const entry = pulled.record.blobs.find(b => b.digest === digestOf(blob.bytes))!
      const out = await collect(exportBlob(CID.parse(entry.root), puller.blockstore!, { expectedDigest: entry.digest }))
      assert.ok(Buffer.from(blob.bytes).equals(out), `${entry.digest} is whole after the gcs`)
    }
    assert.equal((await puller.blockstore!.gc()).removed.length, 0, 'and the record pins every block')
  })

  it('looks the manifest\'s providers up in one DHT query while the manifest comes (the discovery and the session share it)', async () => {
    const puller = swarm.nodes[2]
    const other = makeImage(2 * 1024 * 1024)
    await seedImage(swarm.nodes[0], other)
    const manifestCid = cidForDigest(digestOf(other.manifest))
    await swarm.waitForProviders(puller, manifestCid, [swarm.nodes[0]])
    const dht = puller.dht
    const find = dht.findProviders.bind(dht)
    let manifestIn = false
    const queries = { before: 0, after: 0 }
    dht.findProviders = (key, options) => {
      if (key.equals(manifestCid)) queries[manifestIn ? 'after' : 'before']++
      return find(key, options)
    }
    try {
      const pulled = await puller.pull(digestOf(other.manifest), {
        signal: AbortSignal.timeout(60_000),
        onProgress: (e: any) => { if (e.type === 'bitswap:block' && manifestCid.equals(e.detail.cid)) manifestIn = true }
      })
      assert.equal(pulled.record.blobs.length, other.blobs.length + 1)
    } finally {
      // @ts-expect-error the instance's own property goes: the method is the prototype's again
      delete dht.findProviders
    }
    assert.ok(manifestIn)
    assert.equal(queries.before, 1, 'one query until the manifest is in')
    // the record's candidates join that query if it still runs, else look again (new providers may have come)
    assert.ok(queries.after <= 1, `${queries.after} queries after the manifest`)
  })

  it('gives up on a digest whose provider never delivers it with an error that names it and the stage', async () => {
    // advertised in the DHT by a node that does not hold it: the lookup finds a provider, the transport gets nothing
    const unknown = digestOf(new TextEncoder().encode('no such image'))
    swarm.nodes[0].provide(cidForDigest(unknown))
    await swarm.waitForProviders(swarm.nodes[2], cidForDigest(unknown), [swarm.nodes[0]])
    await assert.rejects(swarm.nodes[2].pull(unknown, { signal: AbortSignal.timeout(3_000) }), (err: Error) => {
      assert.equal(err.name, 'AbortError')
      assert.match(err.message, new RegExp(`pull of ${unknown} stopped before any provider delivered the manifest \\(TimeoutError\\)`))
      return true
    })
  })

  it('gives up on a digest no peer provides with ManifestNotFoundError once the DHT lookup ends empty, well before the transport would stall', async () => {
    const unknown = digestOf(new TextEncoder().encode('nobody provides this image'))
    await assert.rejects(swarm.nodes[2].pull(unknown, { signal: AbortSignal.timeout(30_000) }), (err: Error) => {
      assert.equal(err.name, 'ManifestNotFoundError')
      assert.match(err.message, new RegExp(`no provider of manifest ${unknown} in the swarm$`))
      return true
    })
  })
})
