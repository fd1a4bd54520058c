/**
 * The content service with a source of another kind than the swarm: one
 * that returns plain bytes (as an upstream registry will). What such a source
 * returns is checked by the service (a manifest against its digest; a blob
 * against its digest while it streams, its last chunk held back) and stored
 * only once it matched; concurrent readers share one fetch.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_MANIFEST, RepositoryIndex } from '@provenir/content'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 as sha256Hasher } from 'multiformats/hashes/sha2'
import { ContentService, createNode } from '../src/index.js'
import type { ContentServiceComponents, ContentSource, ProvenirNode, SourceBlob, SourceManifest } from '../src/index.js'

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`
const nodeConfig = { difficulty: 0, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true }

/** Bytes in 64 KiB pieces, counting how often they were opened */
class BytesSource implements ContentSource {
  readonly name = 'upstream'
  readonly blobs = new Map<string, Uint8Array>()
  readonly manifests = new Map<string, Uint8Array>()
  opened = 0

  async manifest (request: { digest: string }): Promise<SourceManifest | undefined> {
    const bytes = this.manifests.get(request.digest)
    return bytes == null ? undefined : { bytes }
  }

  async blob (request: { digest: string }): Promise<SourceBlob | undefined> {
    const bytes = this.blobs.get(request.digest)
    if (bytes == null) return undefined
    return {
      kind: 'stream',
      size: bytes.byteLength,
      open: () => {
        this.opened++
        return (async function * () {
          for (let i = 0; i < bytes.byteLength; i += 65536) {
            await new Promise(resolve => setImmediate(resolve))
            yield bytes.subarray(i, i + 65536)
          }
        })()
      }
    }
  }
}

async function readAll (chunks: AsyncIterable<Uint8Array>): Promise<{ bytes: Buffer, error?: Error }> {
  const parts: Uint8Array[] = []
  try {
    for await (const chunk of chunks) parts.push(chunk)
  } catch (error: any) {
    return { bytes: Buffer.concat(parts), error }
  }
  return { bytes: Buffer.concat(parts) }
}

describe('the content service over a source that returns bytes', () => {
  let dir: string
  let node: ProvenirNode
  let service: ContentService
  const source = new BytesSource()
  const layer = randomBytes(3 * 1024 * 1024 + 17)
  const forged = randomBytes(layer.byteLength)
  const config = new TextEncoder().encode('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    config: { mediaType: MEDIA_TYPE_OCI_CONFIG, digest: sha256(config), size: config.byteLength },
    layers: [
      { mediaType: MEDIA_TYPE_OCI_LAYER, digest: sha256(layer), size: layer.byteLength },
      // the source serves other bytes under this digest
      { mediaType: MEDIA_TYPE_OCI_LAYER, digest: sha256(randomBytes(8)), size: forged.byteLength }
    ]
  }))
  const badLayer = JSON.parse(new TextDecoder().decode(manifest)).layers[1].digest as string

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-content-'))
    node = await createNode({ privateKey: await generateKeyPair('Ed25519'), config: nodeConfig, blockstorePath: path.join(dir, 'blocks') })
    const blockstore = node.blockstore!
    const images = node.images!
    const components: ContentServiceComponents = {
      blockstore,
      images,
      registry: new RepositoryIndex(images, blockstore),
      swarm: {
        name: 'swarm',
        manifest: async () => undefined,
        blob: async () => undefined,
        pull: async () => { throw new Error('no swarm here') },
        settled: async () => {}
      },
      logger: node.libp2p.logger,
      provide: () => {},
      unprovide: async () => {},
      provideImage: async () => {},
      statements: async () => [],
      addStatements: async () => []
    }
    service = new ContentService(components, [source])
    source.manifests.set(sha256(manifest), manifest)
    source.manifests.set(sha256(config), manifest) // a manifest served under another digest
    source.blobs.set(sha256(layer), layer)
    source.blobs.set(badLayer, forged)
  })

  after(async () => {
    await node?.stop()
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('asks the local store first, then the source; a manifest is checked against its digest, then stored and linked', async () => {
    assert.deepEqual(service.sources.map(s => s.name), ['local', 'upstream'])
    const got = await service.manifest({ repository: 'mirror/app', reference: sha256(manifest) })
    assert.equal(got.digest, sha256(manifest))
    assert.ok(Buffer.from(got.bytes).equals(manifest))
    // stored: the store answers now, without the source
    source.manifests.delete(sha256(manifest))
    assert.ok(Buffer.from((await service.manifest({ repository: 'mirror/app', reference: sha256(manifest) })).bytes).equals(manifest))
    await assert.rejects(service.manifest({ repository: 'mirror/app', reference: sha256(config) }), { name: 'DigestMismatchError' })
  })

  it('a blob streams through once, checked against its digest, and is served from the store afterwards; readers at once share the fetch', async () => {
    const first = await service.blob({ repository: 'mirror/app', digest: sha256(layer) })
    assert.equal(first.source, 'upstream')
    const second = await service.blob({ repository: 'mirror/app', digest: sha256(layer) })
    const [a, b] = await Promise.all([readAll(first.read()), readAll(second.read())])
    assert.equal(a.error, undefined)
    assert.equal(b.error, undefined)
    assert.ok(a.bytes.equals(layer) && b.bytes.equals(layer))
    assert.equal(source.opened, 1, 'one fetch for both readers')
    assert.equal(await service.holdsBlob(sha256(layer)), true)
    const again = await service.blob({ repository: 'mirror/app', digest: sha256(layer) })
    assert.equal(again.source, 'local')
    const range = await readAll(again.read({ start: 1_000_000, end: 1_100_000 }))
    assert.ok(range.bytes.equals(layer.subarray(1_000_000, 1_100_001)))
  })

  it('reports the bytes of each read by the name of the source that delivered them (transfer events)', async () => {
    const seen: Array<{ source: string, bytes: number }> = []
    const onTransfer = (evt: Event): void => { seen.push((evt as CustomEvent<{ source: string, bytes: number }>).detail) }
    service.addEventListener('transfer', onTransfer)
    source.blobs.set(sha256(config), config)
    try {
      const fetched = await service.blob({ repository: 'mirror/app', digest: sha256(config) })
      assert.equal(fetched.source, 'upstream')
      assert.ok((await readAll(fetched.read())).bytes.equals(config))
      const held = await service.blob({ repository: 'mirror/app', digest: sha256(config) })
      assert.ok((await readAll(held.read({ start: 0, end: 9 }))).bytes.equals(config.subarray(0, 10)))
      await service.manifest({ repository: 'mirror/app', reference: sha256(manifest) })
      assert.deepEqual(seen, [
        { source: 'upstream', bytes: config.byteLength },
        { source: 'local', bytes: 10 },
        { source: 'local', bytes: manifest.byteLength }
      ])
    } finally {
      service.removeEventListener('transfer', onTransfer)
    }
  })

  it('a blob whose bytes do not match breaks its stream short of its size and is not stored', async () => {
    const blob = await service.blob({ repository: 'mirror/app', digest: badLayer })
    const read = await readAll(blob.read())
    assert.equal(read.error?.name, 'DigestMismatchError')
    assert.ok(read.bytes.byteLength < forged.byteLength, `${read.bytes.byteLength} of ${forged.byteLength} bytes reached the reader`)
    assert.equal(await service.holdsBlob(badLayer), false)
    // whatever it wrote is left unpinned and unguarded: a gc takes it
    await node.blockstore!.gc()
    const firstLeaf = CID.createV1(raw.code, await sha256Hasher.digest(forged.subarray(0, 1024 * 1024)))
    assert.equal(await node.blockstore!.has(firstLeaf), false)
  })

  it('a blob the repository does not hold is not served through it', async () => {
    await assert.rejects(service.blob({ repository: 'other/app', digest: sha256(layer) }), { name: 'BlobNotFoundError' })
  })
})
