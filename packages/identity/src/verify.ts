import { hash } from 'node:crypto'
import { InvalidParametersError } from '@provenir/interface'
import { MAX_DIFFICULTY, MIN_DIFFICULTY } from './constants.js'
import type { PeerId } from '@libp2p/interface'

/**
 * Throws InvalidParametersError unless `difficulty` is an integer in
 * [MIN_DIFFICULTY, MAX_DIFFICULTY].
 *
 * @internal
 */
export function assertDifficulty (difficulty: unknown, what = 'difficulty'): asserts difficulty is number {
  if (!Number.isInteger(difficulty) || (difficulty as number) < MIN_DIFFICULTY || (difficulty as number) > MAX_DIFFICULTY) {
    throw new InvalidParametersError(`${what} must be an integer from ${MIN_DIFFICULTY} to ${MAX_DIFFICULTY}, got ${String(difficulty)}`)
  }
}

/** The bytes a NodeId is hashed from: the PeerId's multihash bytes. */
function nodeIdBytes (peerId: PeerId | Uint8Array): Uint8Array {
  return peerId instanceof Uint8Array ? peerId : peerId.toMultihash().bytes
}

/**
 * True when `digest` starts with at least `bits` zero bits. `bits` must be
 * an integer no larger than `digest.length * 8`.
 *
 * @internal
 */
export function hasLeadingZeroBits (digest: Uint8Array, bits: number): boolean {
  const whole = bits >>> 3
  for (let i = 0; i < whole; i++) {
    if (digest[i] !== 0) return false
  }
  const rest = bits & 7
  return rest === 0 || (digest[whole] >>> (8 - rest)) === 0
}

/**
 * The number of leading zero bits of `digest`.
 *
 * @internal
 */
export function leadingZeroBits (digest: Uint8Array): number {
  let bits = 0
  for (let i = 0; i < digest.length; i++) {
    const b = digest[i]
    if (b !== 0) return bits + Math.clz32(b) - 24
    bits += 8
  }
  return bits
}

/**
 * The Kademlia key of a node: sha256 of its NodeId, i.e. of the PeerId's
 * multihash bytes. This is the same key @libp2p/kad-dht uses for a peer, so
 * the S/Kademlia puzzle constrains the node's place in the DHT's key space.
 *
 * @param peerId - a PeerId, or the bytes of its multihash
 */
export function kademliaKey (peerId: PeerId | Uint8Array): Uint8Array {
  const digest = hash('sha256', nodeIdBytes(peerId), 'buffer')
  // a plain Uint8Array that owns its own 32-byte buffer
  return new Uint8Array(digest)
}

/**
 * The difficulty a NodeId meets: the number of leading zero bits of
 * sha256(multihash bytes), from 0 to 256.
 *
 * @param peerId - a PeerId, or the bytes of its multihash
 */
export function nodeIdDifficulty (peerId: PeerId | Uint8Array): number {
  return leadingZeroBits(hash('sha256', nodeIdBytes(peerId), 'buffer'))
}

/**
 * True when the NodeId meets the swarm difficulty `c1`: sha256 of the
 * PeerId's multihash bytes has at least `c1` leading zero bits (the
 * S/Kademlia static puzzle). Costs one sha256 of ~38 bytes, about a
 * microsecond.
 *
 * @param peerId - a PeerId, or the bytes of its multihash
 * @param c1 - the swarm difficulty, an integer from 0 to 64
 * @throws InvalidParametersError when `c1` is out of range
 */
export function verifyNodeId (peerId: PeerId | Uint8Array, c1: number): boolean {
  assertDifficulty(c1, 'c1')
  if (c1 === 0) return true
  return hasLeadingZeroBits(hash('sha256', nodeIdBytes(peerId), 'buffer'), c1)
}
