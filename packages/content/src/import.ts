/**
 * Image import: an OCI image layout directory, or a docker-archive
 * (`docker save` / `skopeo copy ... docker-archive:`) tarball, into verified
 * blocks, pinned per image and listed in the `ImageIndex`.
 *
 * Order of work, for both formats:
 *
 * 1. Read and validate every manifest and config first (bounded reads, the
 *    size cap checked before reading, digests checked, schema checked with
 *    oci.ts, layer media types checked). Nothing is written until every image
 *    of the input passes, so a bad document stores nothing at all.
 * 2. Stream each blob through `importBlob`, which hashes it on the way and
 *    returns a root only for bytes that match the digest and size. A layer is
 *    never held in memory whole.
 * 3. `ImageIndex.add` pins every block and writes the image record last.
 *
 * A failure in step 2 leaves the blocks written so far unpinned, so `gc()`
 * collects them; no record names them.
 *
 * docker-archive. Its layer tars are uncompressed and its `manifest.json`
 * names files, not digests, so the importer builds the Docker schema 2
 * manifest that skopeo's docker-archive source builds for the same archive,
 * byte for byte (same field order, no whitespace): config
 * `application/vnd.docker.container.image.v1+json` with the config file's
 * sha256 and size, and each layer with media type
 * `application/vnd.docker.image.rootfs.diff.tar.gzip` (skopeo uses the gzip
 * type although the bytes are an uncompressed tar; Docker and containers/image
 * accept it), the layer tar's sha256 (its diff id) and size. So the manifest
 * digest is the one `skopeo inspect --raw docker-archive:FILE | sha256sum`
 * prints, and the one a registry gets from
 * `skopeo copy --preserve-digests docker-archive:FILE docker://...`.
 */

import { createReadStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_CHUNK_SIZE, MAX_BLOB_SIZE, MAX_IMAGE_LAYERS, MAX_IMAGES_PER_IMPORT, MAX_MANIFEST_SIZE } from './constants.js'
import { importBlob } from './dag.js'
import type { BlobWriter } from './dag.js'
import { isErrno } from './fs-util.js'
import {
  ArchiveInvalidError,
  BlobSizeMismatchError,
  DigestMismatchError,
  ImageLayoutInvalidError,
  InputLimitError,
  ManifestInvalidError,
  ManifestTooLargeError,
  UnsupportedMediaTypeError
} from './errors.js'
import {
  MEDIA_TYPE_DOCKER_CONFIG,
  MEDIA_TYPE_DOCKER_FOREIGN_LAYER_GZIP,
  MEDIA_TYPE_DOCKER_LAYER_GZIP,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_LAYER,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_LAYER_ZSTD,
  MEDIA_TYPE_OCI_MANIFEST,
  checkManifestConfig,
  computeDigest,
  parseDigest,
  parseImageConfig,
  parseManifest
} from './oci.js'
import { indexTar, resolveTarFile } from './tar.js'
import type { ContentBlockstore } from './blockstore.js'
import type { ImageBlobRecord, ImageIndex, ImageRecord } from './image-index.js'
import type { Descriptor, Digest, ParsedImageConfig, ParsedImageManifest } from './oci.js'
import type { TarEntry } from './tar.js'
import { parseJson } from '@provenir/interface'
import type { AbortOptions, ProgressEvent, ProgressOptions } from '@provenir/interface'
import type { CID } from 'multiformats/cid'

/** Layer media types an image import accepts (OCI image-spec v1.1 and Docker schema 2). */
export const LAYER_MEDIA_TYPES: ReadonlySet<string> = new Set([
  MEDIA_TYPE_OCI_LAYER,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_LAYER_ZSTD,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  MEDIA_TYPE_DOCKER_LAYER_GZIP,
  MEDIA_TYPE_DOCKER_FOREIGN_LAYER_GZIP,
  'application/vnd.docker.image.rootfs.diff.tar'
])

/** A blob is about to be imported. */
export interface BlobStartDetail { digest: Digest, size: number, mediaType: string }
/** Bytes of a blob imported so far. */
export interface BlobBytesDetail { digest: Digest, bytes: number, size: number }

export type ImportProgressEvents =
  ProgressEvent<'content:import:blob', BlobStartDetail> |
  ProgressEvent<'content:import:bytes', BlobBytesDetail> |
  ProgressEvent<'content:import:image', ImageRecord>

export interface ImportOptions extends AbortOptions, ProgressOptions<ImportProgressEvents> {
  /**
   * Largest manifest, index, config or `manifest.json` read.
   *
   * @default MAX_MANIFEST_SIZE (4 MiB)
   */
  maxManifestSize?: number

  /**
   * Largest blob (layer) accepted.
   *
   * @default MAX_BLOB_SIZE (64 GiB)
   */
  maxBlobSize?: number

  /**
   * Most images in one input.
   *
   * @default MAX_IMAGES_PER_IMPORT (1024)
   */
  maxImages?: number

  /**
   * Most layers in one image.
   *
   * @default MAX_IMAGE_LAYERS (1024)
   */
  maxLayers?: number

  /**
   * Chunk size of the blob DAGs.
   *
   * @default DEFAULT_CHUNK_SIZE (1 MiB)
   */
  chunkSize?: number
}

/** A blob to import: what the manifest says about it and how to read it. */
interface BlobPlan {
  digest: Digest
  size: number
  mediaType: string
  read: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>
}

/** One validated image, ready to import. */
interface ImagePlan {
  manifest: ParsedImageManifest
  manifestBytes: Uint8Array
  config: ParsedImageConfig
  configBytes: Uint8Array
  layers: BlobPlan[]
  tags: string[]
}

interface Limits {
  maxManifestSize: number
  maxBlobSize: number
  maxImages: number
  maxLayers: number
}

function limitsOf (options: ImportOptions): Limits {
  return {
    maxManifestSize: options.maxManifestSize ?? MAX_MANIFEST_SIZE,
    maxBlobSize: options.maxBlobSize ?? MAX_BLOB_SIZE,
    maxImages: options.maxImages ?? MAX_IMAGES_PER_IMPORT,
    maxLayers: options.maxLayers ?? MAX_IMAGE_LAYERS
  }
}

/** Checks a validated manifest's layers against the limits and the known layer media types. */
function checkLayers (manifest: ParsedImageManifest, limits: Limits): void {
  const layers = manifest.manifest.layers
  if (layers.length > limits.maxLayers) {
    throw new InputLimitError(`Image ${manifest.digest} has ${layers.length} layers, over the limit of ${limits.maxLayers}`)
  }
  layers.forEach((layer, i) => {
    if (!LAYER_MEDIA_TYPES.has(layer.mediaType)) {
      throw new UnsupportedMediaTypeError(`Layer ${i} (${layer.digest}) of image ${manifest.digest} has unsupported media type ${layer.mediaType}`)
    }
    if (layer.size > limits.maxBlobSize) {
      throw new InputLimitError(`Layer ${layer.digest} is ${layer.size} bytes, over the ${limits.maxBlobSize} byte limit`)
    }
  })
}

// ---- import of validated plans ----

/**
 * Imports one image, each block guarded from gc (a request's, or
 * eviction's) from before it is written until the record pins it.
 */
async function importPlan (plan: ImagePlan, store: ContentBlockstore, index: ImageIndex, options: ImportOptions): Promise<ImageRecord> {
  const releases: Array<() => void> = []
  const writer: BlobWriter & { copiesOnPut: boolean } = {
    put: async (cid, bytes, opts) => {
      releases.push(store.guard([cid]))
      return store.put(cid, bytes, opts)
    },
    copiesOnPut: store.copiesOnPut
  }
  try {
    return await writePlan(plan, writer, index, options)
  } finally {
    for (const release of releases) release()
  }
}

async function writePlan (plan: ImagePlan, writer: BlobWriter, index: ImageIndex, options: ImportOptions): Promise<ImageRecord> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE
  const blocks: CID[] = []
  const blobs: ImageBlobRecord[] = []

  async function one (blob: BlobPlan): Promise<void> {
    options.onProgress?.({ type: 'content:import:blob', detail: { digest: blob.digest, size: blob.size, mediaType: blob.mediaType } })
    let bytes = 0
    const source = blob.read()
    async function * counted (): AsyncGenerator<Uint8Array> {
      for await (const chunk of source) {
        bytes += chunk.byteLength
        options.onProgress?.({ type: 'content:import:bytes', detail: { digest: blob.digest, bytes, size: blob.size } })
        yield chunk
      }
    }
    const result = await importBlob(counted(), writer, { expectedDigest: blob.digest, size: blob.size, chunkSize, signal: options.signal })
    blocks.push(...result.blocks)
    blobs.push({ digest: blob.digest, size: blob.size, root: result.root.toString(), mediaType: blob.mediaType })
  }

  const manifest = plan.manifest
  await one({ digest: manifest.digest, size: plan.manifestBytes.byteLength, mediaType: manifest.mediaType, read: () => [plan.manifestBytes] })
  const configDescriptor = manifest.manifest.config
  await one({ digest: configDescriptor.digest, size: configDescriptor.size, mediaType: configDescriptor.mediaType, read: () => [plan.configBytes] })
  for (const layer of plan.layers) {
    await one(layer)
  }
  const record: ImageRecord = {
    manifestDigest: manifest.digest,
    mediaType: manifest.mediaType,
    ...(plan.tags.length > 0 ? { tags: plan.tags } : {}),
    blobs
  }
  const stored = await index.add(record, blocks, { signal: options.signal })
  options.onProgress?.({ type: 'content:import:image', detail: stored })
  return stored
}

async function importPlans (plans: ImagePlan[], store: ContentBlockstore, index: ImageIndex, options: ImportOptions): Promise<ImageRecord[]> {
  const records: ImageRecord[] = []
  for (const plan of plans) {
    records.push(await importPlan(plan, store, index, options))
  }
  return records
}

// ---- OCI image layout ----

/** Reads a whole small file, refusing more than `max` bytes (by stat, then by the read itself). */
async function readSmallFile (path: string, max: number, what: string): Promise<Uint8Array> {
  const fh = await open(path, 'r')
  try {
    const { size } = await fh.stat()
    if (size > max) throw new ManifestTooLargeError(`${what} is ${size} bytes, over the ${max} byte limit`)
    const buf = Buffer.alloc(size)
    const { bytesRead } = await fh.read(buf, 0, size, 0)
    if (bytesRead !== size) throw new BlobSizeMismatchError(`${what} changed while it was read`)
    return buf
  } finally {
    await fh.close()
  }
}

function blobPath (dir: string, digest: string): string {
  const { algorithm, encoded } = parseDigest(digest)
  return join(dir, 'blobs', algorithm, encoded)
}

/** Reads the blob a descriptor names from a layout, checking the size cap, the file's size and (via the parsers) the digest. */
async function readLayoutDocument (dir: string, descriptor: Descriptor, max: number, what: string): Promise<Uint8Array> {
  if (descriptor.size > max) {
    throw new ManifestTooLargeError(`${what} ${descriptor.digest} is ${descriptor.size} bytes, over the ${max} byte limit`)
  }
  const path = blobPath(dir, descriptor.digest)
  let bytes: Uint8Array
  try {
    bytes = await readSmallFile(path, max, `${what} ${descriptor.digest}`)
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new ImageLayoutInvalidError(`The layout has no blob for ${what} ${descriptor.digest}`)
    throw err
  }
  if (bytes.byteLength !== descriptor.size) {
    throw new BlobSizeMismatchError(`${what} ${descriptor.digest} is ${bytes.byteLength} bytes, but its descriptor says ${descriptor.size}`)
  }
  return bytes
}

async function planLayoutImage (dir: string, descriptor: Descriptor, limits: Limits): Promise<ImagePlan> {
  if (descriptor.mediaType === MEDIA_TYPE_OCI_INDEX || descriptor.mediaType === MEDIA_TYPE_DOCKER_MANIFEST_LIST) {
    throw new UnsupportedMediaTypeError(`index.json entry ${descriptor.digest} is a nested ${descriptor.mediaType}; only image manifests are imported`)
  }
  if (descriptor.mediaType !== MEDIA_TYPE_OCI_MANIFEST && descriptor.mediaType !== MEDIA_TYPE_DOCKER_MANIFEST) {
    throw new UnsupportedMediaTypeError(`index.json entry ${descriptor.digest} has unsupported media type ${descriptor.mediaType}`)
  }
  const manifestBytes = await readLayoutDocument(dir, descriptor, limits.maxManifestSize, 'manifest')
  const manifest = parseManifest(manifestBytes, { expectedDigest: descriptor.digest, mediaType: descriptor.mediaType, maxSize: limits.maxManifestSize })
  if (manifest.kind !== 'manifest') {
    throw new UnsupportedMediaTypeError(`${descriptor.digest} is an image index; only image manifests are imported`)
  }
  const configDescriptor = manifest.manifest.config
  const configBytes = await readLayoutDocument(dir, configDescriptor, limits.maxManifestSize, 'config')
  const config = parseImageConfig(configBytes, { expectedDigest: configDescriptor.digest, mediaType: configDescriptor.mediaType, maxSize: limits.maxManifestSize })
  checkManifestConfig(manifest.manifest, config.config)
  checkLayers(manifest, limits)
  const layers: BlobPlan[] = []
  for (const layer of manifest.manifest.layers) {
    const path = blobPath(dir, layer.digest)
    let size: number
    try {
      size = (await stat(path)).size
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new ImageLayoutInvalidError(`The layout has no blob for layer ${layer.digest}${layer.urls != null ? ' (a non-distributable layer; fetch it from its urls first)' : ''}`)
      throw err
    }
    if (size !== layer.size) {
      throw new BlobSizeMismatchError(`Layer ${layer.digest} is ${size} bytes, but the manifest says ${layer.size}`)
    }
    layers.push({
      digest: layer.digest,
      size: layer.size,
      mediaType: layer.mediaType,
      read: () => createReadStream(path, { highWaterMark: 256 * 1024 })
    })
  }
  const refName = descriptor.annotations?.['org.opencontainers.image.ref.name']
  return { manifest, manifestBytes, config, configBytes, layers, tags: refName != null && refName !== '' ? [refName] : [] }
}

/**
 * Imports every image an OCI image layout's `index.json` lists (image
 * manifests; nested indexes are refused with `UnsupportedMediaTypeError`).
 * Each image is validated, streamed in, pinned and then listed in `index`.
 *
 * @throws ImageLayoutInvalidError, ManifestTooLargeError, DigestMismatchError, BlobSizeMismatchError,
 * ManifestInvalidError, UnsupportedMediaTypeError, InputLimitError
 */
export async function importOciLayout (dir: string, store: ContentBlockstore, index: ImageIndex, options: ImportOptions = {}): Promise<ImageRecord[]> {
  const limits = limitsOf(options)
  options.signal?.throwIfAborted()
  let layoutBytes: Uint8Array
  let indexBytes: Uint8Array
  try {
    layoutBytes = await readSmallFile(join(dir, 'oci-layout'), 64 * 1024, 'oci-layout')
    indexBytes = await readSmallFile(join(dir, 'index.json'), limits.maxManifestSize, 'index.json')
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw new ImageLayoutInvalidError(`${dir} is not an OCI image layout (no oci-layout or index.json)`)
    throw err
  }
  let layout: unknown
  try {
    layout = parseJson(layoutBytes)
  } catch {
    throw new ImageLayoutInvalidError(`${dir}/oci-layout is not JSON`)
  }
  if ((layout as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion !== '1.0.0') {
    throw new ImageLayoutInvalidError(`${dir}/oci-layout: imageLayoutVersion must be "1.0.0"`)
  }
  const parsed = parseManifest(indexBytes, { maxSize: limits.maxManifestSize })
  if (parsed.kind !== 'index') throw new ImageLayoutInvalidError(`${dir}/index.json is not an image index`)
  const descriptors = parsed.index.manifests
  if (descriptors.length > limits.maxImages) {
    throw new InputLimitError(`index.json lists ${descriptors.length} manifests, over the limit of ${limits.maxImages}`)
  }
  // validate every image before anything is written
  const plans: ImagePlan[] = []
  for (const descriptor of descriptors) {
    options.signal?.throwIfAborted()
    const plan = await planLayoutImage(dir, descriptor, limits)
    const same = plans.find(p => p.manifest.digest === plan.manifest.digest)
    if (same != null) same.tags.push(...plan.tags.filter(t => !same.tags.includes(t)))
    else plans.push(plan)
  }
  return importPlans(plans, store, index, options)
}

// ---- docker-archive ----

/** The fields provenir reads from one `manifest.json` entry of a docker-archive. */
interface ArchiveImage {
  Config: string
  RepoTags: string[]
  Layers: string[]
}

function parseArchiveManifest (bytes: Uint8Array, limits: Limits): ArchiveImage[] {
  let doc: unknown
  try {
    doc = parseJson(bytes)
  } catch (err) {
    throw new ArchiveInvalidError(`manifest.json is not valid JSON: ${(err as Error).message}`)
  }
  if (!Array.isArray(doc) || doc.length === 0) throw new ArchiveInvalidError('manifest.json must be a non-empty array')
  if (doc.length > limits.maxImages) throw new InputLimitError(`manifest.json lists ${doc.length} images, over the limit of ${limits.maxImages}`)
  return doc.map((item: unknown, i) => {
    const path = `manifest.json[${i}]`
    if (typeof item !== 'object' || item === null) throw new ArchiveInvalidError(`${path} must be an object`)
    const { Config, RepoTags, Layers } = item as Record<string, unknown>
    if (typeof Config !== 'string' || Config === '') throw new ArchiveInvalidError(`${path}.Config must be a file name`)
    if (!Array.isArray(Layers) || !Layers.every(l => typeof l === 'string')) throw new ArchiveInvalidError(`${path}.Layers must be an array of file names`)
    if (Layers.length > limits.maxLayers) throw new InputLimitError(`${path} has ${Layers.length} layers, over the limit of ${limits.maxLayers}`)
    if (RepoTags != null && (!Array.isArray(RepoTags) || !RepoTags.every(t => typeof t === 'string'))) throw new ArchiveInvalidError(`${path}.RepoTags must be an array of strings`)
    return { Config, RepoTags: (RepoTags as string[] | null | undefined) ?? [], Layers: Layers as string[] }
  })
}

/** `<hex>.json`, `<hex>.tar` or `blobs/sha256/<hex>`: a name that states the content's sha256. */
function digestInName (name: string): Digest | undefined {
  const base = name.slice(name.lastIndexOf('/') + 1)
  const m = /^([a-f0-9]{64})(?:\.json|\.tar)?$/.exec(base)
  if (m == null) return undefined
  if (!base.includes('.') && !name.startsWith('blobs/sha256/')) return undefined
  return `sha256:${m[1]}`
}

async function readEntry (tarPath: string, entry: TarEntry, max: number, what: string): Promise<Uint8Array> {
  if (entry.size > max) throw new ManifestTooLargeError(`${what} (${entry.name}) is ${entry.size} bytes, over the ${max} byte limit`)
  const fh = await open(tarPath, 'r')
  try {
    const buf = Buffer.alloc(entry.size)
    const { bytesRead } = await fh.read(buf, 0, entry.size, entry.offset)
    if (bytesRead !== entry.size) throw new ArchiveInvalidError(`${what} (${entry.name}) could not be read whole`)
    return buf
  } finally {
    await fh.close()
  }
}

/**
 * The Docker schema 2 manifest skopeo's docker-archive source builds for an
 * archived image, with the same bytes (field order, no whitespace).
 */
export function dockerArchiveManifest (config: { digest: string, size: number }, layers: Array<{ digest: string, size: number }>): Uint8Array {
  const doc = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_DOCKER_MANIFEST,
    config: { mediaType: MEDIA_TYPE_DOCKER_CONFIG, size: config.size, digest: config.digest },
    layers: layers.map(l => ({ mediaType: MEDIA_TYPE_DOCKER_LAYER_GZIP, size: l.size, digest: l.digest }))
  }
  return new TextEncoder().encode(JSON.stringify(doc))
}

async function planArchiveImage (tarPath: string, entries: Map<string, TarEntry>, image: ArchiveImage, limits: Limits): Promise<ImagePlan> {
  const configEntry = resolveTarFile(entries, image.Config)
  const configBytes = await readEntry(tarPath, configEntry, limits.maxManifestSize, 'config')
  const configDigest = computeDigest(configBytes)
  const named = digestInName(configEntry.name)
  if (named != null && named !== configDigest) {
    throw new DigestMismatchError(`Config ${configEntry.name} has digest ${configDigest}, but its name says ${named}`)
  }
  const config = parseImageConfig(configBytes, { mediaType: MEDIA_TYPE_DOCKER_CONFIG, maxSize: limits.maxManifestSize })
  const diffIds = config.config.rootfs.diff_ids
  if (diffIds.length !== image.Layers.length) {
    throw new ManifestInvalidError(`Image ${image.Config} has ${image.Layers.length} layers but its config has ${diffIds.length} diff ids`)
  }
  const layers: BlobPlan[] = image.Layers.map((name, i) => {
    const entry = resolveTarFile(entries, name)
    const digest = diffIds[i]
    const stated = digestInName(entry.name)
    if (stated != null && stated !== digest) {
      throw new DigestMismatchError(`Layer ${i} is ${entry.name}, but the config's diff id is ${digest}`)
    }
    if (entry.size > limits.maxBlobSize) throw new InputLimitError(`Layer ${entry.name} is ${entry.size} bytes, over the ${limits.maxBlobSize} byte limit`)
    return {
      digest,
      size: entry.size,
      mediaType: MEDIA_TYPE_DOCKER_LAYER_GZIP,
      read: () => entry.size === 0 ? [] : createReadStream(tarPath, { start: entry.offset, end: entry.offset + entry.size - 1, highWaterMark: 256 * 1024 })
    }
  })
  const manifestBytes = dockerArchiveManifest({ digest: configDigest, size: configBytes.byteLength }, layers)
  const manifest = parseManifest(manifestBytes, { mediaType: MEDIA_TYPE_DOCKER_MANIFEST })
  if (manifest.kind !== 'manifest') throw new ManifestInvalidError('generated manifest is not a manifest')
  checkManifestConfig(manifest.manifest, config.config)
  checkLayers(manifest, limits)
  return { manifest, manifestBytes, config, configBytes, layers, tags: [...new Set(image.RepoTags)] }
}

/**
 * Imports every image of a docker-archive tarball (`docker save`, or
 * `skopeo copy ... docker-archive:`), each as a Docker schema 2 manifest
 * identical to the one skopeo generates for it (see the module comment).
 * The tar is indexed first (truncation is found before anything is written),
 * then every config is validated, then the layers stream from the file.
 *
 * @throws ArchiveInvalidError, ArchiveTruncatedError, ManifestTooLargeError, DigestMismatchError,
 * BlobSizeMismatchError, ManifestInvalidError, UnsupportedMediaTypeError, InputLimitError
 */
export async function importDockerArchive (tarPath: string, store: ContentBlockstore, index: ImageIndex, options: ImportOptions = {}): Promise<ImageRecord[]> {
  const limits = limitsOf(options)
  options.signal?.throwIfAborted()
  const entries = await indexTar(tarPath, { maxEntrySize: Math.max(limits.maxBlobSize, limits.maxManifestSize), signal: options.signal })
  const manifestEntry = entries.get('manifest.json')
  if (manifestEntry == null) {
    throw new ArchiveInvalidError(`${tarPath} has no manifest.json; it is not a docker-archive${entries.has('index.json') ? ' (it looks like an OCI layout in a tar: unpack it and use importOciLayout)' : ''}`)
  }
  const images = parseArchiveManifest(await readEntry(tarPath, resolveTarFile(entries, 'manifest.json'), limits.maxManifestSize, 'manifest.json'), limits)
  const plans: ImagePlan[] = []
  for (const image of images) {
    options.signal?.throwIfAborted()
    const plan = await planArchiveImage(tarPath, entries, image, limits)
    const same = plans.find(p => p.manifest.digest === plan.manifest.digest)
    if (same != null) same.tags.push(...plan.tags.filter(t => !same.tags.includes(t)))
    else plans.push(plan)
  }
  return importPlans(plans, store, index, options)
}
