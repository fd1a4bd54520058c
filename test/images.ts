import { createHash, randomBytes } from 'node:crypto'
import { importBlob, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_MANIFEST } from '@provenir/content'
import type { ImageRecord } from '@provenir/content'
import type { ProvenirNode } from '@provenir/node'
import type { CID } from 'multiformats/cid'

export const digestOf = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

export async function * chunks (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += 256 * 1024) yield bytes.subarray(i, i + 256 * 1024)
}

export async function collect (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of source) parts.push(c)
  return Buffer.concat(parts)
}

/** A synthetic OCI image: a config, a large random layer (a DAG) and a small one (one block) */
export function makeImage (bigBytes = 3.5 * 1024 * 1024): { manifest: Uint8Array, blobs: Array<{ bytes: Uint8Array, mediaType: string }> } {
  const big = randomBytes(bigBytes)
  const small = randomBytes(40_000)
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [digestOf(big), digestOf(small)] },
    history: [{ created_by: 'ADD big /' }, { created_by: 'ADD small /' }]
  }))
  const blobs = [{ bytes: config, mediaType: MEDIA_TYPE_OCI_CONFIG }, { bytes: big, mediaType: MEDIA_TYPE_OCI_LAYER_GZIP }, { bytes: small, mediaType: MEDIA_TYPE_OCI_LAYER_GZIP }]
  const desc = (b: { bytes: Uint8Array, mediaType: string }): object => ({ mediaType: b.mediaType, digest: digestOf(b.bytes), size: b.bytes.byteLength })
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    config: desc(blobs[0]),
    layers: blobs.slice(1).map(desc)
  }))
  return { manifest, blobs }
}


export type SyntheticImage = ReturnType<typeof makeImage>

/**
 * Put `image` into `node`'s blockstore and image index the way an import
 * does (blobs through importBlob, the record written last), then provide it.
 */
export async function seedImage (node: ProvenirNode, image: SyntheticImage): Promise<ImageRecord> {
  const manifestDigest = digestOf(image.manifest) as ImageRecord['manifestDigest']
  const blobs: ImageRecord['blobs'] = []
  const blocks: CID[] = []
  for (const blob of [{ bytes: image.manifest, mediaType: MEDIA_TYPE_OCI_MANIFEST }, ...image.blobs]) {
    const res = await importBlob(chunks(blob.bytes), node.blockstore!, { expectedDigest: digestOf(blob.bytes) })
    blobs.push({ digest: res.digest as ImageRecord['manifestDigest'], size: res.size, root: res.root.toString(), mediaType: blob.mediaType })
    blocks.push(...res.blocks)
  }
  const record = await node.images!.add({ manifestDigest, mediaType: MEDIA_TYPE_OCI_MANIFEST, blobs }, blocks)
  await node.provideImage(manifestDigest)
  return record
}
