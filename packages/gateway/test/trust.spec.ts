import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { cidForDigest } from '@provenir/content'
import { createSwarm } from '@provenir/testbed'
import { fromSigstoreBundle, parsePolicy, SIGSTORE_BUNDLE_V03_MEDIA_TYPE, userIdFromKey, verifyStatement } from '@provenir/trust'
import { FIXTURES, buildFixtures, manifestBlobs, readLayout, run, sha256, skopeo, startGateway, stopAll, tempDir } from './helpers.js'
import type { PrivateKey } from '@libp2p/interface'
import type { Swarm } from '@provenir/testbed'

const SMALL = join(FIXTURES, 'small/oci')

describe('the gateway and trust: pushes are signed, referrers list the signatures, pulls obey the policy', () => {
  let swarm: Swarm
  let signer: PrivateKey
  let a: Awaited<ReturnType<typeof startGateway>>
  let b: Awaited<ReturnType<typeof startGateway>>
  let out: string
  let digest: string
  let layers: string[]

  before(async () => {
    await buildFixtures('small')
    digest = (await readLayout(SMALL)).manifestDigest
    layers = (await manifestBlobs(SMALL, digest)).slice(1)
    signer = await generateKeyPair('Ed25519')
    swarm = await createSwarm({ size: 2, transport: 'tcp', difficulty: 4, topology: 'line', blockstores: true })
    await swarm.waitForRoutingTables(1)
    a = await startGateway(swarm.nodes[0], { signer })
    b = await startGateway(swarm.nodes[1])
    out = await tempDir('provenir-gateway-out-')
  })

  after(async () => {
    await stopAll(swarm, [a, b], [out])
  })

  it('a push by tag is signed by the gateway\'s key: the manifest, and every layer', async () => {
    await skopeo('copy', '--dest-tls-verify=false', `oci:${SMALL}:v1`, `docker://${a.hostPort}/acme/app:v1`)
    const statements = await swarm.nodes[0].statements(digest)
    assert.equal(statements.length, 2)
    for (const s of statements) assert.deepEqual(s.signers, [userIdFromKey(signer)])
    const image = statements.find(s => s.predicateType === 'https://provenir.dev/signature/image/v1')
    const layer = statements.find(s => s.predicateType === 'https://provenir.dev/signature/layer/v1')
    assert.deepEqual(image?.subjects, [digest])
    assert.deepEqual(layer?.subjects, layers)
  })

  it('GET /v2/<name>/referrers/<digest> lists the signatures as Sigstore bundle artifacts, which the manifest and blob routes serve', async () => {
    const res = await fetch(`${a.url}/v2/acme/app/referrers/${digest}`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json')
    const index = await res.json() as { manifests: Array<{ digest: string, artifactType: string, annotations: Record<string, string> }> }
    assert.equal(index.manifests.length, 2)
    for (const m of index.manifests) {
      assert.equal(m.artifactType, SIGSTORE_BUNDLE_V03_MEDIA_TYPE)
      const manifestRes = await fetch(`${a.url}/v2/acme/app/manifests/${m.digest}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })
      assert.equal(manifestRes.status, 200)
      const bytes = new Uint8Array(await manifestRes.arrayBuffer())
      assert.equal(sha256(bytes), m.digest)
      const manifest = JSON.parse(new TextDecoder().decode(bytes))
      assert.equal(manifest.subject.digest, digest)
      const blob = await fetch(`${a.url}/v2/acme/app/blobs/${manifest.layers[0].digest}`)
      assert.equal(blob.status, 200)
      const bundleBytes = new Uint8Array(await blob.arrayBuffer())
      assert.equal(sha256(bundleBytes), manifest.layers[0].digest)
      const verified = await verifyStatement(fromSigstoreBundle(bundleBytes))
      assert.deepEqual(verified.signers, [userIdFromKey(signer)])
      assert.equal(verified.statement.predicateType, m.annotations['dev.sigstore.bundle.predicateType'])
    }
    const filtered = await fetch(`${a.url}/v2/acme/app/referrers/${digest}?artifactType=${encodeURIComponent('application/example')}`)
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType')
    assert.deepEqual((await filtered.json() as { manifests: unknown[] }).manifests, [])
    // asked again, the same artifacts (made once per statement)
    const again = await (await fetch(`${a.url}/v2/acme/app/referrers/${digest}`)).json() as { manifests: Array<{ digest: string }> }
    assert.deepEqual(again.manifests.map(m => m.digest).sort(), index.manifests.map(m => m.digest).sort())
  })

  it('a pull through B under an enforce policy the image does not meet fails with DENIED, and B keeps nothing', async () => {
    const other = await generateKeyPair('Ed25519')
    swarm.nodes[1].trustPolicy = parsePolicy({ version: 1, rules: [{ match: 'acme/*', mode: 'enforce', manifest: { signers: [userIdFromKey(other)] } }] })
    const res = await fetch(`${b.url}/v2/acme/app/manifests/${digest}`)
    assert.equal(res.status, 403)
    const body = await res.json() as { errors: Array<{ code: string, message: string }> }
    assert.equal(body.errors[0].code, 'DENIED')
    assert.match(body.errors[0].message, /the trust policy \(mode enforce\) refuses acme\/app@sha256:.* breaks rules\[0\]\.manifest/)
    const copy = await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${b.hostPort}/acme/app@${digest}`, `oci:${join(out, 'denied')}:v1`])
    assert.notEqual(copy.code, 0)
    assert.match(copy.stderr, /denied/i)
    assert.equal(await swarm.nodes[1].images!.has(digest), false)
  })

  it('with DHT peers, an unknown digest is MANIFEST_UNKNOWN as soon as the lookup ends empty', async () => {
    const started = Date.now()
    const res = await fetch(`${b.url}/v2/acme/app/manifests/${sha256('no one holds this')}`)
    const ms = Date.now() - started
    assert.equal(res.status, 404)
    const message = (await res.json() as { errors: Array<{ message: string }> }).errors[0].message
    assert.match(message, /no provider of manifest sha256:[0-9a-f]{64} in the swarm$/)
    assert.ok(ms < 10_000, `answered in ${ms} ms, under the 30 s manifest timeout`)
  })

  it('under a policy that trusts the signer, B pulls it, with the signatures, and lists them as referrers too', async () => {
    swarm.nodes[1].trustPolicy = parsePolicy({
      version: 1,
      rules: [{ match: 'acme/*', mode: 'enforce', manifest: { signers: [userIdFromKey(signer)] }, layers: [{ layers: 'all', signers: [userIdFromKey(signer)] }] }]
    })
    const pulled = join(out, 'b')
    await skopeo('copy', '--src-tls-verify=false', `docker://${b.hostPort}/acme/app@${digest}`, `oci:${pulled}:v1`)
    assert.equal((await readLayout(pulled)).manifestDigest, digest)
    const index = await (await fetch(`${b.url}/v2/acme/app/referrers/${digest}`)).json() as { manifests: unknown[] }
    assert.equal(index.manifests.length, 2)
  })
})

describe('referrers of an image still being pulled list its statements once the pull has recorded it', () => {
  let swarm: Swarm
  let a: Awaited<ReturnType<typeof startGateway>>
  let b: Awaited<ReturnType<typeof startGateway>>

  before(async () => {
    swarm = await createSwarm({ size: 2, transport: 'tcp', difficulty: 4, topology: 'line', blockstores: true })
    await swarm.waitForRoutingTables(1)
    a = await startGateway(swarm.nodes[0], { signer: await generateKeyPair('Ed25519') })
    b = await startGateway(swarm.nodes[1])
  })

  after(async () => {
    await stopAll(swarm, [a, b])
  })

  it('B answers referrers asked while its pull of the image runs with both signatures (the cause of the trust suite\'s flaky 0 !== 2)', async () => {
    // a layer big enough that B's pull is still fetching it when the referrers request comes
    const layer = randomBytes(48 * 1024 * 1024)
    const config = new TextEncoder().encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }))
    for (const bytes of [config, layer]) {
      assert.equal((await fetch(`${a.url}/v2/acme/big/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } })).status, 201)
    }
    const manifest = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.byteLength },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.byteLength }]
    }))
    const digest = sha256(manifest)
    assert.equal((await fetch(`${a.url}/v2/acme/big/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } })).status, 201)
    await swarm.waitForProviders(swarm.nodes[1], cidForDigest(digest), [swarm.nodes[0]])
    const got = await fetch(`${b.url}/v2/acme/big/manifests/${digest}`)
    assert.equal(got.status, 200)
    await got.arrayBuffer()
    const recordedFirst = await swarm.nodes[1].images!.has(digest)
    const index = await (await fetch(`${b.url}/v2/acme/big/referrers/${digest}`)).json() as { manifests: unknown[] }
    assert.equal(recordedFirst, false, 'the referrers were asked while the pull still ran')
    assert.equal(index.manifests.length, 2)
  })
})
