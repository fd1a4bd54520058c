/**
 * The repository document: one per (UserId, repo), signed as a DSSE envelope
 * by the namespace key and stored as one raw block.
 *
 * Payload (payloadType `application/vnd.provenir.repository.v1+json`):
 *
 * ```json
 * {
 *   "owner": "k51qzi5uqu5...",
 *   "repo": "myapp",
 *   "tags": { "latest": "sha256:..." },
 *   "images": {
 *     "sha256:...": { "mediaType": "application/vnd.oci.image.manifest.v1+json",
 *                    "blobs": [{ "digest": "sha256:...", "size": 1234, "root": "bafk..." }] }
 *   },
 *   "statements": { "sha256:...": ["bafk..."] },
 *   "seq": 5,
 *   "expires": "2026-11-27T09:00:00.000Z"
 * }
 * ```
 *
 * Every tag names an image of the same document, so tags and images cannot be
 * mixed and matched across versions; seq and expires stop rollback and freeze.
 */

import { isDigest } from '@provenir/content'
import { InvalidParametersError } from '@provenir/interface'
import { isUserId, userIdFromKey, type UserId } from '@provenir/trust'
import { parseCid, rawCid } from './cid.js'
import {
  DEFAULT_RECORD_LIFETIME, MAX_BLOBS_PER_IMAGE, MAX_DOCUMENT_BYTES, MAX_DOCUMENT_PAYLOAD_BYTES, MAX_IMAGES,
  MAX_STATEMENTS_PER_IMAGE, MAX_TAGS, REPO_DOCUMENT_PAYLOAD_TYPE
} from './constants.js'
import { OwnerMismatchError, RecordInvalidError, RecordSignerMismatchError, TagNotFoundError } from './errors.js'
import { checkExpiry, checkSeq, isObject, isRepoName, isTag, nowMs, openRecord, parseTime, signJson } from './signed.js'
import { equals } from 'uint8arrays/equals'
import type { PrivateKey } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** One blob of an image: its OCI digest, size and the root CID of its block DAG */
export interface RepoBlob {
  digest: string
  size: number
  root: string
}

/** One image: its manifest's media type and every blob (manifest, config, layers) */
export interface RepoImage {
  mediaType: string
  blobs: RepoBlob[]
}

export interface RepoDocument {
  /** The UserId that owns the namespace and signs the document */
  owner: UserId
  repo: string
  /** tag -> manifest digest; every digest is a key of `images` */
  tags: Record<string, string>
  /** manifest digest -> image */
  images: Record<string, RepoImage>
  /** manifest digest -> CIDs of signature / attestation envelope blocks */
  statements?: Record<string, string[]>
  seq: number
  /** ISO 8601 UTC */
  expires: string
}

/** An image as the content package's ImageIndex records it */
export interface ImageLike {
  manifestDigest: string
  mediaType: string
  blobs: Array<{ digest: string, size: number, root: string | CID }>
}

export interface CreateRepoDocumentInit {
  owner: UserId | PrivateKey
  repo: string
  /** Images, as ImageIndex records or already in document form */
  images?: ImageLike[] | Record<string, RepoImage>
  tags?: Record<string, string>
  statements?: Record<string, Array<string | CID>>
  seq: number
  /** An ISO time; defaults to `now + lifetime` */
  expires?: string
  /**
   * Lifetime when `expires` is not given, in ms
   *
   * @default DEFAULT_RECORD_LIFETIME (48 h)
   */
  lifetime?: number
  now?: Date | number
}

/** A signed document: the envelope's bytes and the CID of the block that holds them */
export interface SignedRepoDocument {
  bytes: Uint8Array
  cid: CID
  document: RepoDocument
}

export interface VerifyRepoDocumentOptions {
  /** The UserId the document must belong to, and be signed by */
  owner: UserId
  repo: string
  now?: Date | number
  /** When given, the bytes must hash to this CID */
  cid?: CID
}

/**
 * Builds a repository document and checks it against every bound.
 *
 * @throws RecordInvalidError
 */
export function createRepoDocument (init: CreateRepoDocumentInit): RepoDocument {
  const owner = typeof init.owner === 'string' ? init.owner : userIdFromKey(init.owner)
  let images: Record<string, RepoImage>
  if (Array.isArray(init.images)) {
    images = Object.fromEntries(init.images.map(i => [i.manifestDigest, {
      mediaType: i.mediaType,
      blobs: i.blobs.map(b => ({ digest: b.digest, size: b.size, root: b.root.toString() }))
    }]))
  } else {
    images = init.images ?? {}
  }
  const statements = init.statements == null
    ? undefined
    : Object.fromEntries(Object.entries(init.statements).map(([d, list]) => [d, list.map(c => c.toString())]))
  const expires = init.expires ?? new Date(nowMs(init.now) + (init.lifetime ?? DEFAULT_RECORD_LIFETIME)).toISOString()
  return checkRepoDocument({ owner, repo: init.repo, tags: init.tags ?? {}, images, statements, seq: init.seq, expires })
}

/**
 * Checks a document's shape and bounds (not its expiry nor signature) and
 * returns it with only the known fields.
 *
 * @throws RecordInvalidError
 */
export function checkRepoDocument (value: unknown): RepoDocument {
  if (!isObject(value)) throw new RecordInvalidError('repository document must be a JSON object')
  const { owner, repo, tags, images, statements, seq, expires } = value
  if (!isUserId(owner)) throw new RecordInvalidError('repository document owner must be a UserId')
  if (!isRepoName(repo)) throw new RecordInvalidError(`repository document repo ${JSON.stringify(repo)} is not a repository name`)
  checkSeq(seq, 'repository document')
  parseTime(expires, 'repository document expires')

  if (!isObject(images)) throw new RecordInvalidError('repository document images must be an object')
  const imageEntries = Object.entries(images)
  if (imageEntries.length > MAX_IMAGES) throw new RecordInvalidError(`repository document has ${imageEntries.length} images, over ${MAX_IMAGES}`)
  const outImages = Object.fromEntries(imageEntries.map(([digest, image]): [string, RepoImage] => {
    const at = `repository document images[${digest}]`
    if (!isDigest(digest)) throw new RecordInvalidError(`${at}: the key is not a digest`)
    if (!isObject(image)) throw new RecordInvalidError(`${at} must be an object`)
    if (typeof image.mediaType !== 'string' || image.mediaType.length === 0 || image.mediaType.length > 256) {
      throw new RecordInvalidError(`${at}.mediaType must be a media type`)
    }
    if (!Array.isArray(image.blobs) || image.blobs.length === 0 || image.blobs.length > MAX_BLOBS_PER_IMAGE) {
      throw new RecordInvalidError(`${at}.blobs must be an array of 1 to ${MAX_BLOBS_PER_IMAGE} blobs`)
    }
    const blobs = image.blobs.map((b: unknown, i: number): RepoBlob => {
      if (!isObject(b)) throw new RecordInvalidError(`${at}.blobs[${i}] must be an object`)
      if (!isDigest(b.digest)) throw new RecordInvalidError(`${at}.blobs[${i}].digest is not a digest`)
      if (typeof b.size !== 'number' || !Number.isSafeInteger(b.size) || b.size < 0) throw new RecordInvalidError(`${at}.blobs[${i}].size is not a size`)
      if (parseCid(b.root) == null) throw new RecordInvalidError(`${at}.blobs[${i}].root is not a CID`)
      return { digest: b.digest, size: b.size, root: b.root as string }
    })
    return [digest, { mediaType: image.mediaType, blobs }]
  }))

  if (!isObject(tags)) throw new RecordInvalidError('repository document tags must be an object')
  const tagEntries = Object.entries(tags)
  if (tagEntries.length > MAX_TAGS) throw new RecordInvalidError(`repository document has ${tagEntries.length} tags, over ${MAX_TAGS}`)
  for (const [tag, digest] of tagEntries) {
    if (!isTag(tag)) throw new RecordInvalidError(`repository document tag ${JSON.stringify(tag)} is not a tag`)
    if (typeof digest !== 'string' || !Object.hasOwn(outImages, digest)) {
      throw new RecordInvalidError(`repository document tag ${tag} names ${String(digest)}, which is not an image of the document`)
    }
  }

  let outStatements: Record<string, string[]> | undefined
  if (statements != null) {
    if (!isObject(statements)) throw new RecordInvalidError('repository document statements must be an object')
    outStatements = Object.fromEntries(Object.entries(statements).map(([digest, list]) => {
      if (!Object.hasOwn(outImages, digest)) throw new RecordInvalidError(`repository document statements[${digest}]: not an image of the document`)
      if (!Array.isArray(list) || list.length > MAX_STATEMENTS_PER_IMAGE) {
        throw new RecordInvalidError(`repository document statements[${digest}] must be an array of at most ${MAX_STATEMENTS_PER_IMAGE} CIDs`)
      }
      for (const c of list) if (parseCid(c) == null) throw new RecordInvalidError(`repository document statements[${digest}] holds a value that is not a CID`)
      return [digest, list as string[]]
    }))
  }
  const out: RepoDocument = { owner, repo, tags: Object.fromEntries(tagEntries) as Record<string, string>, images: outImages, seq: seq as number, expires: expires as string }
  if (outStatements != null) out.statements = outStatements
  return out
}

/**
 * Signs a document with its owner's key.
 *
 * @throws RecordSignerMismatchError when `key` is not the owner's
 * @throws RecordInvalidError when the document breaks a bound
 */
export async function signRepoDocument (document: RepoDocument, key: PrivateKey): Promise<SignedRepoDocument> {
  const checked = checkRepoDocument(document)
  const signer = userIdFromKey(key)
  if (signer !== checked.owner) throw new RecordSignerMismatchError(`the key ${signer} does not own ${checked.owner}/${checked.repo}`)
  const bytes = await signJson(checked, REPO_DOCUMENT_PAYLOAD_TYPE, key)
  if (bytes.byteLength > MAX_DOCUMENT_BYTES) throw new RecordInvalidError(`signed repository document is ${bytes.byteLength} bytes, over ${MAX_DOCUMENT_BYTES}`)
  return { bytes, cid: rawCid(bytes), document: checked }
}

/**
 * Verifies a stored document: the owner's signature, the owner and repo
 * asked for, the expiry, and every bound.
 *
 * @throws RecordInvalidError, RecordSignatureError, RecordSignerMismatchError, OwnerMismatchError, RecordExpiredError
 */
export async function verifyRepoDocument (bytes: Uint8Array, options: VerifyRepoDocumentOptions): Promise<RepoDocument> {
  if (!isUserId(options.owner)) throw new InvalidParametersError(`verifyRepoDocument: owner ${String(options.owner)} is not a UserId`)
  if (options.cid != null && !equals(rawCid(bytes).multihash.bytes, options.cid.multihash.bytes)) {
    throw new RecordInvalidError(`repository document bytes do not hash to ${options.cid.toString()}`)
  }
  const opened = await openRecord(bytes, {
    payloadType: REPO_DOCUMENT_PAYLOAD_TYPE,
    maxBytes: MAX_DOCUMENT_BYTES,
    maxPayloadBytes: MAX_DOCUMENT_PAYLOAD_BYTES,
    signer: options.owner,
    what: `repository document for ${options.owner}/${options.repo}`
  })
  const document = checkRepoDocument(opened.payload)
  if (document.owner !== options.owner || document.repo !== options.repo) {
    throw new OwnerMismatchError(`repository document is for ${document.owner}/${document.repo}, not ${options.owner}/${options.repo}`)
  }
  checkExpiry(document.expires, `repository document ${document.owner}/${document.repo} (seq ${document.seq})`, options.now)
  return document
}

/** The manifest digest a tag (or digest) names in a document. @throws TagNotFoundError */
export function lookupImage (document: RepoDocument, ref: { tag?: string, digest?: string }): { manifestDigest: string, image: RepoImage } {
  const digest = ref.digest ?? (ref.tag != null && Object.hasOwn(document.tags, ref.tag) ? document.tags[ref.tag] : undefined)
  if (digest == null || !Object.hasOwn(document.images, digest)) {
    throw new TagNotFoundError(`${document.owner}/${document.repo} has no ${ref.digest != null ? `image ${ref.digest}` : `tag ${ref.tag ?? 'latest'}`} (seq ${document.seq})`)
  }
  return { manifestDigest: digest, image: document.images[digest] }
}
