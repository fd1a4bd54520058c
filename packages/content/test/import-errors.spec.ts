import assert from 'node:assert/strict'
import { cp, open, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, afterEach, before, beforeEach, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { blockPath } from '../src/blockstore-fs.js'
import { exportDockerArchive, exportOciLayout } from '../src/export.js'
import { importDockerArchive, importOciLayout } from '../src/import.js'
import { computeDigest } from '../src/oci.js'
import { indexTar } from '../src/tar.js'
import { tempDir } from './fixtures.js'
import { all, fixtureImage, openNode, readJson, toolsMissing } from './images.js'
import type { FixtureImage, Node } from './images.js'

const skip = toolsMissing()
const MIB = 1024 * 1024

describe('bad input gives a clear error and stores nothing', { skip }, () => {
  let image: FixtureImage
  let work: { path: string, remove(): Promise<void> }
  let node: Node
  let n = 0

  before(async () => {
    image = fixtureImage('small')
    work = await tempDir('provenir-bad-input-')
  })
  after(async () => { await work?.remove() })
  beforeEach(async () => { node = await openNode() })
  afterEach(async () => {
    await node.close()
    await rm(node.dir, { recursive: true, force: true })
  })

  /** No image listed, and after gc no block and no pin left. */
  async function assertNothingStored (digest?: string): Promise<void> {
    assert.deepEqual(await all(node.index.ls()), [])
    if (digest != null) assert.equal(await node.index.get(digest), undefined)
    await node.store.gc()
    assert.deepEqual(await all(node.store.infos()), [], 'gc removed every block of the failed import')
    assert.deepEqual(await all(node.store.pins.ls()), [])
  }

  async function copyLayout (): Promise<string> {
    const dir = join(work.path, `layout-${n++}`)
    await cp(image.layout, dir, { recursive: true })
    return dir
  }

  function blob (dir: string, digest: string): string {
    return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length))
  }

  /** Writes a new manifest (with its own, correct digest) and points index.json at it. */
  async function rewriteManifest (dir: string, edit: (manifest: any) => void, editDescriptor?: (d: any) => void): Promise<string> {
    const index = await readJson(join(dir, 'index.json'))
    const manifest = await readJson(blob(dir, index.manifests[0].digest))
    edit(manifest)
    const bytes = new TextEncoder().encode(JSON.stringify(manifest))
    const digest = computeDigest(bytes)
    await writeFile(blob(dir, digest), bytes)
    index.manifests[0].digest = digest
    index.manifests[0].size = bytes.byteLength
    editDescriptor?.(index.manifests[0])
    await writeFile(join(dir, 'index.json'), JSON.stringify(index))
    return digest
  }

  it('a truncated docker-archive: ArchiveTruncatedError, before anything is written', async () => {
    const bytes = await readFile(image.archive)
    const half = join(work.path, 'half.tar')
    await writeFile(half, bytes.subarray(0, Math.floor(bytes.byteLength / 2)))
    await assert.rejects(importDockerArchive(half, node.store, node.index), { name: 'ArchiveTruncatedError' })
    // cut exactly after the last entry: every entry whole, but no end-of-archive marker
    const noEnd = join(work.path, 'no-end.tar')
    const entries = [...(await indexTar(image.archive)).values()]
    const last = Math.max(...entries.map(e => e.offset + Math.ceil(e.size / 512) * 512))
    await writeFile(noEnd, bytes.subarray(0, last))
    await assert.rejects(importDockerArchive(noEnd, node.store, node.index), { name: 'ArchiveTruncatedError' })
    assert.deepEqual(await all(node.store.infos()), [])
    await assertNothingStored()
  })

  it('a manifest whose bytes do not match the digest index.json gives: DigestMismatchError', async () => {
    const dir = await copyLayout()
    const index = await readJson(join(dir, 'index.json'))
    const path = blob(dir, index.manifests[0].digest)
    const manifest = await readJson(path)
    manifest.annotations = { tampered: 'yes' }
    const bytes = JSON.stringify(manifest)
    await writeFile(path, bytes)
    index.manifests[0].size = bytes.length
    await writeFile(join(dir, 'index.json'), JSON.stringify(index))
    await assert.rejects(importOciLayout(dir, node.store, node.index), { name: 'DigestMismatchError' })
    assert.deepEqual(await all(node.store.infos()), [], 'validated before any write')
    await assertNothingStored(index.manifests[0].digest)
  })

  it('a layer whose bytes do not match its digest: DigestMismatchError; its leaves stay unpinned and gc removes them', async () => {
    const dir = await copyLayout()
    const manifest = await readJson(blob(dir, image.manifestDigest))
    const layer = manifest.layers[1]
    const fh = await open(blob(dir, layer.digest), 'r+')
    await fh.write(Buffer.from('corrupt!'), 0, 8, Math.floor(layer.size / 2))
    await fh.close()
    await assert.rejects(importOciLayout(dir, node.store, node.index), { name: 'DigestMismatchError' })
    assert.ok((await all(node.store.infos())).length > 0, 'the blocks written before the mismatch are still there, unpinned')
    await assertNothingStored(image.manifestDigest)
  })

  it('a docker-archive layer whose bytes do not match its diff id: DigestMismatchError', async () => {
    const tarPath = join(work.path, 'bad-layer.tar')
    await cp(image.archive, tarPath)
    const entry = [...(await indexTar(tarPath)).values()].find(e => e.name.endsWith('.tar') && e.size > MIB)
    assert.ok(entry != null)
    const fh = await open(tarPath, 'r+')
    await fh.write(Buffer.from('corrupt!'), 0, 8, entry.offset + Math.floor(entry.size / 2))
    await fh.close()
    await assert.rejects(importDockerArchive(tarPath, node.store, node.index), { name: 'DigestMismatchError' })
    await assertNothingStored()
  })

  it('an unknown layer media type, or an unknown manifest media type in index.json: UnsupportedMediaTypeError', async () => {
    const dir = await copyLayout()
    const digest = await rewriteManifest(dir, m => { m.layers[0].mediaType = 'application/vnd.example.unknown' })
    await assert.rejects(importOciLayout(dir, node.store, node.index), { name: 'UnsupportedMediaTypeError', message: /application\/vnd\.example\.unknown/ })
    assert.deepEqual(await all(node.store.infos()), [])
    await assertNothingStored(digest)

    const dir2 = await copyLayout()
    const index = await readJson(join(dir2, 'index.json'))
    index.manifests[0].mediaType = 'application/vnd.example.manifest+json'
    await writeFile(join(dir2, 'index.json'), JSON.stringify(index))
    await assert.rejects(importOciLayout(dir2, node.store, node.index), { name: 'UnsupportedMediaTypeError' })
    await assertNothingStored()
  })

  it('a manifest over 4 MiB: ManifestTooLargeError, from its descriptor or from the file', async () => {
    const dir = await copyLayout()
    const digest = await rewriteManifest(dir, m => { m.annotations = { padding: 'x'.repeat(4 * MIB) } })
    await assert.rejects(importOciLayout(dir, node.store, node.index), { name: 'ManifestTooLargeError' })
    await assertNothingStored(digest)
    // a descriptor that understates the size: the file itself is refused without reading it whole
    const index = await readJson(join(dir, 'index.json'))
    index.manifests[0].size = 500
    await writeFile(join(dir, 'index.json'), JSON.stringify(index))
    await assert.rejects(importOciLayout(dir, node.store, node.index), { name: 'ManifestTooLargeError' })
    await assertNothingStored(digest)
  })

  it('a blob whose size differs from its descriptor: BlobSizeMismatchError', async () => {
    const dir = await copyLayout()
    const manifest = await readJson(blob(dir, image.manifestDigest))
    await truncate(blob(dir, manifest.layers[0].digest), manifest.layers[0].size - 1)
    await assert.rejects(importOciLayout(dir, node.store, node.index), { name: 'BlobSizeMismatchError' })
    await assertNothingStored()
  })

  it('a directory that is not a layout, a missing blob, and a tar that is not a docker-archive', async () => {
    await assert.rejects(importOciLayout(work.path, node.store, node.index), { name: 'ImageLayoutInvalidError' })
    const dir = await copyLayout()
    const manifest = await readJson(blob(dir, image.manifestDigest))
    await rm(blob(dir, manifest.layers[1].digest))
    await assert.rejects(importOciLayout(dir, node.store, node.index), { name: 'ImageLayoutInvalidError' })
    const notTar = join(work.path, 'not.tar')
    await writeFile(notTar, new Uint8Array(4096).fill(7))
    await assert.rejects(importDockerArchive(notTar, node.store, node.index), { name: 'ArchiveInvalidError' })
    await assertNothingStored()
  })

  it('ImageIndex.add refuses an image whose blocks are gone (gc raced the import) and leaves no pins', async () => {
    const bytes = new TextEncoder().encode('{}')
    const cid = CID.createV1(raw.code, await sha256.digest(bytes))
    const digest = computeDigest(bytes)
    await assert.rejects(node.index.add({
      manifestDigest: digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      blobs: [{ digest, size: 2, root: cid.toString(), mediaType: 'application/vnd.oci.image.manifest.v1+json' }, { digest, size: 2, root: cid.toString(), mediaType: 'application/vnd.oci.image.config.v1+json' }]
    }, [cid]), { name: 'ImageIncompleteError' })
    await assertNothingStored(digest)
  })

  it('an import aborted through its signal mid-layer: AbortError, nothing listed', async () => {
    const controller = new AbortController()
    let seen = 0
    await assert.rejects(importOciLayout(image.layout, node.store, node.index, {
      signal: controller.signal,
      onProgress: (e) => { if (e.type === 'content:import:bytes' && ++seen === 4) controller.abort() }
    }), { name: 'AbortError' })
    await assertNothingStored(image.manifestDigest)
  })
})

describe('export of a corrupted image fails and leaves no output', { skip }, () => {
  it('a block corrupted on disk: BlockVerificationError from both exports; no destination, no temp files', async () => {
    const image = fixtureImage('small')
    const node = await openNode()
    const out = await tempDir('provenir-export-bad-')
    try {
      const [record] = await importOciLayout(image.layout, node.store, node.index)
      const blocks = (await node.index.blocks(record.manifestDigest)) ?? []
      // a leaf of the first layer (raw, 1 MiB): flip a byte in its file
      const leaf = blocks.find(cid => cid.code === raw.code && !cid.equals(CID.parse(record.blobs[0].root)) && !cid.equals(CID.parse(record.blobs[1].root)))
      assert.ok(leaf != null)
      const { shard, name } = blockPath(leaf.multihash.bytes)
      const file = join(node.dir, 'blocks', 'blocks', shard, name)
      const fh = await open(file, 'r+')
      await fh.write(Buffer.from([0xff, 0x00, 0xff]), 0, 3, 100)
      await fh.close()
      await assert.rejects(exportOciLayout(record.manifestDigest, node.store, node.index, join(out.path, 'oci')), { name: 'BlockVerificationError' })
      await assert.rejects(exportDockerArchive(record.manifestDigest, node.store, node.index, join(out.path, 'image.tar')), { name: 'BlockVerificationError' })
      assert.deepEqual(await readdir(out.path), [])
    } finally {
      await node.close()
      await rm(node.dir, { recursive: true, force: true })
      await out.remove()
    }
  })
})
