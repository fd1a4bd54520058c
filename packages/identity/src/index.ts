/**
 * @packageDocumentation
 *
 * Difficulty-constrained Ed25519 identities for provenir: the S/Kademlia
 * static puzzle, a keystore for private keys, and a libp2p connection gater.
 *
 * A node's NodeId is its libp2p PeerId. It is valid in a swarm of difficulty
 * c1 when sha256 of the PeerId's multihash bytes (its Kademlia key) starts
 * with at least c1 zero bits. Making one takes about 2^c1 keypairs, spread
 * over worker threads; checking one takes one sha256.
 *
 * @example
 *
 * ```ts
 * import { generateIdentity, verifyNodeId, Keystore, difficultyGater } from '@provenir/identity'
 * import { peerIdFromPrivateKey } from '@libp2p/peer-id'
 *
 * const key = await generateIdentity({
 *   difficulty: 16,
 *   signal: AbortSignal.timeout(60_000),
 *   onProgress: (evt) => { console.log(`${evt.detail.attempts} attempts, ~${Math.round(evt.detail.etaSeconds)}s left`) }
 * })
 * verifyNodeId(peerIdFromPrivateKey(key), 16) // true
 *
 * const keystore = await Keystore.create('/home/me/.provenir/keystore.json', { self: key })
 * const gater = difficultyGater({ difficulty: 16 }) // pass as libp2p's connectionGater
 * ```
 */

export { generateIdentity } from './generate.js'
export type { GenerateIdentityOptions, IdentityProgressEvent } from './generate.js'
export { verifyNodeId, nodeIdDifficulty, kademliaKey } from './verify.js'
export { Keystore } from './keystore.js'
export type { KeystoreCreateOptions, KeystoreEntry, KeystoreFile, KeystoreKeyType } from './keystore.js'
export { difficultyGater } from './gater.js'
export type { DifficultyGater, DifficultyGaterInit, RefusalDirection } from './gater.js'
export type { IdentityProgress } from '@provenir/interface'
export {
  MIN_DIFFICULTY,
  MAX_DIFFICULTY,
  KEY_NAME_PATTERN,
  KEYSTORE_FILE_MODE,
  KEYSTORE_VERSION,
  MAX_KEYSTORE_BYTES,
  MAX_WORKERS,
  PROGRESS_INTERVAL_MS,
  SELF_KEY_NAME,
  WORKER_REPORT_INTERVAL_MS
} from './constants.js'

/**
 * The search loop `generateIdentity`'s workers run, exported for the
 * benchmark (`scripts/bench/puzzle.mjs`) to time on one thread.
 *
 * @internal
 */
export { NodeIdSearch } from './search.js'
