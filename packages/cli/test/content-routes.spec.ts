import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { generateIdentity } from '@provenir/identity'
import { isError } from '@provenir/interface'
import { Registry } from 'prom-client'
import { ContentLock, createRpcServer, DEFAULT_ROUTES, RpcClient } from '../src/index.js'
import type { ImageLsResponse, ImagePullResult, ProgressLine, ProvidersResponse, RpcServer } from '../src/index.js'
import type { PeerId } from '@libp2p/interface'
import type { ImageRecord } from '@provenir/content'
import type { ProvenirNode } from '@provenir/node'

const HELD: `sha256:${string}` = `sha256:${'a'.repeat(64)}`
const UNKNOWN = `sha256:${'b'.repeat(64)}`
const SLOW = `sha256:${'c'.repeat(64)}`

const record: ImageRecord = {
  manifestDigest: HELD,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  tags: ['v1'],
  blobs: [
    { digest: HELD, size: 500, root: 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e', mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    { digest: `sha256:${'d'.repeat(64)}` as `sha256:${string}`, size: 1500, root: 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e', mediaType: 'application/vnd.oci.image.config.v1+json' }
  ]
}

/** Only what the content routes read of a node */
function stubNode (peerId: PeerId, provider: PeerId, onPullAbort: (reason: unknown) => void): ProvenirNode {
  return {
    peerId,
    libp2p: { status: 'started', getConnections: () => [] },
    blockstore: { gc: async () => ({ removed: [], bytes: 0, strays: 0 }) },
    images: {
      has: async (d: string) => d === HELD,
      get: async (d: string) => d === HELD ? record : undefined,
      ls: async function * () { yield record }
    },
    provideImage: async () => {},
    async * findProviders () {
      yield { id: provider, multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/4001')] }
    },
    async pull (digest: string, options: { signal?: AbortSignal, onProgress?(evt: unknown): void }) {
      if (digest === SLOW) {
        // runs until the client goes away
        options.onProgress?.({ type: 'bitswap:block', detail: { bytes: 1000, local: false } })
        await new Promise((_resolve, reject) => {
          options.signal?.addEventListener('abort', () => { onPullAbort(options.signal?.reason); reject(options.signal?.reason) })
        })
      }
      // a real pull takes a while: the signal must not be aborted by then
      await new Promise(resolve => setTimeout(resolve, 50))
      options.signal?.throwIfAborted()
      options.onProgress?.({ type: 'bitswap:block', detail: { bytes: 2000, local: false } })
      return { record, manifest: {}, blocks: [], statements: [] }
    }
  } as unknown as ProvenirNode
}

describe('the content routes (stub node)', () => {
  let server: RpcServer
  let client: RpcClient
  let provider: PeerId
  let pullAborted: Promise<unknown>

  before(async () => {
    const peerId = peerIdFromPrivateKey(await generateIdentity({ difficulty: 0 }))
    provider = peerIdFromPrivateKey(await generateIdentity({ difficulty: 0 }))
    let mark!: (reason: unknown) => void
    pullAborted = new Promise(resolve => { mark = resolve })
    server = await createRpcServer({ node: stubNode(peerId, provider, mark), host: '127.0.0.1', port: 0, registry: new Registry(), routes: DEFAULT_ROUTES })
    client = new RpcClient({ address: server.address })
  })

  after(async () => { await server?.close() })

  async function rawPost (url: string, body: unknown): Promise<{ status: number, body: any }> {
    const res = await fetch(`${client.url}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }

  it('refuses a malformed digest with 400 and a message naming the field and the expected form', async () => {
    for (const [url, body] of [
      ['/api/v0/image/pull', { digest: 'sha256:abc' }],
      ['/api/v0/image/export', { digest: 'latest', path: '/tmp/x' }],
      ['/api/v0/image/pull', { digest: `SHA256:${'a'.repeat(64)}` }]
    ] as const) {
      const res = await rawPost(url, body)
      assert.equal(res.status, 400, url)
      assert.equal(res.body.error.name, 'InvalidParametersError')
      assert.match(res.body.error.message, /"digest" must be an image manifest digest like sha256:<64 lowercase hex characters>/)
    }
    const res = await fetch(`${client.url}/api/v0/providers/not-a-digest`)
    assert.equal(res.status, 400)
    assert.match(((await res.json()) as any).error.message, /"digest" must be/)
  })

  it('refuses a relative path: the daemon does not know the client\'s working directory', async () => {
    const imp = await rawPost('/api/v0/image/import', { path: 'fixtures/out/small/oci' })
    assert.equal(imp.status, 400)
    assert.equal(imp.body.error.name, 'InvalidParametersError')
    assert.match(imp.body.error.message, /"path" must be an absolute path on the daemon's host; got "fixtures\/out\/small\/oci"/)
    const exp = await rawPost('/api/v0/image/export', { digest: HELD, path: 'out' })
    assert.equal(exp.status, 400)
    assert.match(exp.body.error.message, /absolute path/)
  })

  it('refuses unknown fields, a bad format and a non-object body', async () => {
    assert.match((await rawPost('/api/v0/image/import', { path: '/x', fromat: 'oci' })).body.error.message, /unknown field "fromat"/)
    assert.match((await rawPost('/api/v0/image/import', { path: '/x', format: 'tar' })).body.error.message, /"format" must be "oci" or "docker-archive"/)
    assert.equal((await rawPost('/api/v0/image/pull', [HELD])).status, 400)
  })

  it('refuses a platform that is not os/architecture[/variant]', async () => {
    for (const platform of ['amd64', 'linux/AMD64', 5]) {
      const res = await rawPost('/api/v0/image/pull', { digest: HELD, platform })
      assert.equal(res.status, 400, String(platform))
      assert.equal(res.body.error.name, 'InvalidParametersError')
      assert.match(res.body.error.message, /platform/)
    }
  })

  it('an import of a path that does not exist is 404 PathNotFoundError', async () => {
    const res = await rawPost('/api/v0/image/import', { path: '/nonexistent/provenir/image' })
    assert.equal(res.status, 404)
    assert.equal(res.body.error.name, 'PathNotFoundError')
  })

  it('an unknown image is 404 ImageNotFoundError, rebuilt by name on the client', async () => {
    const res = await rawPost('/api/v0/image/export', { digest: UNKNOWN, path: '/tmp/provenir-never-written' })
    assert.equal(res.status, 404)
    assert.equal(res.body.error.name, 'ImageNotFoundError')
    await assert.rejects(client.stream('/api/v0/image/export', { body: { digest: UNKNOWN, path: '/tmp/provenir-never-written' } }), (err: Error) => {
      assert.ok(isError(err, 'ImageNotFoundError'))
      assert.equal(err.constructor.name, 'ImageNotFoundError')
      assert.match(err.message, new RegExp(UNKNOWN))
      return true
    })
  })

  it('lists images with digest, tags, total size and blob count', async () => {
    const ls = await client.get<ImageLsResponse>('/api/v0/image/ls')
    assert.deepEqual(ls, { images: [{ digest: HELD, mediaType: record.mediaType, tags: ['v1'], size: 2000, blobs: 2 }], truncated: false })
  })

  it('a pull streams progress lines, then the record (a POST handler\'s signal stays live)', async () => {
    const lines: ProgressLine[] = []
    const res = await client.stream<ImagePullResult, ProgressLine>('/api/v0/image/pull', { body: { digest: HELD }, onProgress: (l) => lines.push(l) })
    assert.equal(res.image.digest, HELD)
    assert.ok(lines.length >= 1)
    assert.equal(lines.at(-1)?.phase, 'pull')
    assert.equal(lines.at(-1)?.bytes, 2000)
  })

  it('closing the request aborts the pull in the daemon', async () => {
    const controller = new AbortController()
    const call = client.stream('/api/v0/image/pull', { body: { digest: SLOW }, signal: controller.signal, onProgress: () => { controller.abort() } })
    await assert.rejects(call, (err: Error) => isError(err, 'AbortError'))
    const reason = await pullAborted as Error
    assert.equal(reason.name, 'AbortError')
    assert.match(reason.message, /the client went away/)
  })

  it('lists providers with ids and addresses', async () => {
    const res = await client.get<ProvidersResponse>(`/api/v0/providers/${HELD}`)
    assert.equal(res.digest, HELD)
    assert.match(res.cid, /^bafkrei/)
    assert.deepEqual(res.providers, [{ peerId: provider.toString(), addrs: ['/ip4/127.0.0.1/tcp/4001'] }])
    assert.equal(res.complete, true)
  })

  it('gc reports counts', async () => {
    assert.deepEqual(await client.post('/api/v0/gc'), { removed: 0, bytes: 0, strays: 0 })
  })
})

describe('ContentLock', () => {
  it('gc (exclusive) waits for imports and pulls (shared), and they wait for it', async () => {
    const lock = new ContentLock()
    const order: string[] = []
    let releaseImport!: () => void
    const importing = lock.shared(async () => {
      order.push('import start')
      await new Promise<void>(resolve => { releaseImport = resolve })
      order.push('import end')
    })
    await new Promise(resolve => setImmediate(resolve))
    const gc = lock.exclusive(async () => { order.push('gc') })
    const pull = lock.shared(async () => { order.push('pull') })
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(order, ['import start'])
    releaseImport()
    await Promise.all([importing, gc, pull])
    assert.deepEqual(order, ['import start', 'import end', 'gc', 'pull'])
  })
})
