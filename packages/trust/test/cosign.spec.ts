import assert from 'node:assert/strict'
import { generateKeyPairSync, sign } from 'node:crypto'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { COSIGN_PAYLOAD_TYPE, createCosignSignature, findUpstreamRule, parsePolicy, publicKeyToPem, upstreamNeedsSignatures, verifyCosignSignatures } from '../src/index.js'

const DIGEST = `sha256:${'c'.repeat(64)}`

function payloadFor (digest: string, reference = 'quay.io/org/app'): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': digest }, type: COSIGN_PAYLOAD_TYPE }, optional: null }))
}

describe('cosign signatures', () => {
  it('verifies the project\'s own Ed25519 signatures in cosign\'s format', async () => {
    const key = await generateKeyPair('Ed25519')
    const signed = createCosignSignature(DIGEST, 'quay.io/org/app', key)
    const doc = JSON.parse(new TextDecoder().decode(signed.payload))
    assert.equal(doc.critical.image['docker-manifest-digest'], DIGEST)
    assert.equal(doc.critical.type, 'cosign container image signature')
    const result = verifyCosignSignatures(DIGEST, [signed], [publicKeyToPem(key)])
    assert.equal(result.signers.length, 1)
    assert.deepEqual(result.rejected, [])
  })

  it('verifies ECDSA P-256 (cosign\'s default keys, DER signatures over SHA-256), P-384 and RSA', () => {
    const payload = payloadFor(DIGEST)
    for (const [type, options, hash] of [
      ['ec', { namedCurve: 'P-256' }, 'sha256'],
      ['ec', { namedCurve: 'P-384' }, 'sha384'],
      ['rsa', { modulusLength: 2048 }, 'sha256']
    ] as const) {
      const { publicKey, privateKey } = generateKeyPairSync(type as 'ec', options as { namedCurve: string })
      const signature = sign(hash, payload, privateKey).toString('base64')
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
      assert.equal(verifyCosignSignatures(DIGEST, [{ payload, signature }], [pem]).signers.length, 1, `${type} ${JSON.stringify(options)}`)
    }
  })

  it('counts nothing for a signature over other bytes, another digest or another payload type', async () => {
    const key = await generateKeyPair('Ed25519')
    const pem = publicKeyToPem(key)
    const good = createCosignSignature(DIGEST, 'quay.io/org/app', key)
    const tampered = { payload: payloadFor(DIGEST, 'quay.io/org/other'), signature: good.signature }
    const other = createCosignSignature(`sha256:${'d'.repeat(64)}`, 'quay.io/org/app', key)
    const atomic = { payload: new TextEncoder().encode(JSON.stringify({ critical: { type: 'atomic container signature', image: { 'docker-manifest-digest': DIGEST } } })), signature: good.signature }
    const result = verifyCosignSignatures(DIGEST, [tampered, other, atomic, { payload: new Uint8Array([1, 2]), signature: 'AA==' }], [pem])
    assert.deepEqual(result.signers, [])
    assert.equal(result.rejected.length, 4)
    assert.match(result.rejected[0], /none of the rule's keys/)
    assert.match(result.rejected[1], /not sha256:c+/)
    assert.match(result.rejected[2], /atomic container signature/)
    assert.match(result.rejected[3], /not JSON/)
  })
})

describe('upstream rules in the policy', () => {
  it('parses them, matches <host>/<repository> first rule first, and checks their keys', async () => {
    const key = await generateKeyPair('Ed25519')
    const pem = publicKeyToPem(key)
    const policy = parsePolicy({
      version: 1,
      rules: [],
      upstream: [
        { match: 'docker.io/library/*', cosign: { keys: [pem] } },
        { match: ['quay.io/**', '127.0.0.1:5590/**'], mode: 'off', cosign: { keys: [pem] } }
      ]
    })
    assert.equal(findUpstreamRule(policy, 'docker.io/library/alpine')?.index, 0)
    assert.equal(findUpstreamRule(policy, '127.0.0.1:5590/a/b')?.index, 1)
    assert.equal(findUpstreamRule(policy, 'docker.io/org/app'), undefined)
    assert.equal(upstreamNeedsSignatures(policy, 'docker.io/library/alpine'), true)
    assert.equal(upstreamNeedsSignatures(policy, 'quay.io/a/b'), false, 'mode off')
    assert.equal(upstreamNeedsSignatures(policy, 'ghcr.io/a/b'), false, 'no rule: verified bytes')
    assert.throws(() => parsePolicy({ version: 1, rules: [], upstream: [{ match: 'a/**', cosign: { keys: ['-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----'] } }] }), {
      name: 'PolicyInvalidError', message: /\/upstream\/0\/cosign\/keys\/0/
    })
    assert.throws(() => parsePolicy({ version: 1, rules: [], upstream: [{ match: 'a/**', cosign: { keys: [pem], threshold: 2 } }] }), {
      name: 'PolicyInvalidError', message: /threshold must be at most the number of keys/
    })
    assert.throws(() => parsePolicy({ version: 1, rules: [], upstream: [{ match: 'a/**', cosign: { key: pem } }] }), { name: 'PolicyInvalidError', message: /\/upstream\/0\/cosign\/key is not a known field|must have the field "keys"/ })
  })
})
