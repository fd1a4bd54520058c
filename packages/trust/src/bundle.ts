/**
 * Sigstore bundle v0.3 export and import
 * (https://github.com/sigstore/protobuf-specs, `dev.sigstore.bundle.v1.Bundle`).
 *
 * A bundle holds one DSSE envelope with exactly one signature, and a public
 * key hint in place of a certificate: the hint is the signer's UserId. There
 * is no transparency-log entry or timestamp, so a verifier must be told to
 * need none (sigstore-js `Verifier` with every threshold at 0, or
 * `cosign verify-blob-attestation --key key.pem --insecure-ignore-tlog`).
 */

import { MAX_BUNDLE_BYTES, SIGSTORE_BUNDLE_V03_MEDIA_TYPE } from './constants.js'
import { checkEnvelope, type Envelope } from './dsse.js'
import { EnvelopeInvalidError, KeyIdMismatchError } from './errors.js'
import { InvalidParametersError, parseJson } from '@provenir/interface'
import type { UserId } from './keys.js'

/** A Sigstore bundle v0.3 with a public-key hint and a DSSE envelope, as JSON. */
export interface SigstoreBundle {
  mediaType: typeof SIGSTORE_BUNDLE_V03_MEDIA_TYPE
  verificationMaterial: {
    publicKey: { hint: string }
    tlogEntries: []
    timestampVerificationData: { rfc3161Timestamps: [] }
  }
  dsseEnvelope: Envelope
}

/**
 * Exports one signature of `envelope` as a Sigstore bundle v0.3. The key hint
 * is the signer's UserId.
 *
 * @param keyid - which signature to export; may be left out when there is only one
 * @throws InvalidParametersError when `keyid` is needed but missing, or signed nothing
 */
export function toSigstoreBundle (envelope: Envelope, keyid?: UserId): SigstoreBundle {
  const checked = checkEnvelope(envelope)
  if (keyid == null && checked.signatures.length !== 1) {
    throw new InvalidParametersError(`the envelope has ${checked.signatures.length} signatures; say which keyid to export (a bundle holds one)`)
  }
  const signature = keyid == null ? checked.signatures[0] : checked.signatures.find(s => s.keyid === keyid)
  if (signature == null) throw new InvalidParametersError(`the envelope has no signature by ${keyid}`)
  return {
    mediaType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: {
      publicKey: { hint: signature.keyid },
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] }
    },
    dsseEnvelope: { payload: checked.payload, payloadType: checked.payloadType, signatures: [{ keyid: signature.keyid, sig: signature.sig }] }
  }
}

/**
 * Reads the DSSE envelope out of a Sigstore bundle v0.3 with a public-key
 * hint. The signature's keyid becomes the hint (an empty keyid, as cosign
 * writes, takes the hint); a keyid that differs from the hint is refused.
 * The envelope is not verified: pass it to `verifyStatement`.
 *
 * @throws EnvelopeInvalidError for a bundle that is not of this shape
 * @throws KeyIdMismatchError when the envelope's keyid is not the hint
 */
export function fromSigstoreBundle (input: SigstoreBundle | string | Uint8Array): Envelope {
  let doc: unknown = input
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength
    if (size > MAX_BUNDLE_BYTES) throw new EnvelopeInvalidError(`bundle is ${size} bytes, over the ${MAX_BUNDLE_BYTES} byte limit`)
    try {
      doc = parseJson(input)
    } catch (err: unknown) {
      throw new EnvelopeInvalidError(`bundle is not UTF-8 JSON: ${(err as Error).message}`, { cause: err })
    }
  }
  const bundle = doc as Partial<SigstoreBundle> | null
  if (typeof bundle !== 'object' || bundle == null) throw new EnvelopeInvalidError('bundle must be a JSON object')
  if (bundle.mediaType !== SIGSTORE_BUNDLE_V03_MEDIA_TYPE) {
    throw new EnvelopeInvalidError(`bundle.mediaType must be ${SIGSTORE_BUNDLE_V03_MEDIA_TYPE}, got ${JSON.stringify(bundle.mediaType)}`)
  }
  const hint = bundle.verificationMaterial?.publicKey?.hint
  if (typeof hint !== 'string' || hint === '') {
    throw new EnvelopeInvalidError('bundle.verificationMaterial.publicKey.hint must name the signer')
  }
  const raw = bundle.dsseEnvelope as unknown as Record<string, unknown> | undefined
  if (raw == null || !Array.isArray(raw.signatures) || raw.signatures.length !== 1) {
    throw new EnvelopeInvalidError('bundle.dsseEnvelope must hold exactly one signature')
  }
  const [signature] = raw.signatures as Array<Record<string, unknown>>
  const keyid = signature?.keyid ?? ''
  if (keyid !== '' && keyid !== hint) {
    throw new KeyIdMismatchError(`bundle's key hint is ${hint} but its signature's keyid is ${String(keyid)}`)
  }
  return checkEnvelope({ ...raw, signatures: [{ ...signature, keyid: hint }] })
}
