import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { cidForDigest } from '@provenir/content'
import { createSwarm } from '@provenir/testbed'
import { encodeEnvelope, imageSignatureStatement, layerSignatureStatement, parsePolicy, signStatement, userIdFromKey } from '@provenir/trust'
import { digestOf, makeImage, seedImage } from './images.js'
import type { PrivateKey } from '@libp2p/interface'
import type { Swarm } from '@provenir/testbed'
import type { TrustPolicy } from '@provenir/trust'

function layersOf (image: ReturnType<typeof makeImage>): string[] {
  return JSON.parse(new TextDecoder().decode(image.manifest)).layers.map((l: { digest: string }) => l.digest)
}


describe('trust on pull: statements travel with the image, and the policy is checked before the layers', () => {
  let swarm: Swarm
  let vendor: PrivateKey
  let team: PrivateKey
  let policy: (mode: 'enforce' | 'audit') => TrustPolicy
  const full = makeImage(2.5 * 1024 * 1024)
  const partial = makeImage(2.5 * 1024 * 1024)

  /** vendor signs the base layer; team signs the app layer and the manifest */
  async function sign (image: ReturnType<typeof makeImage>, withVendor: boolean): Promise<Uint8Array[]> {
    const [base, app] = layersOf(image)
    const out = [
      encodeEnvelope(await signStatement(layerSignatureStatement([app]), team)),
      encodeEnvelope(await signStatement(imageSignatureStatement(digestOf(image.manifest)), team))
    ]
    if (withVendor) out.unshift(encodeEnvelope(await signStatement(layerSignatureStatement([base]), vendor)))
    return out
  }

  before(async () => {
    vendor = await generateKeyPair('Ed25519')
    team = await generateKeyPair('Ed25519')
    policy = (mode) => parsePolicy({
      version: 1,
      rules: [{
        match: 'acme/*',
        mode,
        manifest: { signers: [userIdFromKey(team)] },
        layers: [
          { layers: 'base:1', signers: [userIdFromKey(vendor)] },
          { layers: 'rest', signers: [userIdFromKey(team)] }
        ]
      }]
    })
    swarm = await createSwarm({ size: 4, transport: 'tcp', difficulty: 4, topology: 'line', blockstores: true })
    await swarm.waitForRoutingTables(2)
    const origin = swarm.nodes[0]
    await seedImage(origin, full)
    await seedImage(origin, partial)
    await origin.addStatements(digestOf(full.manifest), await sign(full, true))
    await origin.addStatements(digestOf(partial.manifest), await sign(partial, false))
  })

  after(async () => {
    await swarm?.stop()
  })

  it('attaching refuses a tampered statement and one about another image, naming which', async () => {
    const origin = swarm.nodes[0]
    const [good] = await sign(full, true)
    const tampered = JSON.parse(new TextDecoder().decode(good))
    tampered.signatures[0].sig = Buffer.from(Buffer.from(tampered.signatures[0].sig, 'base64').map((b, i) => i === 3 ? b ^ 1 : b)).toString('base64')
    await assert.rejects(origin.addStatements(digestOf(full.manifest), [good, new TextEncoder().encode(JSON.stringify(tampered))]), (err: Error) => {
      assert.equal(err.name, 'SignatureInvalidError')
      assert.match(err.message, /^statement 2 of 2: /)
      return true
    })
    const other = encodeEnvelope(await signStatement(imageSignatureStatement(digestOf(partial.manifest)), team))
    await assert.rejects(origin.addStatements(digestOf(full.manifest), [other]), /names no digest of image/)
    assert.equal((await origin.images!.get(digestOf(full.manifest)))!.statements!.length, 3, 'nothing was added')
  })

  it('under enforce, a multi-issuer image passes: the far node fetches the statements through the swarm and keeps them', async () => {
    const origin = swarm.nodes[0]
    const far = swarm.nodes[3]
    const digest = digestOf(full.manifest)
    await swarm.waitForProviders(far, cidForDigest(digest), [origin])
    const pulled = await far.pull(digest, { policy: policy('enforce'), reference: 'acme/app:1.0', signal: AbortSignal.timeout(60_000) })
    assert.equal(pulled.report?.passed, true, JSON.stringify(pulled.report?.checks))
    assert.equal(pulled.statements.length, 3)
    assert.deepEqual(new Set(pulled.statements.flatMap(s => s.signers)), new Set([userIdFromKey(vendor), userIdFromKey(team)]))
    assert.equal(pulled.record.statements?.length, 3, 'the record lists the statements')
    for (const s of pulled.statements) assert.ok(await far.blockstore!.pins.isPinned(s.cid), `statement ${s.cid} is pinned with the image`)
    const { report } = await far.verify(digest, { policy: policy('enforce'), reference: 'acme/app:1.0' })
    assert.equal(report.passed, true)
  })

  it('under enforce, without the vendor\'s statement the pull fails naming the layer and the rule, before any layer is fetched, and records nothing', async () => {
    const origin = swarm.nodes[0]
    const puller = swarm.nodes[2]
    const digest = digestOf(partial.manifest)
    const [base] = layersOf(partial)
    await swarm.waitForProviders(puller, cidForDigest(digest), [origin])
    const before = puller.libp2p.services.bitswap.ledger(origin.peerId)?.bytesReceived ?? 0
    await assert.rejects(puller.pull(digest, { policy: policy('enforce'), reference: 'acme/app:1.0', signal: AbortSignal.timeout(60_000) }), (err: Error) => {
      assert.equal(err.name, 'PolicyViolationError')
      assert.ok(err.message.includes(base), err.message)
      assert.match(err.message, /rules\[0\]\.layers\[0\]/)
      return true
    })
    assert.equal(await puller.images!.has(digest), false, 'nothing recorded')
    const received = (puller.libp2p.services.bitswap.ledger(origin.peerId)?.bytesReceived ?? 0) - before
    assert.ok(received < 1024 * 1024, `only the manifest and the statements were fetched (${received} bytes), not the 2.5 MiB layer`)
  })

  it('under audit, the same image pulls with the failure as a warning', async () => {
    const puller = swarm.nodes[2]
    const digest = digestOf(partial.manifest)
    const pulled = await puller.pull(digest, { policy: policy('audit'), reference: 'acme/app:1.0', signal: AbortSignal.timeout(60_000) })
    assert.equal(pulled.report?.passed, false)
    assert.equal(pulled.report?.allowed, true)
    assert.ok(pulled.report!.warnings.some(w => w.includes(layersOf(partial)[0])), pulled.report!.warnings.join('\n'))
    assert.equal(await puller.images!.has(digest), true)
  })

  it('the node\'s own policy applies to a pull that brings none', async () => {
    const puller = swarm.nodes[1]
    const digest = digestOf(partial.manifest)
    await swarm.waitForProviders(puller, cidForDigest(digest), [swarm.nodes[0]])
    puller.trustPolicy = parsePolicy({ version: 1, default: 'enforce', rules: [] })
    try {
      await assert.rejects(puller.pull(digest, { signal: AbortSignal.timeout(60_000) }), /no rule matches/)
    } finally {
      puller.trustPolicy = undefined
    }
  })
})
