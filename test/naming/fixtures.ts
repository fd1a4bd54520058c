import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

export const MANIFEST = 'sha256:' + 'a'.repeat(64)
export const MANIFEST2 = 'sha256:' + 'b'.repeat(64)
export const ROOT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

export async function newKey (): Promise<PrivateKey> {
  return generateKeyPair('Ed25519')
}
