/**
 * DSSE (Dead Simple Signing Envelope) v1.
 *
 * The signature covers the pre-authentication encoding (PAE), exactly as
 * https://github.com/secure-systems-lab/dsse/blob/master/protocol.md defines it:
 *
 *     PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
 *
 * where LEN is the byte length as ASCII decimal, with no leading zeros. The
 * keyid of each signature is the signer's UserId, from which the verifier
 * derives the public key, so an envelope verifies without a key directory.
 * Whether the signer is trusted is the policy's question, not this module's.
 */

import { sign as ed25519Sign, verify as ed25519Verify } from 'node:crypto'
import { parseJson } from '@provenir/interface'
import { DSSE_PAE_PREFIX, MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_TYPE_BYTES, MAX_SIGNATURES } from './constants.js'
import { EnvelopeInvalidError, SignatureInvalidError } from './errors.js'
import { signKeyFor, userIdFromKey, verifyKeyFor, type UserId } from './keys.js'
import type { PrivateKey } from '@libp2p/interface'

/** One signature of an envelope. */
export interface EnvelopeSignature {
  /** The signer's UserId */
  keyid: UserId
  /** base64 of the Ed25519 signature over the PAE */
  sig: string
}

/** A DSSE envelope, as JSON. */
export interface Envelope {
  /** base64 of the payload bytes */
  payload: string
  payloadType: string
  signatures: EnvelopeSignature[]
}

/** An envelope whose every signature verified. */
export interface VerifiedEnvelope {
  envelope: Envelope
  payloadType: string
  /** the decoded payload */
  payload: Uint8Array
  /** the UserIds whose signatures verified, in envelope order */
  signers: UserId[]
}

export interface EnvelopeLimits {
  /**
   * Largest decoded payload accepted.
   *
   * @default MAX_PAYLOAD_BYTES (512 KiB)
   */
  maxPayloadBytes?: number

  /**
   * Most signatures accepted.
   *
   * @default MAX_SIGNATURES (16)
   */
  maxSignatures?: number
}

export interface ParseEnvelopeOptions extends EnvelopeLimits {
  /**
   * Largest envelope accepted, in JSON bytes, checked before parsing.
   *
   * @default MAX_ENVELOPE_BYTES (1 MiB)
   */
  maxEnvelopeBytes?: number
}

const encoder = new TextEncoder()
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const URL_BASE64 = /^[A-Za-z0-9_-]*$/

/**
 * The DSSE v1 pre-authentication encoding of `payload` under `payloadType`.
 */
export function pae (payloadType: string, payload: Uint8Array): Uint8Array {
  const type = encoder.encode(payloadType)
  const head = encoder.encode(`${DSSE_PAE_PREFIX} ${type.byteLength} `)
  const mid = encoder.encode(` ${payload.byteLength} `)
  const out = new Uint8Array(head.byteLength + type.byteLength + mid.byteLength + payload.byteLength)
  let offset = 0
  for (const part of [head, type, mid, payload]) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

/**
 * Decodes DSSE base64: standard alphabet with padding (what we write), or
 * URL-safe without padding (which other implementations accept too).
 *
 * @internal
 */
export function decodeBase64 (text: unknown, what: string): Uint8Array {
  if (typeof text !== 'string') {
    throw new EnvelopeInvalidError(`${what} must be a base64 string`)
  }
  if (STD_BASE64.test(text)) return new Uint8Array(Buffer.from(text, 'base64'))
  if (URL_BASE64.test(text) && text.length % 4 !== 1) return new Uint8Array(Buffer.from(text, 'base64url'))
  throw new EnvelopeInvalidError(`${what} is not valid base64`)
}

function toBase64 (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

function assertPayloadType (payloadType: unknown): asserts payloadType is string {
  if (typeof payloadType !== 'string' || payloadType.length === 0) {
    throw new EnvelopeInvalidError('envelope.payloadType must be a non-empty string')
  }
  if (encoder.encode(payloadType).byteLength > MAX_PAYLOAD_TYPE_BYTES) {
    throw new EnvelopeInvalidError(`envelope.payloadType is over ${MAX_PAYLOAD_TYPE_BYTES} bytes`)
  }
}

/**
 * Signs `payload` as `payloadType` with each key, giving a DSSE envelope
 * whose keyids are the keys' UserIds.
 *
 * @throws KeyIdInvalidError for a key that is not Ed25519
 * @throws EnvelopeInvalidError when the payload or the number of keys breaks a bound
 */
export async function signEnvelope (payload: Uint8Array, payloadType: string, keys: PrivateKey | PrivateKey[]): Promise<Envelope> {
  assertPayloadType(payloadType)
  if (payload.byteLength > MAX_PAYLOAD_BYTES) {
    throw new EnvelopeInvalidError(`payload is ${payload.byteLength} bytes, over the ${MAX_PAYLOAD_BYTES} byte limit`)
  }
  const list = Array.isArray(keys) ? keys : [keys]
  if (list.length === 0 || list.length > MAX_SIGNATURES) {
    throw new EnvelopeInvalidError(`an envelope takes 1 to ${MAX_SIGNATURES} signatures, got ${list.length} keys`)
  }
  const envelope: Envelope = { payload: toBase64(payload), payloadType, signatures: [] }
  for (const key of list) {
    signInto(envelope, key, payload)
  }
  return envelope
}

/**
 * Adds `key`'s signature to `envelope` (in place), for a co-signer. A key
 * that already signed is not added twice. The envelope's existing signatures
 * are not checked: verify it first.
 *
 * @throws EnvelopeInvalidError when the envelope is malformed or already has MAX_SIGNATURES signatures
 */
export async function addSignature (envelope: Envelope, key: PrivateKey): Promise<Envelope> {
  const checked = checkEnvelope(envelope)
  signInto(envelope, key, decodeBase64(checked.payload, 'envelope.payload'))
  return envelope
}

function signInto (envelope: Envelope, key: PrivateKey, payload: Uint8Array): void {
  const keyid = userIdFromKey(key)
  if (envelope.signatures.some(s => s.keyid === keyid)) return
  if (envelope.signatures.length >= MAX_SIGNATURES) {
    throw new EnvelopeInvalidError(`an envelope takes at most ${MAX_SIGNATURES} signatures`)
  }
  const sig = ed25519Sign(null, pae(envelope.payloadType, payload), signKeyFor(key))
  envelope.signatures.push({ keyid, sig: toBase64(sig) })
}

/**
 * Checks an envelope's shape and bounds (not its signatures) and returns it
 * with only the known fields.
 *
 * @throws EnvelopeInvalidError
 */
export function checkEnvelope (value: unknown, limits: EnvelopeLimits = {}): Envelope {
  const maxSignatures = limits.maxSignatures ?? MAX_SIGNATURES
  const maxPayload = limits.maxPayloadBytes ?? MAX_PAYLOAD_BYTES
  if (typeof value !== 'object' || value == null || Array.isArray(value)) {
    throw new EnvelopeInvalidError('envelope must be a JSON object')
  }
  const env = value as Record<string, unknown>
  assertPayloadType(env.payloadType)
  if (typeof env.payload !== 'string') {
    throw new EnvelopeInvalidError('envelope.payload must be a base64 string')
  }
  // base64 is 4/3 of the bytes: refuse before decoding
  if (env.payload.length > Math.ceil(maxPayload / 3) * 4) {
    throw new EnvelopeInvalidError(`envelope.payload is over the ${maxPayload} byte limit`)
  }
  if (!Array.isArray(env.signatures) || env.signatures.length === 0) {
    throw new EnvelopeInvalidError('envelope.signatures must be a non-empty array')
  }
  if (env.signatures.length > maxSignatures) {
    throw new EnvelopeInvalidError(`envelope has ${env.signatures.length} signatures; at most ${maxSignatures} are accepted`)
  }
  const seen = new Set<string>()
  const signatures = env.signatures.map((item: unknown, i): EnvelopeSignature => {
    if (typeof item !== 'object' || item == null || Array.isArray(item)) {
      throw new EnvelopeInvalidError(`envelope.signatures[${i}] must be an object`)
    }
    const { keyid, sig } = item as Record<string, unknown>
    if (typeof keyid !== 'string' || keyid.length === 0) {
      throw new EnvelopeInvalidError(`envelope.signatures[${i}].keyid must be the signer's UserId`)
    }
    if (typeof sig !== 'string' || sig.length === 0 || sig.length > 256) {
      throw new EnvelopeInvalidError(`envelope.signatures[${i}].sig must be a base64 signature`)
    }
    if (seen.has(keyid)) {
      throw new EnvelopeInvalidError(`envelope.signatures[${i}]: keyid ${keyid} signs twice`)
    }
    seen.add(keyid)
    return { keyid, sig }
  })
  return { payload: env.payload, payloadType: env.payloadType, signatures }
}

/**
 * Parses an envelope from JSON text or bytes, refusing more than
 * `maxEnvelopeBytes` before parsing.
 *
 * @throws EnvelopeInvalidError
 */
export function parseEnvelope (input: string | Uint8Array, options: ParseEnvelopeOptions = {}): Envelope {
  const max = options.maxEnvelopeBytes ?? MAX_ENVELOPE_BYTES
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength
  if (size > max) {
    throw new EnvelopeInvalidError(`envelope is ${size} bytes, over the ${max} byte limit`)
  }
  let doc: unknown
  try {
    const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input)
    doc = parseJson(text)
  } catch (err: unknown) {
    throw new EnvelopeInvalidError(`envelope is not UTF-8 JSON: ${(err as Error).message}`, { cause: err })
  }
  return checkEnvelope(doc, options)
}

/** The envelope as JSON bytes, for storing as a block. */
export function encodeEnvelope (envelope: Envelope): Uint8Array {
  const { payload, payloadType, signatures } = envelope
  return encoder.encode(JSON.stringify({
    payload,
    payloadType,
    signatures: signatures.map(({ keyid, sig }) => ({ keyid, sig }))
  }))
}

/**
 * Verifies every signature of an envelope against the public key its keyid
 * names. All of them must verify: one bad signature rejects the envelope.
 *
 * @throws EnvelopeInvalidError for a malformed envelope
 * @throws KeyIdInvalidError for a keyid that is not an Ed25519 UserId
 * @throws SignatureInvalidError for a signature that does not verify
 */
export async function verifyEnvelope (value: Envelope | unknown, limits: EnvelopeLimits = {}): Promise<VerifiedEnvelope> {
  const envelope = checkEnvelope(value, limits)
  const payload = decodeBase64(envelope.payload, 'envelope.payload')
  const maxPayload = limits.maxPayloadBytes ?? MAX_PAYLOAD_BYTES
  if (payload.byteLength > maxPayload) {
    throw new EnvelopeInvalidError(`envelope.payload is ${payload.byteLength} bytes, over the ${maxPayload} byte limit`)
  }
  const message = pae(envelope.payloadType, payload)
  const signers: UserId[] = []
  for (const [i, { keyid, sig }] of envelope.signatures.entries()) {
    const key = verifyKeyFor(keyid)
    const signature = decodeBase64(sig, `envelope.signatures[${i}].sig`)
    if (signature.byteLength !== 64 || !ed25519Verify(null, message, key, signature)) {
      throw new SignatureInvalidError(`envelope.signatures[${i}] does not verify with the key of keyid ${keyid}: the payload, payloadType or signature was altered, or the keyid is not the signer's`)
    }
    signers.push(keyid)
  }
  return { envelope, payloadType: envelope.payloadType, payload, signers }
}
