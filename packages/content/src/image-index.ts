/**
 * The image index: which images this node holds, each as one record that maps
 * every blob digest of the image to its DAG root CID. This record is what the
 * naming and trust packages will sign and publish (the "images" part of a
 * repository document), so it is kept in this one place.
 *
 * Pins. The blockstore's pins are flat (one pin per block, no reference
 * counts), so the index owns the pins of image blocks: adding an image pins
 * every block of its blobs, and removing it unpins only the blocks that no
 * other listed image uses. The list of an image's blocks is stored beside its
 * record, so removal does not need the blocks themselves.
 *
 * Atomicity. `add` writes an intent ("pending") entry holding the block list,
 * pins the blocks, checks that every block is still in the store (a `gc()`
 * running during the import may have taken one before it was pinned), and
 * only then writes the record, its block list and the removal of the intent
 * in one level batch. `remove` deletes the record and writes the intent in one
 * batch, then unpins. `open()` finishes any intent a crash interrupted by
 * unpinning its blocks (except those of listed images), so a crash never
 * lists a partial image and never leaks pins.
 */

import { CID } from 'multiformats/cid'
import { Level } from 'level'
import { InvalidConfigError, InvalidParametersError } from '@provenir/interface'
import { MAX_IMAGE_STATEMENTS, MAX_IMAGE_TAGS } from './constants.js'
import { ImageIncompleteError } from './errors.js'
import { Mutex } from './lock.js'
import { parseDigest } from './oci.js'
import type { ContentBlockstore } from './blockstore.js'
import type { Digest } from './oci.js'
import type { AbortOptions } from '@provenir/interface'

/** One blob of an image: its OCI descriptor fields and the root of its block DAG. */
export interface ImageBlobRecord {
  /** OCI digest of the blob's bytes */
  digest: Digest
  /** Size in bytes */
  size: number
  /** Root CID of the blob's DAG (string form, CIDv1 base32): a raw block whose multihash is the digest, or a UnixFS file */
  root: string
  /** The media type the manifest gives the blob (for the manifest itself, its own media type) */
  mediaType: string
}

/**
 * An image held by this node. `blobs` lists every blob of the image: the
 * manifest first, then the config, then the layers in manifest order.
 */
export interface ImageRecord {
  /** Digest of the manifest bytes, the image's identity */
  manifestDigest: Digest
  /** The manifest's media type (OCI image manifest or Docker schema 2) */
  mediaType: string
  /** Names it was imported under (OCI `org.opencontainers.image.ref.name`, docker-archive `RepoTags`) */
  tags?: string[]
  blobs: ImageBlobRecord[]
  /**
   * CIDs (CIDv1 raw, sha256) of blocks that hold signed statements about the
   * image: DSSE envelopes of image and layer signatures and build
   * attestations. They travel with the image record, are pinned with the
   * image, and are checked against the trust policy on pull.
   */
  statements?: string[]
}

export interface ImageIndexInit {
  /** Directory of the index's level database */
  path: string
  /** The blockstore whose pins the index manages */
  blockstore: ContentBlockstore
  /**
   * Durable writes (`sync` level batches).
   *
   * @default true
   */
  sync?: boolean
}

export interface AddImageOptions extends AbortOptions {
  /** Merge these tags into an existing record of the same image instead of failing */
  mergeTags?: boolean
}

type Db = Level<string, string>

function utf8Sublevel (db: Db, name: string) { // eslint-disable-line @typescript-eslint/explicit-function-return-type
  return db.sublevel<string, string>(name, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
}

/** A sublevel of the index's database with string keys and values. @internal */
export type IndexSublevel = ReturnType<typeof utf8Sublevel>

const RECORD = 'record/'
const BLOCKS = 'blocks/'
const PENDING = 'pending/'
const BLOB = 'blob/'

function encodeCids (cids: Iterable<CID>): string {
  const out: string[] = []
  for (const cid of cids) out.push(cid.toString())
  return out.join('\n')
}

function decodeCids (text: string): CID[] {
  return text === '' ? [] : text.split('\n').map(s => CID.parse(s))
}

function mhKey (cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString('hex')
}

/** Checks a record's shape before it is written (a bug, not bad input, if it fails). */
function checkRecord (record: ImageRecord): void {
  parseDigest(record.manifestDigest)
  if (record.blobs.length < 2) throw new InvalidParametersError('An image record needs at least the manifest and the config')
  if (record.blobs[0].digest !== record.manifestDigest) throw new InvalidParametersError('An image record lists its manifest first')
  for (const blob of record.blobs) {
    parseDigest(blob.digest)
    CID.parse(blob.root)
  }
  if (record.tags != null && record.tags.length > MAX_IMAGE_TAGS) {
    throw new InvalidParametersError(`An image may have at most ${MAX_IMAGE_TAGS} tags`)
  }
  if (record.statements != null) {
    if (record.statements.length > MAX_IMAGE_STATEMENTS) throw new InvalidParametersError(`An image may carry at most ${MAX_IMAGE_STATEMENTS} statements`)
    for (const s of record.statements) CID.parse(s)
  }
}

/** The `level`-backed index of images: records, their block lists, and the pins they own. */
export class ImageIndex {
  readonly #db: Db
  readonly #store: ContentBlockstore
  readonly #sync: boolean
  readonly #lock = new Mutex()
  #otherPins?: () => AsyncIterable<CID>

  constructor (init: ImageIndexInit) {
    if (typeof init.path !== 'string' || init.path.length === 0) throw new InvalidConfigError('ImageIndex needs a path')
    if (init.blockstore == null) throw new InvalidConfigError('ImageIndex needs a blockstore')
    this.#db = new Level<string, string>(init.path, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    this.#store = init.blockstore
    this.#sync = init.sync ?? true
  }

  /** Opens the database and finishes any add or remove a crash interrupted. */
  async open (): Promise<void> {
    await this.#db.open()
    await this.#lock.run(async () => { await this.#recover() })
  }

  async close (): Promise<void> {
    await this.#db.close()
  }

  /**
   * A sublevel of this index's database, for a sibling index kept in the
   * same database (the registry's `RepositoryIndex`).
   *
   * @internal
   */
  sublevel (name: string): IndexSublevel {
    return utf8Sublevel(this.#db, name)
  }

  /**
   * Blocks another owner of pins in this database pins too: removing an image
   * leaves them pinned. Pins are flat, so whoever unpins must know every
   * owner.
   *
   * @internal
   */
  alsoKeep (blocks: () => AsyncIterable<CID>): void {
    this.#otherPins = blocks
  }

  /** Every image record, in manifest digest order. */
  async * ls (options?: AbortOptions): AsyncGenerator<ImageRecord> {
    for await (const value of this.#db.values({ gte: RECORD, lt: `${RECORD}\xff` })) {
      options?.signal?.throwIfAborted()
      yield JSON.parse(value) as ImageRecord
    }
  }

  /** The record of the image with this manifest digest, or undefined. */
  async get (manifestDigest: string, options?: AbortOptions): Promise<ImageRecord | undefined> {
    options?.signal?.throwIfAborted()
    const value = await this.#db.get(RECORD + manifestDigest)
    return value == null ? undefined : JSON.parse(value) as ImageRecord
  }

  async has (manifestDigest: string): Promise<boolean> {
    return (await this.#db.get(RECORD + manifestDigest)) != null
  }

  /**
   * Any listed image's blob with this digest (manifest, config or layer) and
   * its DAG root: the digest -> root CID lookup a registry read needs. A blob
   * shared by several images has one entry (the same bytes make the same
   * root); its `mediaType` is the one the last image added gave it.
   */
  async getBlob (digest: string, options?: AbortOptions): Promise<ImageBlobRecord | undefined> {
    options?.signal?.throwIfAborted()
    const value = await this.#db.get(BLOB + digest)
    return value == null ? undefined : JSON.parse(value) as ImageBlobRecord
  }

  /** Every block of the image (as stored with the record), or undefined. */
  async blocks (manifestDigest: string): Promise<CID[] | undefined> {
    const value = await this.#db.get(BLOCKS + manifestDigest)
    return value == null ? undefined : decodeCids(value)
  }

  /**
   * Lists an image whose blobs are all stored and verified: pins `blocks`
   * (every block of every blob, and the statement blocks) and writes the
   * record last. If the image is already listed, its tags and statements are
   * merged and its blocks pinned again.
   * Throws `ImageIncompleteError` if a block is no longer in the store.
   */
  async add (record: ImageRecord, blocks: CID[], options?: AbortOptions): Promise<ImageRecord> {
    checkRecord(record)
    return this.#lock.run(async () => {
      options?.signal?.throwIfAborted()
      const digest = record.manifestDigest
      const existing = await this.get(digest)
      const oldBlocks = existing != null ? (await this.blocks(digest)) ?? [] : []
      const statements = [...new Set([...(existing?.statements ?? []), ...(record.statements ?? [])])]
      if (statements.length > MAX_IMAGE_STATEMENTS) throw new InvalidParametersError(`An image may carry at most ${MAX_IMAGE_STATEMENTS} statements`)
      const all = new Map<string, CID>()
      for (const cid of [...oldBlocks, ...blocks, ...statements.map(s => CID.parse(s))]) all.set(mhKey(cid), cid)
      const list = encodeCids(all.values())
      await this.#db.put(PENDING + digest, list, { sync: this.#sync })
      await this.#store.pins.pin(all.values(), options)
      for (const cid of all.values()) {
        if (!(await this.#store.has(cid))) {
          if (existing != null) {
            const had = new Set(oldBlocks.map(mhKey))
            await this.#release(digest, [...all.values()].filter(b => !had.has(mhKey(b))), false)
          } else {
            await this.#release(digest, [...all.values()])
          }
          throw new ImageIncompleteError(`Block ${cid} of image ${digest} was removed before the image was pinned (a gc ran during the import); import it again`)
        }
      }
      const tags = [...new Set([...(existing?.tags ?? []), ...(record.tags ?? [])])].slice(0, MAX_IMAGE_TAGS)
      const stored: ImageRecord = { ...record, ...(tags.length > 0 ? { tags } : {}), ...(statements.length > 0 ? { statements } : {}) }
      if (tags.length === 0) delete stored.tags
      if (statements.length === 0) delete stored.statements
      await this.#db.batch([
        ...stored.blobs.map(blob => ({ type: 'put' as const, key: BLOB + blob.digest, value: JSON.stringify(blob) })),
        { type: 'put', key: BLOCKS + digest, value: list },
        { type: 'put', key: RECORD + digest, value: JSON.stringify(stored) },
        { type: 'del', key: PENDING + digest }
      ], { sync: this.#sync })
      return stored
    })
  }

  /**
   * Removes an image from the index and unpins its blocks that no other
   * listed image uses; `gc()` then collects them. Returns false if it was not listed.
   */
  async remove (manifestDigest: string, options?: AbortOptions): Promise<boolean> {
    return this.#lock.run(async () => {
      options?.signal?.throwIfAborted()
      if (!(await this.has(manifestDigest))) return false
      const list = (await this.#db.get(BLOCKS + manifestDigest)) ?? ''
      const record = await this.get(manifestDigest)
      // blob entries go with the last image that uses them
      const gone = new Set(record?.blobs.map(b => b.digest))
      for await (const other of this.ls()) {
        if (other.manifestDigest === manifestDigest) continue
        for (const blob of other.blobs) gone.delete(blob.digest)
      }
      await this.#db.batch([
        ...[...gone].map(d => ({ type: 'del' as const, key: BLOB + d })),
        { type: 'del', key: RECORD + manifestDigest },
        { type: 'del', key: BLOCKS + manifestDigest },
        { type: 'put', key: PENDING + manifestDigest, value: list }
      ], { sync: this.#sync })
      await this.#release(manifestDigest, decodeCids(list))
      return true
    })
  }

  /** Unpins `cids` except blocks of listed images, then drops the intent. Runs under the lock. */
  async #release (digest: string, cids: CID[], skipOwn = true): Promise<void> {
    const keep = new Set<string>()
    for await (const [key, value] of this.#db.iterator({ gte: BLOCKS, lt: `${BLOCKS}\xff` })) {
      if (skipOwn && key === BLOCKS + digest) continue
      for (const cid of decodeCids(value)) keep.add(mhKey(cid))
    }
    if (this.#otherPins != null) for await (const cid of this.#otherPins()) keep.add(mhKey(cid))
    await this.#store.pins.unpin(cids.filter(cid => !keep.has(mhKey(cid))))
    await this.#db.del(PENDING + digest, { sync: this.#sync })
  }

  async #recover (): Promise<void> {
    const pending: Array<[string, string]> = []
    for await (const [key, value] of this.#db.iterator({ gte: PENDING, lt: `${PENDING}\xff` })) pending.push([key, value])
    for (const [key, value] of pending) {
      const digest = key.slice(PENDING.length)
      if (await this.has(digest)) {
        // cannot happen (the record and the intent change in one batch); keep the listed image whole
        await this.#db.del(key, { sync: this.#sync })
        continue
      }
      await this.#release(digest, decodeCids(value))
    }
  }
}
