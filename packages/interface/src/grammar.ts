/**
 * The OCI digest, tag and platform grammars. They live here, beside the
 * error classes, so that any package (and the CLI, before it loads anything
 * heavy) can check a digest, a tag or a platform cheaply.
 */

import { DigestInvalidError, InvalidParametersError } from './errors.js'

/** An OCI digest string, `algorithm:encoded`. */
export type Digest = `${string}:${string}`

export type DigestAlgorithm = 'sha256' | 'sha512'

export interface DigestParts {
  algorithm: DigestAlgorithm
  /** lowercase hex */
  encoded: string
}

export interface DigestOptions {
  /**
   * Accept `sha512:` as well as `sha256:`. The OCI specs register both; Docker
   * schema 2 documents and Docker image ids use sha256 only.
   *
   * @default true
   */
  allowSha512?: boolean
}

const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/

/**
 * Longest digest string looked at: `sha512:` and 128 hex characters, with
 * room to spare for a name of another algorithm. Longer text is refused
 * before any regular expression (or error message) reads it all.
 */
export const MAX_DIGEST_LENGTH = 256

/** A value as it appears in an error message: quoted, and cut when long */
function show (value: unknown): string {
  if (typeof value !== 'string') return String(JSON.stringify(value) ?? value).slice(0, 100)
  return value.length <= 100 ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, 100))}... (${value.length} characters)`
}
const ENCODED: Record<DigestAlgorithm, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/
}

/**
 * Splits and checks a digest: `sha256:` with 64 lowercase hex characters, or
 * (when allowed) `sha512:` with 128. Any other algorithm, case or length
 * throws `DigestInvalidError`.
 */
export function parseDigest (digest: unknown, options: DigestOptions = {}): DigestParts {
  if (typeof digest !== 'string' || digest.length > MAX_DIGEST_LENGTH || !DIGEST_GRAMMAR.test(digest)) {
    throw new DigestInvalidError(`Invalid digest ${show(digest)}`)
  }
  const colon = digest.indexOf(':')
  const algorithm = digest.slice(0, colon)
  const encoded = digest.slice(colon + 1)
  if (algorithm !== 'sha256' && (algorithm !== 'sha512' || options.allowSha512 === false)) {
    throw new DigestInvalidError(`Unsupported digest algorithm "${algorithm}" in ${digest}`)
  }
  if (!ENCODED[algorithm].test(encoded)) {
    throw new DigestInvalidError(`Invalid ${algorithm} digest ${digest}: expected ${algorithm === 'sha256' ? 64 : 128} lowercase hex characters`)
  }
  return { algorithm, encoded }
}

/** True when `digest` passes `parseDigest`. */
export function isDigest (digest: unknown, options?: DigestOptions): digest is Digest {
  try {
    parseDigest(digest, options)
    return true
  } catch {
    return false
  }
}

/** Longest tag (OCI distribution: 128) */
export const MAX_TAG_LENGTH = 128

/** OCI distribution tag grammar */
const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/

/** True for an OCI distribution tag: `[A-Za-z0-9_][A-Za-z0-9._-]`, at most 128 characters */
export function isTag (tag: unknown): tag is string {
  return typeof tag === 'string' && tag.length <= MAX_TAG_LENGTH && TAG_PATTERN.test(tag)
}

/** Longest platform string accepted */
const MAX_PLATFORM_LENGTH = 128

const PART = /^[a-z0-9][a-z0-9._-]*$/

/** A platform to choose by: os and architecture, and a variant when it matters (arm's v6, v7, v8) */
export interface PlatformSpec {
  os: string
  architecture: string
  variant?: string
}

/**
 * Parses `os/architecture[/variant]` (e.g. `linux/amd64`, `linux/arm/v7`),
 * lowercase as in image indexes.
 *
 * @throws InvalidParametersError for anything else
 */
export function parsePlatform (value: string): PlatformSpec {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_PLATFORM_LENGTH) {
    throw new InvalidParametersError(`a platform is os/architecture[/variant], e.g. linux/amd64, not ${JSON.stringify(String(value).slice(0, MAX_PLATFORM_LENGTH))}`)
  }
  const parts = value.split('/')
  if (parts.length < 2 || parts.length > 3 || !parts.every(p => PART.test(p))) {
    throw new InvalidParametersError(`a platform is os/architecture[/variant], e.g. linux/amd64, not ${JSON.stringify(value)}`)
  }
  return { os: parts[0], architecture: parts[1], ...(parts[2] != null ? { variant: parts[2] } : {}) }
}

/** `os/architecture[/variant]` */
export function formatPlatform (platform: PlatformSpec): string {
  return [platform.os, platform.architecture, ...(platform.variant != null ? [platform.variant] : [])].join('/')
}

/** Node.js's `process.arch` in the names image indexes use (GOARCH) */
const ARCHITECTURES: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle'
}

/** The platform this process runs on, as an image index names it (`linux/amd64` on x86-64 Linux) */
export function hostPlatform (): PlatformSpec {
  return { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: ARCHITECTURES[process.arch] ?? process.arch }
}
