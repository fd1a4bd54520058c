/**
 * Image export: an image of the `ImageIndex` out to an OCI image layout
 * directory or a docker-archive tarball.
 *
 * Every blob streams out of its DAG with `exportBlob`, every block verified
 * against its CID and every blob against its digest and size, so corrupt
 * blocks never reach the output. The output is written under a temporary name
 * beside the destination and renamed into place only when complete (files
 * flushed to disk first), so a destination is either absent or whole.
 *
 * docker-archive needs each layer as an uncompressed tar whose sha256 is the
 * config's diff id. A layer whose digest already is its diff id (an image that
 * came from a docker-archive) is copied as it is; a gzip (or, where node has
 * it, zstd) layer is decompressed into a temporary file beside the output,
 * hashed on the way and checked against its diff id. The archive holds the
 * layers as `<diff id hex>.tar`, the config as `<hex>.json` and
 * `manifest.json`, as skopeo writes them (without the legacy per-layer
 * directories and `repositories`, which `docker load` does not need).
 */

import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import * as zlib from 'node:zlib'
import { CID } from 'multiformats/cid'
import tar from 'tar-stream'
import { MAX_MANIFEST_SIZE } from './constants.js'
import { writeFully } from './fs-util.js'
import { exportBlob } from './read.js'
import {
  BlobSizeMismatchError,
  DigestMismatchError,
  ImageNotFoundError,
  OutputExistsError,
  UnsupportedMediaTypeError
} from './errors.js'
import { MEDIA_TYPE_OCI_INDEX, parseDigest, parseImageConfig } from './oci.js'
import type { ContentBlockstore } from './blockstore.js'
import type { ImageBlobRecord, ImageIndex, ImageRecord } from './image-index.js'
import type { AbortOptions, ProgressEvent, ProgressOptions } from '@provenir/interface'

export type ExportProgressEvents =
  ProgressEvent<'content:export:blob', { digest: string, size: number }>

export interface ExportOptions extends AbortOptions, ProgressOptions<ExportProgressEvents> {
  /**
   * Name to give the image: the OCI layout's `org.opencontainers.image.ref.name`
   * or the docker-archive's `RepoTags` entry.
   *
   * @default the record's tags
   */
  tag?: string
}

/** Streams a blob out of the store, checking its size (exportBlob checks blocks and the digest). */
async function * blobBytes (blob: ImageBlobRecord, store: ContentBlockstore, options: AbortOptions): AsyncGenerator<Uint8Array> {
  let size = 0
  for await (const chunk of exportBlob(CID.parse(blob.root), store, { expectedDigest: blob.digest, signal: options.signal })) {
    size += chunk.byteLength
    if (size > blob.size) throw new BlobSizeMismatchError(`Blob ${blob.digest} is longer than its recorded ${blob.size} bytes`)
    yield chunk
  }
  if (size !== blob.size) throw new BlobSizeMismatchError(`Blob ${blob.digest} is ${size} bytes, recorded as ${blob.size}`)
}

async function blobToMemory (blob: ImageBlobRecord, store: ContentBlockstore, options: AbortOptions): Promise<Uint8Array> {
  if (blob.size > MAX_MANIFEST_SIZE) throw new BlobSizeMismatchError(`Document ${blob.digest} is ${blob.size} bytes, over the ${MAX_MANIFEST_SIZE} byte limit`)
  const out = new Uint8Array(blob.size)
  let offset = 0
  for await (const chunk of blobBytes(blob, store, options)) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

async function getRecord (index: ImageIndex, manifestDigest: string, options: AbortOptions): Promise<ImageRecord> {
  const record = await index.get(manifestDigest, options)
  if (record == null) throw new ImageNotFoundError(`No image with manifest digest ${manifestDigest}`)
  return record
}

async function fsyncPath (path: string): Promise<void> {
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

function tempName (path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${randomUUID()}`)
}

/**
 * Writes an (async) iterable of bytes to a new file, one chunk at a time, and
 * flushes it to disk. (Plain positional writes, not a write stream: each chunk
 * is released as soon as it is written; at most `FILE_WRITE_CHUNK` bytes a call.)
 */
async function writeFileFrom (path: string, source: AsyncIterable<Uint8Array>): Promise<void> {
  const fh = await open(path, 'wx')
  try {
    let position = 0
    for await (const chunk of source) {
      await writeFully(fh, chunk, position)
      position += chunk.byteLength
    }
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * Writes the image to an OCI image layout at `dir` (which must not exist, or
 * be an empty directory): `oci-layout`, `index.json` (one entry per tag, or one
 * untagged entry) and every blob under `blobs/<alg>/<hex>`, byte-identical to
 * what was imported. `skopeo copy oci:DIR:TAG ...` reads it.
 *
 * @throws ImageNotFoundError, OutputExistsError, BlockVerificationError, DigestMismatchError, NotFoundError
 */
export async function exportOciLayout (manifestDigest: string, store: ContentBlockstore, index: ImageIndex, dir: string, options: ExportOptions = {}): Promise<ImageRecord> {
  const record = await getRecord(index, manifestDigest, options)
  let existsEmpty = false
  try {
    const names = await readdir(dir)
    if (names.length > 0) throw new OutputExistsError(`${dir} exists and is not empty`)
    existsEmpty = true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new OutputExistsError(`${dir} exists and is not a directory`)
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const tmp = tempName(dir)
  try {
    await mkdir(tmp, { recursive: true })
    const written = new Set<string>()
    for (const blob of record.blobs) {
      options.signal?.throwIfAborted()
      if (written.has(blob.digest)) continue
      written.add(blob.digest)
      const { algorithm, encoded } = parseDigest(blob.digest)
      await mkdir(join(tmp, 'blobs', algorithm), { recursive: true })
      options.onProgress?.({ type: 'content:export:blob', detail: { digest: blob.digest, size: blob.size } })
      await writeFileFrom(join(tmp, 'blobs', algorithm, encoded), blobBytes(blob, store, options))
    }
    const tags = options.tag != null ? [options.tag] : (record.tags ?? [])
    const manifest = record.blobs[0]
    const descriptor = { mediaType: record.mediaType, digest: record.manifestDigest, size: manifest.size }
    const indexDoc = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_OCI_INDEX,
      manifests: tags.length === 0
        ? [descriptor]
        : tags.map(tag => ({ ...descriptor, annotations: { 'org.opencontainers.image.ref.name': tag } }))
    }
    await writeFileFrom(join(tmp, 'oci-layout'), toAsync(JSON.stringify({ imageLayoutVersion: '1.0.0' })))
    await writeFileFrom(join(tmp, 'index.json'), toAsync(JSON.stringify(indexDoc)))
    for (const sub of [...new Set([...written].map(d => parseDigest(d).algorithm))]) await fsyncPath(join(tmp, 'blobs', sub))
    await fsyncPath(join(tmp, 'blobs'))
    await fsyncPath(tmp)
    if (existsEmpty) await rmdir(dir)
    await rename(tmp, dir)
    await fsyncPath(dirname(dir))
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw err
  }
  return record
}

async function * toAsync (text: string): AsyncGenerator<Uint8Array> {
  yield new TextEncoder().encode(text)
}

/** A decompressor for a layer media type, or undefined for an uncompressed tar. */
function decompressorFor (mediaType: string, digest: string): Transform | undefined {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return zlib.createGunzip()
  if (mediaType.endsWith('+zstd')) {
    const create = (zlib as { createZstdDecompress?: () => Transform }).createZstdDecompress
    if (create == null) throw new UnsupportedMediaTypeError(`Layer ${digest} is zstd, which this node.js cannot decompress`)
    return create()
  }
  if (mediaType.endsWith('.tar') || mediaType.endsWith('.v1.tar')) return undefined
  throw new UnsupportedMediaTypeError(`Layer ${digest} has media type ${mediaType}, which cannot be written to a docker-archive`)
}

interface ArchiveLayer {
  name: string
  size: number
  read: () => AsyncIterable<Uint8Array>
}

/**
 * Writes the image to a docker-archive tarball at `tarPath` (which must not
 * exist): uncompressed layer tars named by diff id, the config, and
 * `manifest.json` with `RepoTags` from `options.tag` or the record's tags that
 * look like `name:tag` references. `docker load` and `skopeo` read it.
 *
 * @throws ImageNotFoundError, OutputExistsError, UnsupportedMediaTypeError, DigestMismatchError, BlockVerificationError
 */
export async function exportDockerArchive (manifestDigest: string, store: ContentBlockstore, index: ImageIndex, tarPath: string, options: ExportOptions = {}): Promise<ImageRecord> {
  const record = await getRecord(index, manifestDigest, options)
  try {
    await stat(tarPath)
    throw new OutputExistsError(`${tarPath} exists`)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const [, configBlob, ...layerBlobs] = record.blobs
  const configBytes = await blobToMemory(configBlob, store, options)
  const config = parseImageConfig(configBytes, { mediaType: configBlob.mediaType, expectedDigest: configBlob.digest })
  const diffIds = config.config.rootfs.diff_ids
  if (diffIds.length !== layerBlobs.length) {
    throw new DigestMismatchError(`Image ${manifestDigest} has ${layerBlobs.length} layers but ${diffIds.length} diff ids`)
  }
  const tmp = tempName(tarPath)
  const work = `${tmp}.d`
  let pack: tar.Pack | undefined
  let out: ReturnType<typeof createWriteStream> | undefined
  try {
    const layers: ArchiveLayer[] = []
    for (let i = 0; i < layerBlobs.length; i++) {
      const blob = layerBlobs[i]
      const diffId = diffIds[i]
      const name = `${parseDigest(diffId).encoded}.tar`
      if (layers.some(l => l.name === name)) continue
      options.onProgress?.({ type: 'content:export:blob', detail: { digest: blob.digest, size: blob.size } })
      if (blob.digest === diffId) {
        layers.push({ name, size: blob.size, read: () => blobBytes(blob, store, options) })
        continue
      }
      const decompress = decompressorFor(blob.mediaType, blob.digest)
      if (decompress == null) {
        throw new DigestMismatchError(`Layer ${blob.digest} is an uncompressed tar, but the config's diff id is ${diffId}`)
      }
      await mkdir(work, { recursive: true })
      const path = join(work, name)
      const hash = createHash(parseDigest(diffId).algorithm)
      const hasher = new Transform({
        transform (chunk: Buffer, _enc, cb) { hash.update(chunk); cb(null, chunk) }
      })
      await pipeline(Readable.from(blobBytes(blob, store, options)), decompress, hasher, createWriteStream(path, { flags: 'wx' }), { signal: options.signal })
      const actual = `${parseDigest(diffId).algorithm}:${hash.digest('hex')}`
      if (actual !== diffId) throw new DigestMismatchError(`Layer ${blob.digest} decompresses to ${actual}, but the config's diff id is ${diffId}`)
      const size = (await stat(path)).size
      layers.push({ name, size, read: () => createReadStream(path, { highWaterMark: 256 * 1024 }) })
    }

    const repoTags = options.tag != null ? [options.tag] : (record.tags ?? []).filter(t => /^[^\s:@]+(?::\d+)?(?:\/[^\s:@]+)*:[\w][\w.-]{0,127}$/.test(t))
    const configName = `${parseDigest(configBlob.digest).encoded}.json`
    const manifestJson = JSON.stringify([{ Config: configName, RepoTags: repoTags, Layers: layers.map(l => l.name) }])

    pack = tar.pack()
    out = createWriteStream(tmp, { flags: 'wx', flush: true })
    const written = pipeline(pack, out, { signal: options.signal })
    // keep the pipeline's rejection from going unhandled while entries are added
    written.catch(() => {})
    const header = { mode: 0o444, mtime: new Date(0), uid: 0, gid: 0 }
    for (const layer of layers) {
      options.signal?.throwIfAborted()
      const entry = pack.entry({ ...header, name: layer.name, size: layer.size })
      await pipeline(Readable.from(layer.read()), entry)
    }
    await addBuffer(pack, { ...header, name: configName }, Buffer.from(configBytes))
    await addBuffer(pack, { ...header, name: 'manifest.json' }, Buffer.from(manifestJson))
    pack.finalize()
    await written
    await finished(out)
    await rename(tmp, tarPath)
    await fsyncPath(dirname(tarPath))
  } catch (err) {
    pack?.destroy()
    if (out != null && !out.closed) {
      out.destroy()
      await finished(out).catch(() => {})
    }
    await rm(tmp, { force: true })
    throw err
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return record
}

async function addBuffer (pack: tar.Pack, header: tar.Headers, bytes: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    pack.entry(header, bytes, (err) => { err != null ? reject(err) : resolve() })
  })
}
