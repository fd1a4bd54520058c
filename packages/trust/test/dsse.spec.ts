import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { base36 } from 'multiformats/bases/base36'
import { MAX_SIGNATURES, addSignature, encodeEnvelope, pae, parseEnvelope, signEnvelope, userIdFromKey, verifyEnvelope, publicKeyFromUserId } from '../src/index.js'
import { flipBase64Byte, key, mutate } from './fixtures.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('DSSE', () => {
  it('PAE matches the DSSE spec test vector', () => {
    const out = pae('http://example.com/HelloWorld', text('hello world'))
    assert.equal(new TextDecoder().decode(out), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world')
  })

  it('PAE counts bytes, not characters', () => {
    const out = pae('t/ü', text('é'))
    assert.equal(Buffer.from(out).toString('utf8'), 'DSSEv1 4 t/ü 2 é')
  })

  it('the keyid is the signer\'s PeerId as CIDv1 libp2p-key in base36, and holds the public key', async () => {
    const a = await key('alice')
    const id = userIdFromKey(a)
    assert.equal(id, peerIdFromPrivateKey(a).toCID().toString(base36))
    assert.match(id, /^k51qzi5uqu5/)
    assert.ok(publicKeyFromUserId(id).equals(a.publicKey))
  })

  it('signs, then verifies, the spec example', async () => {
    const a = await key('alice')
    const env = await signEnvelope(text('hello world'), 'http://example.com/HelloWorld', a)
    assert.equal(env.payload, 'aGVsbG8gd29ybGQ=')
    assert.equal(env.signatures.length, 1)
    assert.equal(env.signatures[0].keyid, userIdFromKey(a))
    // Ed25519 is deterministic: the signature is exactly the PAE signed by the key
    assert.equal(env.signatures[0].sig, Buffer.from(await a.sign(pae(env.payloadType, text('hello world')))).toString('base64'))
    const verified = await verifyEnvelope(env)
    assert.deepEqual(verified.signers, [userIdFromKey(a)])
    assert.equal(new TextDecoder().decode(verified.payload), 'hello world')
  })

  it('rejects a flipped byte in the payload with SignatureInvalidError', async () => {
    const env = await signEnvelope(text('hello world'), 'http://example.com/HelloWorld', await key('alice'))
    const bad = { ...env, payload: flipBase64Byte(env.payload, 3) }
    await assert.rejects(verifyEnvelope(bad), { name: 'SignatureInvalidError', message: /signatures\[0\] does not verify/ })
  })

  it('rejects a changed payloadType with SignatureInvalidError', async () => {
    const env = await signEnvelope(text('hello world'), 'http://example.com/HelloWorld', await key('alice'))
    await assert.rejects(verifyEnvelope({ ...env, payloadType: 'http://example.com/Other' }), { name: 'SignatureInvalidError' })
  })

  it('rejects a flipped byte in the signature with SignatureInvalidError', async () => {
    const env = await signEnvelope(text('hello world'), 'http://example.com/HelloWorld', await key('alice'))
    const bad = mutate(env, e => { e.signatures[0].sig = flipBase64Byte(e.signatures[0].sig, 10) })
    await assert.rejects(verifyEnvelope(bad), { name: 'SignatureInvalidError' })
  })

  it('rejects a swapped keyid: the signature does not verify with the key the keyid names', async () => {
    const env = await signEnvelope(text('hello world'), 'http://example.com/HelloWorld', await key('alice'))
    const bob = userIdFromKey(await key('bob'))
    const bad = mutate(env, e => { e.signatures[0].keyid = bob })
    await assert.rejects(verifyEnvelope(bad), (err: Error) => {
      assert.equal(err.name, 'SignatureInvalidError')
      assert.ok(err.message.includes(bob), 'the message names the keyid')
      return true
    })
  })

  it('rejects a keyid that is not an Ed25519 UserId with KeyIdInvalidError', async () => {
    const env = await signEnvelope(text('x'), 'text/plain', await key('alice'))
    for (const keyid of ['SHA256:abcdef', peerIdFromPrivateKey(await key('alice')).toString(), 'k51qzi5uqu5' + '0'.repeat(51)]) {
      await assert.rejects(verifyEnvelope(mutate(env, e => { e.signatures[0].keyid = keyid })), { name: 'KeyIdInvalidError' }, keyid)
    }
  })

  it('co-signs: every signature must verify, and each signer is listed', async () => {
    const a = await key('alice')
    const b = await key('bob')
    const env = await signEnvelope(text('{}'), 'application/json', [a, b])
    assert.deepEqual((await verifyEnvelope(env)).signers, [userIdFromKey(a), userIdFromKey(b)])
    await addSignature(env, a) // already signed: not added twice
    assert.equal(env.signatures.length, 2)
    const bad = mutate(env, e => { e.signatures[1].sig = flipBase64Byte(e.signatures[1].sig) })
    await assert.rejects(verifyEnvelope(bad), { name: 'SignatureInvalidError', message: /signatures\[1\]/ })
  })

  it('round-trips through JSON bytes', async () => {
    const env = await signEnvelope(text('hello'), 'text/plain', await key('alice'))
    const back = parseEnvelope(encodeEnvelope(env))
    assert.deepEqual(back, env)
    await verifyEnvelope(back)
  })

  it('enforces its bounds before verifying', async () => {
    const a = await key('alice')
    const env = await signEnvelope(text('hello'), 'text/plain', a)
    await assert.rejects(verifyEnvelope({ ...env, signatures: [] }), { name: 'EnvelopeInvalidError', message: /non-empty/ })
    const many = Array.from({ length: MAX_SIGNATURES + 1 }, (_, i) => ({ keyid: `k${i}`, sig: env.signatures[0].sig }))
    await assert.rejects(verifyEnvelope({ ...env, signatures: many }), { name: 'EnvelopeInvalidError', message: /at most 16/ })
    await assert.rejects(verifyEnvelope({ ...env, signatures: [env.signatures[0], env.signatures[0]] }), { name: 'EnvelopeInvalidError', message: /signs twice/ })
    await assert.rejects(verifyEnvelope(env, { maxPayloadBytes: 4 }), { name: 'EnvelopeInvalidError', message: /limit/ })
    await assert.rejects(verifyEnvelope({ ...env, payload: 'not base64!' }), { name: 'EnvelopeInvalidError', message: /base64/ })
    assert.throws(() => parseEnvelope('x'.repeat(1024 * 1024 + 1)), { name: 'EnvelopeInvalidError', message: /over the 1048576 byte limit/ })
    assert.throws(() => parseEnvelope('{"payload":'), { name: 'EnvelopeInvalidError', message: /JSON/ })
    assert.throws(() => parseEnvelope(JSON.stringify({ ...env, payloadType: '' })), { name: 'EnvelopeInvalidError', message: /payloadType/ })
    await assert.rejects(signEnvelope(new Uint8Array(512 * 1024 + 1), 'text/plain', a), { name: 'EnvelopeInvalidError' })
  })

  it('accepts URL-safe base64 from other implementations', async () => {
    const env = await signEnvelope(text('hello world??>>'), 'text/plain', await key('alice'))
    const urlSafe = mutate(env, e => {
      e.payload = Buffer.from(e.payload, 'base64').toString('base64url')
      e.signatures[0].sig = Buffer.from(e.signatures[0].sig, 'base64').toString('base64url')
    })
    assert.notEqual(urlSafe.payload, env.payload)
    await verifyEnvelope(urlSafe)
  })
})
