/**
 * The trust policy: which keys must sign which objects of an image, and which
 * attestations it must carry, per repository. See README.md for the format.
 *
 * `parsePolicy` validates a policy.json against `POLICY_SCHEMA` (ajv) and then
 * checks what a schema cannot (UserIds decode, thresholds fit); every error
 * names the field. `verifyImage` verifies the image's statements and checks
 * them against the first rule that matches the image's repository, returning a
 * report of every object and rule; `assertPolicy` turns a failing report
 * under `enforce` into a `PolicyViolationError`.
 */

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { parseManifest, type ImageManifest } from '@provenir/content'
import { InvalidParametersError, parseJson } from '@provenir/interface'
import { checkUpstreamRules, type UpstreamRule } from './cosign.js'
import { MAX_COSIGN_KEYS, MAX_GLOB_LENGTH, MAX_UPSTREAM_RULES, MAX_POLICY_BYTES, MAX_POLICY_REFERENCE_LENGTH, MAX_POLICY_RULES, MAX_POLICY_SIGNERS, MAX_STATEMENTS, PREDICATE_TYPE_IMAGE_SIGNATURE, PREDICATE_TYPE_LAYER_SIGNATURE, PREDICATE_TYPE_SLSA_PROVENANCE_V1 } from './constants.js'
import { PolicyInvalidError, PolicyViolationError } from './errors.js'
import { globMatches } from './glob.js'
import { publicKeyFromUserId, type UserId } from './keys.js'
import { statementNames, verifyStatement, type Statement } from './statement.js'
import { parseEnvelope, type Envelope } from './dsse.js'

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

export type CheckResult = 'pass' | 'fail' | 'skip'

/** One object checked against one rule. */
export interface ObjectCheck {
  /** `manifest sha256:...`, `layer 2 sha256:...` or `image` */
  object: string
  kind: 'image' | 'manifest' | 'layer'
  digest?: string
  /** `rules[0].manifest`, `rules[0].layers[1]`, `rules[0].attestations[0]`, `default` */
  rule: string
  result: CheckResult
  /** why, in words */
  reason: string
  /** the trusted signers that satisfied the rule */
  signers?: UserId[]
  /** signers whose signatures on this object verified but whom this rule does not trust */
  untrusted?: UserId[]
}

/** What became of one statement given to `verifyImage`. */
export interface StatementSummary {
  index: number
  /** signatures verified and the payload is a statement */
  valid: boolean
  signers: UserId[]
  predicateType?: string
  /** subject digests, `sha256:...` */
  subjects?: string[]
  /** why it was rejected */
  error?: { name: string, message: string }
}

export interface VerificationReport {
  reference: string
  repository: string
  manifestDigest: string
  mode: PolicyMode
  /** index of the rule that matched, or -1 for the default */
  ruleIndex: number
  /** true when every check passed */
  passed: boolean
  /** true when the image may be used: it passed, or the mode is audit or off */
  allowed: boolean
  statements: StatementSummary[]
  checks: ObjectCheck[]
  /** failures under audit, and statements that were rejected */
  warnings: string[]
}

export interface VerifyImageOptions {
  /** the manifest as parsed, or its bytes (then checked against `manifestDigest`) */
  manifest: ImageManifest | Uint8Array
  manifestDigest: string
  /**
   * every statement fetched with the image: signatures, layer signatures,
   * attestations; as envelopes, or as the JSON bytes of their blocks (parsed
   * here, within MAX_ENVELOPE_BYTES)
   */
  statements: Array<Envelope | Uint8Array | unknown>
  policy: TrustPolicy
  /** `[registry/]namespace/repo[:tag|@digest]`; the rule is chosen by its `namespace/repo` */
  reference: string
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

// ---- verification ----

interface Accepted {
  index: number
  statement: Statement
  signers: UserId[]
}

function subjectDigests (statement: Statement): string[] {
  return statement.subject.flatMap(s => Object.entries(s.digest).map(([a, h]) => `${a}:${h}`))
}

function short (id: string): string {
  return id.length > 20 ? `${id.slice(0, 16)}…${id.slice(-4)}` : id
}

function list (ids: Iterable<string>): string {
  const all = [...ids]
  return all.length === 0 ? 'nobody' : all.map(short).join(', ')
}

function resolveLayers (selector: LayerSelector, count: number, taken: Set<number>): { indexes: number[] } | { error: string } {
  if (selector === 'all') return { indexes: [...Array(count).keys()] }
  if (selector === 'rest') return { indexes: [...Array(count).keys()].filter(i => !taken.has(i)) }
  if (Array.isArray(selector)) {
    const indexes: number[] = []
    for (const i of selector) {
      const index = i < 0 ? count + i : i
      if (index < 0 || index >= count) return { error: `layer index ${i} is out of range: the image has ${count} layers` }
      indexes.push(index)
    }
    return { indexes }
  }
  const [side, n] = selector.split(':')
  const wanted = Number(n)
  if (wanted > count) return { error: `${selector} asks for ${wanted} layers but the image has ${count}` }
  const indexes = [...Array(wanted).keys()]
  return { indexes: side === 'base' ? indexes : indexes.map(i => count - wanted + i) }
}

/**
 * Verifies an image's statements and checks the image against the policy
 * rule for its repository. Statements that fail verification are rejected
 * (listed, with why, and in `warnings`) and count for nothing; they do not by
 * themselves fail the image, since anyone can add junk to what a swarm
 * serves. Only layer signatures count for layers, only image signatures for
 * the manifest.
 *
 * @throws InvalidParametersError for more than MAX_STATEMENTS statements, or a bad reference
 */
export async function verifyImage (options: VerifyImageOptions): Promise<VerificationReport> {
  const { manifestDigest, policy, reference } = options
  if (options.statements.length > MAX_STATEMENTS) {
    throw new InvalidParametersError(`${options.statements.length} statements given; at most ${MAX_STATEMENTS} are checked for one image`)
  }
  const manifest = options.manifest instanceof Uint8Array
    ? manifestOf(options.manifest, manifestDigest)
    : options.manifest
  if (!Array.isArray(manifest?.layers)) {
    throw new InvalidParametersError('manifest must be an image manifest with a layers array (verify each platform manifest of an index)')
  }
  const repository = repositoryOf(reference)
  const found = findRule(policy, reference)
  const mode: PolicyMode = found == null ? (policy.default ?? 'enforce') : (found.rule.mode ?? 'enforce')
  const report: VerificationReport = {
    reference,
    repository,
    manifestDigest,
    mode,
    ruleIndex: found?.index ?? -1,
    passed: true,
    allowed: true,
    statements: [],
    checks: [],
    warnings: []
  }
  const manifestObject = `manifest ${manifestDigest}`

  if (mode === 'off') {
    report.checks.push({ object: 'image', kind: 'image', rule: found == null ? 'default' : `rules[${found.index}].mode`, result: 'skip', reason: 'the policy mode is off: nothing is checked' })
    return report
  }
  if (found == null) {
    report.checks.push({ object: 'image', kind: 'image', rule: 'default', result: 'fail', reason: `no rule matches repository ${repository}` })
    return finish(report)
  }
  const { rule, index: r } = found

  // verify every statement once
  const accepted: Accepted[] = []
  for (const [index, item] of options.statements.entries()) {
    let envelope = item
    try {
      if (item instanceof Uint8Array) envelope = parseEnvelope(item)
      const { statement, signers } = await verifyStatement(envelope)
      accepted.push({ index, statement, signers })
      report.statements.push({ index, valid: true, signers, predicateType: statement.predicateType, subjects: subjectDigests(statement) })
    } catch (err: unknown) {
      const e = err as Error
      const keyids = (envelope as Envelope | undefined)?.signatures
      report.statements.push({ index, valid: false, signers: [], error: { name: e.name, message: e.message } })
      report.warnings.push(`statement ${index}${Array.isArray(keyids) ? ` (keyid ${list(keyids.map(s => String(s?.keyid)))})` : ''} was rejected: ${e.name}: ${e.message}`)
    }
  }

  // manifest signers
  if (rule.manifest != null) {
    const trusted = new Set(rule.manifest.signers)
    const need = rule.manifest.threshold ?? rule.manifest.signers.length
    const signatures = accepted.filter(a => a.statement.predicateType === PREDICATE_TYPE_IMAGE_SIGNATURE)
    const naming = signatures.filter(a => statementNames(a.statement, manifestDigest))
    const signed = new Set(naming.flatMap(a => a.signers))
    const good = [...signed].filter(s => trusted.has(s))
    const ruleName = `rules[${r}].manifest`
    if (good.length >= need) {
      report.checks.push({ object: manifestObject, kind: 'manifest', digest: manifestDigest, rule: ruleName, result: 'pass', reason: `signed by ${list(good)} (${good.length} of ${need} required)`, signers: good })
    } else {
      const why = [`needs ${need} of ${list(trusted)}, signed by ${good.length === 0 ? 'none of them' : list(good)}`]
      const untrusted = [...signed].filter(s => !trusted.has(s))
      if (untrusted.length > 0) why.push(`valid signatures by keys this rule does not trust: ${list(untrusted)}`)
      const elsewhere = signatures.filter(a => !statementNames(a.statement, manifestDigest))
      if (elsewhere.length > 0) why.push(`image signatures for other digests ignored: ${elsewhere.map(a => `statement ${a.index} names ${subjectDigests(a.statement).join(', ')}`).join('; ')}`)
      report.checks.push({ object: manifestObject, kind: 'manifest', digest: manifestDigest, rule: ruleName, result: 'fail', reason: why.join('; '), signers: good, untrusted })
    }
  }

  // layer signers
  if (rule.layers != null) {
    const layerSigners = new Map<string, Set<UserId>>()
    for (const a of accepted) {
      if (a.statement.predicateType !== PREDICATE_TYPE_LAYER_SIGNATURE) continue
      for (const digest of subjectDigests(a.statement)) {
        const set = layerSigners.get(digest) ?? new Set()
        a.signers.forEach(s => set.add(s))
        layerSigners.set(digest, set)
      }
    }
    const count = manifest.layers.length
    const covered = new Set<number>()
    const taken = new Set<number>()
    // explicit selectors first, so that 'rest' means what they leave
    const order = rule.layers.map((entry, e) => ({ entry, e })).sort((x, y) => Number(x.entry.layers === 'rest') - Number(y.entry.layers === 'rest'))
    for (const { entry } of order) {
      if (entry.layers === 'rest') continue
      const resolved = resolveLayers(entry.layers, count, taken)
      if ('indexes' in resolved) resolved.indexes.forEach(i => taken.add(i))
    }
    for (const { entry, e } of order) {
      const ruleName = `rules[${r}].layers[${e}] (${Array.isArray(entry.layers) ? `[${entry.layers.join(',')}]` : entry.layers})`
      const resolved = resolveLayers(entry.layers, count, taken)
      if ('error' in resolved) {
        report.checks.push({ object: `image ${manifestDigest}`, kind: 'image', digest: manifestDigest, rule: ruleName, result: 'fail', reason: resolved.error })
        continue
      }
      const trusted = new Set(entry.signers)
      const need = entry.threshold ?? 1
      for (const i of resolved.indexes) {
        covered.add(i)
        const digest = manifest.layers[i].digest
        const signed = layerSigners.get(digest) ?? new Set<UserId>()
        const good = [...signed].filter(s => trusted.has(s))
        const object = `layer ${i} ${digest}`
        if (good.length >= need) {
          report.checks.push({ object, kind: 'layer', digest, rule: ruleName, result: 'pass', reason: `signed by ${list(good)}`, signers: good })
        } else {
          const untrusted = [...signed].filter(s => !trusted.has(s))
          const reason = `needs a layer signature by ${need === 1 ? 'one' : need} of ${list(trusted)}; ` +
            (signed.size === 0 ? 'the layer has no valid layer signature' : `signed only by keys not allowed here: ${list(untrusted)}`)
          report.checks.push({ object, kind: 'layer', digest, rule: ruleName, result: 'fail', reason, signers: good, untrusted })
        }
      }
    }
    for (let i = 0; i < count; i++) {
      if (!covered.has(i)) {
        const digest = manifest.layers[i].digest
        report.checks.push({ object: `layer ${i} ${digest}`, kind: 'layer', digest, rule: `rules[${r}].layers`, result: 'fail', reason: 'no entry of the rule covers this layer' })
      }
    }
  }

  // attestations
  rule.attestations?.forEach((req, a) => {
    const ruleName = `rules[${r}].attestations[${a}]`
    const builders = new Set(req.builders)
    const candidates = accepted.filter(s => s.statement.predicateType === req.predicateType && statementNames(s.statement, manifestDigest))
    const reasons: string[] = []
    for (const c of candidates) {
      const signers = c.signers.filter(s => builders.has(s))
      if (signers.length === 0) {
        reasons.push(`statement ${c.index} is signed by ${list(c.signers)}, not an allowed builder`)
        continue
      }
      if (req.predicateType === PREDICATE_TYPE_SLSA_PROVENANCE_V1) {
        const id = (c.statement.predicate as { runDetails?: { builder?: { id?: unknown } } }).runDetails?.builder?.id
        if (typeof id !== 'string' || !signers.includes(id)) {
          reasons.push(`statement ${c.index} names builder ${JSON.stringify(id)} but is signed by ${list(signers)}`)
          continue
        }
      }
      report.checks.push({ object: manifestObject, kind: 'manifest', digest: manifestDigest, rule: ruleName, result: 'pass', reason: `${req.predicateType} attestation (statement ${c.index}) by ${list(signers)}`, signers })
      return
    }
    const reason = `needs a ${req.predicateType} attestation naming the manifest, signed by ${list(builders)}` +
      (reasons.length > 0 ? `; ${reasons.join('; ')}` : '; none was found')
    report.checks.push({ object: manifestObject, kind: 'manifest', digest: manifestDigest, rule: ruleName, result: 'fail', reason })
  })

  if (report.checks.length === 0) {
    report.checks.push({ object: 'image', kind: 'image', rule: `rules[${r}]`, result: 'pass', reason: 'the rule requires nothing' })
  }
  return finish(report)
}

function manifestOf (bytes: Uint8Array, digest: string): ImageManifest {
  const parsed = parseManifest(bytes, { expectedDigest: digest })
  if (parsed.kind !== 'manifest') throw new InvalidParametersError(`${digest} is an image index; verify each platform's manifest`)
  return parsed.manifest
}

function finish (report: VerificationReport): VerificationReport {
  const failed = report.checks.filter(c => c.result === 'fail')
  report.passed = failed.length === 0
  report.allowed = report.passed || report.mode !== 'enforce'
  if (!report.passed && report.mode === 'audit') {
    for (const c of failed) report.warnings.push(`audit: ${c.object} breaks ${c.rule}: ${c.reason}`)
  }
  return report
}

/**
 * Throws `PolicyViolationError` when the report does not allow the image (it
 * failed under `enforce`), naming the first failing object and rule. Otherwise
 * returns the report's warnings (audit failures, rejected statements).
 */
export function assertPolicy (report: VerificationReport): string[] {
  if (report.allowed) return report.warnings
  const failed = report.checks.filter(c => c.result === 'fail')
  const [first] = failed
  const more = failed.length > 1 ? ` (and ${failed.length - 1} more failing check${failed.length > 2 ? 's' : ''})` : ''
  throw new PolicyViolationError(`the trust policy (mode ${report.mode}) refuses ${report.reference}: ${first.object} breaks ${first.rule}: ${first.reason}${more}`, report)
}

const MARK: Record<CheckResult, string> = { pass: 'ok  ', fail: 'FAIL', skip: 'skip' }

/**
 * The report as text for a terminal: the rule and mode, each statement and
 * who signed it, then each object against each rule with the result and why.
 */
export function formatReport (report: VerificationReport): string {
  const lines: string[] = []
  const verdict = report.passed ? 'PASSED' : report.allowed ? `FAILED (allowed: mode ${report.mode})` : 'REFUSED'
  lines.push(`${report.reference} ${report.manifestDigest}: ${verdict}`)
  lines.push(`  policy: ${report.ruleIndex < 0 ? 'no rule matches, default' : `rules[${report.ruleIndex}]`} for ${report.repository}, mode ${report.mode}`)
  if (report.statements.length > 0) lines.push('  statements:')
  for (const s of report.statements) {
    lines.push(s.valid
      ? `    [${s.index}] ${s.predicateType ?? ''} signed by ${s.signers.join(', ')}; subjects ${(s.subjects ?? []).join(', ')}`
      : `    [${s.index}] REJECTED ${s.error?.name ?? 'Error'}: ${s.error?.message ?? ''}`)
  }
  lines.push('  checks:')
  for (const c of report.checks) {
    lines.push(`    ${MARK[c.result]} ${c.object}  ${c.rule}: ${c.reason}`)
  }
  for (const w of report.warnings) lines.push(`  warning: ${w}`)
  return lines.join('\n')
}
