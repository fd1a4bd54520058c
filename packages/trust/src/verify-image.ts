/**
 * Checking an image against a trust policy: `verifyImage` verifies the
 * image's statements and checks them against the first rule that matches the
 * image's repository, returning a report of every object and rule;
 * `assertPolicy` turns a failing report under `enforce` into a
 * `PolicyViolationError`. The policy itself (its schema, `parsePolicy`, the
 * rule a reference matches) is policy.ts.
 */

import { parseManifest, type ImageManifest } from '@provenir/content'
import { InvalidParametersError } from '@provenir/interface'
import { MAX_STATEMENTS, PREDICATE_TYPE_IMAGE_SIGNATURE, PREDICATE_TYPE_LAYER_SIGNATURE, PREDICATE_TYPE_SLSA_PROVENANCE_V1 } from './constants.js'
import { PolicyViolationError } from './errors.js'
import { statementNames, verifyStatement, type Statement } from './statement.js'
import { parseEnvelope, type Envelope } from './dsse.js'
import { findRule, repositoryOf } from './policy.js'
import type { UserId } from './keys.js'
import type { LayerSelector, PolicyMode, TrustPolicy } from './policy.js'

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
