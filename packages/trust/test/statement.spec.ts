import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  IN_TOTO_STATEMENT_V1,
  PAYLOAD_TYPE_IN_TOTO,
  PREDICATE_TYPE_IMAGE_SIGNATURE,
  PREDICATE_TYPE_LAYER_SIGNATURE,
  imageSignatureStatement,
  layerSignatureStatement,
  signEnvelope,
  signStatement,
  userIdFromKey,
  verifyStatement,
  createStatement
} from '../src/index.js'
import { flipBase64Byte, key, layerDigests, manifestDigest, mutate } from './fixtures.js'

describe('in-toto statements', () => {
  it('an image signature names the manifest digest and verifies against it', async () => {
    const b = await key('bob')
    const statement = imageSignatureStatement(manifestDigest, { repository: 'acme/app' })
    assert.equal(statement._type, IN_TOTO_STATEMENT_V1)
    assert.equal(statement.predicateType, PREDICATE_TYPE_IMAGE_SIGNATURE)
    assert.deepEqual(statement.subject, [{ name: `acme/app@${manifestDigest}`, digest: { sha256: manifestDigest.slice('sha256:'.length) } }])
    const env = await signStatement(statement, b)
    assert.equal(env.payloadType, PAYLOAD_TYPE_IN_TOTO)
    const verified = await verifyStatement(env, { digests: [manifestDigest], predicateType: PREDICATE_TYPE_IMAGE_SIGNATURE, signers: [userIdFromKey(b)] })
    assert.deepEqual(verified.statement, statement)
    assert.deepEqual(verified.signers, [userIdFromKey(b)])
  })

  it('a layer signature names every layer digest', async () => {
    const a = await key('alice')
    const env = await signStatement(layerSignatureStatement(layerDigests.slice(0, 2), { source: 'docker.io/library/node:22-alpine' }), a)
    const verified = await verifyStatement(env, { digests: layerDigests.slice(0, 2), predicateType: PREDICATE_TYPE_LAYER_SIGNATURE })
    assert.equal(verified.statement.subject.length, 2)
    await assert.rejects(verifyStatement(env, { digests: [layerDigests[2]] }), { name: 'SubjectMismatchError' })
    assert.throws(() => layerSignatureStatement([layerDigests[0], layerDigests[0]]), { name: 'StatementInvalidError' })
  })

  it('rejects a statement whose subject is a different digest with SubjectMismatchError', async () => {
    const env = await signStatement(imageSignatureStatement(layerDigests[0]), await key('bob'))
    await assert.rejects(verifyStatement(env, { digests: [manifestDigest] }), (err: Error) => {
      assert.equal(err.name, 'SubjectMismatchError')
      assert.ok(err.message.includes(manifestDigest), 'names the digest it was checked against')
      assert.ok(err.message.includes(layerDigests[0]), 'names the digest the statement speaks for')
      return true
    })
  })

  it('rejects a flipped byte in a statement\'s payload', async () => {
    const env = await signStatement(imageSignatureStatement(manifestDigest), await key('bob'))
    await assert.rejects(verifyStatement({ ...env, payload: flipBase64Byte(env.payload, 40) }), { name: 'SignatureInvalidError' })
  })

  it('rejects a statement by a signer other than the expected one with KeyIdMismatchError', async () => {
    const env = await signStatement(imageSignatureStatement(manifestDigest), await key('mallory'))
    await assert.rejects(verifyStatement(env, { signers: [userIdFromKey(await key('bob'))] }), { name: 'KeyIdMismatchError' })
  })

  it('rejects the wrong predicate type, a non-statement payload and a non-in-toto payloadType', async () => {
    const b = await key('bob')
    const env = await signStatement(imageSignatureStatement(manifestDigest), b)
    await assert.rejects(verifyStatement(env, { predicateType: PREDICATE_TYPE_LAYER_SIGNATURE }), { name: 'StatementInvalidError' })
    const notStatement = await signEnvelope(new TextEncoder().encode(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', subject: [] })), PAYLOAD_TYPE_IN_TOTO, b)
    await assert.rejects(verifyStatement(notStatement), { name: 'StatementInvalidError', message: /_type/ })
    const other = await signEnvelope(new TextEncoder().encode('{}'), 'application/json', b)
    await assert.rejects(verifyStatement(other), { name: 'EnvelopeInvalidError', message: /payloadType/ })
  })

  it('checks subjects: digest sets must be lowercase hex of the right length', () => {
    const good = createStatement([{ digest: manifestDigest }], 'https://example.com/p/v1', {})
    assert.throws(() => createStatement([], 'https://example.com/p/v1', {}), { name: 'StatementInvalidError' })
    assert.throws(() => createStatement([{ digest: 'sha256:abc' }], 'https://example.com/p/v1', {}), { name: 'DigestInvalidError' })
    assert.throws(() => createStatement([{ digest: manifestDigest }], 'not a uri', {}), { name: 'StatementInvalidError', message: /predicateType/ })
    const upper = mutate(good, s => { s.subject[0].digest.sha256 = s.subject[0].digest.sha256.toUpperCase() })
    assert.throws(() => createStatement(upper.subject.map(s => ({ name: s.name, digest: `sha256:${s.digest.sha256}` })), good.predicateType, {}), { name: 'DigestInvalidError' })
  })
})
