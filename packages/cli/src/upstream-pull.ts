/**
 * `provenir image pull` of an image an upstream registry named: the whole
 * image through the node's content service (so it is asked of the swarm
 * first, then fetched from the upstream, verified, stored and provided),
 * read blob by blob as a mirror client would.
 */

import { platformsOf, selectPlatform, UnsupportedMediaTypeError, parseManifest } from '@provenir/content'
import { parsePlatform, InvalidParametersError, type PlatformSpec } from '@provenir/interface'
import { ImageNotFoundError } from '@provenir/content'
import type { ImageRecord } from '@provenir/content'
import type { UpstreamResolved } from '@provenir/naming'
import type { ProvenirNode } from '@provenir/node'

export interface UpstreamPullOptions {
  signal: AbortSignal
  platform?: PlatformSpec
  /** Keep the image (the default); false leaves it cache, which eviction may remove */
  pin?: boolean
  progress(update: { phase: 'pull', bytes: number, total?: number, blob?: string }): void
}

export interface UpstreamPulled {
  record: ImageRecord
  index?: { digest: string, platform: string }
}

/**
 * Pulls an upstream image into the node and returns its record.
 *
 * @throws UnsupportedMediaTypeError for an image index without a platform; the content service's and the upstream's errors
 */
export async function pullUpstreamImage (node: ProvenirNode, resolved: UpstreamResolved, options: UpstreamPullOptions): Promise<UpstreamPulled> {
  const content = node.content
  if (content == null) throw new InvalidParametersError('this node has no blockstore, so it cannot pull')
  const base = { repository: resolved.repository, namespace: resolved.host, signal: options.signal }
  let manifest = await content.manifest({ ...base, reference: resolved.digest })
  let index: UpstreamPulled['index']
  if (manifest.kind === 'index') {
    const parsed = parseManifest(manifest.bytes)
    if (parsed.kind !== 'index') throw new UnsupportedMediaTypeError(`${manifest.digest} is not an image index`)
    if (options.platform == null) throw new UnsupportedMediaTypeError(`${manifest.digest} is an image index for ${platformsOf(parsed.index)}; pull it with --platform`)
    const chosen = selectPlatform(parsed.index, typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform)
    if (chosen == null) throw new UnsupportedMediaTypeError(`${manifest.digest} has no image for ${JSON.stringify(options.platform)} (it has ${platformsOf(parsed.index)})`)
    index = { digest: manifest.digest, platform: `${chosen.platform?.os ?? '?'}/${chosen.platform?.architecture ?? '?'}` }
    manifest = await content.manifest({ ...base, reference: chosen.digest })
  }
  const parsed = parseManifest(manifest.bytes, { expectedDigest: manifest.digest })
  if (parsed.kind !== 'manifest') throw new UnsupportedMediaTypeError(`${manifest.digest} is not an image manifest`)
  const blobs = [parsed.manifest.config, ...parsed.manifest.layers]
  const total = manifest.size + blobs.reduce((n, d) => n + d.size, 0)
  let bytes = manifest.size
  for (const d of blobs) {
    const blob = await content.blob({ ...base, digest: d.digest })
    // reading the blob is what fetches, checks and stores it
    for await (const chunk of blob.read(undefined, { signal: options.signal })) {
      bytes += chunk.byteLength
      blob.release(chunk)
    }
    options.progress({ phase: 'pull', bytes, total, blob: d.digest })
  }
  let record = await node.images?.get(manifest.digest)
  if (record == null) throw new ImageNotFoundError(`${manifest.digest} was fetched from ${resolved.host} but not recorded`)
  // the content service records an upstream image as cache; a pull asked for it, so it is kept
  if (options.pin !== false) record = await node.images!.add(record, [], { signal: options.signal })
  return { record, ...(index != null ? { index } : {}) }
}
