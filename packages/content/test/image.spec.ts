import assert from 'node:assert/strict'
import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { cidForDigest } from '../src/dag.js'
import { exportDockerArchive, exportOciLayout } from '../src/export.js'
import { importDockerArchive, importOciLayout } from '../src/import.js'
import { tempDir } from './fixtures.js'
import { KNOWN_DIGESTS, all, fileDigest, fixtureImage, openNode, readJson, skopeo, toolsMissing, umociVersion } from './images.js'
import type { FixtureImage, Node } from './images.js'
import type { ImageRecord } from '../src/image-index.js'

const skip = toolsMissing()
if (skip != null) console.log(`# image round-trip tests ${skip}`)

const DAG_PB = 0x70

describe('image import and export (small fixture: 2 layers, ~5 MB)', { skip }, () => {
  let image: FixtureImage
  let node: Node
  let out: { path: string, remove(): Promise<void> }
  let fromLayout: ImageRecord
  let fromArchive: ImageRecord

  before(async () => {
    image = fixtureImage('small')
    node = await openNode()
    out = await tempDir('provenir-export-')
  })

  after(async () => {
    await node?.close()
    await rm(node?.dir ?? '/nonexistent', { recursive: true, force: true })
    await out?.remove()
  })

  it('the fixture is deterministic: a fresh build has the same manifest digest (and, with umoci 0.4.7, the recorded one)', async () => {
    const fresh = await tempDir('provenir-fixture-')
    try {
      assert.equal(fixtureImage('small', fresh.path).manifestDigest, image.manifestDigest)
    } finally {
      await fresh.remove()
    }
    if (umociVersion().includes('0.4.7')) assert.equal(image.manifestDigest, KNOWN_DIGESTS.small)
  })

  it('imports the OCI layout: one record, manifest first, blobs mapped to roots, every block pinned', async () => {
    const events: string[] = []
    const records = await importOciLayout(image.layout, node.store, node.index, { onProgress: e => { events.push(e.type) } })
    assert.equal(records.length, 1)
    fromLayout = records[0]
    assert.equal(fromLayout.manifestDigest, image.manifestDigest)
    assert.equal(fromLayout.mediaType, 'application/vnd.oci.image.manifest.v1+json')
    assert.deepEqual(fromLayout.tags, ['v1'])
    const manifest = await readJson(join(image.layout, 'blobs', 'sha256', image.manifestDigest.slice(7)))
    assert.deepEqual(fromLayout.blobs.map(b => b.digest), [image.manifestDigest, manifest.config.digest, ...manifest.layers.map((l: any) => l.digest)])
    assert.deepEqual(fromLayout.blobs.map(b => b.size).slice(1), [manifest.config.size, ...manifest.layers.map((l: any) => l.size)])
    // manifest and config are one raw block each, whose multihash is the digest; the layers (> 1 MiB) are UnixFS files
    assert.ok(CID.parse(fromLayout.blobs[0].root).equals(cidForDigest(image.manifestDigest)))
    assert.equal(CID.parse(fromLayout.blobs[1].root).code, raw.code)
    for (const layer of fromLayout.blobs.slice(2)) assert.equal(CID.parse(layer.root).code, DAG_PB)
    assert.deepEqual(await node.index.get(image.manifestDigest), fromLayout)
    for (const blob of fromLayout.blobs) assert.deepEqual(await node.index.getBlob(blob.digest), blob)
    assert.deepEqual((await all(node.index.ls())).map(r => r.manifestDigest), [image.manifestDigest])
    const blocks = await node.index.blocks(image.manifestDigest)
    assert.ok(blocks != null && blocks.length >= 8)
    for (const cid of blocks) assert.ok(await node.store.pins.isPinned(cid), `${cid} pinned`)
    assert.equal((await node.store.gc()).removed.length, 0)
    assert.ok(events.includes('content:import:blob') && events.includes('content:import:bytes') && events.includes('content:import:image'))
  })

  it('exports the OCI layout byte-identical, and skopeo reads the export', async () => {
    const dir = join(out.path, 'oci')
    await exportOciLayout(image.manifestDigest, node.store, node.index, dir)
    const original = (await readdir(join(image.layout, 'blobs', 'sha256'))).sort()
    const exported = (await readdir(join(dir, 'blobs', 'sha256'))).sort()
    assert.deepEqual(exported, original)
    for (const name of exported) {
      assert.equal(await fileDigest(join(dir, 'blobs', 'sha256', name)), `sha256:${name}`)
      assert.deepEqual(await readFile(join(dir, 'blobs', 'sha256', name)), await readFile(join(image.layout, 'blobs', 'sha256', name)))
    }
    const index = await readJson(join(dir, 'index.json'))
    assert.equal(index.manifests[0].digest, image.manifestDigest)
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'v1')
    const inspected = JSON.parse(await skopeo('inspect', `oci:${dir}:v1`))
    assert.equal(inspected.Digest, image.manifestDigest)
    assert.equal(inspected.Layers.length, 2)
    await assert.rejects(exportOciLayout(image.manifestDigest, node.store, node.index, dir), { name: 'OutputExistsError' })
  })

  it('imports the docker-archive with the manifest skopeo generates for it (same digest), sharing the config block', async () => {
    const records = await importDockerArchive(image.archive, node.store, node.index)
    assert.equal(records.length, 1)
    fromArchive = records[0]
    const skopeoManifest = await skopeo('inspect', '--raw', `docker-archive:${image.archive}`)
    const { computeDigest } = await import('../src/oci.js')
    assert.equal(fromArchive.manifestDigest, computeDigest(new TextEncoder().encode(skopeoManifest)))
    assert.equal(fromArchive.mediaType, 'application/vnd.docker.distribution.manifest.v2+json')
    assert.deepEqual(fromArchive.tags, ['docker.io/provenir/small:v1'])
    // the same config bytes as the OCI image; the layers are the uncompressed tars, named by diff id
    assert.equal(fromArchive.blobs[1].digest, fromLayout.blobs[1].digest)
    const config = await readJson(join(image.layout, 'blobs', 'sha256', fromLayout.blobs[1].digest.slice(7)))
    assert.deepEqual(fromArchive.blobs.slice(2).map(b => b.digest), config.rootfs.diff_ids)
    assert.equal((await all(node.index.ls())).length, 2)
  })

  it('exports the docker-archive image back to a docker-archive that re-imports to the same manifest digest and blobs', async () => {
    const tarPath = join(out.path, 'again.tar')
    await exportDockerArchive(fromArchive.manifestDigest, node.store, node.index, tarPath)
    const inspected = JSON.parse(await skopeo('inspect', `docker-archive:${tarPath}`))
    assert.equal(inspected.Layers.length, 2)
    const other = await openNode()
    try {
      const [again] = await importDockerArchive(tarPath, other.store, other.index)
      assert.equal(again.manifestDigest, fromArchive.manifestDigest)
      assert.deepEqual(again.blobs.map(b => [b.digest, b.size, b.root]), fromArchive.blobs.map(b => [b.digest, b.size, b.root]))
    } finally {
      await other.close()
      await rm(other.dir, { recursive: true, force: true })
    }
  })

  it('exports the OCI image (gzip layers) to a docker-archive: decompressed, checked against the diff ids, same digest as skopeo\'s archive', async () => {
    const tarPath = join(out.path, 'from-oci.tar')
    await exportDockerArchive(image.manifestDigest, node.store, node.index, tarPath, { tag: 'provenir/small:v1' })
    const other = await openNode()
    try {
      const [again] = await importDockerArchive(tarPath, other.store, other.index)
      assert.equal(again.manifestDigest, fromArchive.manifestDigest)
      assert.deepEqual(again.tags, ['provenir/small:v1'])
    } finally {
      await other.close()
      await rm(other.dir, { recursive: true, force: true })
    }
    await assert.rejects(exportDockerArchive(image.manifestDigest, node.store, node.index, tarPath), { name: 'OutputExistsError' })
  })

  it('exports the docker-archive image to an OCI layout holding its Docker manifest unchanged, which skopeo reads', async () => {
    const dir = join(out.path, 'docker-in-oci')
    await exportOciLayout(fromArchive.manifestDigest, node.store, node.index, dir, { tag: 'v1' })
    // skopeo 1.9.3 resolves a tag only to OCI-typed descriptors, so name the layout's only image without one
    const inspected = JSON.parse(await skopeo('inspect', `oci:${dir}`))
    assert.equal(inspected.Digest, fromArchive.manifestDigest)
  })

  it('remove() unpins only blocks no other image uses; gc collects them; the other image still exports', async () => {
    const before = (await all(node.store.infos())).length
    assert.equal(await node.index.remove(image.manifestDigest), true)
    assert.equal(await node.index.get(image.manifestDigest), undefined)
    assert.equal(await node.index.remove(image.manifestDigest), false)
    const { removed } = await node.store.gc()
    assert.ok(removed.length > 0)
    // the shared config block survives, and so does its digest -> root entry; the OCI image's own blobs' entries are gone
    assert.ok(await node.store.has(CID.parse(fromArchive.blobs[1].root)))
    assert.deepEqual(await node.index.getBlob(fromArchive.blobs[1].digest), fromArchive.blobs[1])
    assert.equal(await node.index.getBlob(fromLayout.blobs[2].digest), undefined)
    assert.equal((await all(node.store.infos())).length, before - removed.length)
    await exportOciLayout(fromArchive.manifestDigest, node.store, node.index, join(out.path, 'after-remove'))
    await assert.rejects(exportOciLayout(image.manifestDigest, node.store, node.index, join(out.path, 'gone')), { name: 'ImageNotFoundError' })
    assert.equal(await node.index.remove(fromArchive.manifestDigest), true)
    await node.store.gc()
    assert.equal((await all(node.store.infos())).length, 0)
    assert.equal((await all(node.store.pins.ls())).length, 0)
  })

  it('keeps records and pins across a reopen', async () => {
    await importOciLayout(image.layout, node.store, node.index)
    node = await node.reopen()
    assert.deepEqual((await all(node.index.ls())).map(r => r.manifestDigest), [image.manifestDigest])
    assert.equal((await node.store.gc()).removed.length, 0)
    await exportOciLayout(image.manifestDigest, node.store, node.index, join(out.path, 'after-reopen'))
  })
})
