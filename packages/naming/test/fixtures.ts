import { generateKeyPair } from '@libp2p/crypto/keys'
import { createRepoDocument, type RepoDocument } from '../src/index.js'
import type { PrivateKey } from '@libp2p/interface'

export const MANIFEST = 'sha256:' + 'a'.repeat(64)
export const MANIFEST2 = 'sha256:' + 'b'.repeat(64)
export const CONFIG = 'sha256:' + 'c'.repeat(64)
export const LAYER = 'sha256:' + 'd'.repeat(64)
export const ROOT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

export async function newKey (): Promise<PrivateKey> {
  return generateKeyPair('Ed25519')
}

export function sampleDocument (owner: PrivateKey, seq = 1, overrides: Partial<Parameters<typeof createRepoDocument>[0]> = {}): RepoDocument {
  return createRepoDocument({
    owner,
    repo: 'myapp',
    images: [{
      manifestDigest: MANIFEST,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      blobs: [
        { digest: MANIFEST, size: 400, root: ROOT },
        { digest: CONFIG, size: 1200, root: ROOT },
        { digest: LAYER, size: 3_000_000, root: ROOT }
      ]
    }],
    tags: { latest: MANIFEST },
    seq,
    ...overrides
  })
}

/** Flips one character of the base64 payload of an encoded envelope, keeping it valid base64 */
export function alterPayload (bytes: Uint8Array, edit: (payload: Record<string, unknown>) => void): Uint8Array {
  const env = JSON.parse(new TextDecoder().decode(bytes))
  const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString())
  edit(payload)
  env.payload = Buffer.from(JSON.stringify(payload)).toString('base64')
  return new TextEncoder().encode(JSON.stringify(env))
}

/** A ComponentLogger that logs nothing */
export const silentLogger: any = {
  forComponent: () => Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false, newScope: () => silentLogger.forComponent() })
}

/** Registrar stub for a Registry used without libp2p */
export const noRegistrar = {
  handle: async () => {},
  unhandle: async () => {}
}
