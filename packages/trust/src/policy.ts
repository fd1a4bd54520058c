/**
 * The trust policy: which keys must sign which objects of an image, and which
 * attestations it must carry, per repository. See README.md for the format.
 *
 * `parsePolicy` validates a policy.json against `POLICY_SCHEMA` (ajv) and then
 * checks what a schema cannot (UserIds decode, thresholds fit); every error
 * names the field. Checking an image against a policy is verify-image.ts.
 */

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { InvalidParametersError, parseJson } from '@provenir/interface'
import { checkUpstreamRules, type UpstreamRule } from './cosign.js'
import { MAX_COSIGN_KEYS, MAX_GLOB_LENGTH, MAX_UPSTREAM_RULES, MAX_POLICY_BYTES, MAX_POLICY_REFERENCE_LENGTH, MAX_POLICY_RULES, MAX_POLICY_SIGNERS } from './constants.js'
import { PolicyInvalidError } from './errors.js'
import { globMatches } from './glob.js'
import { publicKeyFromUserId, type UserId } from './keys.js'

/** What a rule does with a failing image: refuse it, let it through with warnings, or not check. */
export type PolicyMode = 'enforce' | 'audit' | 'off'

/** Which layers an entry of `layers` covers, counted from the base (0) up. */
export type LayerSelector =
  /** every layer */
  | 'all'
  /** every layer no other entry of the same rule covers */
  | 'rest'
  /** the lowest N layers: `base:2` */
  | `base:${number}`
  /** the highest N layers: `top:1` */
  | `top:${number}`
  /** layer indexes; negative ones count from the top (-1 is the top layer) */
  | number[]

/** Keys of which at least `threshold` must have signed. */
export interface SignerRequirement {
  signers: UserId[]
  /**
   * How many of `signers` must have signed.
   *
   * @default all of them for `manifest`, 1 for a `layers` entry
   */
  threshold?: number
}

export interface LayerRequirement extends SignerRequirement {
  layers: LayerSelector
}

export interface AttestationRequirement {
  /** e.g. `https://slsa.dev/provenance/v1` */
  predicateType: string
  /**
   * UserIds allowed to sign the attestation. For SLSA provenance the
   * predicate's `runDetails.builder.id` must also be the signer's UserId.
   */
  builders: UserId[]
}

export interface PolicyRule {
  /** repository globs (`namespace/repo`): `*` and `?` stay within a path segment, `**` crosses them */
  match: string | string[]
  /** @default 'enforce' */
  mode?: PolicyMode
  /** signers required on the manifest (image signatures naming the manifest digest) */
  manifest?: SignerRequirement
  /** signers allowed per layer (layer signatures naming the layer digest); when present, every layer must be covered */
  layers?: LayerRequirement[]
  /** attestations required on the manifest */
  attestations?: AttestationRequirement[]
}

export interface TrustPolicy {
  version: 1
  /**
   * The mode for repositories no rule matches: under `enforce` they fail.
   *
   * @default 'enforce'
   */
  default?: PolicyMode
  rules: PolicyRule[]
  /**
   * Rules for images fetched from upstream registries, over
   * `<host>/<repository>`: verified bytes by default, or cosign signatures
   * by given keys (`cosign.ts`)
   */
  upstream?: UpstreamRule[]
}

export interface ParsePolicyOptions {
  /** the file name errors start with @default 'policy.json' */
  source?: string
}

const USER_ID = { type: 'string', pattern: '^k51qzi5uqu5[0-9a-z]{51,52}$', description: 'a UserId (k51qzi5uqu5...)' }
const MODE = { enum: ['enforce', 'audit', 'off'] }
const SIGNERS = { type: 'array', items: USER_ID, minItems: 1, maxItems: MAX_POLICY_SIGNERS, uniqueItems: true }
const THRESHOLD = { type: 'integer', minimum: 1, maximum: MAX_POLICY_SIGNERS }
const GLOB = { type: 'string', minLength: 1, maxLength: MAX_GLOB_LENGTH, pattern: '^[A-Za-z0-9._*?/:-]+$', description: 'a repository glob of A-Z, a-z, 0-9, . _ - / : * ?' }
const PEM_KEY = { type: 'string', minLength: 1, maxLength: 16384, pattern: '-----BEGIN PUBLIC KEY-----', description: 'a PEM public key (-----BEGIN PUBLIC KEY-----)' }

/** The JSON schema (draft-07) of policy.json. */
export const POLICY_SCHEMA = {
  $id: 'https://provenir.dev/schemas/policy/v1.json',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'rules'],
  properties: {
    $schema: { type: 'string' },
    version: { const: 1 },
    default: MODE,
    upstream: {
      type: 'array',
      maxItems: MAX_UPSTREAM_RULES,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['match'],
        properties: {
          match: { ...GLOB, type: ['string', 'array'], items: GLOB, minItems: 1, maxItems: 64 },
          mode: MODE,
          cosign: {
            type: 'object',
            additionalProperties: false,
            required: ['keys'],
            properties: {
              keys: { type: 'array', items: PEM_KEY, minItems: 1, maxItems: MAX_COSIGN_KEYS },
              threshold: { type: 'integer', minimum: 1, maximum: MAX_COSIGN_KEYS }
            }
          }
        }
      }
    },
    rules: {
      type: 'array',
      maxItems: MAX_POLICY_RULES,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['match'],
        properties: {
          match: { ...GLOB, type: ['string', 'array'], items: GLOB, minItems: 1, maxItems: 64 },
          mode: MODE,
          manifest: {
            type: 'object',
            additionalProperties: false,
            required: ['signers'],
            properties: { signers: SIGNERS, threshold: THRESHOLD }
          },
          layers: {
            type: 'array',
            minItems: 1,
            maxItems: 256,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['layers', 'signers'],
              properties: {
                layers: {
                  type: ['string', 'array'],
                  pattern: '^(all|rest|(base|top):[1-9][0-9]{0,3})$',
                  description: 'all, rest, base:N, top:N or an array of layer indexes',
                  items: { type: 'integer', minimum: -4096, maximum: 4095 },
                  minItems: 1,
                  maxItems: 4096,
                  uniqueItems: true
                },
                signers: SIGNERS,
                threshold: THRESHOLD
              }
            }
          },
          attestations: {
            type: 'array',
            maxItems: 64,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['predicateType', 'builders'],
              properties: {
                predicateType: { type: 'string', minLength: 1, maxLength: 1024, format: 'uri-ish', description: 'a predicate type URI' },
                builders: SIGNERS
              }
            }
          }
        }
      }
    }
  }
} as const

let validator: ValidateFunction | undefined

function validate (): ValidateFunction {
  if (validator == null) {
    const ajv = new Ajv({ allErrors: false, verbose: true, strict: true, allowUnionTypes: true })
    ajv.addFormat('uri-ish', (value: string) => URL.canParse(value))
    validator = ajv.compile(POLICY_SCHEMA)
  }
  return validator
}

function describeError (source: string, err: ErrorObject): string {
  const path = err.instancePath === '' ? '/' : err.instancePath
  const params = err.params as Record<string, unknown>
  const description = (err.parentSchema as { description?: string } | undefined)?.description
  switch (err.keyword) {
    case 'required':
      return `${source}: ${path} must have the field "${String(params.missingProperty)}"`
    case 'additionalProperties':
      return `${source}: ${err.instancePath}/${String(params.additionalProperty)} is not a known field`
    case 'enum':
      return `${source}: ${path} must be one of ${(params.allowedValues as unknown[]).join(', ')}`
    case 'const':
      return `${source}: ${path} must be ${JSON.stringify(params.allowedValue)}`
    case 'type':
      return `${source}: ${path} must be ${String(params.type).split(',').map(t => t === 'integer' ? 'an integer' : t === 'array' || t === 'object' ? `an ${t}` : `a ${t}`).join(' or ')}`
    case 'pattern':
    case 'format':
      return `${source}: ${path} must be ${description ?? err.message ?? 'valid'}`
    default:
      return `${source}: ${path} ${err.message ?? 'is invalid'}`
  }
}

/**
 * Parses and validates a trust policy (policy.json text, bytes or an object).
 *
 * @throws PolicyInvalidError naming the bad field, e.g. `policy.json: /rules/0/mode must be one of enforce, audit, off`
 */
export function parsePolicy (input: string | Uint8Array | unknown, options: ParsePolicyOptions = {}): TrustPolicy {
  const source = options.source ?? 'policy.json'
  let doc = input
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength
    if (size > MAX_POLICY_BYTES) throw new PolicyInvalidError(`${source}: is ${size} bytes, over the ${MAX_POLICY_BYTES} byte limit`)
    try {
      doc = parseJson(input)
    } catch (err: unknown) {
      throw new PolicyInvalidError(`${source}: not valid JSON: ${(err as Error).message}`, { cause: err })
    }
  }
  const check = validate()
  if (!check(doc)) {
    throw new PolicyInvalidError(describeError(source, (check.errors ?? [])[0]))
  }
  const policy = structuredClone(doc) as TrustPolicy
  const signers = (list: UserId[], path: string): void => {
    list.forEach((id, i) => {
      try {
        publicKeyFromUserId(id)
      } catch (err: unknown) {
        throw new PolicyInvalidError(`${source}: ${path}/${i} is not a valid UserId: ${(err as Error).message}`, { cause: err })
      }
    })
  }
  const threshold = (req: SignerRequirement, path: string): void => {
    signers(req.signers, `${path}/signers`)
    if (req.threshold != null && req.threshold > req.signers.length) {
      throw new PolicyInvalidError(`${source}: ${path}/threshold must be at most the number of signers (${req.signers.length})`)
    }
  }
  policy.rules.forEach((rule, r) => {
    const path = `/rules/${r}`
    if (rule.manifest != null) threshold(rule.manifest, `${path}/manifest`)
    const rest = (rule.layers ?? []).filter(l => l.layers === 'rest').length
    if (rest > 1) throw new PolicyInvalidError(`${source}: ${path}/layers may have at most one entry with layers "rest"`)
    rule.layers?.forEach((entry, e) => { threshold(entry, `${path}/layers/${e}`) })
    rule.attestations?.forEach((entry, a) => { signers(entry.builders, `${path}/attestations/${a}/builders`) })
  })
  checkUpstreamRules(policy.upstream ?? [], source)
  return policy
}

// ---- matching ----

/** True when the repository glob `glob` matches `repository` (linear time, `glob.ts`). */
export function matchGlob (glob: string, repository: string): boolean {
  if (glob.length > MAX_GLOB_LENGTH) throw new InvalidParametersError(`a repository glob is at most ${MAX_GLOB_LENGTH} characters`)
  if (repository.length > MAX_POLICY_REFERENCE_LENGTH) throw new InvalidParametersError(`a repository matched against a policy is at most ${MAX_POLICY_REFERENCE_LENGTH} characters`)
  return globMatches(glob, repository)
}

/**
 * The `namespace/repo` of a reference `[registry/]namespace/repo[:tag|@digest]`.
 *
 * @throws InvalidParametersError for an empty reference
 */
export function repositoryOf (reference: string): string {
  if (reference.length > MAX_POLICY_REFERENCE_LENGTH) throw new InvalidParametersError(`an image reference checked against a policy is at most ${MAX_POLICY_REFERENCE_LENGTH} characters, got ${reference.length}`)
  let name = reference.trim()
  const at = name.indexOf('@')
  if (at >= 0) name = name.slice(0, at)
  const parts = name.split('/')
  const last = parts[parts.length - 1]
  const colon = last.indexOf(':')
  if (colon >= 0) parts[parts.length - 1] = last.slice(0, colon)
  const repo = (parts.length >= 3 ? parts.slice(1) : parts).join('/')
  if (repo === '' || parts.some(p => p === '')) throw new InvalidParametersError(`invalid image reference ${JSON.stringify(reference)}`)
  return repo
}

/** The first rule whose `match` matches the reference's repository, with its index; undefined when none does. */
export function findRule (policy: TrustPolicy, reference: string): { rule: PolicyRule, index: number } | undefined {
  const repository = repositoryOf(reference)
  const index = policy.rules.findIndex(rule => (Array.isArray(rule.match) ? rule.match : [rule.match]).some(g => matchGlob(g, repository)))
  return index < 0 ? undefined : { rule: policy.rules[index], index }
}
