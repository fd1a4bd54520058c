/**
 * The local source: what the node's store holds, found through its index
 * (image records and the registry's entries). First in every content
 * service's list of sources.
 */

import { exportBlob, MAX_MANIFEST_SIZE, ManifestTooLargeError } from '@provenir/content'
import { CID } from 'multiformats/cid'
import type { ContentSource, SourceBlob, SourceBlobRequest, SourceManifest, SourceManifestRequest, TagResolution } from './types.js'
import type { AbortOptions } from '@libp2p/interface'
import type { ContentBlockstore, Digest, ImageIndex, RepositoryIndex } from '@provenir/content'

export interface LocalSourceComponents {
  blockstore: ContentBlockstore
  images: ImageIndex
  registry: RepositoryIndex
}

/** Where a held manifest is */
export interface ManifestLocation {
  root: CID
  size: number
  mediaType: string
}

/** Reads a whole blob of at most `max` bytes (a manifest), every block and the digest checked */
export async function readSmallBlob (root: CID, store: ContentBlockstore, digest: string, max: number, options: AbortOptions = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let size = 0
  for await (const chunk of exportBlob(root, store, { expectedDigest: digest, signal: options.signal })) {
    size += chunk.byteLength
    if (size > max) throw new ManifestTooLargeError(`${digest} is over ${max} bytes`)
    parts.push(chunk)
  }
  return Buffer.concat(parts, size)
}

export class LocalSource implements ContentSource {
  readonly name = 'local'
  readonly #c: LocalSourceComponents

  constructor (components: LocalSourceComponents) {
    this.#c = components
  }

  /**
   * A repository's own tag. For a repository the registry has never held a
   * manifest in, the tags of image records too (an image imported from an OCI
   * layout or a docker-archive is recorded as `<repo>:<tag>`, also with the
   * `docker.io/` and `docker.io/library/` prefixes docker-archive tags get).
   * A repository's own tags are authoritative: a tag deleted stays deleted.
   */
  async resolveTag (request: { repository: string, tag: string, signal?: AbortSignal }): Promise<TagResolution | undefined> {
    const { repository, tag } = request
    const digest = await this.#c.registry.tag(repository, tag)
    if (digest != null) return { digest }
    if (await this.#c.registry.hasRepository(repository)) return undefined
    const wanted = new Set([`${repository}:${tag}`, `docker.io/${repository}:${tag}`, `docker.io/library/${repository}:${tag}`])
    for await (const record of this.#c.images.ls({ signal: request.signal })) {
      if (record.tags?.some(t => wanted.has(t)) === true) return { digest: record.manifestDigest }
    }
    return undefined
  }

  /** A manifest or index held: a registry entry, or an image record (pushed, pulled, imported) */
  async locate (digest: string): Promise<ManifestLocation | undefined> {
    let found: ManifestLocation | undefined
    const entry = await this.#c.registry.manifest(digest)
    if (entry != null) found = { mediaType: entry.mediaType, size: entry.size, root: CID.parse(entry.root) }
    if (found == null) {
      const record = await this.#c.images.get(digest)
      if (record != null) found = { mediaType: record.mediaType, size: record.blobs[0].size, root: CID.parse(record.blobs[0].root) }
    }
    if (found == null || !await this.#c.blockstore.has(found.root)) return undefined
    return found
  }

  async manifest (request: SourceManifestRequest): Promise<SourceManifest | undefined> {
    const found = await this.locate(request.digest)
    if (found == null) return undefined
    return { bytes: await readSmallBlob(found.root, this.#c.blockstore, request.digest, MAX_MANIFEST_SIZE, request), root: found.root }
  }

  /** A blob held: uploaded, part of an image, or a manifest; its root must be in the store */
  async locateBlob (digest: Digest | string): Promise<{ root: CID, size: number } | undefined> {
    let found: { root: CID, size: number } | undefined
    const uploaded = await this.#c.registry.blob(digest)
    if (uploaded != null) found = { root: CID.parse(uploaded.root), size: uploaded.size }
    if (found == null) {
      const record = await this.#c.images.getBlob(digest)
      if (record != null) found = { root: CID.parse(record.root), size: record.size }
    }
    if (found == null) {
      const manifest = await this.#c.registry.manifest(digest)
      if (manifest != null) found = { root: CID.parse(manifest.root), size: manifest.size }
    }
    if (found == null || !await this.#c.blockstore.has(found.root)) return undefined
    return found
  }

  async blob (request: SourceBlobRequest): Promise<SourceBlob | undefined> {
    const found = await this.locateBlob(request.digest)
    return found == null ? undefined : { kind: 'stored', ...found }
  }

  /** A held block, checked against its CID as it is read */
  async block (cid: CID, options: AbortOptions): Promise<Uint8Array | undefined> {
    const store = this.#c.blockstore
    if (!await store.has(cid, options)) return undefined
    const parts: Uint8Array[] = []
    for await (const chunk of store.get(cid, { signal: options.signal, verify: true })) parts.push(chunk)
    return parts.length === 1 ? parts[0] : Buffer.concat(parts)
  }
}
