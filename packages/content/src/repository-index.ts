/**
 * The registry's part of the node's index: what repositories hold, beside
 * the image records of {@link ImageIndex}, in the same `level` database (a
 * sublevel), so one index answers for everything the node holds, pins and
 * has deleted.
 *
 * - repositories, and each one's tags (tag -> manifest digest);
 * - links: the manifests and blobs that belong to a repository (pushed,
 *   mounted, pulled or tagged through it). Reads, deletes and mounts through a
 *   repository that holds no link to a digest see nothing there;
 * - manifest entries: every manifest or index held beside the image records,
 *   with what the referrers API needs (subject, artifact type, annotations)
 *   and, for those that are not image records (indexes, artifacts), the
 *   blocks this index pins for them;
 * - blob entries: blobs uploaded (or mounted) and not, or not yet, part of an
 *   image: their root and blocks, pinned by this index;
 * - the referrers of each subject;
 * - tombstones: digests deleted on purpose, which nothing fetches again for a
 *   client until someone pushes or pulls them again.
 *
 * Pins are flat (one per block): a block is unpinned only when no image
 * record and no entry here uses it any more. Writes are serialised, and each
 * change is one level batch.
 */

import { CID } from 'multiformats/cid'
import { InvalidParametersError } from '@provenir/interface'
import { Mutex } from './lock.js'
import { parseDigest } from './oci.js'
import type { ContentBlockstore } from './blockstore.js'
import type { ImageIndex, IndexSublevel } from './image-index.js'
import type { Digest } from './oci.js'
import type { AbortOptions } from '@provenir/interface'

/** A manifest or index held for the registry */
export interface ManifestEntry {
  mediaType: string
  /** Size of the manifest's bytes */
  size: number
  /** Root CID of the manifest bytes' DAG */
  root: string
  kind: 'manifest' | 'index'
  /** The blocks this index pins for it (indexes and artifacts; an image record pins an image's) */
  blocks?: string[]
  /** Digest of the `subject` descriptor, for the referrers API */
  subject?: Digest
  artifactType?: string
  annotations?: Record<string, string>
}

/** A blob held for the registry outside any image record */
export interface BlobEntry {
  size: number
  root: string
  /** Every block of its DAG, pinned by this index */
  blocks: string[]
}

/** A change to apply in one batch */
export interface RepositoryLink {
  repository: string
  /** Digests of manifests (or indexes) that now belong to the repository */
  manifests?: string[]
  /** Digests of blobs that now belong to it */
  blobs?: string[]
  /** Tags to point at a manifest */
  tags?: Record<string, string>
  /** Make the repository known (listed by the catalog) even with no manifest in this change */
  known?: boolean
}

type Db = IndexSublevel

const REPO = 'r/'
const TAG = 't/'
const LINK = 'l/'
const MANIFEST = 'm/'
const BLOB = 'b/'
const SUBJECT = 's/'
const DELETED = 'd/'
/** Separates a repository name (or subject digest) from what follows: no name or digest holds it */
const SEP = '\x00'

/** Most entries one listing returns (tags, repositories, referrers) */
export const MAX_REGISTRY_LISTING = 100_000

function checkRepository (name: string): void {
  if (typeof name !== 'string' || name === '' || name.includes(SEP) || name.includes(':')) {
    throw new InvalidParametersError(`not a repository name: ${JSON.stringify(name)}`)
  }
}

function cids (list: string[] | undefined): CID[] {
  return (list ?? []).map(s => CID.parse(s))
}

function mhKey (cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString('hex')
}

/** The registry's repositories, tags, links, entries, referrers and tombstones; see the file's comment */
export class RepositoryIndex {
  readonly #db: Db
  readonly #images: ImageIndex
  readonly #store: ContentBlockstore
  readonly #lock = new Mutex()

  /** Opens on an open `ImageIndex`, in a sublevel of its database */
  constructor (images: ImageIndex, blockstore: ContentBlockstore) {
    this.#images = images
    this.#store = blockstore
    this.#db = images.sublevel('registry')
    // removing an image must not unpin what an entry here still holds
    images.alsoKeep(() => this.#entryBlocks())
  }

  async * #entryBlocks (): AsyncGenerator<CID> {
    for (const prefix of [BLOB, MANIFEST]) {
      for await (const value of this.#db.values({ gte: prefix, lt: `${prefix}\xff` })) {
        yield * cids((JSON.parse(value) as { blocks?: string[] }).blocks)
      }
    }
  }

  // ---- reads ----

  async hasRepository (repository: string): Promise<boolean> {
    return (await this.#db.get(REPO + repository)) != null
  }

  /** Every repository with a manifest, sorted */
  async repositories (options?: AbortOptions): Promise<string[]> {
    const out: string[] = []
    for await (const key of this.#db.keys({ gte: REPO, lt: `${REPO}\xff`, limit: MAX_REGISTRY_LISTING })) {
      options?.signal?.throwIfAborted()
      out.push(key.slice(REPO.length))
    }
    return out
  }

  /** The repository's tags, sorted, or undefined for a repository never seen */
  async tags (repository: string, options?: AbortOptions): Promise<string[] | undefined> {
    if (!await this.hasRepository(repository)) return undefined
    const prefix = `${TAG}${repository}${SEP}`
    const out: string[] = []
    for await (const key of this.#db.keys({ gte: prefix, lt: `${prefix}\xff`, limit: MAX_REGISTRY_LISTING })) {
      options?.signal?.throwIfAborted()
      out.push(key.slice(prefix.length))
    }
    return out
  }

  /** The manifest digest a tag names in a repository */
  async tag (repository: string, tag: string): Promise<Digest | undefined> {
    return (await this.#db.get(`${TAG}${repository}${SEP}${tag}`)) as Digest | undefined
  }

  /** Whether a manifest or blob belongs to the repository */
  async isLinked (repository: string, digest: string): Promise<boolean> {
    return (await this.#db.get(`${LINK}${repository}${SEP}${digest}`)) != null
  }

  async manifest (digest: string): Promise<ManifestEntry | undefined> {
    const value = await this.#db.get(MANIFEST + digest)
    return value == null ? undefined : JSON.parse(value) as ManifestEntry
  }

  /** Every manifest entry, in digest order */
  async * manifests (options?: AbortOptions): AsyncGenerator<[Digest, ManifestEntry]> {
    for await (const [key, value] of this.#db.iterator({ gte: MANIFEST, lt: `${MANIFEST}\xff` })) {
      options?.signal?.throwIfAborted()
      yield [key.slice(MANIFEST.length) as Digest, JSON.parse(value) as ManifestEntry]
    }
  }

  async blob (digest: string): Promise<BlobEntry | undefined> {
    const value = await this.#db.get(BLOB + digest)
    return value == null ? undefined : JSON.parse(value) as BlobEntry
  }

  /** The manifests whose subject is `digest`, with their entries */
  async referrers (subject: string, options?: AbortOptions): Promise<Array<[Digest, ManifestEntry]>> {
    const prefix = `${SUBJECT}${subject}${SEP}`
    const out: Array<[Digest, ManifestEntry]> = []
    for await (const key of this.#db.keys({ gte: prefix, lt: `${prefix}\xff`, limit: MAX_REGISTRY_LISTING })) {
      options?.signal?.throwIfAborted()
      const digest = key.slice(prefix.length) as Digest
      const entry = await this.manifest(digest)
      if (entry != null) out.push([digest, entry])
    }
    return out
  }

  /** Whether `digest` was deleted on purpose (and not pushed or pulled again since) */
  async isDeleted (digest: string): Promise<boolean> {
    return (await this.#db.get(DELETED + digest)) != null
  }

  // ---- writes ----

  /**
   * Records a manifest or index entry (and its referrer link), pinning the
   * entry's own blocks. Clears a tombstone of the digest.
   */
  async putManifest (digest: string, entry: ManifestEntry, options?: AbortOptions): Promise<void> {
    parseDigest(digest)
    await this.#lock.run(async () => {
      if (entry.blocks != null) await this.#store.pins.pin(cids(entry.blocks), options)
      await this.#db.batch([
        { type: 'put', key: MANIFEST + digest, value: JSON.stringify(entry) },
        ...(entry.subject != null ? [{ type: 'put' as const, key: `${SUBJECT}${entry.subject}${SEP}${digest}`, value: '' }] : []),
        { type: 'del', key: DELETED + digest }
      ])
    })
  }

  /** Records a blob held outside the image records, pinning its blocks (an existing entry stays) */
  async putBlob (digest: string, entry: BlobEntry, options?: AbortOptions): Promise<void> {
    parseDigest(digest)
    await this.#lock.run(async () => {
      await this.#store.pins.pin(cids(entry.blocks), options)
      if (await this.#db.get(BLOB + digest) != null) return
      await this.#db.put(BLOB + digest, JSON.stringify(entry))
    })
  }

  /**
   * Links manifests and blobs to a repository and points tags at manifests,
   * in one batch. Linking a manifest makes the repository known (listed by
   * the catalog) and clears the digest's tombstone.
   */
  async link (change: RepositoryLink): Promise<void> {
    checkRepository(change.repository)
    const repo = change.repository
    const ops: Array<{ type: 'put' | 'del', key: string, value?: string }> = []
    const manifests = change.manifests ?? []
    if (change.known === true || manifests.length > 0 || Object.keys(change.tags ?? {}).length > 0) ops.push({ type: 'put', key: REPO + repo, value: '' })
    for (const d of manifests) {
      ops.push({ type: 'put', key: `${LINK}${repo}${SEP}${d}`, value: 'm' })
      ops.push({ type: 'del', key: DELETED + d })
    }
    for (const d of change.blobs ?? []) ops.push({ type: 'put', key: `${LINK}${repo}${SEP}${d}`, value: 'b' })
    for (const [tag, d] of Object.entries(change.tags ?? {})) {
      parseDigest(d)
      ops.push({ type: 'put', key: `${TAG}${repo}${SEP}${tag}`, value: d })
      ops.push({ type: 'put', key: `${LINK}${repo}${SEP}${d}`, value: 'm' })
    }
    if (ops.length === 0) return
    await this.#lock.run(async () => { await this.#db.batch(ops as any) })
  }

  /** Removes a tag; false if the repository had no such tag */
  async deleteTag (repository: string, tag: string): Promise<boolean> {
    return this.#lock.run(async () => {
      const key = `${TAG}${repository}${SEP}${tag}`
      if (await this.#db.get(key) == null) return false
      await this.#db.del(key)
      return true
    })
  }

  /**
   * Deletes a manifest from the node's registry: its entry, its referrer
   * link, every repository's link and tags to it, and leaves a tombstone.
   * Returns the entry it had (whose blocks the caller releases), if any.
   */
  async deleteManifest (digest: string, options?: AbortOptions): Promise<ManifestEntry | undefined> {
    return this.#lock.run(async () => {
      const entry = await this.manifest(digest)
      const ops: Array<{ type: 'put' | 'del', key: string, value?: string }> = [
        { type: 'del', key: MANIFEST + digest },
        { type: 'put', key: DELETED + digest, value: new Date().toISOString() }
      ]
      if (entry?.subject != null) ops.push({ type: 'del', key: `${SUBJECT}${entry.subject}${SEP}${digest}` })
      for await (const [key, value] of this.#db.iterator({ gte: TAG, lt: `${TAG}\xff` })) {
        options?.signal?.throwIfAborted()
        if (value === digest) ops.push({ type: 'del', key })
      }
      for await (const key of this.#db.keys({ gte: LINK, lt: `${LINK}\xff` })) {
        if (key.endsWith(SEP + digest)) ops.push({ type: 'del', key })
      }
      await this.#db.batch(ops as any)
      return entry ?? undefined
    })
  }

  /** Deletes a blob entry and every repository's link to it; returns the entry it had */
  async deleteBlob (digest: string): Promise<BlobEntry | undefined> {
    return this.#lock.run(async () => {
      const entry = await this.blob(digest)
      const ops: Array<{ type: 'del', key: string }> = [{ type: 'del', key: BLOB + digest }]
      for await (const key of this.#db.keys({ gte: LINK, lt: `${LINK}\xff` })) {
        if (key.endsWith(SEP + digest)) ops.push({ type: 'del', key })
      }
      await this.#db.batch(ops)
      return entry
    })
  }

  /**
   * Unpins those of `blocks` that no image record and no entry of this index
   * uses any more (pins are flat, not counted); returns the ones unpinned.
   */
  async release (blocks: CID[], options?: AbortOptions): Promise<CID[]> {
    return this.#lock.run(async () => {
      const keep = new Set<string>()
      for await (const record of this.#images.ls(options)) {
        for (const c of (await this.#images.blocks(record.manifestDigest)) ?? []) keep.add(mhKey(c))
      }
      for await (const c of this.#entryBlocks()) keep.add(mhKey(c))
      const gone = blocks.filter(c => !keep.has(mhKey(c)))
      await this.#store.pins.unpin(gone, options)
      return gone
    })
  }

  /** Clears the tombstone of a digest the node takes in again on purpose (a pull, an import) */
  async undelete (digest: string): Promise<void> {
    await this.#lock.run(async () => { await this.#db.del(DELETED + digest) })
  }
}
