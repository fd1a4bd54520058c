/**
 * The OCI digest and tag grammars. They live here, beside the error classes,
 * so that any package (and the CLI, before it loads anything heavy) can check
 * a digest or a tag cheaply.
 */

import { DigestInvalidError } from './errors.js'

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
  if (typeof digest !== 'string' || !DIGEST_GRAMMAR.test(digest)) {
    throw new DigestInvalidError(`Invalid digest ${JSON.stringify(digest)}`)
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
