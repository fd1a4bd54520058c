/**
 * @packageDocumentation
 *
 * Content for provenir: a verified blockstore (blocks in files with a `level`
 * index, or in `level`), pins and garbage collection, the OCI image model
 * (`parseManifest`, `parseImageConfig`, digests), and blobs as block DAGs
 * (`importBlob` / `exportBlob`), and whole images: `importOciLayout` /
 * `importDockerArchive` into an `ImageIndex` of pinned image records, and
 * `exportOciLayout` / `exportDockerArchive` back out. See README.md for a
 * fuller example.
 *
 * @example
 *
 * ```ts
 * import { FsBlockstore } from '@provenir/content'
 * import { CID } from 'multiformats/cid'
 * import * as raw from 'multiformats/codecs/raw'
 * import { sha256 } from 'multiformats/hashes/sha2'
 *
 * const store = new FsBlockstore({ path: '/var/lib/provenir/blocks' })
 * await store.open()
 * const bytes = new TextEncoder().encode('hello')
 * const cid = CID.createV1(raw.code, await sha256.digest(bytes))
 * await store.put(cid, bytes) // verified against the CID, written atomically
 * await store.pins.pin(cid) // survives gc()
 * await store.close()
 * ```
 */

export { BaseContentBlockstore, getBlockBytes } from './blockstore.js'
export type { ContentBlockstore, BlockstoreInit, VerifyOptions, GcResult, BlockInfo, StoreUsage, CollectResult } from './blockstore.js'
export { LevelBlockstore } from './blockstore-level.js'
export type { LevelBlockstoreInit } from './blockstore-level.js'
export { FsBlockstore } from './blockstore-fs.js'
export type { FsBlockstoreInit } from './blockstore-fs.js'
export { PinStore } from './pins.js'
export { verifyBlock } from './verify.js'
export * from './errors.js'
export * from './constants.js'
export {
  parseManifest,
  parseImageConfig,
  parseDigest,
  isDigest,
  computeDigest,
  verifyDigest,
  checkManifestConfig,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_EMPTY,
  MEDIA_TYPE_OCI_LAYER,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_LAYER_ZSTD,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_DOCKER_CONFIG,
  MEDIA_TYPE_DOCKER_LAYER_GZIP,
  MEDIA_TYPE_DOCKER_FOREIGN_LAYER_GZIP
} from './oci.js'
export type {
  Digest,
  DigestAlgorithm,
  DigestParts,
  DigestOptions,
  Descriptor,
  Platform,
  ImageManifest,
  ImageIndex as OciImageIndex,
  ImageConfig,
  ContainerConfig,
  HistoryEntry,
  ManifestMediaType,
  IndexMediaType,
  ConfigMediaType,
  ParsedManifest,
  ParsedImageManifest,
  ParsedImageIndex,
  ParsedImageConfig,
  ParseOptions
} from './oci.js'
export { selectPlatform, platformsOf } from './platform.js'
export { importBlob, importChunks, copiesOnPut, cidForDigest } from './dag.js'
export { exportBlob, verifyBlob, BlobVerifier, readBlob, BLOCK_READ_CONCURRENCY } from './read.js'
export { BufferPool } from './buffer-pool.js'
export { hashTransferring, warmHashWorker } from './off-thread-hash.js'
export type { ImportBlobOptions, ImportChunksOptions, ImportBlobResult, BlobWriter, BlobReader } from './dag.js'
export type { ExportBlobOptions, VerifyBlobOptions, ReadBlobOptions } from './read.js'
export { ImageIndex } from './image-index.js'
export { AccessLog } from './access-log.js'
export type { AccessLogInit } from './access-log.js'
export type { ImageIndexInit, ImageRecord, ImageBlobRecord, AddImageOptions, IndexSublevel } from './image-index.js'
export { RepositoryIndex, MAX_REGISTRY_LISTING } from './repository-index.js'
export type { ManifestEntry, BlobEntry, RepositoryLink } from './repository-index.js'
export { importOciLayout, importDockerArchive, dockerArchiveManifest, LAYER_MEDIA_TYPES } from './import.js'
/** @internal the docker-archive tar indexer, exported for the project's fuzzer */
export { indexTar } from './tar.js'
export type { ImportOptions, ImportProgressEvents, BlobStartDetail, BlobBytesDetail } from './import.js'
export { exportOciLayout, exportDockerArchive } from './export.js'
export type { ExportOptions, ExportProgressEvents } from './export.js'
