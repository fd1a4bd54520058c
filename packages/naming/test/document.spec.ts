import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { userIdFromKey } from '@provenir/trust'
import { CID } from 'multiformats/cid'
import {
  MAX_TAGS, createRepoDocument, lookupImage, signRepoDocument, verifyRepoDocument
} from '../src/index.js'
import { MANIFEST, MANIFEST2, ROOT, alterPayload, newKey, sampleDocument } from './fixtures.js'

describe('repository document', () => {
  it('signs and verifies, and its CID is the raw sha2-256 of its bytes', async () => {
    const key = await newKey()
    const owner = userIdFromKey(key)
    const signed = await signRepoDocument(sampleDocument(key, 3), key)
    assert.equal(signed.cid.code, 0x55)
    const doc = await verifyRepoDocument(signed.bytes, { owner, repo: 'myapp', cid: signed.cid })
    assert.equal(doc.seq, 3)
    assert.equal(doc.owner, owner)
    assert.equal(lookupImage(doc, { tag: 'latest' }).manifestDigest, MANIFEST)
    assert.throws(() => lookupImage(doc, { tag: 'nope' }), { name: 'TagNotFoundError' })
  })

  it('refuses a document signed by another key (forgery) with RecordSignerMismatchError', async () => {
    const owner = await newKey()
    const mallory = await newKey()
    // mallory writes a document that claims the owner's namespace, signed by herself
    const forged = sampleDocument(owner)
    await assert.rejects(signRepoDocument(forged, mallory), { name: 'RecordSignerMismatchError' })
    const { signEnvelope, encodeEnvelope } = await import('@provenir/trust')
    const env = await signEnvelope(new TextEncoder().encode(JSON.stringify(forged)), 'application/vnd.provenir.repository.v1+json', mallory)
    await assert.rejects(verifyRepoDocument(encodeEnvelope(env), { owner: userIdFromKey(owner), repo: 'myapp' }), { name: 'RecordSignerMismatchError' })
    // and with the owner's keyid on mallory's signature
    env.signatures[0].keyid = userIdFromKey(owner)
    await assert.rejects(verifyRepoDocument(encodeEnvelope(env), { owner: userIdFromKey(owner), repo: 'myapp' }), { name: 'RecordSignatureError' })
  })

  it('refuses a document altered after signing (a tag re-pointed) with RecordSignatureError', async () => {
    const key = await newKey()
    const doc = sampleDocument(key, 1, {
      images: {
        [MANIFEST]: { mediaType: 'application/vnd.oci.image.manifest.v1+json', blobs: [{ digest: MANIFEST, size: 1, root: ROOT }] },
        [MANIFEST2]: { mediaType: 'application/vnd.oci.image.manifest.v1+json', blobs: [{ digest: MANIFEST2, size: 1, root: ROOT }] }
      }
    })
    const signed = await signRepoDocument(doc, key)
    const altered = alterPayload(signed.bytes, p => { (p.tags as any).latest = MANIFEST2 })
    await assert.rejects(verifyRepoDocument(altered, { owner: userIdFromKey(key), repo: 'myapp' }), { name: 'RecordSignatureError' })
    const bumped = alterPayload(signed.bytes, p => { p.seq = 99 })
    await assert.rejects(verifyRepoDocument(bumped, { owner: userIdFromKey(key), repo: 'myapp' }), { name: 'RecordSignatureError' })
  })

  it('refuses an expired document with RecordExpiredError', async () => {
    const key = await newKey()
    const signed = await signRepoDocument(sampleDocument(key, 1, { expires: '2026-01-01T00:00:00.000Z' }), key)
    await assert.rejects(verifyRepoDocument(signed.bytes, { owner: userIdFromKey(key), repo: 'myapp', now: Date.parse('2026-01-01T00:00:00.001Z') }), { name: 'RecordExpiredError' })
    await verifyRepoDocument(signed.bytes, { owner: userIdFromKey(key), repo: 'myapp', now: Date.parse('2025-12-31T00:00:00.000Z') })
  })

  it('refuses an owner or repo mismatch with OwnerMismatchError', async () => {
    const key = await newKey()
    const signed = await signRepoDocument(sampleDocument(key), key)
    await assert.rejects(verifyRepoDocument(signed.bytes, { owner: userIdFromKey(key), repo: 'other' }), { name: 'OwnerMismatchError' })
    const other = await newKey()
    await assert.rejects(verifyRepoDocument(signed.bytes, { owner: userIdFromKey(other), repo: 'myapp' }), { name: 'RecordSignerMismatchError' })
  })

  it('refuses bytes that do not match the expected CID', async () => {
    const key = await newKey()
    const signed = await signRepoDocument(sampleDocument(key), key)
    const other = await signRepoDocument(sampleDocument(key, 2), key)
    await assert.rejects(verifyRepoDocument(signed.bytes, { owner: userIdFromKey(key), repo: 'myapp', cid: other.cid }), { name: 'RecordInvalidError' })
  })

  it('enforces bounds and shape: tags, dangling tags, digests, CIDs, oversize envelopes', async () => {
    const key = await newKey()
    const tags: Record<string, string> = {}
    for (let i = 0; i <= MAX_TAGS; i++) tags[`t${i}`] = MANIFEST
    assert.throws(() => sampleDocument(key, 1, { tags }), { name: 'RecordInvalidError', message: /tags, over/ })
    assert.throws(() => sampleDocument(key, 1, { tags: { latest: MANIFEST2 } }), { name: 'RecordInvalidError', message: /not an image/ })
    assert.throws(() => sampleDocument(key, 1, { tags: { 'bad tag': MANIFEST } }), { name: 'RecordInvalidError' })
    assert.throws(() => sampleDocument(key, 1, { repo: 'My/App' }), { name: 'RecordInvalidError' })
    assert.throws(() => sampleDocument(key, -1), { name: 'RecordInvalidError' })
    assert.throws(() => createRepoDocument({ owner: key, repo: 'x', seq: 1, images: { 'sha256:zz': { mediaType: 'x', blobs: [] } } }), { name: 'RecordInvalidError' })
    assert.throws(() => sampleDocument(key, 1, { statements: { [MANIFEST]: ['not-a-cid'] } }), { name: 'RecordInvalidError' })
    const withStatements = sampleDocument(key, 1, { statements: { [MANIFEST]: [CID.parse(ROOT)] } })
    assert.deepEqual(withStatements.statements, { [MANIFEST]: [ROOT] })
    await assert.rejects(verifyRepoDocument(new Uint8Array(1024 * 1024 + 1), { owner: userIdFromKey(key), repo: 'myapp' }), { name: 'RecordInvalidError' })
    await assert.rejects(verifyRepoDocument(new TextEncoder().encode('{"payload":"e30=","payloadType":"text/plain","signatures":[{"keyid":"x","sig":"AA=="}]}'), { owner: userIdFromKey(key), repo: 'myapp' }), { name: 'RecordInvalidError' })
  })

  it('a tag named __proto__ stays data', async () => {
    const key = await newKey()
    const doc = sampleDocument(key, 1, { tags: JSON.parse(`{"__proto__":"${MANIFEST}"}`) })
    const signed = await signRepoDocument(doc, key)
    const back = await verifyRepoDocument(signed.bytes, { owner: userIdFromKey(key), repo: 'myapp' })
    assert.equal(Object.getPrototypeOf(back.tags), Object.prototype)
    assert.equal(lookupImage(back, { tag: '__proto__' }).manifestDigest, MANIFEST)
  })
})
