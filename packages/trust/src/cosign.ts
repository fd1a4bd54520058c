/**
 * Cosign signatures of images from upstream registries, and the policy
 * rules that require them.
 *
 * A cosign signature is a simple-signing payload (containers/image's
 * format, cosign's `type`):
 *
 * ```json
 * { "critical": { "identity": { "docker-reference": "quay.io/org/app" },
 *                 "image": { "docker-manifest-digest": "sha256:..." },
 *                 "type": "cosign container image signature" },
 *   "optional": null }
 * ```
 *
 * signed as it is (the bytes of the layer), with an ECDSA (P-256, P-384,
 * P-521), Ed25519 or RSA key; cosign puts the base64 signature in the
 * layer's `dev.cosignproject.cosign/signature` annotation. Finding them on a
 * registry is `@provenir/registry-client`'s part; this module checks them
 * against the keys a rule names, before anything is served or provided.
 *
 * A policy's `upstream` rules match `<host>/<repository>` (first match
 * wins): without `cosign` a rule accepts verified bytes, which is also what
 * happens when no rule matches; with it, at least `threshold` of the keys
 * must have signed the manifest digest.
 */

import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { InvalidParametersError, isDigest } from '@provenir/interface'
import { MAX_COSIGN_PAYLOAD_BYTES, MAX_COSIGN_SIGNATURES_CHECKED } from './constants.js'
import { PolicyInvalidError } from './errors.js'
import { signKeyFor } from './keys.js'
import { matchGlob, type PolicyMode, type TrustPolicy } from './policy.js'
import type { VerificationReport } from './verify-image.js'
import type { PrivateKey } from '@libp2p/interface'

/** The `critical.type` of a cosign signature payload */
export const COSIGN_PAYLOAD_TYPE = 'cosign container image signature'

/** A cosign signature as found on a registry */
export interface CosignSignature {
  /** The simple-signing payload's bytes, as signed */
  payload: Uint8Array
  /** The signature, base64 (the `dev.cosignproject.cosign/signature` annotation) */
  signature: string
  /** Where it was found (`tag`, `referrers`), for the report */
  from?: string
}

/**
 * Signs a manifest digest in cosign's format with a namespace key
 * (Ed25519): the simple-signing payload naming `reference` and the digest,
 * and its signature, as `cosign sign --key` stores them. The key's PEM
 * (`publicKeyToPem`) is what an upstream rule lists.
 */
export function createCosignSignature (manifestDigest: string, reference: string, key: PrivateKey): { payload: Uint8Array, signature: string } {
  if (!isDigest(manifestDigest)) throw new InvalidParametersError(`${JSON.stringify(manifestDigest)} is not a digest`)
  const payload = new TextEncoder().encode(JSON.stringify({
    critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': manifestDigest }, type: COSIGN_PAYLOAD_TYPE },
    optional: null
  }))
  return { payload, signature: sign(null, payload, signKeyFor(key)).toString('base64') }
}

/** A rule for images from upstream registries */
export interface UpstreamRule {
  /** Globs over `<host>/<repository>` (`docker.io/library/*`, `quay.io/org/**`, `127.0.0.1:5590/**`) */
  match: string | string[]
  /** @default 'enforce' */
  mode?: PolicyMode
  /** Require cosign signatures by these keys */
  cosign?: CosignRequirement
}

export interface CosignRequirement {
  /** PEM public keys (SubjectPublicKeyInfo), as `cosign generate-key-pair` writes `cosign.pub` */
  keys: string[]
  /** How many of the keys must have signed. @default 1 */
  threshold?: number
}

/** A public key a rule trusts, ready to verify, with the name reports give it */
interface TrustedKey {
  object: KeyObject
  /** `key 0 (sha256:1a2b3c4d...)`: the rule's index and the SPKI fingerprint */
  label: string
}

const keyCache = new Map<string, TrustedKey>()

/**
 * Reads a PEM public key for cosign verification.
 *
 * @throws PolicyInvalidError when it is not a PEM public key of a kind cosign signs with
 */
export function cosignKey (pem: string, index = 0): TrustedKey {
  const cached = keyCache.get(`${index}\n${pem}`)
  if (cached != null) return cached
  let object: KeyObject
  try {
    object = createPublicKey({ key: pem, format: 'pem' })
  } catch (err: unknown) {
    throw new PolicyInvalidError(`cosign key ${index} is not a PEM public key: ${(err as Error).message}`, { cause: err })
  }
  if (!['ec', 'ed25519', 'rsa'].includes(object.asymmetricKeyType ?? '')) {
    throw new PolicyInvalidError(`cosign key ${index} is a ${String(object.asymmetricKeyType)} key; cosign signs with ECDSA, Ed25519 or RSA`)
  }
  const fingerprint = createHash('sha256').update(object.export({ type: 'spki', format: 'der' })).digest('hex')
  const key = { object, label: `key ${index} (sha256:${fingerprint.slice(0, 16)})` }
  if (keyCache.size >= 256) keyCache.delete(keyCache.keys().next().value as string)
  keyCache.set(`${index}\n${pem}`, key)
  return key
}

/** The hash cosign signs with for a key: SHA-256, or the curve's for P-384 and P-521; none for Ed25519 */
function hashFor (key: KeyObject): string | null {
  if (key.asymmetricKeyType === 'ed25519') return null
  const curve = key.asymmetricKeyDetails?.namedCurve
  if (curve === 'secp384r1') return 'sha384'
  if (curve === 'secp521r1') return 'sha512'
  return 'sha256'
}

/**
 * Checks one signature's payload: a cosign simple-signing document naming
 * `manifestDigest`.
 *
 * @returns why it does not, or undefined when it does
 */
function payloadProblem (payload: Uint8Array, manifestDigest: string): string | undefined {
  if (payload.byteLength > MAX_COSIGN_PAYLOAD_BYTES) return `the payload is ${payload.byteLength} bytes; at most ${MAX_COSIGN_PAYLOAD_BYTES}`
  let doc: { critical?: { type?: unknown, image?: { 'docker-manifest-digest'?: unknown } } }
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload))
  } catch {
    return 'the payload is not JSON'
  }
  const type = doc?.critical?.type
  if (typeof type !== 'string' || type.toLowerCase() !== COSIGN_PAYLOAD_TYPE) return `the payload's type is ${JSON.stringify(type)}, not "${COSIGN_PAYLOAD_TYPE}"`
  const digest = doc.critical?.image?.['docker-manifest-digest']
  if (digest !== manifestDigest) return `the payload signs ${JSON.stringify(digest)}, not ${manifestDigest}`
  return undefined
}

export interface CosignResult {
  /** Labels of the trusted keys that signed the digest */
  signers: string[]
  /** Why each signature that counted for nothing did not count */
  rejected: string[]
}

/**
 * Which of `keys` signed `manifestDigest`, over every signature given (at
 * most MAX_COSIGN_SIGNATURES_CHECKED). A signature counts for a key when it
 * verifies over the payload's bytes and the payload names the digest.
 */
export function verifyCosignSignatures (manifestDigest: string, signatures: CosignSignature[], keys: string[]): CosignResult {
  if (signatures.length > MAX_COSIGN_SIGNATURES_CHECKED) throw new InvalidParametersError(`${signatures.length} cosign signatures given; at most ${MAX_COSIGN_SIGNATURES_CHECKED} are checked`)
  const trusted = keys.map((pem, i) => cosignKey(pem, i))
  const signers = new Set<string>()
  const rejected: string[] = []
  signatures.forEach((s, i) => {
    const where = `signature ${i}${s.from != null ? ` (${s.from})` : ''}`
    const problem = payloadProblem(s.payload, manifestDigest)
    if (problem != null) {
      rejected.push(`${where}: ${problem}`)
      return
    }
    const bytes = Buffer.from(s.signature, 'base64')
    const by = trusted.filter(k => {
      try {
        return verify(hashFor(k.object), s.payload, k.object, bytes)
      } catch {
        return false
      }
    })
    if (by.length === 0) rejected.push(`${where}: verifies with none of the rule's keys`)
    by.forEach(k => signers.add(k.label))
  })
  return { signers: [...signers], rejected }
}

/** The first upstream rule whose `match` matches `<host>/<repository>`, with its index */
export function findUpstreamRule (policy: TrustPolicy, name: string): { rule: UpstreamRule, index: number } | undefined {
  const rules = policy.upstream ?? []
  const index = rules.findIndex(rule => (Array.isArray(rule.match) ? rule.match : [rule.match]).some(g => matchGlob(g, name)))
  return index < 0 ? undefined : { rule: rules[index], index }
}

/** True when an upstream image under `name` needs its signatures fetched before it is served */
export function upstreamNeedsSignatures (policy: TrustPolicy | undefined, name: string): boolean {
  if (policy == null) return false
  const found = findUpstreamRule(policy, name)
  return found?.rule.cosign != null && (found.rule.mode ?? 'enforce') !== 'off'
}

export interface CheckUpstreamImageOptions {
  policy: TrustPolicy
  /** `<host>/<repository>`: what the rules match */
  name: string
  manifestDigest: string
  /** Fetches the image's cosign signatures; called only when a rule needs them */
  signatures: () => Promise<CosignSignature[]>
}

/**
 * Checks an image from an upstream registry against the policy's upstream
 * rules. Bytes verified against their digests are all an image needs unless
 * a rule asks for cosign signatures. The report has the shape of
 * `verifyImage`'s, so `assertPolicy` and `formatReport` take it.
 */
export async function checkUpstreamImage (options: CheckUpstreamImageOptions): Promise<VerificationReport> {
  const { policy, name, manifestDigest } = options
  const found = findUpstreamRule(policy, name)
  const mode: PolicyMode = found?.rule.mode ?? 'enforce'
  const ruleName = found == null ? 'upstream default' : `upstream[${found.index}]`
  const report: VerificationReport = {
    reference: `${name}@${manifestDigest}`, repository: name, manifestDigest, mode: found == null ? 'enforce' : mode,
    ruleIndex: found?.index ?? -1, passed: true, allowed: true, statements: [], checks: [], warnings: []
  }
  const object = `manifest ${manifestDigest}`
  if (found?.rule.cosign == null || mode === 'off') {
    const reason = mode === 'off' ? 'the rule\'s mode is off: nothing is checked' : 'verified bytes are accepted from this upstream (no signature required)'
    report.checks.push({ object, kind: 'manifest', digest: manifestDigest, rule: ruleName, result: mode === 'off' ? 'skip' : 'pass', reason })
    return report
  }
  const { keys, threshold = 1 } = found.rule.cosign
  const { signers, rejected } = verifyCosignSignatures(manifestDigest, await options.signatures(), keys)
  const passed = signers.length >= threshold
  report.checks.push({
    object,
    kind: 'manifest',
    digest: manifestDigest,
    rule: `${ruleName}.cosign`,
    result: passed ? 'pass' : 'fail',
    reason: passed
      ? `cosign signatures by ${signers.join(', ')} (${signers.length} of ${threshold} required)`
      : `needs cosign signatures by ${threshold} of the rule's ${keys.length} key${keys.length === 1 ? '' : 's'}; ${signers.length === 0 ? 'none verified' : `only ${signers.join(', ')}`}${rejected.length > 0 ? ` (${rejected.join('; ')})` : ''}`,
    signers
  })
  report.passed = passed
  report.allowed = passed || mode !== 'enforce'
  if (!passed && mode === 'audit') report.warnings.push(`audit: ${object} of ${name} breaks ${ruleName}.cosign`)
  return report
}

/** Checks every key of every upstream rule at parse time (a bad key is a bad policy) */
export function checkUpstreamRules (rules: UpstreamRule[], source: string): void {
  rules.forEach((rule, r) => {
    const cosign = rule.cosign
    if (cosign == null) return
    cosign.keys.forEach((pem, k) => {
      try {
        cosignKey(pem, k)
      } catch (err: unknown) {
        throw new PolicyInvalidError(`${source}: /upstream/${r}/cosign/keys/${k}: ${(err as Error).message}`, { cause: err })
      }
    })
    if (cosign.threshold != null && cosign.threshold > cosign.keys.length) {
      throw new PolicyInvalidError(`${source}: /upstream/${r}/cosign/threshold must be at most the number of keys (${cosign.keys.length})`)
    }
  })
}
