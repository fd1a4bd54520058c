import assert from 'node:assert/strict'
import { request } from 'node:http'
import { randomBytes, randomUUID } from 'node:crypto'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createSwarm } from '@provenir/testbed'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 as sha256Hasher } from 'multiformats/hashes/sha2'
import { createGateway } from '../src/index.js'
import { removeDir, sha256, startGateway, tempDir } from './helpers.js'
import type { Gateway } from '../src/index.js'
import type { Swarm } from '@provenir/testbed'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const TOKEN = 'test-token-0123456789abcdef'

/** A raw request (no URL normalisation, unlike fetch) */
async function rawRequest (port: number, method: string, path: string): Promise<{ status: number, body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path }, res => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) }) })
    })
    req.on('error', reject)
    req.end()
  })
}

function errorCode (body: any): string {
  assert.ok(Array.isArray(body?.errors) && body.errors.length > 0, `an OCI error body: ${JSON.stringify(body)}`)
  for (const e of body.errors) assert.equal(typeof e.message, 'string')
  return body.errors[0].code
}

describe('gateway: the distribution API over raw HTTP', () => {
  let swarm: Swarm
  let gw: { gateway: Gateway, url: string, dir: string }
  let port: number

  const push = async (name: string, bytes: Uint8Array): Promise<Response> =>
    fetch(`${gw.url}/v2/${name}/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } })

  /** Pushes a config and a layer and returns a manifest for them */
  const image = async (name: string, extra: object = {}): Promise<{ bytes: Uint8Array, digest: string, layer: Uint8Array }> => {
    const config = new TextEncoder().encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }))
    const layer = randomBytes(2000)
    assert.equal((await push(name, config)).status, 201)
    assert.equal((await push(name, layer)).status, 201)
    const bytes = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.byteLength },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.byteLength }],
      ...extra
    }))
    return { bytes, digest: sha256(bytes), layer }
  }

  const putManifest = async (name: string, ref: string, bytes: Uint8Array, type = OCI_MANIFEST): Promise<Response> =>
    fetch(`${gw.url}/v2/${name}/manifests/${ref}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': type } })

  before(async () => {
    swarm = await createSwarm({ size: 1, blockstores: true })
    gw = await startGateway(swarm.nodes[0])
    port = Number(new URL(gw.url).port)
  })

  after(async () => {
    await gw?.gateway.close()
    await swarm?.stop()
    await removeDir(gw?.dir)
  })

  it('GET /v2/ answers 200 with the API version header', async () => {
    const res = await fetch(`${gw.url}/v2/`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0')
  })

  it('chunked upload: in-order chunks, an out-of-order chunk and a malformed Content-Range get 416 RANGE_INVALID with the current Range', async () => {
    const blob = randomBytes(300_000)
    const start = await fetch(`${gw.url}/v2/myns/chunked/blobs/uploads/`, { method: 'POST' })
    assert.equal(start.status, 202)
    const location = start.headers.get('location')!
    assert.match(location, /^\/v2\/myns\/chunked\/blobs\/uploads\/[0-9a-f-]+$/)
    assert.ok(start.headers.get('docker-upload-uuid'))
    assert.equal(start.headers.get('range'), '0-0')
    const patch = async (from: number, to: number, range = `${from}-${to - 1}`): Promise<Response> =>
      fetch(gw.url + location, { method: 'PATCH', body: blob.subarray(from, to), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': range } })
    const first = await patch(0, 100_000)
    assert.equal(first.status, 202)
    assert.equal(first.headers.get('range'), '0-99999')

    const skipped = await patch(200_000, 300_000)
    assert.equal(skipped.status, 416)
    assert.equal(errorCode(await skipped.json() as any), 'RANGE_INVALID')
    assert.equal(skipped.headers.get('range'), '0-99999', 'the 416 tells where to resume')

    const malformed = await patch(100_000, 200_000, 'bytes=abc')
    assert.equal(malformed.status, 416)
    assert.equal(errorCode(await malformed.json() as any), 'RANGE_INVALID')

    const mismatched = await patch(100_000, 200_000, '100000-100009')
    assert.equal(mismatched.status, 416, 'a Content-Range that disagrees with Content-Length')

    assert.equal((await patch(100_000, 200_000)).status, 202)
    assert.equal((await patch(200_000, 300_000)).status, 202)
    const done = await fetch(`${gw.url}${location}?digest=${sha256(blob)}`, { method: 'PUT' })
    assert.equal(done.status, 201)
    assert.equal(done.headers.get('docker-content-digest'), sha256(blob))
    assert.equal(done.headers.get('location'), `/v2/myns/chunked/blobs/${sha256(blob)}`)

    const head = await fetch(`${gw.url}/v2/myns/chunked/blobs/${sha256(blob)}`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('content-length'), String(blob.byteLength))
    assert.equal(head.headers.get('docker-content-digest'), sha256(blob))
    const whole = Buffer.from(await (await fetch(`${gw.url}/v2/myns/chunked/blobs/${sha256(blob)}`)).arrayBuffer())
    assert.ok(whole.equals(blob))
    const part = await fetch(`${gw.url}/v2/myns/chunked/blobs/${sha256(blob)}`, { headers: { Range: 'bytes=1000-1999' } })
    assert.equal(part.status, 206)
    assert.equal(part.headers.get('content-range'), `bytes 1000-1999/${blob.byteLength}`)
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(blob.subarray(1000, 2000)))
    const beyond = await fetch(`${gw.url}/v2/myns/chunked/blobs/${sha256(blob)}`, { headers: { Range: `bytes=${blob.byteLength}-` } })
    assert.equal(beyond.status, 416)
    assert.equal(beyond.headers.get('content-range'), `bytes */${blob.byteLength}`)
    assert.deepEqual(await readdir(join(gw.dir, 'uploads')), [], 'no staging file is left')
  })

  it('an upload is imported while it arrives: its first leaves are stored before the closing PUT, unpinned until the digest matched', async () => {
    // the importer writes leaves 4 at a time (ipfs-unixfs-importer's blockWriteConcurrency), so send 5 MiB first
    const blob = randomBytes(6 * 1024 * 1024 + 5)
    const sent = 5 * 1024 * 1024 + 1
    const firstLeaf = CID.createV1(raw.code, await sha256Hasher.digest(blob.subarray(0, 1024 * 1024)))
    const store = swarm.nodes[0].blockstore!
    const start = await fetch(`${gw.url}/v2/myns/streamed/blobs/uploads/`, { method: 'POST' })
    const location = start.headers.get('location')!
    const patch = await fetch(gw.url + location, { method: 'PATCH', body: blob.subarray(0, sent), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${sent - 1}` } })
    assert.equal(patch.status, 202)
    // the importer takes the bytes in the background: wait for it, bounded
    for (let i = 0; i < 100 && !(await store.has(firstLeaf)); i++) await new Promise(resolve => setTimeout(resolve, 20))
    assert.ok(await store.has(firstLeaf), 'the first 1 MiB leaf is stored before the upload ends')
    assert.equal(await store.pins.isPinned(firstLeaf), false, 'and not pinned: nothing is bound to a digest yet')
    await store.gc()
    assert.ok(await store.has(firstLeaf), 'but guarded: a gc while the upload runs keeps it')
    const wrong = sha256('not this blob')
    const rest = await fetch(`${gw.url}${location}?digest=${wrong}`, { method: 'PUT', body: blob.subarray(sent), headers: { 'Content-Type': 'application/octet-stream' } })
    assert.equal(rest.status, 400)
    assert.equal(errorCode(await rest.json() as any), 'DIGEST_INVALID')
    assert.equal(await store.pins.isPinned(firstLeaf), false, 'a refused upload pins nothing')
    await store.gc()
    assert.equal(await store.has(firstLeaf), false, 'and its blocks are garbage once the upload ended')
    assert.equal((await fetch(`${gw.url}/v2/myns/streamed/blobs/${sha256(blob)}`, { method: 'HEAD' })).status, 404)

    // the same bytes again, with the right digest: pinned and served whole
    const again = await fetch(`${gw.url}/v2/myns/streamed/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob, headers: { 'Content-Type': 'application/octet-stream' } })
    assert.equal(again.status, 201)
    assert.equal(await store.pins.isPinned(firstLeaf), true)
    const whole = Buffer.from(await (await fetch(`${gw.url}/v2/myns/streamed/blobs/${sha256(blob)}`)).arrayBuffer())
    assert.ok(whole.equals(blob))
  })

  it('an interrupted chunk upload resumes from the Range a GET of its status reports', async () => {
    const blob = randomBytes(3 * 1024 * 1024 + 123)
    const start = await fetch(`${gw.url}/v2/myns/resumed/blobs/uploads/`, { method: 'POST' })
    const location = start.headers.get('location')!
    // send the whole blob as one PATCH, but cut the connection after ~1 MiB
    const sent = 1024 * 1024 + 17
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'PATCH', path: location, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.byteLength) } })
      req.on('error', () => { resolve() })
      req.write(blob.subarray(0, sent), () => {
        // wait until the server holds what was sent, then cut
        const poll = async (): Promise<void> => {
          for (let i = 0; i < 200; i++) {
            const s = await fetch(gw.url + location)
            if (s.headers.get('range') === `0-${sent - 1}`) break
            await new Promise(resolve => setTimeout(resolve, 20))
          }
          req.destroy()
          resolve()
        }
        void poll()
      })
    })
    // the status tells where to resume; a PATCH while the server still ends the cut request gets a 416 with the same Range
    let resumed: Response | undefined
    for (let i = 0; i < 100; i++) {
      const status = await fetch(gw.url + location)
      assert.equal(status.status, 204)
      const offset = Number(status.headers.get('range')!.split('-')[1]) + 1
      assert.equal(offset, sent, 'the upload holds exactly the bytes that arrived')
      resumed = await fetch(gw.url + location, { method: 'PATCH', body: blob.subarray(offset), headers: { 'Content-Range': `${offset}-${blob.byteLength - 1}` } })
      if (resumed.status !== 416) break
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    assert.equal(resumed?.status, 202)
    const done = await fetch(`${gw.url}${location}?digest=${sha256(blob)}`, { method: 'PUT' })
    assert.equal(done.status, 201)
    const back = Buffer.from(await (await fetch(`${gw.url}/v2/myns/resumed/blobs/${sha256(blob)}`)).arrayBuffer())
    assert.ok(back.equals(blob), 'the resumed blob is byte-identical')
  })

  it('a digest mismatch on upload is DIGEST_INVALID and stores nothing', async () => {
    const blob = randomBytes(5000)
    const wrong = sha256(randomBytes(10))
    const res = await fetch(`${gw.url}/v2/myns/bad/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: blob })
    assert.equal(res.status, 400)
    assert.equal(errorCode(await res.json() as any), 'DIGEST_INVALID')
    assert.equal((await fetch(`${gw.url}/v2/myns/bad/blobs/${wrong}`, { method: 'HEAD' })).status, 404)
    assert.equal((await fetch(`${gw.url}/v2/myns/bad/blobs/${sha256(blob)}`, { method: 'HEAD' })).status, 404)
    // the same through POST then PUT
    const start = await fetch(`${gw.url}/v2/myns/bad/blobs/uploads/`, { method: 'POST' })
    const put = await fetch(`${gw.url}${start.headers.get('location')!}?digest=${wrong}`, { method: 'PUT', body: blob })
    assert.equal(put.status, 400)
    assert.equal(errorCode(await put.json() as any), 'DIGEST_INVALID')
    assert.equal((await fetch(gw.url + start.headers.get('location')!)).status, 404, 'the failed upload is gone')
    assert.deepEqual(await readdir(join(gw.dir, 'uploads')), [])
  })

  it('an invalid digest string is DIGEST_INVALID, on uploads and on reads', async () => {
    for (const bad of ['sha256:xyz', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:' + 'A'.repeat(64)]) {
      const res = await fetch(`${gw.url}/v2/myns/bad/blobs/uploads/?digest=${encodeURIComponent(bad)}`, { method: 'POST', body: 'x' })
      assert.equal(res.status, 400, bad)
      assert.equal(errorCode(await res.json() as any), 'DIGEST_INVALID')
      const get = await fetch(`${gw.url}/v2/myns/bad/blobs/${encodeURIComponent(bad)}`)
      assert.equal(get.status, 400)
      assert.equal(errorCode(await get.json() as any), 'DIGEST_INVALID')
    }
    assert.deepEqual(await readdir(join(gw.dir, 'uploads')), [])
  })

  it('a manifest whose referenced blob is missing is MANIFEST_BLOB_UNKNOWN and stores nothing', async () => {
    const { bytes, layer } = await image('myns/missing')
    const doc = JSON.parse(new TextDecoder().decode(bytes))
    const absent = randomBytes(100)
    doc.layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(absent), size: 100 })
    const m = new TextEncoder().encode(JSON.stringify(doc))
    const res = await putManifest('myns/missing', 'v1', m)
    assert.equal(res.status, 400)
    const body = await res.json() as any
    assert.equal(errorCode(body), 'MANIFEST_BLOB_UNKNOWN')
    assert.equal(body.errors[0].detail.digest, sha256(absent))
    assert.ok(layer != null)
    assert.equal((await fetch(`${gw.url}/v2/myns/missing/manifests/v1`)).status, 404)
    assert.equal((await fetch(`${gw.url}/v2/myns/missing/tags/list`)).status, 404, 'the repository was not created')
    assert.equal(await swarm.nodes[0].images!.has(sha256(m)), false, 'no image record')
  })

  it('an oversized manifest is 413 MANIFEST_INVALID and stores nothing', async () => {
    const big = new Uint8Array(4 * 1024 * 1024 + 1).fill(0x20)
    const res = await putManifest('myns/big', 'v1', big)
    assert.equal(res.status, 413)
    assert.equal(errorCode(await res.json() as any), 'MANIFEST_INVALID')
    assert.equal((await fetch(`${gw.url}/v2/myns/big/tags/list`)).status, 404)
  })

  it('an unknown manifest media type is MANIFEST_INVALID (as a Content-Type, in the document, or Docker schema 1)', async () => {
    const { bytes } = await image('myns/types')
    const asUnknown = await putManifest('myns/types', 'v1', bytes, 'application/vnd.example.unknown+json')
    assert.equal(asUnknown.status, 400)
    assert.equal(errorCode(await asUnknown.json() as any), 'MANIFEST_INVALID')
    const doc = JSON.parse(new TextDecoder().decode(bytes))
    doc.mediaType = 'application/vnd.example.unknown+json'
    const inDoc = await putManifest('myns/types', 'v1', new TextEncoder().encode(JSON.stringify(doc)), 'application/json')
    assert.equal(inDoc.status, 400)
    assert.equal(errorCode(await inDoc.json() as any), 'MANIFEST_INVALID')
    const schema1 = await putManifest('myns/types', 'v1', new TextEncoder().encode(JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'v1', fsLayers: [] })), 'application/vnd.docker.distribution.manifest.v1+prettyjws')
    assert.equal(schema1.status, 400)
    assert.equal(errorCode(await schema1.json() as any), 'MANIFEST_INVALID')
    assert.equal((await fetch(`${gw.url}/v2/myns/types/tags/list`)).status, 404)
  })

  it('a path-traversal name is NAME_INVALID', async () => {
    for (const path of ['/v2/../../etc/manifests/v1', '/v2/myns/../../x/manifests/v1', '/v2/%2e%2e/%2e%2e/etc/blobs/uploads/', '/v2/myns/%2E%2E/tags/list', '/v2/MyNs/Upper/manifests/v1']) {
      const res = await rawRequest(port, path.includes('uploads') ? 'POST' : 'GET', path)
      assert.equal(res.status, 400, path)
      assert.equal(errorCode(res.body), 'NAME_INVALID', path)
    }
  })

  it('manifests: PUT by tag and digest, GET/HEAD with the digest, type and length, content negotiation, delete', async () => {
    const { bytes, digest } = await image('myns/app')
    const put = await putManifest('myns/app', 'v1', bytes)
    assert.equal(put.status, 201)
    assert.equal(put.headers.get('docker-content-digest'), digest)
    assert.equal(put.headers.get('location'), `/v2/myns/app/manifests/${digest}`)
    for (const ref of ['v1', digest]) {
      const head = await fetch(`${gw.url}/v2/myns/app/manifests/${ref}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })
      assert.equal(head.status, 200)
      assert.equal(head.headers.get('docker-content-digest'), digest)
      assert.equal(head.headers.get('content-type'), OCI_MANIFEST)
      assert.equal(head.headers.get('content-length'), String(bytes.byteLength))
      const get = await fetch(`${gw.url}/v2/myns/app/manifests/${ref}`, { headers: { Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } })
      assert.ok(Buffer.from(await get.arrayBuffer()).equals(bytes))
    }
    const dockerOnly = await fetch(`${gw.url}/v2/myns/app/manifests/v1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })
    assert.equal(dockerOnly.status, 404, 'an OCI manifest is not served to a client that does not accept it')
    assert.equal(errorCode(await dockerOnly.json() as any), 'MANIFEST_UNKNOWN')
    assert.ok(await swarm.nodes[0].images!.has(digest), 'the image is recorded')
    assert.deepEqual((await swarm.nodes[0].images!.get(digest))?.tags, ['myns/app:v1'])
    // PUT by digest
    const byDigest = await putManifest('myns/other', digest, bytes)
    assert.equal(byDigest.status, 201)
    const wrong = await putManifest('myns/other', sha256('nope'), bytes)
    assert.equal(wrong.status, 400)
    assert.equal(errorCode(await wrong.json() as any), 'DIGEST_INVALID')
    // delete the tag, then the manifest
    assert.equal((await fetch(`${gw.url}/v2/myns/app/manifests/v1`, { method: 'DELETE' })).status, 202)
    assert.equal((await fetch(`${gw.url}/v2/myns/app/manifests/v1`)).status, 404)
    assert.equal((await fetch(`${gw.url}/v2/myns/app/manifests/${digest}`)).status, 200, 'the manifest outlives its tag')
    assert.equal((await fetch(`${gw.url}/v2/myns/app/manifests/${digest}`, { method: 'DELETE' })).status, 202)
    assert.equal(await swarm.nodes[0].images!.has(digest), false)
    assert.equal((await fetch(`${gw.url}/v2/myns/app/manifests/${digest}`, { method: 'DELETE' })).status, 404)
  })

  it('a manifest GET by a digest no one holds is MANIFEST_UNKNOWN once the manifest timeout passes; a blob no one holds is BLOB_UNKNOWN', async () => {
    const quick = await startGateway(swarm.nodes[0], { manifestPullTimeout: 300 })
    try {
      const res = await fetch(`${quick.url}/v2/myns/ghost/manifests/${sha256('no such manifest')}`)
      assert.equal(res.status, 404)
      assert.equal(errorCode(await res.json() as any), 'MANIFEST_UNKNOWN')
      const blob = await fetch(`${quick.url}/v2/myns/ghost/blobs/${sha256('no such blob')}`)
      assert.equal(blob.status, 404)
      assert.equal(errorCode(await blob.json() as any), 'BLOB_UNKNOWN')
    } finally {
      await quick.gateway.close()
      await removeDir(quick.dir)
    }
  })

  it('an unknown digest fails fast: once a DHT lookup names no provider, not after the whole manifest timeout', async () => {
    const started = Date.now()
    const res = await fetch(`${gw.url}/v2/myns/ghost/manifests/${sha256('nobody has this one')}`, { method: 'HEAD' })
    const ms = Date.now() - started
    assert.equal(res.status, 404)
    assert.ok(ms < 10_000, `answered in ${ms} ms, under the 30 s manifest timeout`)
    const get = await fetch(`${gw.url}/v2/myns/ghost/manifests/${sha256('nobody has this one either')}`)
    assert.match((await get.json() as any).errors[0].message, /no provider of manifest sha256:[0-9a-f]{64} in the swarm/)
  })

  it('limits: a full upload table is 429 TOOMANYREQUESTS; an upload over maxUploadSize is 413 SIZE_INVALID', async () => {
    const small = await startGateway(swarm.nodes[0], { maxConcurrentUploads: 1, maxUploadSize: 1000 })
    try {
      const first = await fetch(`${small.url}/v2/myns/limits/blobs/uploads/`, { method: 'POST' })
      assert.equal(first.status, 202)
      const second = await fetch(`${small.url}/v2/myns/limits/blobs/uploads/`, { method: 'POST' })
      assert.equal(second.status, 429)
      assert.equal(errorCode(await second.json() as any), 'TOOMANYREQUESTS')
      const big = await fetch(small.url + first.headers.get('location')!, { method: 'PATCH', body: randomBytes(2000) })
      assert.equal(big.status, 413)
      assert.equal(errorCode(await big.json() as any), 'SIZE_INVALID')
      const streamed = await fetch(small.url + first.headers.get('location')!, {
        method: 'PATCH',
        // no Content-Length: the limit is enforced as the bytes arrive
        body: new ReadableStream({ start (c) { c.enqueue(randomBytes(600)); c.enqueue(randomBytes(600)); c.close() } }),
        duplex: 'half'
      } as RequestInit)
      assert.equal(streamed.status, 413)
      assert.equal(errorCode(await streamed.json() as any), 'SIZE_INVALID')
    } finally {
      await small.gateway.close()
      await removeDir(small.dir)
    }
  })

  it('image indexes are stored as manifests; an index naming an unknown manifest is MANIFEST_BLOB_UNKNOWN', async () => {
    const { bytes, digest } = await image('myns/multi')
    assert.equal((await putManifest('myns/multi', 'amd64', bytes)).status, 201)
    const index = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest, size: bytes.byteLength, platform: { architecture: 'amd64', os: 'linux' } }]
    }))
    const put = await putManifest('myns/multi', 'latest', index, OCI_INDEX)
    assert.equal(put.status, 201)
    const get = await fetch(`${gw.url}/v2/myns/multi/manifests/latest`)
    assert.equal(get.headers.get('content-type'), OCI_INDEX)
    assert.equal(get.headers.get('docker-content-digest'), sha256(index))
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(index))
    const dangling = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('absent'), size: 10 }] }))
    const bad = await putManifest('myns/multi', 'broken', dangling, OCI_INDEX)
    assert.equal(bad.status, 400)
    assert.equal(errorCode(await bad.json() as any), 'MANIFEST_BLOB_UNKNOWN')
  })

  it('tags/list and _catalog paginate with n, last and a Link header; an unknown repository is NAME_UNKNOWN', async () => {
    const { bytes } = await image('myns/paged')
    for (const tag of ['c', 'a', 'b']) assert.equal((await putManifest('myns/paged', tag, bytes)).status, 201)
    const all = await (await fetch(`${gw.url}/v2/myns/paged/tags/list`)).json() as any
    assert.deepEqual(all, { name: 'myns/paged', tags: ['a', 'b', 'c'] })
    const first = await fetch(`${gw.url}/v2/myns/paged/tags/list?n=2`)
    assert.deepEqual((await first.json() as any).tags, ['a', 'b'])
    assert.equal(first.headers.get('link'), '</v2/myns/paged/tags/list?n=2&last=b>; rel="next"')
    const next = await fetch(`${gw.url}/v2/myns/paged/tags/list?n=2&last=b`)
    assert.deepEqual((await next.json() as any).tags, ['c'])
    assert.equal(next.headers.get('link'), null)
    const unknown = await fetch(`${gw.url}/v2/myns/nothing/tags/list`)
    assert.equal(unknown.status, 404)
    assert.equal(errorCode(await unknown.json() as any), 'NAME_UNKNOWN')
    const catalog = await (await fetch(`${gw.url}/v2/_catalog`)).json() as any
    assert.ok(catalog.repositories.includes('myns/paged'))
    const page = await fetch(`${gw.url}/v2/_catalog?n=1`)
    assert.equal((await page.json() as any).repositories.length, 1)
    assert.match(page.headers.get('link') ?? '', /^<\/v2\/_catalog\?n=1&last=[^>]+>; rel="next"$/)
  })

  it('referrers: a manifest with a subject gets OCI-Subject, and is listed with artifactType filtering', async () => {
    const { bytes, digest } = await image('myns/signed')
    assert.equal((await putManifest('myns/signed', 'v1', bytes)).status, 201)
    const empty = await fetch(`${gw.url}/v2/myns/signed/referrers/${digest}`)
    assert.equal(empty.status, 200)
    assert.equal(empty.headers.get('content-type'), OCI_INDEX)
    assert.deepEqual(await empty.json(), { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] })

    const emptyBlob = new TextEncoder().encode('{}')
    assert.equal((await push('myns/signed', emptyBlob)).status, 201)
    const sig = randomBytes(300)
    assert.equal((await push('myns/signed', sig)).status, 201)
    const artifact = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(emptyBlob), size: 2 },
      layers: [{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', digest: sha256(sig), size: sig.byteLength }],
      subject: { mediaType: OCI_MANIFEST, digest, size: bytes.byteLength },
      annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' }
    }))
    const put = await putManifest('myns/signed', sha256(artifact), artifact)
    assert.equal(put.status, 201)
    assert.equal(put.headers.get('oci-subject'), digest)
    const listed = await (await fetch(`${gw.url}/v2/myns/signed/referrers/${digest}`)).json() as any
    assert.deepEqual(listed.manifests, [{
      mediaType: OCI_MANIFEST,
      digest: sha256(artifact),
      size: artifact.byteLength,
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' }
    }])
    const filtered = await fetch(`${gw.url}/v2/myns/signed/referrers/${digest}?artifactType=application/vnd.example.other`)
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType')
    assert.deepEqual((await filtered.json() as any).manifests, [])
    const matched = await fetch(`${gw.url}/v2/myns/signed/referrers/${digest}?artifactType=${encodeURIComponent('application/vnd.dev.sigstore.bundle.v0.3+json')}`)
    assert.equal((await matched.json() as any).manifests.length, 1)
  })

  it('cross-repository mount: 201 for a blob held, else 202 and an upload', async () => {
    const blob = randomBytes(777)
    assert.equal((await push('myns/source', blob)).status, 201)
    const mounted = await fetch(`${gw.url}/v2/myns/target/blobs/uploads/?mount=${sha256(blob)}&from=myns/source`, { method: 'POST' })
    assert.equal(mounted.status, 201)
    assert.equal(mounted.headers.get('location'), `/v2/myns/target/blobs/${sha256(blob)}`)
    assert.equal(mounted.headers.get('docker-content-digest'), sha256(blob))
    const fallback = await fetch(`${gw.url}/v2/myns/target/blobs/uploads/?mount=${sha256('absent')}&from=myns/source`, { method: 'POST' })
    assert.equal(fallback.status, 202)
    assert.match(fallback.headers.get('location') ?? '', /\/blobs\/uploads\//)
    assert.equal((await fetch(gw.url + fallback.headers.get('location')!, { method: 'DELETE' })).status, 204)
    // blob delete
    assert.equal((await fetch(`${gw.url}/v2/myns/source/blobs/${sha256(blob)}`, { method: 'DELETE' })).status, 202)
    assert.equal((await fetch(`${gw.url}/v2/myns/source/blobs/${sha256(blob)}`, { method: 'HEAD' })).status, 404)
  })

  it('the sweeper removes an abandoned upload; a restart removes stale staging files', async () => {
    const start = await fetch(`${gw.url}/v2/myns/abandoned/blobs/uploads/`, { method: 'POST' })
    const location = start.headers.get('location')!
    await fetch(gw.url + location, { method: 'PATCH', body: randomBytes(1000) })
    const uploads = (gw.gateway as unknown as { uploads: { sweep(now: number): Promise<number> } }).uploads
    assert.equal(await uploads.sweep(Date.now() + 2 * 60 * 60 * 1000), 1)
    const gone = await fetch(gw.url + location)
    assert.equal(gone.status, 404)
    assert.equal(errorCode(await gone.json() as any), 'BLOB_UPLOAD_UNKNOWN')
    assert.deepEqual(await readdir(join(gw.dir, 'uploads')), [])

    const dir = await tempDir()
    try {
      const first = createGateway({ node: swarm.nodes[0], port: 0, dataPath: dir })
      await first.listen()
      await first.close()
      await writeFile(join(dir, 'uploads', randomUUID()), randomBytes(100))
      await writeFile(join(dir, 'uploads', 'not-ours.txt'), 'keep')
      const second = createGateway({ node: swarm.nodes[0], port: 0, dataPath: dir })
      await second.listen()
      assert.deepEqual(await readdir(join(dir, 'uploads')), ['not-ours.txt'], 'the stale staging file was removed, nothing else')
      await second.close()
    } finally {
      await removeDir(dir)
    }
  })
})

describe('gateway: access', () => {
  let swarm: Swarm
  let gw: { gateway: Gateway, url: string, dir: string }

  before(async () => {
    swarm = await createSwarm({ size: 1, blockstores: true })
    gw = await startGateway(swarm.nodes[0], { token: TOKEN })
  })

  after(async () => {
    await gw?.gateway.close()
    await swarm?.stop()
    await removeDir(gw?.dir)
  })

  it('with a token configured, a push without it is 401 UNAUTHORIZED with WWW-Authenticate; with it, it works', async () => {
    const blob = randomBytes(100)
    for (const headers of [{}, { Authorization: 'Bearer wrong-token-0123456789' }]) {
      const res = await fetch(`${gw.url}/v2/myns/x/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob, headers })
      assert.equal(res.status, 401)
      assert.equal(res.headers.get('www-authenticate'), `Bearer realm="${gw.url}/provenir/token",service="provenir"`)
      assert.equal(errorCode(await res.json() as any), 'UNAUTHORIZED')
    }
    const del = await fetch(`${gw.url}/v2/myns/x/manifests/v1`, { method: 'DELETE' })
    assert.equal(del.status, 401)
    const ok = await fetch(`${gw.url}/v2/myns/x/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob, headers: { Authorization: `Bearer ${TOKEN}` } })
    assert.equal(ok.status, 201)
    const ping = await fetch(`${gw.url}/v2/`)
    assert.equal(ping.status, 401, 'the version check tells clients to authenticate')
    assert.match(ping.headers.get('www-authenticate') ?? '', /^Bearer realm=/)
    const anonymous = await (await fetch(`${gw.url}/provenir/token?service=provenir`)).json() as any
    assert.equal((await fetch(`${gw.url}/v2/`, { headers: { Authorization: `Bearer ${anonymous.token}` } })).status, 200)
    const refused = await fetch(`${gw.url}/v2/myns/x/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${anonymous.token}` } })
    assert.equal(refused.status, 401, 'the anonymous token does not push')
    const basic = await (await fetch(`${gw.url}/provenir/token`, { headers: { Authorization: `Basic ${Buffer.from(`me:${TOKEN}`).toString('base64')}` } })).json() as any
    assert.equal(basic.token, TOKEN)
    assert.equal((await fetch(`${gw.url}/provenir/token`, { headers: { Authorization: `Basic ${Buffer.from('me:wrong').toString('base64')}` } })).status, 401)
    assert.equal((await fetch(`${gw.url}/v2/myns/x/blobs/${sha256(blob)}`)).status, 200)
  })

  it('refuses to listen beyond loopback without a token', () => {
    assert.throws(() => createGateway({ node: swarm.nodes[0], host: '0.0.0.0', dataPath: gw.dir }), (err: Error) => err.name === 'InvalidConfigError')
    assert.throws(() => createGateway({ node: swarm.nodes[0], requireTokenOnLoopback: true, dataPath: gw.dir }), (err: Error) => err.name === 'InvalidConfigError')
  })
})
