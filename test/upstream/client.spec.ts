/**
 * The registry client against a real registry: Debian's docker-registry
 * behind TLS with token auth (the Docker Hub stand-in), a second one with
 * Basic auth, and a proxy in front that cuts, stalls, fails, corrupts and
 * redirects.
 */

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AuthFileCredentials, RegistryClient, StaticCredentials, RegistryCredentials, ANONYMOUS } from '@provenir/registry-client'
import { startBlobCdn, startFaultProxy, type FaultProxy } from './fault-proxy.js'
import { ALICE, FIXTURES, startStandIn, type AccessEntry, type StandIn } from './stand-in.js'
import type { RegistryClientInit } from '@provenir/registry-client'

const SMALL = path.join(FIXTURES, 'small', 'oci')
const SMALL_MANIFEST = 'sha256:46e5cc9546ec373375142efc4e9ea8f44326ce54611ae3e87d8b8d091ffc0901'
const BIG_LAYER = { digest: 'sha256:ebb23607635d0bf748f1e1a3d64e684dc42ddabf70dd51f90c0f8b01a739a093', size: 3146757 }

async function drain (stream: AsyncIterable<Uint8Array>): Promise<{ bytes: number, digest: string }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of stream) {
    hash.update(chunk)
    bytes += chunk.byteLength
  }
  return { bytes, digest: `sha256:${hash.digest('hex')}` }
}

/** A port nothing listens on */
async function deadPort (): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as net.AddressInfo
  await new Promise<void>(resolve => srv.close(() => { resolve() }))
  return port
}

describe('registry client against docker-registry (TLS, token auth)', () => {
  let dir: string
  let hub: StandIn
  let proxy: FaultProxy
  const clients: RegistryClient[] = []

  const client = (init: Partial<RegistryClientInit> = {}): RegistryClient => {
    const c = new RegistryClient({ host: hub.host, endpoints: [hub.url], ca: hub.pki.caPem, credentials: ANONYMOUS, retryBaseDelayMs: 20, ...init })
    clients.push(c)
    return c
  }
  const viaProxy = (init: Partial<RegistryClientInit> = {}): RegistryClient => client({ host: hub.host, endpoints: [proxy.url], ...init })

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-upstream-client-'))
    hub = await startStandIn(path.join(dir, 'hub'), { images: [[SMALL, 'library/small', 'v1'], [SMALL, 'private/app', 'v1']] })
    proxy = await startFaultProxy(hub.url, hub.pki)
  })

  after(async () => {
    await Promise.all(clients.map(async c => c.close()))
    await proxy?.close()
    await hub?.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('resolves a tag by HEAD with an anonymous token, and reuses the token for the same scope', async () => {
    const c = client()
    const before = hub.issuer.requests.length
    const head = await c.resolveTag('library/small', 'v1')
    assert.equal(head.digest, SMALL_MANIFEST)
    assert.equal(head.mediaType, 'application/vnd.oci.image.manifest.v1+json')
    const asked = hub.issuer.requests.slice(before)
    assert.deepEqual(asked, [{ scope: 'repository:library/small:pull', granted: true }])
    const manifest = await c.manifest('library/small', 'v1')
    assert.equal(manifest.digest, SMALL_MANIFEST)
    assert.equal(hub.issuer.requests.length, before + 1, 'the cached token answered the second call')
    const headed = (entries: AccessEntry[]): boolean => entries.some(e => e.method === 'HEAD' && e.path === '/v2/library/small/manifests/v1' && e.status === 200)
    assert.ok(headed(await hub.accessLog(headed)))
  })

  it('fetches a manifest by digest and checks it, and streams a blob checked against its digest', async () => {
    const c = client()
    const manifest = await c.manifest('library/small', SMALL_MANIFEST)
    assert.equal(createHash('sha256').update(manifest.bytes).digest('hex'), SMALL_MANIFEST.slice(7))
    const download = await c.blob('library/small', BIG_LAYER.digest, { expectedSize: BIG_LAYER.size })
    assert.equal(download.size, BIG_LAYER.size)
    assert.deepEqual(await drain(download.stream), { bytes: BIG_LAYER.size, digest: BIG_LAYER.digest })
  })

  it('names the registry and the missing credentials for a private repository, and pulls it with auth.json', async () => {
    const runtime = path.join(dir, 'xdg-runtime')
    const files = [path.join(runtime, 'containers', 'auth.json'), path.join(dir, 'home', '.docker', 'config.json')]
    const noCreds = client({ credentials: new AuthFileCredentials(files) })
    await assert.rejects(noCreds.resolveTag('private/app', 'v1'), (err: Error) => {
      assert.equal(err.name, 'UpstreamAuthError')
      assert.match(err.message, new RegExp(`registry ${hub.host.replace(/\./g, '\\.')}`))
      assert.match(err.message, /no credentials were found for 127\.0\.0\.1:\d+ in .*xdg-runtime\/containers\/auth\.json/)
      return true
    })
    await fs.mkdir(path.dirname(files[0]), { recursive: true })
    const auth = Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64')
    await fs.writeFile(files[0], JSON.stringify({ auths: { [`${hub.host}/private`]: { auth } } }))
    const withCreds = client({ credentials: new AuthFileCredentials(files) })
    assert.equal((await withCreds.resolveTag('private/app', 'v1')).digest, SMALL_MANIFEST)
    assert.ok(hub.issuer.requests.some(r => r.user === 'alice' && r.scope === 'repository:private/app:pull' && r.granted))
  })

  it('reads docker\'s config.json auths (https://host/v1/ keys too), and says whose credentials were refused', async () => {
    const file = path.join(dir, 'docker-config', 'config.json')
    await fs.mkdir(path.dirname(file), { recursive: true })
    await fs.writeFile(file, JSON.stringify({ auths: { [`https://${hub.host}/v1/`]: { auth: Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64') } } }))
    assert.equal((await client({ credentials: new AuthFileCredentials([file]) }).manifest('private/app', 'v1')).digest, SMALL_MANIFEST)
    const wrong = client({ credentials: new StaticCredentials(new RegistryCredentials({ username: 'alice', password: 'not-her-password', source: 'a test' })) })
    await assert.rejects(wrong.resolveTag('private/app', 'v1'), (err: Error) => {
      assert.equal(err.name, 'UpstreamAuthError')
      assert.match(err.message, /refused the credentials of alice from a test/)
      assert.doesNotMatch(err.message, /not-her-password/)
      return true
    })
  })

  it('follows a redirect of a blob to another origin without sending it Authorization', async () => {
    const cdn = await startBlobCdn(hub.storage, hub.pki)
    try {
      proxy.rule = req => req.method === 'GET' && req.path.includes('/blobs/') && req.authorization ? { kind: 'redirect', location: `${cdn.url}/blobs/${req.path.split('/blobs/')[1]}` } : undefined
      const c = viaProxy()
      const download = await c.blob('library/small', BIG_LAYER.digest)
      assert.deepEqual(await drain(download.stream), { bytes: BIG_LAYER.size, digest: BIG_LAYER.digest })
      assert.ok(proxy.requests.some(r => r.path.endsWith(`/blobs/${BIG_LAYER.digest}`) && r.authorization), 'the registry got the token')
      assert.equal(cdn.requests.length, 1)
      assert.equal(cdn.requests[0].authorization, false, 'the CDN did not')
    } finally {
      proxy.rule = () => undefined
      await cdn.close()
    }
  })

  it('resumes a blob download with Range after the connection is cut', async () => {
    let cuts = 0
    proxy.rule = req => req.method === 'GET' && req.path.includes('/blobs/') && req.authorization && req.range == null && cuts++ === 0 ? { kind: 'cut', afterBytes: 1024 * 1024 } : undefined
    try {
      const c = viaProxy()
      const download = await c.blob('library/small', BIG_LAYER.digest)
      assert.deepEqual(await drain(download.stream), { bytes: BIG_LAYER.size, digest: BIG_LAYER.digest })
      const gets = proxy.requests.filter(r => r.method === 'GET' && r.path.endsWith(`/blobs/${BIG_LAYER.digest}`))
      assert.equal(gets.at(-2)?.range, undefined)
      const resumed = Number(/^bytes=(\d+)-$/.exec(gets.at(-1)?.range ?? '')?.[1])
      assert.ok(resumed > 0 && resumed <= 1024 * 1024, `resumed at ${resumed}`)
    } finally {
      proxy.rule = () => undefined
    }
  })

  it('retries a 503 with backoff, and gives up naming the registry when it persists', async () => {
    let failures = 0
    proxy.rule = req => req.method === 'HEAD' && req.authorization && failures++ < 2 ? { kind: 'status', status: 503 } : undefined
    try {
      const c = viaProxy()
      assert.equal((await c.resolveTag('library/small', 'v1')).digest, SMALL_MANIFEST)
      assert.equal(failures, 3, 'two 503s, then the answer')
      proxy.rule = req => req.method === 'HEAD' ? { kind: 'status', status: 503 } : undefined
      const heads = proxy.requests.length
      await assert.rejects(viaProxy({ attempts: 3 }).resolveTag('library/small', 'v1'), (err: Error) => {
        assert.equal(err.name, 'UpstreamUnavailableError')
        assert.match(err.message, new RegExp(`registry ${hub.host.replace(/\./g, '\\.')} \\(${proxy.url.replace(/\./g, '\\.')}\\) answered 503`))
        return true
      })
      assert.equal(proxy.requests.slice(heads).filter(r => r.method === 'HEAD').length, 3)
    } finally {
      proxy.rule = () => undefined
    }
  })

  it('times out a registry that never answers', async () => {
    proxy.rule = req => req.method === 'HEAD' ? { kind: 'stall' } : undefined
    try {
      await assert.rejects(viaProxy({ headersTimeoutMs: 300, attempts: 2 }).resolveTag('library/small', 'v1'), (err: Error) => {
        assert.equal(err.name, 'UpstreamUnavailableError')
        assert.match(err.message, /UND_ERR_HEADERS_TIMEOUT|timed out|Headers Timeout/i)
        return true
      })
      // a caller's own deadline ends the call too
      await assert.rejects(viaProxy().resolveTag('library/small', 'v1', { timeoutMs: 300 }), { name: 'UpstreamUnavailableError', message: /timed out/ })
    } finally {
      proxy.rule = () => undefined
    }
  })

  it('refuses a registry whose certificate the configured CA did not sign, without retrying', async () => {
    const heads = hub.issuer.requests.length
    await assert.rejects(client({ ca: hub.pki.otherCaPem }).resolveTag('library/small', 'v1'), (err: Error) => {
      assert.equal(err.name, 'UpstreamTlsError')
      assert.match(err.message, /does not verify/)
      return true
    })
    await assert.rejects(new RegistryClient({ host: hub.host, endpoints: [hub.url], credentials: ANONYMOUS }).resolveTag('library/small', 'v1'), { name: 'UpstreamTlsError' })
    assert.equal(hub.issuer.requests.length, heads)
  })

  it('fails a blob with wrong bytes before its last chunk, naming the digest', async () => {
    proxy.rule = req => req.method === 'GET' && req.path.includes('/blobs/') && req.authorization ? { kind: 'corrupt' } : undefined
    try {
      const download = await viaProxy().blob('library/small', BIG_LAYER.digest)
      let received = 0
      await assert.rejects((async () => { for await (const chunk of download.stream) received += chunk.byteLength })(), (err: Error) => {
        assert.equal(err.name, 'UpstreamDigestMismatchError')
        assert.match(err.message, new RegExp(BIG_LAYER.digest))
        return true
      })
      assert.ok(received < BIG_LAYER.size, 'the last chunk was held back')
    } finally {
      proxy.rule = () => undefined
    }
  })

  it('tries endpoints in order: a dead one, then the registry', async () => {
    const c = client({ endpoints: [`https://127.0.0.1:${await deadPort()}`, hub.url], attempts: 1 })
    assert.equal((await c.resolveTag('library/small', 'v1')).digest, SMALL_MANIFEST)
  })

  it('says which registry is down, at once', async () => {
    const c = client({ endpoints: [`https://127.0.0.1:${await deadPort()}`], attempts: 2 })
    await assert.rejects(c.resolveTag('library/small', 'v1'), (err: Error) => {
      assert.equal(err.name, 'UpstreamUnavailableError')
      assert.match(err.message, /ECONNREFUSED/)
      assert.match(err.message, new RegExp(`registry ${hub.host.replace(/\./g, '\\.')}`))
      return true
    })
  })
})

describe('registry client against docker-registry (TLS, Basic auth)', () => {
  let dir: string
  let registry: StandIn

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-upstream-basic-'))
    registry = await startStandIn(path.join(dir, 'basic'), { auth: 'htpasswd', images: [[SMALL, 'team/small', 'v1']] })
  })

  after(async () => {
    await registry?.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('answers a Basic challenge with the credentials, and names the registry without them', async () => {
    const creds = new StaticCredentials(new RegistryCredentials({ username: ALICE.username, password: ALICE.password, source: 'config' }))
    const c = new RegistryClient({ host: registry.host, endpoints: [registry.url], ca: registry.pki.caPem, credentials: creds })
    const anon = new RegistryClient({ host: registry.host, endpoints: [registry.url], ca: registry.pki.caPem, credentials: ANONYMOUS })
    try {
      assert.equal((await c.resolveTag('team/small', 'v1')).digest, SMALL_MANIFEST)
      const download = await c.blob('team/small', BIG_LAYER.digest)
      assert.equal((await drain(download.stream)).digest, BIG_LAYER.digest)
      await assert.rejects(anon.resolveTag('team/small', 'v1'), { name: 'UpstreamAuthError', message: /needs credentials for team\/small \(Basic\)/ })
    } finally {
      await c.close()
      await anon.close()
    }
  })
})
