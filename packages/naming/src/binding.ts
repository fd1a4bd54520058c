/**
 * Link-name claims and bindings.
 *
 * A **claim** is made by a key holder who wants a link name. It is a DSSE
 * envelope, payloadType `application/vnd.provenir.name-claim.v1+json`, signed
 * by the UserId's key, with the payload
 *
 * ```json
 * { "name": "aweiteka", "userId": "k51qzi5uqu5...", "registry": "12D3KooW...", "nonce": "<16 bytes, base64>", "time": "2026-11-25T09:00:00.000Z" }
 * ```
 *
 * `registry` names the one registry the claim is for (a claim cannot be
 * relayed to another registry), and `time` plus `nonce` bound replays.
 *
 * A **binding** is a registry's answer. It is a DSSE envelope, payloadType
 * `application/vnd.provenir.name-binding.v1+json`, signed by the registry's
 * NodeId key (the keyid is that key's UserId form), with the payload
 *
 * ```json
 * { "name": "aweiteka", "userId": "k51qzi5uqu5...", "seq": 1, "registry": "12D3KooW...", "issued": "2026-11-25T09:00:00.000Z" }
 * ```
 *
 * Anyone holding the binding and the registry's NodeId validates it offline
 * with {@link verifyBinding}: an Ed25519 NodeId embeds its public key.
 */

import { randomBytes } from 'node:crypto'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { InvalidParametersError } from '@provenir/interface'
import { isUserId, userIdFromKey, type UserId } from '@provenir/trust'
import { CLAIM_MAX_SKEW, MAX_BINDING_BYTES, MAX_NAME_KEY_BYTES, NAME_BINDING_PAYLOAD_TYPE, NAME_CLAIM_PAYLOAD_TYPE, NAME_KEY_NAMESPACE } from './constants.js'
import { BindingInvalidError, ClaimInvalidError, RecordInvalidError } from './errors.js'
import { parseNodeId } from './node-id.js'
import { checkSeq, isLinkName, nowMs, openRecord, parseTime, peekRecord, signJson } from './signed.js'
import type { AbortOptions, PeerId, PrivateKey } from '@libp2p/interface'
import type { SelectFn } from '@libp2p/kad-dht'

export interface NameClaim {
  name: string
  userId: UserId
  /** The NodeId of the registry the claim is for */
  registry: string
  nonce: string
  time: string
}

export interface NameBinding {
  name: string
  userId: UserId
  seq: number
  /** The NodeId of the registry that signed */
  registry: string
  issued: string
}

export interface VerifyBindingOptions {
  /** When given, the binding must be for this name */
  name?: string
}

export interface VerifyClaimOptions {
  /** This registry's NodeId; the claim must name it */
  registry: string
  now?: Date | number
  /** @default CLAIM_MAX_SKEW (5 min) */
  maxSkew?: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A NodeId (PeerId string, base58btc or CID form) in its canonical form, and the UserId form of its key */
export function registryKeyId (nodeId: string | PeerId): { nodeId: string, keyid: UserId } {
  const peer: PeerId = typeof nodeId === 'string' ? parseNodeId(nodeId) : nodeId
  if (peer.type !== 'Ed25519' || peer.publicKey == null) throw new InvalidParametersError(`${peer.toString()} is not an Ed25519 NodeId`)
  return { nodeId: peer.toString(), keyid: userIdFromKey(peer.publicKey) }
}

/** Signs a claim for `name` with the UserId key `key`, addressed to `registry`. */
export async function signClaim (name: string, registry: string | PeerId, key: PrivateKey, now?: Date | number): Promise<Uint8Array> {
  if (!isLinkName(name)) throw new InvalidParametersError(`${JSON.stringify(name)} is not a link name (lowercase letters, digits and inner hyphens, at most 63)`)
  const claim: NameClaim = {
    name,
    userId: userIdFromKey(key),
    registry: registryKeyId(registry).nodeId,
    nonce: randomBytes(16).toString('base64'),
    time: new Date(nowMs(now)).toISOString()
  }
  return signJson(claim, NAME_CLAIM_PAYLOAD_TYPE, key)
}

/**
 * Verifies a claim on the registry side: signed by the UserId it names, for
 * this registry, and recent. Replay of the nonce is the registry's to check.
 *
 * @throws ClaimInvalidError
 */
export async function verifyClaim (bytes: Uint8Array, options: VerifyClaimOptions): Promise<NameClaim> {
  let payload: Record<string, unknown>
  let signer: string
  try {
    const peeked = peekRecord(bytes, { payloadType: NAME_CLAIM_PAYLOAD_TYPE, maxBytes: MAX_BINDING_BYTES, what: 'claim' })
    const opened = await openRecord(bytes, { payloadType: NAME_CLAIM_PAYLOAD_TYPE, maxBytes: MAX_BINDING_BYTES, what: 'claim', signer: String(peeked.payload.userId) })
    payload = opened.payload
    signer = opened.signer
  } catch (err: unknown) {
    throw new ClaimInvalidError(`claim refused: ${(err as Error).message}`, { cause: err })
  }
  const { name, userId, registry, nonce, time } = payload
  if (!isLinkName(name)) throw new ClaimInvalidError('claim.name is not a link name')
  if (!isUserId(userId) || userId !== signer) throw new ClaimInvalidError('claim.userId must be the signer\'s UserId')
  if (registry !== options.registry) throw new ClaimInvalidError(`claim is for registry ${String(registry)}, not ${options.registry}`)
  if (typeof nonce !== 'string' || nonce.length < 16 || nonce.length > 64) throw new ClaimInvalidError('claim.nonce must be base64 of 16 to 48 bytes')
  let t: number
  try {
    t = parseTime(time, 'claim.time')
  } catch (err: unknown) {
    throw new ClaimInvalidError((err as Error).message)
  }
  const skew = options.maxSkew ?? CLAIM_MAX_SKEW
  if (Math.abs(t - nowMs(options.now)) > skew) throw new ClaimInvalidError(`claim.time ${String(time)} is more than ${skew / 1000} s from the registry's clock`)
  return { name, userId, registry, nonce, time: time as string }
}

/** Signs a binding with the registry's NodeId key. @internal (registries call it) */
export async function signBinding (binding: Omit<NameBinding, 'registry' | 'issued'> & { issued?: string }, registryKey: PrivateKey): Promise<Uint8Array> {
  const { nodeId } = registryKeyId(peerIdFromPrivateKey(registryKey))
  const value: NameBinding = {
    name: binding.name,
    userId: binding.userId,
    seq: binding.seq,
    registry: nodeId,
    issued: binding.issued ?? new Date().toISOString()
  }
  checkBinding({ ...value })
  return signJson(value, NAME_BINDING_PAYLOAD_TYPE, registryKey)
}

function checkBinding (value: Record<string, unknown>): NameBinding {
  const { name, userId, seq, registry, issued } = value
  if (!isLinkName(name)) throw new RecordInvalidError('binding.name is not a link name')
  if (!isUserId(userId)) throw new RecordInvalidError('binding.userId is not a UserId')
  checkSeq(seq, 'binding')
  if (typeof registry !== 'string') throw new RecordInvalidError('binding.registry must be a NodeId')
  parseTime(issued, 'binding.issued')
  return { name, userId, seq: seq as number, registry, issued: issued as string }
}

/**
 * Validates a binding offline, given only its bytes and the registry's
 * NodeId: the signature is the NodeId key's, the binding names that
 * registry, and (when asked) the name.
 *
 * @throws BindingInvalidError (the cause says why)
 */
export async function verifyBinding (bytes: Uint8Array | string, registryNodeId: string | PeerId, options: VerifyBindingOptions = {}): Promise<NameBinding> {
  const { nodeId, keyid } = registryKeyId(registryNodeId)
  const input = typeof bytes === 'string' ? encoder.encode(bytes) : bytes
  let binding: NameBinding
  try {
    const opened = await openRecord(input, { payloadType: NAME_BINDING_PAYLOAD_TYPE, maxBytes: MAX_BINDING_BYTES, signer: keyid, what: `binding from registry ${nodeId}` })
    binding = checkBinding(opened.payload)
  } catch (err: unknown) {
    throw new BindingInvalidError(`binding refused: ${(err as Error).message}`, { cause: err })
  }
  if (binding.registry !== nodeId) throw new BindingInvalidError(`binding names registry ${binding.registry}, but is checked against ${nodeId}`)
  if (options.name != null && binding.name !== options.name) throw new BindingInvalidError(`binding is for ${binding.name}, not ${options.name}`)
  return binding
}

/** Decodes a binding without verifying it. @internal */
export function peekBinding (bytes: Uint8Array): NameBinding | undefined {
  try {
    return checkBinding(peekRecord(bytes, { payloadType: NAME_BINDING_PAYLOAD_TYPE, maxBytes: MAX_BINDING_BYTES, what: 'binding' }).payload)
  } catch {
    return undefined
  }
}

/** The DHT key under which a registry publishes a binding: `/provenir-name/<NodeId>/<name>` */
export function nameKey (registryNodeId: string | PeerId, name: string): Uint8Array {
  if (!isLinkName(name)) throw new InvalidParametersError(`${JSON.stringify(name)} is not a link name`)
  return encoder.encode(`/${NAME_KEY_NAMESPACE}/${registryKeyId(registryNodeId).nodeId}/${name}`)
}

/** A kad-dht validator for `/provenir-name/` keys: the binding verifies against the NodeId in the key, for the name in the key. */
export async function nameValidator (key: Uint8Array, value: Uint8Array, _options?: AbortOptions): Promise<void> {
  // a PUT_VALUE's key is as long as the peer likes: refuse it before decoding anything
  if (key.byteLength > MAX_NAME_KEY_BYTES) throw new BindingInvalidError(`binding key is ${key.byteLength} bytes, over the ${MAX_NAME_KEY_BYTES} byte limit`)
  let parts: string[]
  try {
    parts = decoder.decode(key).split('/')
  } catch {
    throw new BindingInvalidError('binding key is not UTF-8')
  }
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== NAME_KEY_NAMESPACE || !isLinkName(parts[3])) {
    throw new BindingInvalidError(`binding key is not /${NAME_KEY_NAMESPACE}/<NodeId>/<name>`)
  }
  let nodeId: string
  try {
    nodeId = registryKeyId(parts[2]).nodeId
  } catch (err: unknown) {
    throw new BindingInvalidError((err as Error).message)
  }
  if (nodeId !== parts[2]) throw new BindingInvalidError('binding key must hold the NodeId in its canonical form')
  await verifyBinding(value, nodeId, { name: parts[3] })
}

/** A kad-dht selector for `/provenir-name/` keys: the highest seq, then the latest issue time. */
export const nameSelector: SelectFn = (_key, records) => {
  let best = 0
  let bestSeq = -1
  let bestIssued = -1
  records.forEach((record, i) => {
    const b = peekBinding(record)
    if (b == null) return
    const issued = Date.parse(b.issued)
    if (b.seq > bestSeq || (b.seq === bestSeq && issued > bestIssued)) {
      best = i
      bestSeq = b.seq
      bestIssued = issued
    }
  })
  return best
}
