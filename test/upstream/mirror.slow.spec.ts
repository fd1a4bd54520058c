/**
 * A real daemon whose upstreams are the Docker Hub stand-in (TLS, token
 * auth) and a misbehaving proxy in front of it: `provenir image pull` of a
 * reference with the registry's host and of a one-word name through the
 * default; 20 concurrent pulls of a new image through the gateway costing the
 * upstream one fetch per blob; an upstream that serves wrong bytes; a
 * private repository without credentials and with them; cosign signatures
 * required by the policy.
 */

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { publicKeyToPem } from '@provenir/trust'
import { DaemonProcess, TEST_INIT, keepDaemonLogs, runCli, runJson, runTool, tempDir, waitFor } from '../daemon-helpers.js'
import { startFaultProxy, type FaultProxy } from './fault-proxy.js'
import { pushCosignSignature, pushNewImage, type MadeImage } from './push.js'
import { ALICE, FIXTURES, startStandIn, type StandIn } from './stand-in.js'

keepDaemonLogs(import.meta.url)

const SMALL = path.join(FIXTURES, 'small', 'oci')
const SMALL_DIGEST = 'sha256:46e5cc9546ec373375142efc4e9ea8f44326ce54611ae3e87d8b8d091ffc0901'
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

const digestOf = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`


describe('upstream images through a real daemon: the CLI, the gateway as a mirror, bad upstreams, signatures', () => {
  let dir: string
  let hub: StandIn
  let proxy: FaultProxy
  let daemon: DaemonProcess
  let gateway: string
  let key: Awaited<ReturnType<typeof generateKeyPair>>
  let signed: MadeImage
  let unsigned: MadeImage
  const repo = (): string => path.join(dir, 'node')
  const prefix = (host: string): string => host.replace(':', '_')

  before(async () => {
    dir = await tempDir()
    hub = await startStandIn(path.join(dir, 'hub'), { images: [[SMALL, 'library/small', 'v1'], [SMALL, 'private/app', 'v1']] })
    proxy = await startFaultProxy(hub.url, hub.pki)
    key = await generateKeyPair('Ed25519')
    // images of their own: one the node holds already is served from its store (see LIMITS)
    signed = await pushNewImage(hub, 'signed/app', 'v1', 64 * 1024)
    unsigned = await pushNewImage(hub, 'signed/unsigned', 'v1', 64 * 1024)
    await pushCosignSignature(hub, 'signed/app', { mediaType: OCI_MANIFEST, digest: signed.digest, size: signed.size }, key, 'tag')
    const authFile = path.join(dir, 'auth.json')
    await fs.writeFile(authFile, JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64') } } }), { mode: 0o600 })
    await runJson(repo(), ['init', ...TEST_INIT])
    const file = path.join(repo(), 'config.json')
    const config = JSON.parse(await fs.readFile(file, 'utf8'))
    config.upstream = {
      registries: [
        { host: hub.host, ca: hub.pki.caCert },
        // the same registry behind the proxy, with alice's credentials
        { host: proxy.host, ca: hub.pki.caCert, credentials: { authFile } },
        // the one-word default: Docker Hub's rules (library/), served by the stand-in
        { host: 'docker.io', endpoints: [hub.url], ca: hub.pki.caCert, unqualified: true }
      ],
      dockerHub: false
    }
    await fs.writeFile(file, JSON.stringify(config, null, 2))
    await fs.writeFile(path.join(repo(), 'policy.json'), JSON.stringify({
      version: 1,
      rules: [],
      upstream: [{ match: `${hub.host}/signed/**`, cosign: { keys: [publicKeyToPem(key.publicKey)] } }]
    }))
    daemon = new DaemonProcess(repo())
    await daemon.ready()
    gateway = (await runJson(repo(), ['id'])).gateway
  })

  after(async () => {
    daemon?.kill()
    await daemon?.exited
    await proxy?.close()
    await hub?.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('image pull: a reference with the upstream\'s host, and a one-word name through the default (Docker Hub\'s library/)', async () => {
    const pulled = await runJson(repo(), ['image', 'pull', `${hub.host}/library/small:v1`])
    assert.equal(pulled.image.digest, SMALL_DIGEST)
    assert.deepEqual([pulled.upstream.host, pulled.upstream.repository, pulled.upstream.tag], [hub.host, 'library/small', 'v1'])
    const one = await pushNewImage(hub, 'library/one', 'v1', 256 * 1024)
    const byWord = await runJson(repo(), ['image', 'pull', 'one:v1'])
    assert.equal(byWord.image.digest, one.digest)
    assert.deepEqual([byWord.upstream.host, byWord.upstream.repository], ['docker.io', 'library/one'])
    const log = await hub.accessLog()
    assert.ok(log.some(e => e.method === 'GET' && e.path === `/v2/library/one/blobs/${one.layer}` && e.status === 200))
    const held = await runJson(repo(), ['image', 'ls'])
    assert.ok(held.images.some((i: { digest: string }) => i.digest === one.digest), 'recorded as an image the node holds')
    // a pull asked for these: kept, never evicted
    const stat = await runJson(repo(), ['repo', 'stat'])
    for (const digest of [SMALL_DIGEST, one.digest]) {
      assert.equal(stat.images.find((i: { digest: string }) => i.digest === digest)?.cache, false, `${digest} is kept`)
    }
  })

  it('20 concurrent pulls of a new image through one gateway: the upstream serves each blob once', async () => {
    const made = await pushNewImage(hub, 'library/many', 'v1')
    const before = (await hub.accessLog()).length
    const src = `docker://${new URL(gateway).host}/${prefix(hub.host)}/library/many:v1`
    const pulls = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      runTool('skopeo', ['copy', '--quiet', '--src-tls-verify=false', src, `dir:${path.join(dir, `many-${i}`)}`], 300_000)))
    for (const p of pulls) assert.equal(p.code, 0, p.stderr)
    for (let i = 0; i < 20; i++) {
      const layer = await fs.readFile(path.join(dir, `many-${i}`, made.layer.slice('sha256:'.length)))
      assert.equal(digestOf(layer), made.layer)
    }
    const log = (await hub.accessLog()).slice(before).filter(e => e.path.startsWith('/v2/library/many/'))
    const count = (method: string, p: string): number => log.filter(e => e.method === method && e.path === p && e.status === 200).length
    assert.equal(count('GET', `/v2/library/many/blobs/${made.layer}`), 1, 'the layer once')
    assert.equal(count('GET', `/v2/library/many/blobs/${made.config}`), 1, 'the config once')
    assert.equal(count('GET', `/v2/library/many/manifests/${made.digest}`), 1, 'the manifest once')
    assert.equal(count('HEAD', '/v2/library/many/manifests/v1'), 1, 'the tag resolved once')
    // fetched for the gateway's clients: cache, which eviction may remove (recorded once its last blob is in)
    const cached = await waitFor('the image recorded', async () => {
      const stat = await runJson(repo(), ['repo', 'stat'])
      return stat.images.find((i: { digest: string }) => i.digest === made.digest)
    }, 30_000)
    assert.equal(cached.cache, true, 'an image fetched for a mirror client is cache')
  })

  it('an upstream that serves wrong bytes for a blob: the client gets an error, nothing is stored or provided', async () => {
    const made = await pushNewImage(hub, 'library/bad', 'v1')
    proxy.rule = (req) => req.path === `/v2/library/bad/blobs/${made.layer}` ? { kind: 'corrupt' } : undefined
    const base = `${gateway}/v2/${prefix(proxy.host)}/library/bad`
    const manifest = await fetch(`${base}/manifests/v1`, { headers: { accept: OCI_MANIFEST } })
    assert.equal(manifest.status, 200, await manifest.clone().text())
    assert.equal(manifest.headers.get('docker-content-digest'), made.digest)
    let received = 0
    let failed: unknown
    try {
      const blob = await fetch(`${base}/blobs/${made.layer}`)
      // a 200 whose body breaks short (the check fails at the end), or a 502 when it fails before any byte
      if (blob.status !== 200) {
        assert.equal(blob.status, 502, await blob.text())
        throw new Error(`status ${blob.status}`)
      }
      for await (const chunk of blob.body as AsyncIterable<Uint8Array>) received += chunk.byteLength
    } catch (err) {
      failed = err
    }
    assert.ok(failed != null, `the client got ${received} bytes and no error`)
    assert.ok(received < made.layerSize, 'the client never holds the whole bad blob')
    const held = await runJson(repo(), ['image', 'ls'])
    assert.ok(!held.images.some((i: { digest: string }) => i.digest === made.digest), 'no image recorded')
    const providers = await runJson(repo(), ['providers', made.layer])
    assert.equal(providers.providers.length, 0, 'the bad blob is not provided')
    // nothing was stored: with the proxy honest again the blob is fetched afresh, and it is right
    proxy.rule = () => undefined
    const asked = proxy.requests.filter(r => r.path === `/v2/library/bad/blobs/${made.layer}`).length
    const good = await fetch(`${base}/blobs/${made.layer}`)
    assert.equal(good.status, 200)
    assert.equal(digestOf(new Uint8Array(await good.arrayBuffer())), made.layer)
    assert.ok(proxy.requests.filter(r => r.path === `/v2/library/bad/blobs/${made.layer}`).length > asked, 'fetched again')
  })

  it('a private repository: without credentials the error names the registry and the missing credentials; with them from auth.json it pulls', async () => {
    const refused = await runCli(repo(), ['image', 'pull', `${hub.host}/private/app:v1`, '--json'])
    assert.equal(refused.code, 1)
    const err = JSON.parse(refused.stderr).error
    assert.equal(err.name, 'UpstreamAuthError')
    assert.match(err.message, new RegExp(`registry ${hub.host.replace(/\./g, '\\.')}`))
    assert.match(err.message, /no credentials were found/)
    const viaGateway = await fetch(`${gateway}/v2/${prefix(hub.host)}/private/app/manifests/v1`)
    assert.equal(viaGateway.status, 403)
    assert.match(await viaGateway.text(), /no credentials were found/)
    const pulled = await runJson(repo(), ['image', 'pull', `${proxy.host}/private/app:v1`])
    assert.equal(pulled.image.digest, SMALL_DIGEST)
  })

  it('cosign: an image signed with the key the policy requires passes; an unsigned one is refused under enforce', async () => {
    const base = `${gateway}/v2/${prefix(hub.host)}/signed`
    const refusedGet = await fetch(`${base}/unsigned/manifests/v1`, { headers: { accept: OCI_MANIFEST } })
    assert.equal(refusedGet.status, 403)
    assert.match(await refusedGet.text(), /DENIED/)
    const passed = await fetch(`${base}/app/manifests/v1`, { headers: { accept: OCI_MANIFEST } })
    assert.equal(passed.status, 200, await passed.clone().text())
    assert.equal(passed.headers.get('docker-content-digest'), signed.digest)
    assert.notEqual(unsigned.digest, signed.digest)
    const refused = await runCli(repo(), ['image', 'pull', `${hub.host}/signed/unsigned:v1`, '--json'])
    assert.equal(refused.code, 1)
    assert.equal(JSON.parse(refused.stderr).error.name, 'PolicyViolationError')
  })
})
