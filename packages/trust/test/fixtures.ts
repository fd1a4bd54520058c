/**
 * Deterministic keys and a realistic three-layer image (an alpine base, a
 * node runtime layer from the same vendor, an app layer), with a BuildKit
 * style config history.
 */

import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { computeDigest, parseImageConfig, parseManifest } from '@provenir/content'
import type { Ed25519PrivateKey } from '@libp2p/interface'

export const enc = (doc: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(doc, null, 2))
const fake = (label: string): `sha256:${string}` => computeDigest(new TextEncoder().encode(label)) as `sha256:${string}`

/** A key made from a fixed seed, so every run signs with the same keys. */
export async function key (label: string): Promise<Ed25519PrivateKey> {
  const seed = new Uint8Array(32)
  seed.set(new TextEncoder().encode(label).subarray(0, 32))
  return generateKeyPairFromSeed('Ed25519', seed)
}

/** The base image (what the vendor ships): two layers. */
export const baseManifestDigest = fake('node:22-alpine manifest')

export const layerDigests = [fake('alpine rootfs layer'), fake('node runtime layer'), fake('app layer')]

export const config = {
  created: '2026-11-20T10:15:30.123456789Z',
  architecture: 'amd64',
  os: 'linux',
  config: {
    User: 'node',
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_VERSION=22.11.0', 'NODE_ENV=production'],
    Entrypoint: ['docker-entrypoint.sh'],
    Cmd: ['node', 'server.js'],
    WorkingDir: '/srv/app',
    ExposedPorts: { '3000/tcp': {} }
  },
  rootfs: { type: 'layers', diff_ids: [fake('alpine diff'), fake('node diff'), fake('app diff')] },
  history: [
    { created: '2026-10-08T11:04:57Z', created_by: '/bin/sh -c #(nop) ADD file:3e2d3b8b8e9a1c4b6b9b5f7c2e3a1d0f9c8b7a6e5d4c3b2a1f0e9d8c7b6a5f4e in / ' },
    { created: '2026-10-08T11:04:57Z', created_by: '/bin/sh -c #(nop)  CMD ["/bin/sh"]', empty_layer: true },
    { created: '2026-10-29T18:07:31Z', created_by: 'ENV NODE_VERSION=22.11.0', comment: 'buildkit.dockerfile.v0', empty_layer: true },
    { created: '2026-10-29T18:07:31Z', created_by: 'RUN /bin/sh -c addgroup -g 1000 node && adduser -u 1000 -G node -s /bin/sh -D node && apk add --no-cache libstdc++ && ... # buildkit', comment: 'buildkit.dockerfile.v0' },
    { created: '2026-10-29T18:07:31Z', created_by: 'ENTRYPOINT ["docker-entrypoint.sh"]', comment: 'buildkit.dockerfile.v0', empty_layer: true },
    { created: '2026-11-20T10:15:29Z', created_by: 'WORKDIR /srv/app', comment: 'buildkit.dockerfile.v0', empty_layer: true },
    { created: '2026-11-20T10:15:30Z', created_by: 'COPY --chown=node:node . /srv/app # buildkit', comment: 'buildkit.dockerfile.v0' },
    { created: '2026-11-20T10:15:30Z', created_by: 'ENV NODE_ENV=production', comment: 'buildkit.dockerfile.v0', empty_layer: true },
    { created: '2026-11-20T10:15:30Z', created_by: 'USER node', comment: 'buildkit.dockerfile.v0', empty_layer: true },
    { created: '2026-11-20T10:15:30Z', created_by: 'EXPOSE map[3000/tcp:{}]', comment: 'buildkit.dockerfile.v0', empty_layer: true },
    { created: '2026-11-20T10:15:30Z', created_by: 'CMD ["node" "server.js"]', comment: 'buildkit.dockerfile.v0', empty_layer: true }
  ]
}
export const configBytes = enc(config)

export const manifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: computeDigest(configBytes), size: configBytes.byteLength },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigests[0], size: 3_623_844 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigests[1], size: 41_204_117 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigests[2], size: 18_342 }
  ],
  annotations: {
    'org.opencontainers.image.base.digest': baseManifestDigest,
    'org.opencontainers.image.base.name': 'docker.io/library/node:22-alpine'
  }
}
export const manifestBytes = enc(manifest)
export const manifestDigest = computeDigest(manifestBytes)

/** the manifest and config as `@provenir/content` parses them */
export const parsed = {
  manifest: (() => {
    const p = parseManifest(manifestBytes)
    if (p.kind !== 'manifest') throw new Error('fixture is not a manifest')
    return p.manifest
  })(),
  config: parseImageConfig(configBytes).config
}

/** a copy of `value` with `fn` applied */
export function mutate<T> (value: T, fn: (copy: any) => void): T {
  const copy = structuredClone(value)
  fn(copy)
  return copy
}

/** `text` (base64) with one byte of its decoded bytes flipped */
export function flipBase64Byte (text: string, index = 0): string {
  const bytes = Buffer.from(text, 'base64')
  bytes[index] ^= 0x01
  return bytes.toString('base64')
}
