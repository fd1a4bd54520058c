/**
 * Offline verification of our Sigstore bundles by sigstore-js (@sigstore/verify).
 *
 * sigstore's high-level `verify()` always refreshes its TUF root online and
 * requires a timestamp, so it cannot check a key-signed bundle offline. What
 * does work is the `Verifier` with trust material that holds only our public
 * key (looked up by the bundle's key hint) and no transparency log, CT log or
 * timestamp required. It checks the signature over the DSSE PAE; the subject
 * digest and the key hint are ours to check, and are checked here.
 */

import assert from 'node:assert/strict'
import { createPublicKey } from 'node:crypto'
import { describe, it } from 'node:test'
import { bundleFromJSON } from '@sigstore/bundle'
import { Verifier, toSignedEntity, toTrustMaterial, type TrustMaterial } from '@sigstore/verify'
import {
  SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
  fromSigstoreBundle,
  imageSignatureStatement,
  provenanceFromHistory,
  publicKeyFromPem,
  publicKeyToPem,
  signStatement,
  toSigstoreBundle,
  userIdFromKey,
  verifyStatement,
  type SigstoreBundle
} from '../src/index.js'
import { baseManifestDigest, flipBase64Byte, key, manifestDigest, mutate, parsed } from './fixtures.js'

/** Trust material holding one PEM public key under one hint, and nothing else. */
function trustFor (hint: string, pem: string): TrustMaterial {
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: (wanted: string) => {
      if (wanted !== hint) throw new Error(`no trusted key for hint ${wanted}`)
      return { publicKey: createPublicKey(pem), validFor: () => true }
    }
  }
}

const OFFLINE = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }

function sigstoreVerify (bundle: SigstoreBundle, trust: TrustMaterial): void {
  const entity = toSignedEntity(bundleFromJSON(JSON.parse(JSON.stringify(bundle))))
  new Verifier(trust, OFFLINE).verify(entity)
}

describe('Sigstore bundle v0.3', () => {
  it('exports a bundle with a public-key hint (the UserId) and the DSSE envelope', async () => {
    const b = await key('bob')
    const env = await signStatement(imageSignatureStatement(manifestDigest), b)
    const bundle = toSigstoreBundle(env)
    assert.equal(bundle.mediaType, SIGSTORE_BUNDLE_V03_MEDIA_TYPE)
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json')
    assert.deepEqual(bundle.verificationMaterial.publicKey, { hint: userIdFromKey(b) })
    assert.deepEqual(bundle.dsseEnvelope, env)
    // the bundle passes @sigstore/bundle's own v0.3 validation
    const parsed = bundleFromJSON(JSON.parse(JSON.stringify(bundle)))
    assert.equal(parsed.content.$case, 'dsseEnvelope')
  })

  it('keys export as PEM (SubjectPublicKeyInfo) and read back to the same UserId', async () => {
    const b = await key('bob')
    const pem = publicKeyToPem(b)
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA/)
    assert.equal(createPublicKey(pem).asymmetricKeyType, 'ed25519')
    assert.equal(userIdFromKey(publicKeyFromPem(pem)), userIdFromKey(b))
    assert.throws(() => publicKeyFromPem('-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n'), { name: 'KeyIdInvalidError' })
  })

  it('sigstore-js verifies our bundle offline with the PEM public key; we check subject and hint', async () => {
    const builder = await key('ci-builder')
    const statement = provenanceFromHistory(parsed.config, {
      manifestDigest,
      baseImages: [baseManifestDigest],
      builder: userIdFromKey(builder),
      invocationId: 'x',
      startedOn: '2026-11-20T10:15:00Z',
      finishedOn: '2026-11-20T10:15:31Z'
    })
    const bundle = toSigstoreBundle(await signStatement(statement, builder))
    const hint = userIdFromKey(builder)
    sigstoreVerify(bundle, trustFor(hint, publicKeyToPem(builder)))

    // the same bundle through the documented toTrustMaterial(root, keys) path
    const root = { mediaType: '', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] } as unknown as Parameters<typeof toTrustMaterial>[0]
    const rawBytes = createPublicKey(publicKeyToPem(builder)).export({ type: 'spki', format: 'der' })
    const keys = { [hint]: { rawBytes, keyDetails: 7 /* PKIX_ED25519 */ } } as unknown as Parameters<typeof toTrustMaterial>[1]
    new Verifier(toTrustMaterial(root, keys), OFFLINE).verify(toSignedEntity(bundleFromJSON(JSON.parse(JSON.stringify(bundle)))))

    // sigstore-js checks only the PAE signature: the subject and the hint are checked by us
    const envelope = fromSigstoreBundle(JSON.stringify(bundle))
    const verified = await verifyStatement(envelope, { digests: [manifestDigest], signers: [hint] })
    assert.equal(verified.statement.predicateType, 'https://slsa.dev/provenance/v1')
  })

  it('sigstore-js rejects the bundle once tampered with', async () => {
    const b = await key('bob')
    const bundle = toSigstoreBundle(await signStatement(imageSignatureStatement(manifestDigest), b))
    const trust = trustFor(userIdFromKey(b), publicKeyToPem(b))
    sigstoreVerify(bundle, trust)

    const payload = mutate(bundle, x => { x.dsseEnvelope.payload = flipBase64Byte(x.dsseEnvelope.payload, 60) })
    assert.throws(() => { sigstoreVerify(payload, trust) }, { name: 'VerificationError', message: /signature verification failed/ })
    const sig = mutate(bundle, x => { x.dsseEnvelope.signatures[0].sig = flipBase64Byte(x.dsseEnvelope.signatures[0].sig, 5) })
    assert.throws(() => { sigstoreVerify(sig, trust) }, { name: 'VerificationError' })
    const type = mutate(bundle, x => { x.dsseEnvelope.payloadType = 'application/json' })
    assert.throws(() => { sigstoreVerify(type, trust) }, { name: 'VerificationError' })
    // a different key under the same hint
    const mallory = await key('mallory')
    assert.throws(() => { sigstoreVerify(bundle, trustFor(userIdFromKey(b), publicKeyToPem(mallory))) }, { name: 'VerificationError' })
    // and ours rejects the same tampering
    await assert.rejects(verifyStatement(fromSigstoreBundle(payload)), { name: 'SignatureInvalidError' })
  })

  it('refuses a bundle whose hint is not its signature\'s keyid, and needs a keyid to export one of several signatures', async () => {
    const b = await key('bob')
    const a = await key('alice')
    const bundle = toSigstoreBundle(await signStatement(imageSignatureStatement(manifestDigest), b))
    const swapped = mutate(bundle, x => { x.verificationMaterial.publicKey.hint = userIdFromKey(a) })
    assert.throws(() => fromSigstoreBundle(swapped), { name: 'KeyIdMismatchError' })
    // cosign leaves the keyid empty: the hint names the signer
    const empty = mutate(bundle, x => { x.dsseEnvelope.signatures[0].keyid = '' })
    assert.equal(fromSigstoreBundle(empty).signatures[0].keyid, userIdFromKey(b))
    assert.throws(() => fromSigstoreBundle({ ...bundle, mediaType: 'application/json' } as any), { name: 'EnvelopeInvalidError' })

    const both = await signStatement(imageSignatureStatement(manifestDigest), [a, b])
    assert.throws(() => toSigstoreBundle(both), { name: 'InvalidParametersError' })
    const onlyA = toSigstoreBundle(both, userIdFromKey(a))
    assert.equal(onlyA.dsseEnvelope.signatures.length, 1)
    sigstoreVerify(onlyA, trustFor(userIdFromKey(a), publicKeyToPem(a)))
  })
})
