import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { importBlob, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST } from '@provenir/content'
import { createSwarm } from '@provenir/testbed'
import { chunks, digestOf, makeImage, seedImage } from './images.js'
import type { Swarm } from '@provenir/testbed'

describe('node.pull of an image index (multi-arch): the image for one platform', () => {
  let swarm: Swarm
  const amd64 = makeImage(1.5 * 1024 * 1024)
  const arm64 = makeImage(1.5 * 1024 * 1024)
  let index: Uint8Array
  let indexDigest: string

  before(async () => {
    swarm = await createSwarm({ size: 2, transport: 'tcp', difficulty: 4, topology: 'line', blockstores: true })
    await swarm.waitForRoutingTables(1)
    const origin = swarm.nodes[0]
    await seedImage(origin, amd64)
    await seedImage(origin, arm64)
    index = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_OCI_INDEX,
      manifests: [
        { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: digestOf(amd64.manifest), size: amd64.manifest.byteLength, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: digestOf(arm64.manifest), size: arm64.manifest.byteLength, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }
      ]
    }))
    indexDigest = digestOf(index)
    const { root, blocks } = await importBlob(chunks(index), origin.blockstore!, { expectedDigest: indexDigest })
    await origin.blockstore!.pins.pin(blocks)
    origin.provide(root)
  })

  after(async () => {
    await swarm?.stop()
  })

  it('with a platform, pulls the manifest the index lists for it', async () => {
    const puller = swarm.nodes[1]
    const pulled = await puller.pull(indexDigest, { platform: 'linux/arm64', signal: AbortSignal.timeout(60_000) })
    assert.equal(pulled.record.manifestDigest, digestOf(arm64.manifest))
    assert.deepEqual(pulled.index, { digest: indexDigest, platform: 'linux/arm64/v8' })
    assert.equal(await puller.images!.has(digestOf(arm64.manifest)), true)
    assert.equal(await puller.images!.has(digestOf(amd64.manifest)), false, 'only the platform asked for')
  })

  it('without a platform, or for one it does not have, refuses with the platforms it has', async () => {
    const puller = swarm.nodes[1]
    await assert.rejects(puller.pull(indexDigest, { signal: AbortSignal.timeout(60_000) }), (err: Error) => {
      assert.equal(err.name, 'UnsupportedMediaTypeError')
      assert.match(err.message, /image index .* for linux\/amd64, linux\/arm64\/v8; pull it for a platform/)
      return true
    })
    await assert.rejects(puller.pull(indexDigest, { platform: 'linux/s390x', signal: AbortSignal.timeout(60_000) }), (err: Error) => {
      assert.equal(err.name, 'PlatformNotFoundError')
      assert.match(err.message, /no manifest for linux\/s390x \(it has linux\/amd64, linux\/arm64\/v8\)/)
      return true
    })
    await assert.rejects(puller.pull(indexDigest, { platform: 'amd64', signal: AbortSignal.timeout(60_000) }), { name: 'InvalidParametersError' })
  })
})
