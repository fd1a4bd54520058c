import { generateKeyPairSync, hash } from 'node:crypto'
import { ED25519_MULTIHASH_LENGTH, ED25519_MULTIHASH_PREFIX } from './constants.js'
import { hasLeadingZeroBits } from './verify.js'
import type { KeyObject } from 'node:crypto'

type WritePublicKey = (key: KeyObject, into: Buffer) => void
type ExportSeed = (key: KeyObject) => Uint8Array

const PUBLIC_KEY_OFFSET = ED25519_MULTIHASH_PREFIX.byteLength

/** `raw-public` / `raw-private` key export (recent Node 24): no encoding round trip. */
const rawExport: [WritePublicKey, ExportSeed] = [
  (key, into) => { into.set(key.export({ format: 'raw-public' }), PUBLIC_KEY_OFFSET) },
  (key) => new Uint8Array(key.export({ format: 'raw-private' }))
]

/** JWK export (Node 22+): base64url decoded straight into the multihash buffer. */
const jwkExport: [WritePublicKey, ExportSeed] = [
  (key, into) => { into.write(key.export({ format: 'jwk' }).x ?? '', PUBLIC_KEY_OFFSET, 'base64url') },
  (key) => new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).d ?? '', 'base64url'))
]

function pickExport (): [WritePublicKey, ExportSeed] {
  try {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    const into = Buffer.alloc(ED25519_MULTIHASH_LENGTH)
    rawExport[0](publicKey, into)
    if (rawExport[1](privateKey).byteLength === 32) return rawExport
  } catch {}
  return jwkExport
}

/**
 * The hot loop of the NodeId search: make Ed25519 keypairs with OpenSSL
 * (node:crypto), build the PeerId multihash bytes by hand
 * (`00 24 08 01 12 20 || publicKey`) and hash them with sha256 until one has
 * `difficulty` leading zero bits.
 *
 * Each search worker runs one of these. It is exported, `@internal`, so that
 * the benchmark can time exactly the same operation on one thread.
 *
 * @internal
 */
export class NodeIdSearch {
  /** Keypairs tried so far */
  attempts = 0
  private readonly difficulty: number
  private readonly input: Buffer
  private readonly writePublicKey: WritePublicKey
  private readonly exportSeed: ExportSeed

  constructor (difficulty: number) {
    this.difficulty = difficulty
    this.input = Buffer.alloc(ED25519_MULTIHASH_LENGTH)
    this.input.set(ED25519_MULTIHASH_PREFIX, 0)
    const [writePublicKey, exportSeed] = pickExport()
    this.writePublicKey = writePublicKey
    this.exportSeed = exportSeed
  }

  /**
   * Try up to `count` keypairs. Returns the 32-byte Ed25519 seed (private
   * key) of the first whose NodeId meets the difficulty, or undefined.
   */
  run (count: number): Uint8Array | undefined {
    const input = this.input
    const difficulty = this.difficulty
    for (let i = 0; i < count; i++) {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519')
      this.writePublicKey(publicKey, input)
      this.attempts++
      if (hasLeadingZeroBits(hash('sha256', input, 'buffer'), difficulty)) {
        return this.exportSeed(privateKey)
      }
    }
    return undefined
  }
}
