/**
 * Cosign signatures on an upstream registry, made with the project's own
 * signing code in cosign's layout (the `sha256-<hex>.sig` tag, and OCI 1.1
 * referrers), fetched with the registry client and checked by the trust
 * policy's upstream rules.
 */

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { ANONYMOUS, RegistryClient, fetchCosignSignatures } from '@provenir/registry-client'
import { assertPolicy, checkUpstreamImage, parsePolicy, publicKeyToPem } from '@provenir/trust'
import { startFaultProxy, type FaultProxy } from './fault-proxy.js'
import { pushCosignSignature } from './push.js'
import { FIXTURES, startStandIn, type StandIn } from './stand-in.js'
import type { PrivateKey } from '@libp2p/interface'
import type { TrustPolicy } from '@provenir/trust'

const SMALL = path.join(FIXTURES, 'small', 'oci')
const DIGEST = 'sha256:46e5cc9546ec373375142efc4e9ea8f44326ce54611ae3e87d8b8d091ffc0901'
const SUBJECT = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, size: 507 }

describe('cosign signatures of upstream images', () => {
  let dir: string
  let hub: StandIn
  let proxy: FaultProxy
  let client: RegistryClient
  let key: PrivateKey
  let other: PrivateKey
  let policy: TrustPolicy

  const check = async (repository: string, p = policy, c = client): Promise<ReturnType<typeof checkUpstreamImage>> => checkUpstreamImage({
    policy: p,
    name: `${hub.host}/${repository}`,
    manifestDigest: DIGEST,
    signatures: async () => fetchCosignSignatures(c, repository, DIGEST)
  })

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-upstream-cosign-'))
    hub = await startStandIn(path.join(dir, 'hub'), {
      images: [[SMALL, 'signed/tagged', 'v1'], [SMALL, 'signed/referred', 'v1'], [SMALL, 'signed/wrongkey', 'v1'], [SMALL, 'library/small', 'v1']]
    })
    proxy = await startFaultProxy(hub.url, hub.pki)
    key = await generateKeyPair('Ed25519')
    other = await generateKeyPair('Ed25519')
    await pushCosignSignature(hub, 'signed/tagged', SUBJECT, key, 'tag')
    await pushCosignSignature(hub, 'signed/referred', SUBJECT, key, 'referrers')
    await pushCosignSignature(hub, 'signed/wrongkey', SUBJECT, other, 'tag')
    client = new RegistryClient({ host: hub.host, endpoints: [hub.url], ca: hub.pki.caPem, credentials: ANONYMOUS })
    policy = parsePolicy({ version: 1, rules: [], upstream: [{ match: `${hub.host}/**`, cosign: { keys: [publicKeyToPem(key)] } }] })
  })

  after(async () => {
    await client?.close()
    await proxy?.close()
    await hub?.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('passes an image signed by the rule\'s key, by the tag scheme', async () => {
    const signatures = await fetchCosignSignatures(client, 'signed/tagged', DIGEST)
    assert.equal(signatures.length, 1)
    assert.equal(signatures[0].from, 'tag')
    const report = await check('signed/tagged')
    assert.equal(report.passed, true, JSON.stringify(report.checks))
    assert.deepEqual(assertPolicy(report), [])
    assert.match(report.checks[0].reason, /cosign signatures by key 0 \(sha256:[0-9a-f]{16}\)/)
  })

  it('passes an image signed as an OCI 1.1 referrer (the referrers tag schema on a registry without the API)', async () => {
    const signatures = await fetchCosignSignatures(client, 'signed/referred', DIGEST)
    assert.deepEqual(signatures.map(s => s.from), ['referrers'])
    assert.equal((await check('signed/referred')).passed, true)
  })

  it('reads the referrers API where the registry has it', async () => {
    const hex = DIGEST.slice(7)
    // the referrers index the tag schema holds, answered at the API's path by the proxy
    const index = await client.manifest('signed/referred', `sha256-${hex}`)
    proxy.rule = req => req.path.startsWith(`/v2/signed/referred/referrers/${DIGEST}`)
      ? { kind: 'answer', status: 200, contentType: 'application/vnd.oci.image.index.v1+json', body: index.bytes }
      : undefined
    const viaProxy = new RegistryClient({ host: hub.host, endpoints: [proxy.url], ca: hub.pki.caPem, credentials: ANONYMOUS })
    try {
      const referrers = await viaProxy.referrers('signed/referred', DIGEST, { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' })
      assert.equal(referrers.length, 1)
      assert.ok(proxy.requests.some(r => r.path.startsWith('/v2/signed/referred/referrers/')))
      assert.ok(!proxy.requests.some(r => r.path === `/v2/signed/referred/manifests/sha256-${hex}`), 'the API answered, the tag schema was not read')
      assert.equal((await check('signed/referred', policy, viaProxy)).passed, true)
    } finally {
      proxy.rule = () => undefined
      await viaProxy.close()
    }
  })

  it('refuses an unsigned image under enforce, naming the rule, and lets it through under audit with a warning', async () => {
    const report = await check('library/small')
    assert.equal(report.passed, false)
    assert.throws(() => assertPolicy(report), (err: Error) => {
      assert.equal(err.name, 'PolicyViolationError')
      assert.match(err.message, /upstream\[0\]\.cosign/)
      assert.match(err.message, /none verified/)
      return true
    })
    const audit = parsePolicy({ version: 1, rules: [], upstream: [{ match: `${hub.host}/**`, mode: 'audit', cosign: { keys: [publicKeyToPem(key)] } }] })
    const audited = await check('library/small', audit)
    assert.equal(audited.allowed, true)
    assert.match(assertPolicy(audited)[0], /audit/)
  })

  it('refuses an image signed by another key, saying so', async () => {
    const report = await check('signed/wrongkey')
    assert.equal(report.allowed, false)
    assert.match(report.checks[0].reason, /verifies with none of the rule's keys/)
  })

  it('accepts verified bytes without fetching signatures where no rule asks for them', async () => {
    const open = parsePolicy({ version: 1, rules: [], upstream: [{ match: 'quay.io/**', cosign: { keys: [publicKeyToPem(key)] } }] })
    let fetched = false
    const report = await checkUpstreamImage({ policy: open, name: `${hub.host}/library/small`, manifestDigest: DIGEST, signatures: async () => { fetched = true; return [] } })
    assert.equal(report.passed, true)
    assert.equal(fetched, false)
  })

  it('checks the payload names the digest: a signature over another image does not count', async () => {
    const [sig] = await fetchCosignSignatures(client, 'signed/tagged', DIGEST)
    const otherDigest = `sha256:${createHash('sha256').update('another image').digest('hex')}`
    const report = await checkUpstreamImage({ policy, name: `${hub.host}/signed/tagged`, manifestDigest: otherDigest, signatures: async () => [sig] })
    assert.equal(report.passed, false)
    assert.match(report.checks[0].reason, new RegExp(`signs "${DIGEST}", not ${otherDigest}`))
  })
})
