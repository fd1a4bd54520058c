import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cidForDigest, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_MANIFEST } from '@provenir/content'
import { createSwarm } from '@provenir/testbed'
import { sha256, skopeo, startGateway, stopAll, tempDir } from './helpers.js'
import type { Swarm } from '@provenir/testbed'

/** Pushes a one-layer image (an uncompressed layer of random bytes, which skopeo copies as it is) for `architecture` to `url` by digest (monolithic uploads); returns the manifest and its digest */
async function pushImage (url: string, name: string, architecture: string): Promise<{ manifest: Uint8Array, digest: string, layer: Uint8Array }> {
  const layer = randomBytes(3 * 1024 * 1024 + 17)
  const config = new TextEncoder().encode(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }))
  for (const bytes of [config, layer]) {
    const res = await fetch(`${url}/v2/${name}/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } })
    assert.equal(res.status, 201, await res.text())
  }
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    config: { mediaType: MEDIA_TYPE_OCI_CONFIG, digest: sha256(config), size: config.byteLength },
    layers: [{ mediaType: MEDIA_TYPE_OCI_LAYER, digest: sha256(layer), size: layer.byteLength }]
  }))
  const res = await fetch(`${url}/v2/${name}/manifests/${sha256(manifest)}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': MEDIA_TYPE_OCI_MANIFEST } })
  assert.equal(res.status, 201, await res.text())
  return { manifest, digest: sha256(manifest), layer }
}

describe('pull-through of a multi-arch image: the index from the swarm, then each platform when asked for', () => {
  let swarm: Swarm
  let a: Awaited<ReturnType<typeof startGateway>>
  let b: Awaited<ReturnType<typeof startGateway>>
  let out: string
  const name = 'team/multi'
  let images: Array<Awaited<ReturnType<typeof pushImage>>>
  let index: Uint8Array
  let indexDigest: string

  before(async () => {
    swarm = await createSwarm({ size: 2, transport: 'tcp', difficulty: 4, topology: 'line', blockstores: true })
    await swarm.waitForRoutingTables(1)
    a = await startGateway(swarm.nodes[0])
    b = await startGateway(swarm.nodes[1])
    out = await tempDir('provenir-index-pull-')
    images = [await pushImage(a.url, name, 'amd64'), await pushImage(a.url, name, 'arm64')]
    index = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_OCI_INDEX,
      manifests: images.map((image, i) => ({ mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: image.digest, size: image.manifest.byteLength, platform: { architecture: i === 0 ? 'amd64' : 'arm64', os: 'linux' } }))
    }))
    indexDigest = sha256(index)
    const res = await fetch(`${a.url}/v2/${name}/manifests/v1`, { method: 'PUT', body: index, headers: { 'Content-Type': MEDIA_TYPE_OCI_INDEX } })
    assert.equal(res.status, 201, await res.text())
    // B must find A as the provider of the index and of both images before it is asked
    for (const d of [indexDigest, ...images.map(i => i.digest)]) {
      await swarm.waitForProviders(swarm.nodes[1], cidForDigest(d), [swarm.nodes[0]])
    }
  })

  after(async () => {
    await stopAll(swarm, [a, b], [out])
  })

  it('skopeo copy --all through B, which holds nothing, gets the index and every platform intact', async () => {
    // --preserve-digests: skopeo fails rather than rewrite the index or a manifest
    await skopeo('copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${b.hostPort}/${name}@${indexDigest}`, `oci:${out}:v1`)
    const blob = async (digest: string): Promise<Buffer> => readFile(join(out, 'blobs', 'sha256', digest.slice('sha256:'.length)))
    assert.ok((await blob(indexDigest)).equals(Buffer.from(index)), 'the index is byte-identical')
    for (const image of images) {
      assert.ok((await blob(image.digest)).equals(Buffer.from(image.manifest)), `manifest ${image.digest} is byte-identical`)
      assert.equal(sha256(await blob(sha256(image.layer))), sha256(image.layer))
    }
    const layout = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'))
    assert.equal(layout.manifests[0].digest, indexDigest)
  })

  it('B then serves the index and both platforms from its own store, with A gone', async () => {
    await a.gateway.close()
    await swarm.nodes[0].stop()
    const res = await fetch(`${b.url}/v2/${name}/manifests/${indexDigest}`, { headers: { Accept: MEDIA_TYPE_OCI_INDEX } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), MEDIA_TYPE_OCI_INDEX)
    assert.equal(res.headers.get('docker-content-digest'), indexDigest)
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(index)))
    for (const image of images) {
      const m = await fetch(`${b.url}/v2/${name}/manifests/${image.digest}`, { headers: { Accept: MEDIA_TYPE_OCI_MANIFEST } })
      assert.equal(m.status, 200)
      assert.ok(Buffer.from(await m.arrayBuffer()).equals(Buffer.from(image.manifest)))
    }
    // the index's block is pinned: a gc keeps it
    await swarm.nodes[1].blockstore!.gc()
    const again = await fetch(`${b.url}/v2/${name}/manifests/${indexDigest}`, { method: 'HEAD', headers: { Accept: MEDIA_TYPE_OCI_INDEX } })
    assert.equal(again.status, 200)
  })
})
