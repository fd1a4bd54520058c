// The example in README.md, run as a test so that it keeps compiling and working.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { it } from 'node:test'
import { FsBlockstore, ImageIndex, computeDigest, exportBlob, exportOciLayout, importBlob, importOciLayout, parseManifest } from '../src/index.js'
import { tempDir } from './fixtures.js'
import { fixtureImage, skopeo, toolsMissing } from './images.js'

it('the README example runs', async () => {
  const dir = await tempDir()
  try {
    const store = new FsBlockstore({ path: join(dir.path, 'provenir-content') })
    await store.open()

    const layer = new Uint8Array(3 * 1024 * 1024)
    const { root, blocks } = await importBlob([layer], store, {
      expectedDigest: computeDigest(layer),
      size: layer.byteLength
    })
    await store.pins.pin(blocks)
    await store.gc()

    let read = 0
    for await (const chunk of exportBlob(root, store)) {
      read += chunk.byteLength
    }

    const manifest = parseManifest(new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: computeDigest(new Uint8Array()), size: 0 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: computeDigest(layer), size: layer.byteLength }]
    })))

    await store.close()
    assert.equal(read, layer.byteLength)
    assert.equal(blocks.length, 4) // three 1 MiB leaves and the root
    assert.ok(manifest.kind === 'manifest')
    assert.equal(manifest.manifest.layers.length, 1)
  } finally {
    await dir.remove()
  }
})

it('the README image example runs', { skip: toolsMissing() }, async () => {
  const fixture = fixtureImage('small')
  const dir = await tempDir()
  try {
    const store = new FsBlockstore({ path: join(dir.path, 'provenir', 'blocks') })
    await store.open()
    const images = new ImageIndex({ path: join(dir.path, 'provenir', 'images'), blockstore: store })
    await images.open()

    const started: string[] = []
    const [image] = await importOciLayout(fixture.layout, store, images, {
      onProgress: (event) => { if (event.type === 'content:import:blob') started.push(event.detail.digest) }
    })
    const listed = []
    for await (const record of images.ls()) listed.push(record.manifestDigest)

    await exportOciLayout(image.manifestDigest, store, images, join(dir.path, 'exported'))
    const inspected = JSON.parse(await skopeo('inspect', `oci:${join(dir.path, 'exported')}:v1`))
    await images.remove(image.manifestDigest)
    const { removed } = await store.gc()
    const usage = store.usage()

    await images.close()
    await store.close()
    assert.deepEqual(listed, [fixture.manifestDigest])
    assert.equal(started.length, 4) // manifest, config, two layers
    assert.equal(inspected.Digest, fixture.manifestDigest)
    assert.ok(removed.length >= 8)
    // the image was all the store held
    assert.deepEqual(usage, { blocks: 0, bytes: 0 })
  } finally {
    await dir.remove()
  }
})
