/**
 * The OCI image model: parse and validate OCI image manifests, image indexes
 * and image configs, and Docker image manifest v2 schema 2 manifests, manifest
 * lists and container configs.
 *
 * Every parser takes the exact bytes (a digest is over bytes, not over JSON),
 * refuses more than `maxSize` bytes before parsing, checks `expectedDigest`
 * when one is given, and then checks the schema. Unknown fields are allowed
 * and kept, as the specs require; known fields must have the right type.
 *
 * References: opencontainers/image-spec v1.1 (manifest.md, image-index.md,
 * descriptor.md, config.md) and the Docker "Image Manifest V2, Schema 2" spec.
 */

import { createHash } from 'node:crypto'
import { isDigest, parseDigest, parseJson } from '@provenir/interface'
import type { Digest, DigestAlgorithm, DigestOptions, DigestParts } from '@provenir/interface'
import { MAX_MANIFEST_SIZE } from './constants.js'
import { DigestInvalidError, DigestMismatchError, ManifestInvalidError, ManifestTooLargeError, UnsupportedMediaTypeError } from './errors.js'

export const MEDIA_TYPE_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const MEDIA_TYPE_OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
export const MEDIA_TYPE_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
export const MEDIA_TYPE_OCI_EMPTY = 'application/vnd.oci.empty.v1+json'
export const MEDIA_TYPE_OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar'
export const MEDIA_TYPE_OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'
export const MEDIA_TYPE_OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd'
export const MEDIA_TYPE_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
export const MEDIA_TYPE_DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
export const MEDIA_TYPE_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json'
export const MEDIA_TYPE_DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip'
export const MEDIA_TYPE_DOCKER_FOREIGN_LAYER_GZIP = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'

/** Docker schema 1 manifests: recognised only to be refused by name. */
const DOCKER_SCHEMA1 = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws'
])

export type ManifestMediaType = typeof MEDIA_TYPE_OCI_MANIFEST | typeof MEDIA_TYPE_DOCKER_MANIFEST
export type IndexMediaType = typeof MEDIA_TYPE_OCI_INDEX | typeof MEDIA_TYPE_DOCKER_MANIFEST_LIST
export type ConfigMediaType = typeof MEDIA_TYPE_OCI_CONFIG | typeof MEDIA_TYPE_DOCKER_CONFIG

export type { Digest, DigestAlgorithm }

/** The platform a manifest in an index runs on. */
export interface Platform {
  architecture: string
  os: string
  'os.version'?: string
  'os.features'?: string[]
  variant?: string
  features?: string[]
}

/** A content descriptor: what a manifest or index says about the object it points to. */
export interface Descriptor {
  mediaType: string
  digest: Digest
  size: number
  urls?: string[]
  annotations?: Record<string, string>
  /** base64 of the content itself, embedded */
  data?: string
  artifactType?: string
  /** only on the entries of an index */
  platform?: Platform
}

/** An image manifest, OCI or Docker schema 2 (the Docker one has no artifactType, subject or annotations). */
export interface ImageManifest {
  schemaVersion: 2
  mediaType?: string
  artifactType?: string
  config: Descriptor
  layers: Descriptor[]
  subject?: Descriptor
  annotations?: Record<string, string>
}

/** An image index (OCI) or manifest list (Docker): manifests for several platforms. */
export interface ImageIndex {
  schemaVersion: 2
  mediaType?: string
  artifactType?: string
  manifests: Descriptor[]
  subject?: Descriptor
  annotations?: Record<string, string>
}

/** The run-time defaults of an image (`config` in the image config); Docker-only fields are kept but not typed. */
export interface ContainerConfig {
  User?: string
  ExposedPorts?: Record<string, object>
  Env?: string[]
  Entrypoint?: string[]
  Cmd?: string[]
  Volumes?: Record<string, object>
  WorkingDir?: string
  Labels?: Record<string, string>
  StopSignal?: string
  ArgsEscaped?: boolean
  [field: string]: unknown
}

export interface HistoryEntry {
  created?: string
  author?: string
  created_by?: string
  comment?: string
  empty_layer?: boolean
}

/** An image config, OCI or Docker: the platform, run-time defaults, layer diff ids and history. */
export interface ImageConfig {
  created?: string
  author?: string
  architecture: string
  os: string
  'os.version'?: string
  'os.features'?: string[]
  variant?: string
  config?: ContainerConfig
  rootfs: { type: 'layers', diff_ids: Digest[] }
  history?: HistoryEntry[]
}

/** The result of a parse: the document, its media type, and the digest and size of the bytes it came from. */
interface Parsed {
  digest: Digest
  size: number
}

export interface ParsedImageManifest extends Parsed {
  kind: 'manifest'
  mediaType: ManifestMediaType
  manifest: ImageManifest
}

export interface ParsedImageIndex extends Parsed {
  kind: 'index'
  mediaType: IndexMediaType
  index: ImageIndex
}

export type ParsedManifest = ParsedImageManifest | ParsedImageIndex

export interface ParsedImageConfig extends Parsed {
  mediaType: ConfigMediaType
  config: ImageConfig
}

export interface ParseOptions {
  /**
   * The digest the bytes must have (from a reference or a descriptor); a
   * mismatch throws `DigestMismatchError`. Its algorithm is used for `digest`.
   */
  expectedDigest?: string

  /**
   * The media type the document was sent or described with (a Content-Type
   * header, a descriptor's mediaType). It must agree with the document's own
   * `mediaType` when both are present.
   */
  mediaType?: string

  /**
   * Largest document accepted, checked before parsing.
   *
   * @default MAX_MANIFEST_SIZE (4 MiB)
   */
  maxSize?: number
}

// ---- digests (the grammar is @provenir/interface's, so that a client can check one cheaply) ----

export { parseDigest, isDigest }
export type { DigestParts, DigestOptions }

/** The OCI digest of `bytes`. */
export function computeDigest (bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`
}

/**
 * Throws `DigestMismatchError` unless `bytes` have the digest `expected`
 * (`DigestInvalidError` if `expected` is malformed). Returns the digest.
 */
export function verifyDigest (bytes: Uint8Array, expected: string, options?: DigestOptions): Digest {
  const { algorithm } = parseDigest(expected, options)
  const actual = computeDigest(bytes, algorithm)
  if (actual !== expected) {
    throw new DigestMismatchError(`Content has digest ${actual}, expected ${expected}`)
  }
  return actual
}

// ---- field checks ----

type Json = Record<string, unknown>

function invalid (path: string, message: string): ManifestInvalidError {
  return new ManifestInvalidError(`${path}: ${message}`)
}

function isObject (value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function checkObject (value: unknown, path: string): Json {
  if (!isObject(value)) throw invalid(path, 'must be an object')
  return value
}

function checkString (value: unknown, path: string, nonEmpty = false): string {
  if (typeof value !== 'string') throw invalid(path, 'must be a string')
  if (nonEmpty && value.length === 0) throw invalid(path, 'must not be empty')
  return value
}

function optional<T> (doc: Json, field: string, path: string, check: (value: unknown, path: string) => T, nullable = false): T | undefined {
  const value = doc[field]
  if (value === undefined || (nullable && value === null)) return undefined
  return check(value, `${path}.${field}`)
}

function checkStringArray (value: unknown, path: string): string[] {
  if (!Array.isArray(value)) throw invalid(path, 'must be an array')
  value.forEach((item, i) => checkString(item, `${path}[${i}]`))
  return value as string[]
}

function checkStringMap (value: unknown, path: string): Record<string, string> {
  const map = checkObject(value, path)
  for (const [key, item] of Object.entries(map)) {
    if (key.length === 0) throw invalid(path, 'keys must not be empty')
    checkString(item, `${path}[${JSON.stringify(key)}]`)
  }
  return map as Record<string, string>
}

function checkObjectMap (value: unknown, path: string): Record<string, object> {
  const map = checkObject(value, path)
  for (const [key, item] of Object.entries(map)) checkObject(item, `${path}[${JSON.stringify(key)}]`)
  return map as Record<string, object>
}

/** RFC 6838 `type/subtype` (restricted-name characters), optionally with parameters. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/

function checkMediaType (value: unknown, path: string): string {
  const mediaType = checkString(value, path)
  if (!MEDIA_TYPE.test(mediaType)) throw invalid(path, `${JSON.stringify(mediaType)} is not a valid media type`)
  return mediaType
}

function checkSize (value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(path, 'must be an integer >= 0')
  }
  return value
}

function checkDigestField (value: unknown, path: string, options: DigestOptions): Digest {
  try {
    parseDigest(value, options)
  } catch (err) {
    throw new DigestInvalidError(`${path}: ${(err as Error).message}`)
  }
  return value as Digest
}

function checkUrls (value: unknown, path: string): string[] {
  const urls = checkStringArray(value, path)
  urls.forEach((url, i) => {
    if (!URL.canParse(url)) throw invalid(`${path}[${i}]`, `${JSON.stringify(url)} is not a URL`)
  })
  return urls
}

function checkPlatform (value: unknown, path: string): Platform {
  const platform = checkObject(value, path)
  checkString(platform.architecture, `${path}.architecture`, true)
  checkString(platform.os, `${path}.os`, true)
  optional(platform, 'os.version', path, checkString)
  optional(platform, 'os.features', path, checkStringArray)
  optional(platform, 'variant', path, checkString)
  optional(platform, 'features', path, checkStringArray)
  return platform as unknown as Platform
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

interface DescriptorRules extends DigestOptions {
  /** a platform field is required (Docker manifest lists) */
  platform?: 'required' | 'allowed' | 'forbidden'
}

function checkDescriptor (value: unknown, path: string, rules: DescriptorRules): Descriptor {
  const descriptor = checkObject(value, path)
  checkMediaType(descriptor.mediaType, `${path}.mediaType`)
  const digest = checkDigestField(descriptor.digest, `${path}.digest`, rules)
  const size = checkSize(descriptor.size, `${path}.size`)
  optional(descriptor, 'urls', path, checkUrls)
  optional(descriptor, 'annotations', path, checkStringMap)
  optional(descriptor, 'artifactType', path, checkMediaType)
  const data = optional(descriptor, 'data', path, checkString)
  if (data !== undefined) {
    // embedded content must be exactly what the descriptor describes
    if (!BASE64.test(data)) throw invalid(`${path}.data`, 'must be base64')
    const bytes = Buffer.from(data, 'base64')
    if (bytes.byteLength !== size) throw invalid(`${path}.data`, `holds ${bytes.byteLength} bytes, but size is ${size}`)
    verifyDigest(bytes, digest, rules)
  }
  if (descriptor.platform !== undefined) {
    if (rules.platform === 'forbidden') throw invalid(`${path}.platform`, 'is only allowed on the entries of an index')
    checkPlatform(descriptor.platform, `${path}.platform`)
  } else if (rules.platform === 'required') {
    throw invalid(`${path}.platform`, 'is required')
  }
  return descriptor as unknown as Descriptor
}

function checkDescriptors (value: unknown, path: string, rules: DescriptorRules): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(path, 'must be an array')
  value.forEach((item, i) => checkDescriptor(item, `${path}[${i}]`, rules))
  return value as Descriptor[]
}

// ---- documents ----

function checkManifest (doc: Json, mediaType: ManifestMediaType): ImageManifest {
  const docker = mediaType === MEDIA_TYPE_DOCKER_MANIFEST
  const rules: DescriptorRules = { allowSha512: !docker, platform: 'forbidden' }
  // A document with both manifest and index fields could be read as either (CVE-2021-41190)
  if (doc.manifests !== undefined) throw invalid('manifest', 'must not have a "manifests" field')
  const config = checkDescriptor(doc.config, 'manifest.config', rules)
  checkDescriptors(doc.layers, 'manifest.layers', rules)
  optional(doc, 'subject', 'manifest', (v, p) => checkDescriptor(v, p, rules))
  optional(doc, 'annotations', 'manifest', checkStringMap)
  const artifactType = optional(doc, 'artifactType', 'manifest', checkMediaType)
  if (config.mediaType === MEDIA_TYPE_OCI_EMPTY && artifactType === undefined) {
    throw invalid('manifest.artifactType', `is required when config.mediaType is ${MEDIA_TYPE_OCI_EMPTY}`)
  }
  return doc as unknown as ImageManifest
}

function checkIndex (doc: Json, mediaType: IndexMediaType): ImageIndex {
  const docker = mediaType === MEDIA_TYPE_DOCKER_MANIFEST_LIST
  const rules: DescriptorRules = { allowSha512: !docker, platform: docker ? 'required' : 'allowed' }
  if (doc.config !== undefined || doc.layers !== undefined) {
    throw invalid('index', 'must not have "config" or "layers" fields')
  }
  checkDescriptors(doc.manifests, 'index.manifests', rules)
  const subjectRules: DescriptorRules = { allowSha512: !docker, platform: 'forbidden' }
  optional(doc, 'subject', 'index', (v, p) => checkDescriptor(v, p, subjectRules))
  optional(doc, 'annotations', 'index', checkStringMap)
  optional(doc, 'artifactType', 'index', checkMediaType)
  return doc as unknown as ImageIndex
}

/** Strips parameters (`; charset=utf-8`) and case from a Content-Type. */
function normaliseMediaType (mediaType: string): string {
  return mediaType.split(';')[0].trim().toLowerCase()
}

const MANIFEST_TYPES = new Set<string>([MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST_LIST])
const CONFIG_TYPES = new Set<string>([MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_DOCKER_CONFIG])

/** Size cap, digest check and JSON parse shared by every parser. */
function readDocument (bytes: Uint8Array, options: ParseOptions, what: string): { doc: Json, digest: Digest } {
  const max = options.maxSize ?? MAX_MANIFEST_SIZE
  if (bytes.byteLength > max) {
    throw new ManifestTooLargeError(`The ${what} is ${bytes.byteLength} bytes, over the ${max} byte limit`)
  }
  const digest = options.expectedDigest != null ? verifyDigest(bytes, options.expectedDigest) : computeDigest(bytes)
  let doc: unknown
  try {
    doc = parseJson(bytes)
  } catch (err) {
    throw new ManifestInvalidError(`The ${what} is not valid UTF-8 JSON: ${(err as Error).message}`)
  }
  if (!isObject(doc)) throw new ManifestInvalidError(`The ${what} must be a JSON object`)
  return { doc, digest }
}

/**
 * Parses and validates an image manifest or index: OCI image manifest, OCI
 * image index, Docker schema 2 manifest or Docker manifest list.
 *
 * The media type comes from the document's `mediaType`, else from
 * `options.mediaType`, else from its shape (OCI allows `mediaType` to be left
 * out). When both are given they must agree. Docker schema 1 and any other
 * type throw `UnsupportedMediaTypeError`.
 *
 * @throws ManifestTooLargeError, DigestMismatchError, DigestInvalidError, ManifestInvalidError, UnsupportedMediaTypeError
 */
export function parseManifest (bytes: Uint8Array, options: ParseOptions = {}): ParsedManifest {
  const given = options.mediaType != null ? normaliseMediaType(options.mediaType) : undefined
  if (given !== undefined && !MANIFEST_TYPES.has(given)) {
    throw new UnsupportedMediaTypeError(`Unsupported manifest media type ${given}`)
  }
  const { doc, digest } = readDocument(bytes, options, 'manifest')
  if (doc.schemaVersion !== 2) {
    if (doc.schemaVersion === 1) throw new UnsupportedMediaTypeError('Docker schema 1 manifests are not supported')
    throw new ManifestInvalidError('manifest.schemaVersion: must be 2')
  }
  const declared = optional(doc, 'mediaType', 'manifest', checkString)
  if (declared !== undefined && !MANIFEST_TYPES.has(declared)) {
    throw new UnsupportedMediaTypeError(`Unsupported manifest media type ${declared}${DOCKER_SCHEMA1.has(declared) ? ' (Docker schema 1)' : ''}`)
  }
  if (declared !== undefined && given !== undefined && declared !== given) {
    throw new ManifestInvalidError(`manifest.mediaType: is ${declared}, but the manifest was given as ${given}`)
  }
  let mediaType = declared ?? given
  if (mediaType === undefined) {
    if (doc.manifests !== undefined) mediaType = MEDIA_TYPE_OCI_INDEX
    else if (doc.config !== undefined) mediaType = MEDIA_TYPE_OCI_MANIFEST
    else throw new ManifestInvalidError('manifest: has no mediaType and neither "config" nor "manifests"')
  }
  if ((mediaType === MEDIA_TYPE_DOCKER_MANIFEST || mediaType === MEDIA_TYPE_DOCKER_MANIFEST_LIST) && declared === undefined) {
    throw new ManifestInvalidError(`manifest.mediaType: is required in a ${mediaType} document`)
  }
  if (mediaType === MEDIA_TYPE_OCI_INDEX || mediaType === MEDIA_TYPE_DOCKER_MANIFEST_LIST) {
    return { kind: 'index', mediaType, digest, size: bytes.byteLength, index: checkIndex(doc, mediaType) }
  }
  const manifestType = mediaType as ManifestMediaType
  return { kind: 'manifest', mediaType: manifestType, digest, size: bytes.byteLength, manifest: checkManifest(doc, manifestType) }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/

function checkTimestamp (value: unknown, path: string): string {
  const time = checkString(value, path)
  if (!RFC3339.test(time)) throw invalid(path, `${JSON.stringify(time)} is not an RFC 3339 date-time`)
  return time
}

function checkBoolean (value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw invalid(path, 'must be a boolean')
  return value
}

function checkContainerConfig (value: unknown, path: string): ContainerConfig {
  // Docker writes `null` for unset fields (e.g. "Cmd": null); treat it as absent
  const config = checkObject(value, path)
  optional(config, 'User', path, checkString, true)
  optional(config, 'ExposedPorts', path, checkObjectMap, true)
  optional(config, 'Env', path, checkStringArray, true)
  optional(config, 'Entrypoint', path, checkStringArray, true)
  optional(config, 'Cmd', path, checkStringArray, true)
  optional(config, 'Volumes', path, checkObjectMap, true)
  optional(config, 'WorkingDir', path, checkString, true)
  optional(config, 'Labels', path, checkStringMap, true)
  optional(config, 'StopSignal', path, checkString, true)
  optional(config, 'ArgsEscaped', path, checkBoolean, true)
  return config as ContainerConfig
}

function checkHistory (value: unknown, path: string): HistoryEntry[] {
  if (!Array.isArray(value)) throw invalid(path, 'must be an array')
  value.forEach((item, i) => {
    const p = `${path}[${i}]`
    const entry = checkObject(item, p)
    optional(entry, 'created', p, checkTimestamp)
    optional(entry, 'author', p, checkString)
    optional(entry, 'created_by', p, checkString)
    optional(entry, 'comment', p, checkString)
    optional(entry, 'empty_layer', p, checkBoolean)
  })
  return value as HistoryEntry[]
}

/**
 * Parses and validates an image config (OCI `application/vnd.oci.image.config.v1+json`
 * or Docker `application/vnd.docker.container.image.v1+json`). A config does not name
 * its own media type, so `options.mediaType` (the descriptor's) decides; it
 * defaults to the OCI type. Errors in the document are `ManifestInvalidError`.
 *
 * @throws ManifestTooLargeError, DigestMismatchError, DigestInvalidError, ManifestInvalidError, UnsupportedMediaTypeError
 */
export function parseImageConfig (bytes: Uint8Array, options: ParseOptions = {}): ParsedImageConfig {
  const mediaType = normaliseMediaType(options.mediaType ?? MEDIA_TYPE_OCI_CONFIG)
  if (!CONFIG_TYPES.has(mediaType)) {
    throw new UnsupportedMediaTypeError(`Unsupported image config media type ${mediaType}`)
  }
  const digestRules: DigestOptions = { allowSha512: mediaType === MEDIA_TYPE_OCI_CONFIG }
  const { doc, digest } = readDocument(bytes, options, 'image config')
  const path = 'config'
  optional(doc, 'created', path, checkTimestamp)
  optional(doc, 'author', path, checkString)
  checkString(doc.architecture, `${path}.architecture`, true)
  checkString(doc.os, `${path}.os`, true)
  optional(doc, 'os.version', path, checkString)
  optional(doc, 'os.features', path, checkStringArray)
  optional(doc, 'variant', path, checkString)
  optional(doc, 'config', path, checkContainerConfig, true)
  const rootfs = checkObject(doc.rootfs, `${path}.rootfs`)
  if (rootfs.type !== 'layers') throw invalid(`${path}.rootfs.type`, 'must be "layers"')
  if (!Array.isArray(rootfs.diff_ids)) throw invalid(`${path}.rootfs.diff_ids`, 'must be an array')
  rootfs.diff_ids.forEach((id, i) => checkDigestField(id, `${path}.rootfs.diff_ids[${i}]`, digestRules))
  optional(doc, 'history', path, checkHistory, true)
  return { mediaType: mediaType as ConfigMediaType, digest, size: bytes.byteLength, config: doc as unknown as ImageConfig }
}

/**
 * Checks that a manifest and its config agree: the config descriptor names a
 * config media type, and there is one layer per `rootfs.diff_ids` entry (in
 * order: layer i, uncompressed, has diff id i). Throws `ManifestInvalidError`.
 */
export function checkManifestConfig (manifest: ImageManifest, config: ImageConfig): void {
  if (!CONFIG_TYPES.has(manifest.config.mediaType)) {
    throw new ManifestInvalidError(`manifest.config.mediaType: ${manifest.config.mediaType} is not an image config`)
  }
  if (manifest.layers.length !== config.rootfs.diff_ids.length) {
    throw new ManifestInvalidError(`manifest has ${manifest.layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff ids`)
  }
}
