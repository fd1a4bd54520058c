/** Smallest swarm difficulty (c1): every NodeId qualifies. */
export const MIN_DIFFICULTY = 0

/**
 * Largest swarm difficulty (c1) this package accepts. 2^64 expected attempts
 * is far beyond what any machine can grind; the bound keeps the expected
 * attempt count a finite float and catches typos in config.
 */
export const MAX_DIFFICULTY = 64

/** The most search workers one `generateIdentity` call will start. */
export const MAX_WORKERS = 256

/** How often a search worker posts its attempt count to the main thread, in ms. */
export const WORKER_REPORT_INTERVAL_MS = 50

/** Least time between two `identity:progress` events, in ms. */
export const PROGRESS_INTERVAL_MS = 250

/** The largest keystore file `Keystore.load` will read, in bytes. */
export const MAX_KEYSTORE_BYTES = 1024 * 1024

/** The keystore file format version this package reads and writes. */
export const KEYSTORE_VERSION = 1

/** File mode of a keystore file: owner read/write only. */
export const KEYSTORE_FILE_MODE = 0o600

/** A key name: 1 to 64 of ASCII letters, digits, '.', '_' and '-'. */
export const KEY_NAME_PATTERN = /^[a-zA-Z0-9._-]{1,64}$/

/** The keystore name of the node's own key. */
export const SELF_KEY_NAME = 'self'

/**
 * The first six bytes of an Ed25519 PeerId's multihash: identity multihash
 * (code 0x00, length 0x24 = 36) of the protobuf PublicKey
 * (field 1 KeyType = 1 Ed25519, field 2 Data of length 0x20). The 32-byte
 * raw public key follows.
 *
 * @internal
 */
export const ED25519_MULTIHASH_PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20)

/** Length of an Ed25519 PeerId's multihash bytes. @internal */
export const ED25519_MULTIHASH_LENGTH = 38
