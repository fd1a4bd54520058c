/**
 * Shared checks for the signed JSON records of this package: every one is a
 * DSSE envelope with exactly one signature, of a known payloadType, whose
 * payload is a JSON object.
 *
 * @internal
 */

import { encodeEnvelope, parseEnvelope, signEnvelope, verifyEnvelope, type Envelope } from '@provenir/trust'
import { isTag, parseJson } from '@provenir/interface'
import { MAX_NAME_LENGTH, MAX_RECORD_LIFETIME, MAX_REPO_LENGTH } from './constants.js'
import { RecordExpiredError, RecordInvalidError, RecordSignatureError, RecordSignerMismatchError } from './errors.js'
import type { PrivateKey } from '@libp2p/interface'

const encoder = new TextEncoder()

/** One OCI path component, lowercase: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` */
const REPO_PATTERN = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/
/** A DNS-label-like link name: lowercase letters, digits and inner hyphens */
const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/

export function isRepoName (repo: unknown): repo is string {
  return typeof repo === 'string' && repo.length <= MAX_REPO_LENGTH && REPO_PATTERN.test(repo)
}

/** The OCI tag grammar is @provenir/interface's */
export { isTag }

export function isLinkName (name: unknown): name is string {
  return typeof name === 'string' && name.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(name)
}

/** `now` as ms since the epoch */
export function nowMs (now?: Date | number): number {
  if (now == null) return Date.now()
  return typeof now === 'number' ? now : now.getTime()
}

/** Checks a canonical ISO 8601 UTC time (`Date#toISOString`) and returns it in ms. */
export function parseTime (value: unknown, what: string): number {
  if (typeof value !== 'string' || value.length > 32) throw new RecordInvalidError(`${what} must be an ISO 8601 time`)
  const ms = Date.parse(value)
  if (!Number.isFinite(ms) || new Date(ms).toISOString() !== value) {
    throw new RecordInvalidError(`${what} must be an ISO 8601 UTC time as Date#toISOString writes it, got ${JSON.stringify(value)}`)
  }
  return ms
}

/** Refuses an expiry in the past, or further ahead than MAX_RECORD_LIFETIME. */
export function checkExpiry (expires: unknown, what: string, now?: Date | number): number {
  const ms = parseTime(expires, `${what}.expires`)
  const t = nowMs(now)
  if (ms <= t) throw new RecordExpiredError(`${what} expired at ${String(expires)}`)
  if (ms - t > MAX_RECORD_LIFETIME) throw new RecordInvalidError(`${what}.expires is more than ${MAX_RECORD_LIFETIME / 86_400_000} days ahead`)
  return ms
}

export function checkSeq (seq: unknown, what: string): number {
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    throw new RecordInvalidError(`${what}.seq must be a non-negative safe integer`)
  }
  return seq
}

export function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value != null && !Array.isArray(value)
}

/** Signs `payload` as JSON and returns the envelope's bytes. */
export async function signJson (payload: unknown, payloadType: string, key: PrivateKey): Promise<Uint8Array> {
  const envelope = await signEnvelope(encoder.encode(JSON.stringify(payload)), payloadType, key)
  return encodeEnvelope(envelope)
}

export interface OpenedRecord {
  envelope: Envelope
  /** the single signer's keyid (a UserId) */
  signer: string
  payload: Record<string, unknown>
}

export interface OpenOptions {
  payloadType: string
  maxBytes: number
  maxPayloadBytes?: number
  /** the UserId that must have signed; a different keyid is a forgery */
  signer?: string
  what: string
}

/** Parses the envelope without checking its signature, and decodes its payload. */
export function peekRecord (bytes: Uint8Array, options: OpenOptions): OpenedRecord {
  if (bytes.byteLength > options.maxBytes) {
    throw new RecordInvalidError(`${options.what} is ${bytes.byteLength} bytes, over the ${options.maxBytes} byte limit`)
  }
  let envelope: Envelope
  try {
    envelope = parseEnvelope(bytes, { maxEnvelopeBytes: options.maxBytes, maxPayloadBytes: options.maxPayloadBytes, maxSignatures: 1 })
  } catch (err: unknown) {
    throw new RecordInvalidError(`${options.what} is not a DSSE envelope: ${(err as Error).message}`, { cause: err })
  }
  if (envelope.payloadType !== options.payloadType) {
    throw new RecordInvalidError(`${options.what} has payloadType ${JSON.stringify(envelope.payloadType)}, expected ${options.payloadType}`)
  }
  if (envelope.signatures.length !== 1) {
    throw new RecordInvalidError(`${options.what} must carry exactly one signature`)
  }
  const payload = decodeJson(Buffer.from(envelope.payload, 'base64'), options.what)
  return { envelope, signer: envelope.signatures[0].keyid, payload }
}

/**
 * Parses the envelope, checks that `options.signer` signed it (when given)
 * and that the signature verifies.
 *
 * @throws RecordInvalidError, RecordSignerMismatchError, RecordSignatureError
 */
export async function openRecord (bytes: Uint8Array, options: OpenOptions): Promise<OpenedRecord> {
  const opened = peekRecord(bytes, options)
  if (options.signer != null && opened.signer !== options.signer) {
    throw new RecordSignerMismatchError(`${options.what} is signed by ${opened.signer}, not by its owner ${options.signer}`)
  }
  let payload: Uint8Array
  try {
    payload = (await verifyEnvelope(opened.envelope, { maxPayloadBytes: options.maxPayloadBytes, maxSignatures: 1 })).payload
  } catch (err: unknown) {
    const name = (err as Error).name
    if (name === 'SignatureInvalidError' || name === 'KeyIdInvalidError') {
      throw new RecordSignatureError(`${options.what}: ${(err as Error).message}`, { cause: err })
    }
    throw new RecordInvalidError(`${options.what}: ${(err as Error).message}`, { cause: err })
  }
  // decode the verified bytes, not the peeked ones
  return { envelope: opened.envelope, signer: opened.signer, payload: decodeJson(payload, options.what) }
}

function decodeJson (bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = parseJson(bytes)
  } catch (err: unknown) {
    throw new RecordInvalidError(`${what} payload is not UTF-8 JSON: ${(err as Error).message}`, { cause: err })
  }
  if (!isObject(value)) throw new RecordInvalidError(`${what} payload must be a JSON object`)
  return value
}
