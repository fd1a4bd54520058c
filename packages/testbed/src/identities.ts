import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateIdentity, nodeIdDifficulty } from '@provenir/identity'
import type { PrivateKey } from '@libp2p/interface'

/** Above this difficulty the test bed uses the worker-pool search */
const INLINE_MAX_DIFFICULTY = 10

/**
 * Make `count` identities that meet `difficulty`. Low difficulties are ground
 * on this thread (cheaper than starting workers for 256 attempts); higher ones
 * use `generateIdentity`'s worker pool.
 */
export async function makeIdentities (count: number, difficulty: number): Promise<PrivateKey[]> {
  const out: PrivateKey[] = []
  while (out.length < count) {
    if (difficulty > INLINE_MAX_DIFFICULTY) {
      out.push(await generateIdentity({ difficulty }))
      continue
    }
    const key = await generateKeyPair('Ed25519')
    if (nodeIdDifficulty(peerIdFromPrivateKey(key)) >= difficulty) {
      out.push(key)
    }
  }
  return out
}

/**
 * Make an identity whose NodeId has exactly `bits` leading zero bits: a peer
 * that is one bit below a swarm's c1 when `bits = c1 - 1`.
 */
export async function makeIdentityWithExactDifficulty (bits: number): Promise<PrivateKey> {
  if (bits > 16) throw new RangeError('makeIdentityWithExactDifficulty: at most 16 bits')
  while (true) {
    const key = await generateKeyPair('Ed25519')
    if (nodeIdDifficulty(peerIdFromPrivateKey(key)) === bits) return key
  }
}
