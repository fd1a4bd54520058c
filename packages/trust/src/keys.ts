/**
 * Keys and UserIds.
 *
 * A UserId is the PeerId of an Ed25519 key, written as a CIDv1 with the
 * libp2p-key codec (0x72) in base36 (`k51qzi5uqu5...`), as IPNS names are.
 * An Ed25519 PeerId embeds the public key (identity multihash), so a UserId
 * is also the public key itself: a verifier needs nothing but the keyid.
 */

import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { publicKeyFromMultihash, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import { KeyIdInvalidError } from './errors.js'
import type { Ed25519PublicKey, PrivateKey, PublicKey } from '@libp2p/interface'

/** A signer's identity: an Ed25519 PeerId as CIDv1 libp2p-key, base36. */
export type UserId = string

const LIBP2P_KEY_CODEC = 0x72
const IDENTITY_HASH = 0x00
/** an identity multihash of the 36-byte protobuf of an Ed25519 public key, in a CIDv1, in base36 */
const USER_ID_PATTERN = /^k51qzi5uqu5[0-9a-z]{51,52}$/

function ed25519 (key: PublicKey | PrivateKey, what: string): Ed25519PublicKey {
  const publicKey = 'publicKey' in key ? key.publicKey : key
  if (publicKey.type !== 'Ed25519') {
    throw new KeyIdInvalidError(`${what} is a ${publicKey.type} key; provenir signs with Ed25519 keys only`)
  }
  return publicKey
}

/** The UserId of a public key (or of a private key's public half). Ed25519 only. */
export function userIdFromKey (key: PublicKey | PrivateKey): UserId {
  return peerIdFromPublicKey(ed25519(key, 'the key')).toCID().toString(base36)
}

/**
 * The Ed25519 public key a UserId names. Only the canonical form is accepted:
 * re-encoding the key must give back the same string.
 *
 * @throws KeyIdInvalidError when `userId` is not an Ed25519 UserId
 */
export function publicKeyFromUserId (userId: unknown): Ed25519PublicKey {
  if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId)) {
    throw new KeyIdInvalidError(`keyid ${describe(userId)} is not a UserId (an Ed25519 PeerId as CIDv1 libp2p-key in base36, k51qzi5uqu5...)`)
  }
  let cid: CID
  try {
    cid = CID.parse(userId, base36)
  } catch (err: unknown) {
    throw new KeyIdInvalidError(`keyid ${describe(userId)} is not a valid CID: ${(err as Error).message}`, { cause: err })
  }
  if (cid.version !== 1 || cid.code !== LIBP2P_KEY_CODEC || cid.multihash.code !== IDENTITY_HASH) {
    throw new KeyIdInvalidError(`keyid ${describe(userId)} is not a CIDv1 libp2p-key with an identity multihash`)
  }
  let key: PublicKey
  try {
    key = publicKeyFromMultihash(cid.multihash as Parameters<typeof publicKeyFromMultihash>[0])
  } catch (err: unknown) {
    throw new KeyIdInvalidError(`keyid ${describe(userId)} does not hold a public key: ${(err as Error).message}`, { cause: err })
  }
  if (key.type !== 'Ed25519') {
    throw new KeyIdInvalidError(`keyid ${describe(userId)} holds a ${key.type} key; only Ed25519 UserIds are accepted`)
  }
  if (userIdFromKey(key) !== userId) {
    throw new KeyIdInvalidError(`keyid ${describe(userId)} is not in canonical form`)
  }
  return key
}

/** True when `value` is a canonical Ed25519 UserId. */
export function isUserId (value: unknown): value is UserId {
  try {
    publicKeyFromUserId(value)
    return true
  } catch {
    return false
  }
}

/** A node:crypto KeyObject for an Ed25519 public key. */
export function publicKeyToKeyObject (key: PublicKey | PrivateKey): KeyObject {
  const raw = ed25519(key, 'the key').raw
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' })
}

const MAX_CACHED_KEYS = 1024
const verifyKeys = new Map<UserId, KeyObject>()
const signKeys = new WeakMap<PrivateKey, KeyObject>()

/**
 * The node:crypto KeyObject that verifies signatures by `userId`, decoded
 * once and kept in a bounded cache (a UserId always names the same key).
 * node:crypto's verify with a ready KeyObject is what @libp2p/crypto does
 * too, minus re-importing the key on every call.
 *
 * @internal
 * @throws KeyIdInvalidError when `userId` is not an Ed25519 UserId
 */
export function verifyKeyFor (userId: UserId): KeyObject {
  let object = verifyKeys.get(userId)
  if (object == null) {
    object = publicKeyToKeyObject(publicKeyFromUserId(userId))
    if (verifyKeys.size >= MAX_CACHED_KEYS) verifyKeys.delete(verifyKeys.keys().next().value as UserId)
    verifyKeys.set(userId, object)
  }
  return object
}

/**
 * The node:crypto KeyObject that signs as `key` (Ed25519 only), made once per
 * key object.
 *
 * @internal
 */
export function signKeyFor (key: PrivateKey): KeyObject {
  let object = signKeys.get(key)
  if (object == null) {
    const publicKey = ed25519(key, 'the signing key')
    object = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(key.raw.subarray(0, 32)).toString('base64url'), x: Buffer.from(publicKey.raw).toString('base64url') },
      format: 'jwk'
    })
    signKeys.set(key, object)
  }
  return object
}

/**
 * The public key as PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo),
 * the format `cosign verify-blob-attestation --key` and sigstore-js read.
 */
export function publicKeyToPem (key: PublicKey | PrivateKey): string {
  return publicKeyToKeyObject(key).export({ type: 'spki', format: 'pem' }).toString()
}

/**
 * Reads an Ed25519 public key from PEM (SubjectPublicKeyInfo).
 *
 * @throws KeyIdInvalidError when the PEM is not an Ed25519 public key
 */
export function publicKeyFromPem (pem: string): Ed25519PublicKey {
  let object: KeyObject
  try {
    object = createPublicKey({ key: pem, format: 'pem' })
  } catch (err: unknown) {
    throw new KeyIdInvalidError(`not a PEM public key: ${(err as Error).message}`, { cause: err })
  }
  if (object.asymmetricKeyType !== 'ed25519') {
    throw new KeyIdInvalidError(`PEM holds a ${String(object.asymmetricKeyType)} key; only Ed25519 is accepted`)
  }
  const jwk = object.export({ format: 'jwk' })
  return publicKeyFromRaw(Buffer.from(String(jwk.x), 'base64url')) as Ed25519PublicKey
}

function describe (value: unknown): string {
  const text = typeof value === 'string' ? value : String(value)
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text)
}
