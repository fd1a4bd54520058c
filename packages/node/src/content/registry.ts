/**
 * What changes what the repositories hold: manifest pushes, uploads
 * committed, mounts and deletes, and the recording of what a source fetched.
 * Repository isolation, as distribution has it, is kept here:
 *
 * - a tag belongs to its repository;
 * - a manifest belongs to the repositories it was pushed to, pulled through,
 *   or tagged in; a DELETE through a repository that does not hold it is a
 *   404. A DELETE through one that does deletes it from the node (its bytes
 *   are one object in the store): every repository's tags and links to it
 *   go, it is unpinned, no longer provided, and not fetched again for a
 *   client until someone pushes or pulls it on purpose;
 * - a blob belongs to the repositories it was uploaded to or mounted into,
 *   and to those holding a manifest that names it. A manifest pushed may name
 *   any blob the node holds: pushing it links those blobs to the repository.
 *   A mount needs a `from` repository that holds the blob.
 */

import { BlobSizeMismatchError, cidForDigest, copiesOnPut, DEFAULT_CHUNK_SIZE, getBlockBytes, importBlob, isDigest, ManifestInvalidError, parseDigest, parseManifest, verifyBlob, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST } from '@provenir/content'
import { isTag } from '@provenir/interface'
import { encodeEnvelope, imageSignatureStatement, layerSignatureStatement, signStatement } from '@provenir/trust'
import * as raw from 'multiformats/codecs/raw'
import { CID } from 'multiformats/cid'
import { BlobInUseError, BlobNotFoundError, ManifestNotFoundError, ManifestReferenceError } from '../errors.js'
import type { ContentServiceComponents } from './components.js'
import type { LocalSource } from './local-source.js'
import type { BlobRequest, ManifestRequest, PutManifestRequest, PutManifestResult, SourceManifest, UploadedBlob } from './types.js'
import type { Logger, PrivateKey } from '@libp2p/interface'
import type { BlobWriter, Digest, ImageBlobRecord, ImageRecord, ManifestEntry, ParsedManifest } from '@provenir/content'

const MANIFEST_TYPES = new Set([MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST])

/** The registry entry of a manifest or index stored under `root` */
export function manifestEntry (parsed: ParsedManifest, root: CID, size: number, blocks?: CID[]): ManifestEntry {
  const doc = parsed.kind === 'manifest' ? parsed.manifest : parsed.index
  const entry: ManifestEntry = { mediaType: parsed.mediaType, size, root: root.toString(), kind: parsed.kind }
  if (blocks != null) entry.blocks = blocks.map(c => c.toString())
  if (doc.subject != null) entry.subject = doc.subject.digest
  const artifactType = doc.artifactType ?? (parsed.kind === 'manifest' ? parsed.manifest.config.mediaType : undefined)
  if (artifactType != null) entry.artifactType = artifactType
  if (doc.annotations != null) entry.annotations = doc.annotations
  return entry
}

/** A writer that guards each block from gc() before it writes it, until the caller's releases run */
function guarding (c: ContentServiceComponents, releases: Array<() => void>): BlobWriter & { copiesOnPut: boolean } {
  return {
    put: async (cid, bytes, options) => {
      releases.push(c.blockstore.guard([cid]))
      return c.blockstore.put(cid, bytes, options)
    },
    copiesOnPut: copiesOnPut(c.blockstore)
  }
}

export class Registry {
  readonly #c: ContentServiceComponents
  readonly #local: LocalSource
  readonly #log: Logger

  constructor (components: ContentServiceComponents, local: LocalSource) {
    this.#c = components
    this.#local = local
    this.#log = components.logger.forComponent('provenir:content:registry')
  }

  /**
   * Records a manifest a source other than the store fetched (checked
   * against its digest already). An index is pinned, recorded and provided
   * like a pushed one; bytes the source did not store (an upstream's) are
   * stored and recorded. An image manifest from the swarm is recorded by its
   * pull, with the image, once every blob is checked.
   */
  async recordFetchedManifest (digest: Digest, parsed: ParsedManifest, found: SourceManifest, source: string): Promise<void> {
    if (found.root != null && parsed.kind === 'manifest') return
    const releases: Array<() => void> = []
    try {
      let root = found.root
      let blocks = root != null ? [root] : undefined
      if (root == null) {
        const imported = await importBlob([found.bytes], guarding(this.#c, releases), { expectedDigest: digest, size: found.bytes.byteLength })
        root = imported.root
        blocks = imported.blocks
      }
      await this.#c.registry.putManifest(digest, manifestEntry(parsed, root, found.bytes.byteLength, blocks))
      this.#c.provide(root)
      this.#log('recorded %s %s from %s', parsed.kind, digest, source)
    } finally {
      for (const release of releases) release()
    }
  }

  /**
   * Records an image manifest a stream source fetched (an upstream's) as an
   * image record once every blob it names is held: the record lets peers
   * pull the whole image from this node over the swarm, and the image is
   * provided. It is listed as cache (fetched for a client): eviction may
   * remove it; `provenir image pull` keeps it. False while a blob is still missing.
   */
  async completeImage (digest: Digest, parsed: ParsedManifest): Promise<boolean> {
    if (parsed.kind !== 'manifest' || await this.#c.images.has(digest)) return parsed.kind === 'manifest'
    const entry = await this.#c.registry.manifest(digest)
    if (entry == null) return false
    const blobs: ImageBlobRecord[] = []
    const blocks: CID[] = entry.blocks != null ? entry.blocks.map(s => CID.parse(s)) : [CID.parse(entry.root)]
    for (const d of [parsed.manifest.config, ...parsed.manifest.layers]) {
      const found = await this.#local.locateBlob(d.digest)
      if (found == null) return false
      blobs.push({ digest: d.digest, size: d.size, root: found.root.toString(), mediaType: d.mediaType })
      blocks.push(...await this.#blocksOf(d.digest, found.root))
    }
    const record: ImageRecord = { manifestDigest: digest, mediaType: parsed.mediaType, blobs: [{ digest, size: entry.size, root: entry.root, mediaType: parsed.mediaType }, ...blobs] }
    await this.#c.images.add(record, blocks, { cache: true })
    await this.#c.provideImage(digest).catch((err: Error) => { this.#log.error('providing %s failed - %e', digest, err) })
    this.#log('recorded upstream image %s (%d blobs)', digest, blobs.length)
    return true
  }

  /**
   * Stores a manifest or index pushed through a repository, by tag or by
   * digest: checked (media type, schema, digest), refused unless every blob
   * (or, for an index, manifest) it names is held, then stored, recorded
   * (an image manifest as an image record, whose blocks it pins), linked to
   * the repository with what it names, tagged, signed with `signer` when
   * pushed by tag, and provided.
   *
   * @throws ManifestInvalidError, ManifestReferenceError, BlobSizeMismatchError, DigestMismatchError
   */
  async putManifest (request: PutManifestRequest, options: { signer?: PrivateKey } = {}): Promise<PutManifestResult> {
    const { repository, reference, bytes } = request
    const byDigest = isDigest(reference)
    if (!byDigest && !isTag(reference)) throw new ManifestInvalidError(`invalid tag ${JSON.stringify(reference)}`)
    if (request.mediaType != null && !MANIFEST_TYPES.has(request.mediaType)) throw new ManifestInvalidError(`unsupported manifest media type ${request.mediaType}`)
    const parsed = parseManifest(bytes, { ...(byDigest ? { expectedDigest: reference } : {}), ...(request.mediaType != null ? { mediaType: request.mediaType } : {}) })
    const digest = byDigest ? reference as Digest : parsed.digest
    const blobs = await this.#referenced(parsed)
    const releases: Array<() => void> = []
    let imported: Awaited<ReturnType<typeof importBlob>>
    try {
      // the manifest's blocks are guarded from gc() until the record or its pin holds them
      imported = await importBlob([bytes], guarding(this.#c, releases), { expectedDigest: digest, size: bytes.byteLength })
      if (parsed.kind === 'manifest') {
        const blocks: CID[] = [...imported.blocks]
        for (const b of blobs) blocks.push(...await this.#blocksOf(b.digest, CID.parse(b.root)))
        const record: ImageRecord = {
          manifestDigest: digest,
          mediaType: parsed.mediaType,
          ...(byDigest ? {} : { tags: [`${repository}:${reference}`] }),
          blobs: [{ digest, size: bytes.byteLength, root: imported.root.toString(), mediaType: parsed.mediaType }, ...blobs]
        }
        await this.#c.images.add(record, blocks, request)
        await this.#c.registry.putManifest(digest, manifestEntry(parsed, imported.root, bytes.byteLength))
        if (!byDigest && options.signer != null) await this.#sign(repository, digest, parsed.manifest.layers.map(l => l.digest), options.signer)
      } else {
        await this.#c.registry.putManifest(digest, manifestEntry(parsed, imported.root, bytes.byteLength, imported.blocks))
        // its images are provided as they are pushed; the index itself here
        this.#c.provide(imported.root)
      }
    } finally {
      for (const release of releases) release()
    }
    // an index's manifests are the repository's already (or join it when fetched through it)
    await this.#c.registry.link({ repository, manifests: [digest], blobs: blobs.map(b => b.digest), ...(byDigest ? {} : { tags: { [reference]: digest } }) })
    if (parsed.kind === 'manifest') {
      await this.#c.provideImage(digest).catch((err: Error) => { this.#log.error('providing %s failed - %e', digest, err) })
    }
    const doc = parsed.kind === 'manifest' ? parsed.manifest : parsed.index
    return { digest, kind: parsed.kind, ...(doc.subject != null ? { subject: doc.subject.digest } : {}) }
  }

  /** The blobs an image manifest names, each held with the size it says (an index's manifests must be held) */
  async #referenced (parsed: ParsedManifest): Promise<ImageBlobRecord[]> {
    const missing: string[] = []
    const blobs: ImageBlobRecord[] = []
    if (parsed.kind === 'manifest') {
      for (const d of [parsed.manifest.config, ...parsed.manifest.layers]) {
        const found = await this.#local.locateBlob(d.digest)
        if (found == null) {
          missing.push(d.digest)
          continue
        }
        if (found.size !== d.size) throw new BlobSizeMismatchError(`blob ${d.digest} is ${found.size} bytes, the manifest says ${d.size}`)
        blobs.push({ digest: d.digest, size: d.size, root: found.root.toString(), mediaType: d.mediaType })
      }
    } else {
      for (const d of parsed.index.manifests) {
        if (await this.#local.locate(d.digest) == null) missing.push(d.digest)
      }
    }
    if (missing.length > 0) throw new ManifestReferenceError(`the manifest references ${missing.length} unknown blob(s): ${missing.join(', ')}`, missing)
    return blobs
  }

  /** Every block of a blob: one raw block, the blocks of its blob entry, or (for an image's blob) the blocks of an image that holds it */
  async #blocksOf (digest: string, root: CID): Promise<CID[]> {
    if (root.code === raw.code) return [root]
    const uploaded = await this.#c.registry.blob(digest)
    if (uploaded != null) return uploaded.blocks.map(s => CID.parse(s))
    for await (const record of this.#c.images.ls()) {
      if (record.blobs.some(b => b.digest === digest)) return (await this.#c.images.blocks(record.manifestDigest)) ?? [root]
    }
    return [root]
  }

  /**
   * Signs a pushed image with the namespace key: an image signature over the
   * manifest and, when it has layers, a layer signature over all of them,
   * both naming the repository. Stored as the image's statements.
   */
  async #sign (repository: string, digest: string, layers: string[], signer: PrivateKey): Promise<void> {
    const statements = [await signStatement(imageSignatureStatement(digest, { repository }), signer)]
    if (layers.length > 0) statements.push(await signStatement(layerSignatureStatement([...new Set(layers)], { source: repository }), signer))
    await this.#c.addStatements(digest, statements.map(encodeEnvelope))
  }

  /**
   * Records a blob an upload built: checked against the digest (the upload
   * matched a sha256 digest as it arrived; a sha512 one is read back and
   * hashed here), pinned and linked to the repository. A one-chunk sha512
   * blob is stored again as the raw block its digest names. A blob the node
   * holds already is only linked (and needs no `blob`).
   *
   * @throws DigestMismatchError, BlobSizeMismatchError, BlobNotFoundError (no `blob`, and none held)
   */
  async commitBlob (request: BlobRequest, blob?: UploadedBlob): Promise<void> {
    const digest = request.digest
    const { algorithm } = parseDigest(digest)
    if (await this.#local.locateBlob(digest) == null) {
      if (blob == null) throw new BlobNotFoundError(`blob ${digest} is not held`)
      const store = this.#c.blockstore
      if (blob.checked !== algorithm) await verifyBlob(blob.root, store, { expectedDigest: digest, size: blob.size, signal: request.signal })
      let root = blob.root
      let blocks = blob.blocks
      const releases: Array<() => void> = []
      try {
        if (algorithm === 'sha512' && blob.size <= DEFAULT_CHUNK_SIZE) {
          root = cidForDigest(digest)
          releases.push(store.guard([root]))
          await store.put(root, await getBlockBytes(store, blob.root, { signal: request.signal }), { signal: request.signal })
          blocks = [root]
        }
        await this.#c.registry.putBlob(digest, { size: blob.size, root: root.toString(), blocks: blocks.map(c => c.toString()) }, request)
      } finally {
        for (const release of releases) release()
      }
    }
    await this.#c.registry.link({ repository: request.repository, blobs: [digest] })
  }

  async mountBlob (request: BlobRequest & { from?: string }): Promise<boolean> {
    if (request.from == null || !isDigest(request.digest)) return false
    if (!await this.#c.registry.isLinked(request.from, request.digest)) return false
    if (await this.#local.locateBlob(request.digest) == null) return false
    await this.#c.registry.link({ repository: request.repository, blobs: [request.digest] })
    return true
  }

  async deleteManifest (request: ManifestRequest): Promise<void> {
    const { repository, reference } = request
    if (!isDigest(reference)) {
      if (!await this.#c.registry.deleteTag(repository, reference)) throw new ManifestNotFoundError(`no tag ${reference} in ${repository}`)
      return
    }
    const digest = reference
    const record = await this.#c.images.get(digest)
    const held = record != null || await this.#c.registry.manifest(digest) != null
    if (!held || !await this.#c.registry.isLinked(repository, digest)) throw new ManifestNotFoundError(`manifest ${digest} is not in repository ${repository}`)
    const entry = await this.#c.registry.deleteManifest(digest, request)
    if (record != null) await this.#c.images.remove(digest, request)
    if (entry?.blocks != null) await this.#c.registry.release(entry.blocks.map(s => CID.parse(s)), request)
    // what nothing holds any more is no longer provided, and the DHT's reprovider drops it
    const roots = new Set<string>([...(entry != null ? [entry.root] : []), ...(record?.blobs.map(b => b.root) ?? []), ...(record?.statements ?? [])])
    for (const root of roots) {
      const cid = CID.parse(root)
      if (!await this.#c.blockstore.pins.isPinned(cid)) await this.#c.unprovide(cid)
    }
    this.#log('deleted manifest %s through %s', digest, repository)
  }

  async deleteBlob (request: BlobRequest): Promise<void> {
    const digest = request.digest
    if (!await this.#c.registry.isLinked(request.repository, digest)) throw new BlobNotFoundError(`blob ${digest} is not in repository ${request.repository}`)
    const entry = await this.#c.registry.blob(digest)
    if (entry == null) {
      if (await this.#c.images.getBlob(digest) != null) throw new BlobInUseError(`blob ${digest} belongs to an image; delete the image's manifest instead`)
      throw new BlobNotFoundError(`blob ${digest} is not held`)
    }
    await this.#c.registry.deleteBlob(digest)
    await this.#c.registry.release(entry.blocks.map(s => CID.parse(s)), request)
  }
}
