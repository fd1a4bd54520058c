/**
 * OCI image layouts for rollouts: what one holds (the manifest digest and
 * S, the bytes a host must receive), and synthetic ones of a given size for
 * benchmarks and tests (random, so nothing compresses or deduplicates).
 */
import { createHash, randomFillSync } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { InvalidParametersError } from '@provenir/interface'

const MAX_INDEX_BYTES = 4 * 1024 * 1024

export interface LayoutImage {
  /** The layout directory */
  layout: string
  tag: string
  /** The manifest digest */
  digest: string
  /** S: the manifest, the config and every layer, in bytes */
  size: number
  /** The digests of the config and the layers */
  blobs: string[]
}

async function readJson (file: string): Promise<any> {
  const stat = await fs.stat(file)
  if (stat.size > MAX_INDEX_BYTES) throw new InvalidParametersError(`${file} is over ${MAX_INDEX_BYTES} bytes`)
  return JSON.parse(await fs.readFile(file, 'utf8'))
}

function blobFile (layout: string, digest: string): string {
  const [alg, hex] = digest.split(':')
  if (!/^sha(256|512)$/.test(alg) || !/^[a-f0-9]+$/.test(hex ?? '')) throw new InvalidParametersError(`"${digest}" is not a digest`)
  return path.join(layout, 'blobs', alg, hex)
}

/** Reads the image tagged `tag` in an OCI layout @throws InvalidParametersError when the layout or tag is missing */
export async function readLayoutImage (layout: string, tag = 'v1'): Promise<LayoutImage> {
  layout = path.resolve(layout)
  let index: any
  try {
    index = await readJson(path.join(layout, 'index.json'))
  } catch (err) {
    throw new InvalidParametersError(`${layout} is not an OCI image layout: ${(err as Error).message}`, { cause: err })
  }
  const entry = (index.manifests ?? []).find((m: any) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)
  if (entry == null) throw new InvalidParametersError(`${layout} has no image tagged "${tag}"`)
  const manifest = await readJson(blobFile(layout, entry.digest))
  const descriptors: Array<{ digest: string, size: number }> = [manifest.config, ...(manifest.layers ?? [])]
  const size = descriptors.reduce((a, d) => a + Number(d.size), Number(entry.size))
  return { layout, tag, digest: entry.digest, size, blobs: descriptors.map(d => d.digest) }
}

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

/**
 * Writes an OCI layout of one image tagged `tag`: a config and one random
 * layer of `layerBytes` (written and hashed 4 MiB at a time), so S is
 * `layerBytes` plus about 1 KB.
 */
export async function writeSyntheticLayout (layout: string, layerBytes: number, tag = 'v1'): Promise<LayoutImage> {
  if (!Number.isInteger(layerBytes) || layerBytes < 1 || layerBytes > 2 ** 34) throw new InvalidParametersError('layerBytes must be 1 byte to 16 GiB')
  const blobs = path.join(layout, 'blobs', 'sha256')
  await fs.mkdir(blobs, { recursive: true })
  const tmp = path.join(blobs, '.layer.tmp')
  const hash = createHash('sha256')
  const file = await fs.open(tmp, 'w')
  try {
    const chunk = Buffer.alloc(4 * 1024 * 1024)
    for (let done = 0; done < layerBytes;) {
      const part = chunk.subarray(0, Math.min(chunk.length, layerBytes - done))
      randomFillSync(part)
      hash.update(part)
      await file.write(part)
      done += part.length
    }
  } finally {
    await file.close()
  }
  const layerDigest = `sha256:${hash.digest('hex')}`
  await fs.rename(tmp, blobFile(layout, layerDigest))
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [layerDigest] },
    history: [{ created_by: `lab: ${layerBytes} random bytes` }]
  }))
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layerBytes }]
  }))
  await fs.writeFile(blobFile(layout, sha256(config)), config)
  await fs.writeFile(blobFile(layout, sha256(manifest)), manifest)
  await fs.writeFile(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await fs.writeFile(path.join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }]
  }))
  return readLayoutImage(layout, tag)
}
