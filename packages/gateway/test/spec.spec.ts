/**
 * Distribution-spec behaviour beyond the basics: sha512 digests, repository
 * isolation, and a delete that sticks (answered 404 at once, never fetched
 * or provided again).
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { cidForDigest, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_MANIFEST } from '@provenir/content'
import { createSwarm } from '@provenir/testbed'
import type { CID } from 'multiformats/cid'
import { sha256, startGateway, stopAll } from './helpers.js'
import type { ProvenirNode } from '@provenir/node'
import type { Swarm } from '@provenir/testbed'

const sha512 = (b: Uint8Array | string): string => `sha512:${createHash('sha512').update(b).digest('hex')}`
const MIB = 1024 * 1024

function errorCode (body: any): string {
  assert.ok(Array.isArray(body?.errors) && body.errors.length > 0, `an OCI error body: ${JSON.stringify(body)}`)
  return body.errors[0].code
}

type Hash = (b: Uint8Array | string) => string

/** A one-layer image over `layer`, its blobs and manifest named by `hash` */
function image (layer: Uint8Array, hash: Hash = sha256, architecture = 'amd64'): { config: Uint8Array, manifest: Uint8Array, digest: string } {
  const config = new TextEncoder().encode(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }))
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    config: { mediaType: MEDIA_TYPE_OCI_CONFIG, digest: hash(config), size: config.byteLength },
    layers: [{ mediaType: MEDIA_TYPE_OCI_LAYER, digest: hash(layer), size: layer.byteLength }]
  }))
  return { config, manifest, digest: hash(manifest) }
}

async function push (url: string, name: string, bytes: Uint8Array, digest: string): Promise<Response> {
  return fetch(`${url}/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } })
}

async function putManifest (url: string, name: string, ref: string, bytes: Uint8Array, type = MEDIA_TYPE_OCI_MANIFEST): Promise<Response> {
  return fetch(`${url}/v2/${name}/manifests/${ref}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': type } })
}

/** Pushes an image's blobs and manifest to a gateway: by tag when given, else by digest */
async function pushImage (url: string, name: string, img: ReturnType<typeof image>, layer: Uint8Array, hash: Hash, tag?: string): Promise<void> {
  assert.equal((await push(url, name, img.config, hash(img.config))).status, 201)
  assert.equal((await push(url, name, layer, hash(layer))).status, 201)
  assert.equal((await putManifest(url, name, tag ?? img.digest, img.manifest)).status, 201)
}

/** Whether `peer` finds `provider` among the DHT's providers of `cid` */
async function findsProvider (peer: ProvenirNode, cid: CID, provider: ProvenirNode): Promise<boolean> {
  for await (const p of peer.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) {
    if (p.id.equals(provider.peerId)) return true
  }
  return false
}

describe('sha512 digests: push (monolithic, chunked), pull, HEAD, mount and delete', () => {
  let swarm: Swarm
  let a: Awaited<ReturnType<typeof startGateway>>
  let b: Awaited<ReturnType<typeof startGateway>>

  before(async () => {
    swarm = await createSwarm({ size: 2, transport: 'tcp', difficulty: 4, topology: 'line', blockstores: true })
    await swarm.waitForRoutingTables(1)
    a = await startGateway(swarm.nodes[0])
    b = await startGateway(swarm.nodes[1])
  })

  after(async () => {
    await stopAll(swarm, [a, b])
  })

  it('a monolithic push is stored as the raw block its sha512 names, and served by HEAD and GET', async () => {
    const blob = randomBytes(3000)
    const res = await push(a.url, 'acme/s512', blob, sha512(blob))
    assert.equal(res.status, 201)
    assert.equal(res.headers.get('docker-content-digest'), sha512(blob))
    assert.equal(res.headers.get('location'), `/v2/acme/s512/blobs/${sha512(blob)}`)
    assert.ok(await swarm.nodes[0].blockstore!.has(cidForDigest(sha512(blob))), 'the block is named by the digest')
    assert.equal(cidForDigest(sha512(blob)).multihash.code, 0x13)
    const head = await fetch(`${a.url}/v2/acme/s512/blobs/${sha512(blob)}`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('content-length'), String(blob.byteLength))
    assert.equal(head.headers.get('docker-content-digest'), sha512(blob))
    assert.ok(Buffer.from(await (await fetch(`${a.url}/v2/acme/s512/blobs/${sha512(blob)}`)).arrayBuffer()).equals(blob))
  })

  it('a chunked push of a 3 MiB blob is checked against its sha512 and served whole and in ranges; a wrong one is DIGEST_INVALID', async () => {
    const blob = randomBytes(3 * MIB + 7)
    const start = await fetch(`${a.url}/v2/acme/s512/blobs/uploads/`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' } })
    assert.equal(start.status, 202)
    const location = start.headers.get('location')!
    for (let from = 0; from < blob.byteLength; from += MIB) {
      const to = Math.min(blob.byteLength, from + MIB)
      const patch = await fetch(a.url + location, { method: 'PATCH', body: blob.subarray(from, to), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${from}-${to - 1}` } })
      assert.equal(patch.status, 202)
    }
    const done = await fetch(`${a.url}${location}?digest=${sha512(blob)}`, { method: 'PUT' })
    assert.equal(done.status, 201, await done.text())
    assert.equal(done.headers.get('docker-content-digest'), sha512(blob))
    assert.ok(Buffer.from(await (await fetch(`${a.url}/v2/acme/s512/blobs/${sha512(blob)}`)).arrayBuffer()).equals(blob))
    const part = await fetch(`${a.url}/v2/acme/s512/blobs/${sha512(blob)}`, { headers: { Range: `bytes=${MIB - 3}-${MIB + 4}` } })
    assert.equal(part.status, 206)
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(blob.subarray(MIB - 3, MIB + 5)))

    const other = randomBytes(2 * MIB)
    const bad = await push(a.url, 'acme/s512', other, sha512(randomBytes(8)))
    assert.equal(bad.status, 400)
    assert.equal(errorCode(await bad.json()), 'DIGEST_INVALID')
    assert.equal((await fetch(`${a.url}/v2/acme/s512/blobs/${sha512(other)}`, { method: 'HEAD' })).status, 404)
  })

  it('a GET or HEAD of a sha512 blob nobody holds is 404 BLOB_UNKNOWN (not a 400)', async () => {
    const missing = sha512('no such blob')
    const get = await fetch(`${a.url}/v2/acme/s512/blobs/${missing}`)
    assert.equal(get.status, 404)
    assert.equal(errorCode(await get.json()), 'BLOB_UNKNOWN')
    assert.equal((await fetch(`${a.url}/v2/acme/s512/blobs/${missing}`, { method: 'HEAD' })).status, 404)
    assert.equal((await fetch(`${a.url}/v2/acme/s512/blobs/${missing}`, { method: 'DELETE' })).status, 404)
  })

  it('a manifest of sha512 blobs, pushed by its sha512 digest, is served by it (GET, HEAD) and pulled through another node by it', async () => {
    const layer = randomBytes(2 * MIB + 11)
    const img = image(layer, sha512)
    await pushImage(a.url, 'acme/s512img', img, layer, sha512)
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(`${a.url}/v2/acme/s512img/manifests/${img.digest}`, { method })
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('docker-content-digest'), img.digest)
      if (method === 'GET') assert.ok(Buffer.from(await res.arrayBuffer()).equals(img.manifest))
    }
    // B holds nothing: the swarm delivers the manifest (a raw sha2-512 block) and the blobs
    await swarm.waitForProviders(swarm.nodes[1], cidForDigest(img.digest), [swarm.nodes[0]])
    const manifest = await fetch(`${b.url}/v2/acme/s512img/manifests/${img.digest}`)
    assert.equal(manifest.status, 200, await manifest.clone().text())
    assert.ok(Buffer.from(await manifest.arrayBuffer()).equals(img.manifest))
    for (const bytes of [img.config, layer]) {
      const res = await fetch(`${b.url}/v2/acme/s512img/blobs/${sha512(bytes)}`)
      assert.equal(res.status, 200)
      assert.equal(sha512(new Uint8Array(await res.arrayBuffer())), sha512(bytes))
    }
  })

  it('mounts a sha512 blob from a repository that holds it, and deletes it', async () => {
    const blob = randomBytes(1500)
    assert.equal((await push(a.url, 'acme/from', blob, sha512(blob))).status, 201)
    const mounted = await fetch(`${a.url}/v2/acme/into/blobs/uploads/?mount=${sha512(blob)}&from=acme/from`, { method: 'POST' })
    assert.equal(mounted.status, 201)
    assert.equal(mounted.headers.get('docker-content-digest'), sha512(blob))
    assert.equal((await fetch(`${a.url}/v2/acme/into/blobs/${sha512(blob)}`, { method: 'HEAD' })).status, 200)
    assert.equal((await fetch(`${a.url}/v2/acme/from/blobs/${sha512(blob)}`, { method: 'DELETE' })).status, 202)
    assert.equal((await fetch(`${a.url}/v2/acme/from/blobs/${sha512(blob)}`, { method: 'HEAD' })).status, 404)
  })

  it('deletes a manifest by its sha512 digest', async () => {
    const layer = randomBytes(500)
    const img = image(layer, sha512)
    await pushImage(a.url, 'acme/s512del', img, layer, sha512)
    assert.equal((await fetch(`${a.url}/v2/acme/s512del/manifests/${img.digest}`, { method: 'DELETE' })).status, 202)
    const gone = await fetch(`${a.url}/v2/acme/s512del/manifests/${img.digest}`)
    assert.equal(gone.status, 404)
    assert.equal(errorCode(await gone.json()), 'MANIFEST_UNKNOWN')
  })
})

describe('repository isolation', () => {
  let swarm: Swarm
  let gw: Awaited<ReturnType<typeof startGateway>>

  before(async () => {
    swarm = await createSwarm({ size: 1, blockstores: true })
    gw = await startGateway(swarm.nodes[0])
  })

  after(async () => {
    await stopAll(swarm, [gw])
  })

  it('a blob is read only through a repository it was pushed to, mounted into, or named by a manifest of', async () => {
    const blob = randomBytes(2000)
    assert.equal((await push(gw.url, 'team/one', blob, sha256(blob))).status, 201)
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(`${gw.url}/v2/team/two/blobs/${sha256(blob)}`, { method })
      assert.equal(res.status, 404, `${method} through a repository that never held it`)
    }
    const fromless = await fetch(`${gw.url}/v2/team/two/blobs/uploads/?mount=${sha256(blob)}`, { method: 'POST' })
    assert.equal(fromless.status, 202, 'a mount without from starts an upload')
    assert.equal((await fetch(gw.url + fromless.headers.get('location')!, { method: 'DELETE' })).status, 204)
    const wrongFrom = await fetch(`${gw.url}/v2/team/two/blobs/uploads/?mount=${sha256(blob)}&from=team/three`, { method: 'POST' })
    assert.equal(wrongFrom.status, 202, 'nor from a repository that does not hold it')
    assert.equal((await fetch(gw.url + wrongFrom.headers.get('location')!, { method: 'DELETE' })).status, 204)
    assert.equal((await fetch(`${gw.url}/v2/team/two/blobs/uploads/?mount=${sha256(blob)}&from=team/one`, { method: 'POST' })).status, 201)
    assert.equal((await fetch(`${gw.url}/v2/team/two/blobs/${sha256(blob)}`)).status, 200, 'mounted')
    assert.equal((await fetch(`${gw.url}/v2/team/two/blobs/${sha256(blob)}`, { method: 'DELETE' })).status, 202)
  })

  it('a manifest and its tags belong to their repository: a DELETE through one that never held it is 404 and removes nothing', async () => {
    const layer = randomBytes(1000)
    const img = image(layer)
    await pushImage(gw.url, 'team/app', img, layer, sha256, 'v1')
    assert.equal((await fetch(`${gw.url}/v2/team/stranger/manifests/v1`)).status, 404, 'a tag is its repository\'s')
    for (const ref of [img.digest, 'v1']) {
      const res = await fetch(`${gw.url}/v2/team/stranger/manifests/${ref}`, { method: 'DELETE' })
      assert.equal(res.status, 404, `DELETE ${ref}`)
      assert.equal(errorCode(await res.json()), 'MANIFEST_UNKNOWN')
    }
    assert.equal((await fetch(`${gw.url}/v2/team/app/manifests/v1`)).status, 200, 'the tag still stands')
    assert.ok(await swarm.nodes[0].images!.has(img.digest), 'and the image')
    assert.equal((await fetch(`${gw.url}/v2/team/stranger/blobs/${sha256(layer)}`)).status, 404, 'its layer is not the stranger\'s')
    // by digest, a repository fetches what it does not hold from the sources: the local store first
    assert.equal((await fetch(`${gw.url}/v2/team/stranger/manifests/${img.digest}`)).status, 200)
    assert.equal((await fetch(`${gw.url}/v2/team/stranger/blobs/${sha256(layer)}`)).status, 200, 'and then holds its blobs')
    assert.deepEqual((await (await fetch(`${gw.url}/v2/team/stranger/tags/list`)).json() as any).tags, [], 'with no tag')
  })
})

describe('a deleted manifest or index: 404 at once, everywhere, and never provided again', () => {
  let swarm: Swarm
  let gw: Awaited<ReturnType<typeof startGateway>>
  const gone = randomBytes(2 * MIB + 5)
  const kept = randomBytes(1200)
  const goneImage = image(gone)
  const keptImage = image(kept, sha256, 'arm64')
  let index: Uint8Array

  before(async () => {
    // A pushes alone, so its provider records are in its own DHT store only; B joins after the delete
    swarm = await createSwarm({ size: 2, transport: 'tcp', difficulty: 4, topology: 'none', blockstores: true })
    gw = await startGateway(swarm.nodes[0])
    await pushImage(gw.url, 'acme/gone', goneImage, gone, sha256, 'v1')
    await pushImage(gw.url, 'acme/kept', keptImage, kept, sha256, 'v1')
    index = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_OCI_INDEX,
      manifests: [{ mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: goneImage.digest, size: goneImage.manifest.byteLength, platform: { architecture: 'amd64', os: 'linux' } }]
    }))
    assert.equal((await putManifest(gw.url, 'acme/gone', 'multi', index, MEDIA_TYPE_OCI_INDEX)).status, 201)
  })

  after(async () => {
    await stopAll(swarm, [gw])
  })

  it('the manifest and the index answer 404 at once after their DELETE, through every repository, by digest and by tag', async () => {
    const a = swarm.nodes[0]
    for (const digest of [sha256(index), goneImage.digest]) {
      assert.equal((await fetch(`${gw.url}/v2/acme/gone/manifests/${digest}`, { method: 'DELETE' })).status, 202)
    }
    assert.equal(await a.images!.has(goneImage.digest), false)
    for (const repo of ['acme/gone', 'acme/elsewhere']) {
      for (const ref of [goneImage.digest, sha256(index), 'v1', 'multi']) {
        for (const method of ['HEAD', 'GET']) {
          const started = Date.now()
          const res = await fetch(`${gw.url}/v2/${repo}/manifests/${ref}`, { method })
          // the bound: no stall (it was 30 s); generous for a loaded machine
          assert.ok(Date.now() - started < 10_000, `${method} ${repo} ${ref} took ${Date.now() - started} ms`)
          assert.equal(res.status, 404, `${method} ${repo}/manifests/${ref}`)
        }
      }
    }
    // nothing fetched them back and pinned them: their blocks are unpinned, and gc takes them
    // (the layers stay: they were uploaded to the repository, as blobs outlive a manifest in distribution)
    for (const digest of [goneImage.digest, sha256(index)]) {
      assert.equal(await a.blockstore!.pins.isPinned(cidForDigest(digest)), false)
    }
    await a.blockstore!.gc()
    for (const digest of [goneImage.digest, sha256(index)]) {
      assert.equal(await a.blockstore!.has(cidForDigest(digest)), false)
      assert.equal((await fetch(`${gw.url}/v2/acme/gone/manifests/${digest}`)).status, 404, 'and after the gc too')
    }
  })

  it('a node that joins afterwards finds A as the provider of what it kept, and of nothing it deleted, even after A\'s gateway restarts', async () => {
    const [a, b] = swarm.nodes
    const layerRoot = cidForDigest(sha256(kept))
    // a restart provides what is held: the deleted manifest and index are not
    const again = await startGateway(a)
    try {
      await swarm.connect(1, 0)
      await swarm.waitForRoutingTables(1)
      await swarm.waitForProviders(b, cidForDigest(keptImage.digest), [a])
      assert.ok(await findsProvider(b, layerRoot, a), 'the kept image\'s layer is provided (the check can see A)')
      for (const digest of [goneImage.digest, sha256(index)]) {
        assert.equal(await findsProvider(b, cidForDigest(digest), a), false, `${digest} is not provided`)
      }
    } finally {
      await again.gateway.close()
    }
  })
})

describe('tag lists include the names the node serves from signed repository documents', () => {
  let swarm: Swarm
  let gw: Awaited<ReturnType<typeof startGateway>>

  before(async () => {
    swarm = await createSwarm({ size: 1, blockstores: true })
    // what the daemon's naming answers: the tags of the document of that name
    gw = await startGateway(swarm.nodes[0], {
      listNames: async (name) => name === 'named/app' ? ['v2', 'latest'] : name === 'broken/app' ? await Promise.reject(new Error('naming is down')) : undefined
    })
    const layer = randomBytes(100)
    await pushImage(gw.url, 'named/app', image(layer), layer, sha256, 'v1')
    await pushImage(gw.url, 'broken/app', image(layer), layer, sha256, 'v1')
  })

  after(async () => {
    await stopAll(swarm, [gw])
  })

  it('tags/list merges the repository\'s own tags with the document\'s, sorted; a name naming alone knows is listed too', async () => {
    assert.deepEqual(await (await fetch(`${gw.url}/v2/named/app/tags/list`)).json(), { name: 'named/app', tags: ['latest', 'v1', 'v2'] })
    assert.deepEqual(await (await fetch(`${gw.url}/v2/broken/app/tags/list`)).json(), { name: 'broken/app', tags: ['v1'] }, 'a naming failure lists the node\'s own')
    const page = await fetch(`${gw.url}/v2/named/app/tags/list?n=2`)
    assert.deepEqual((await page.json() as any).tags, ['latest', 'v1'])
    assert.equal(page.headers.get('link'), '</v2/named/app/tags/list?n=2&last=v1>; rel="next"')
    assert.equal((await fetch(`${gw.url}/v2/unknown/app/tags/list`)).status, 404)
  })
})
