/**
 * What the naming service answers, as plain JSON (an RPC API sends these as
 * they are), and the bridges from a resolution to a pull: the trusted image
 * record and the name the trust policy sees.
 */

import { describeAnswer } from './resolver.js'
import type { ImageResolution } from './index.js'
import type { BindingOrigin, NameAnswer, Resolution } from './resolver.js'
import type { UpstreamNameAnswer } from './upstream.js'
import type { ImageRecord } from '@provenir/content'
import type { UserId } from '@provenir/trust'

export interface PublishSummary {
  /** Name of the namespace key that signed */
  key: string
  owner: UserId
  repo: string
  seq: number
  documentCid: string
  tags: Record<string, string>
  images: number
  expires: string
  /** DHT peers that stored the pointer; 0 when none could (it is stored locally, and put in the DHT later) */
  peers: number
  /** Set when the publish stands only locally: why, and what happens next */
  warning?: string
}

/** One answer of `resolve --explain`, as JSON */
export interface AnswerSummary {
  /** The answer's real source, as people read it (see `describeAnswer`) */
  source: string
  kind: 'pin' | 'registry' | 'default' | 'upstream'
  /** The registry's NodeId (or the domain whose DNS lookup failed) */
  registry?: string
  /** The domain whose DNS TXT record named the registry */
  domain?: string
  /** Where the binding was read: the registry, or the DHT when the registry could not be reached */
  from?: BindingOrigin
  priority?: number
  userId?: string
  bindingSeq?: number
  /** An upstream registry's answer: the repository asked there, the digest and the endpoint that answered */
  host?: string
  repository?: string
  digest?: string
  endpoint?: string
  error?: { name: string, message: string }
  winner: boolean
}

export interface ResolveSummary {
  reference: string
  owner: UserId
  repo: string
  tag?: string
  manifestDigest: string
  mediaType: string
  seq: number
  expires: string
  documentCid: string
  /** Where the pointer record came from: this node's own record, or the DHT */
  record: 'local' | 'dht'
  /** How a link name resolved: the source that answered */
  name?: { name: string, userId: string, source: string }
  /** Every answer in priority order (explain only) */
  answers?: AnswerSummary[]
  /** True when the answer came from the resolution cache */
  cached: boolean
}

/** A reference an upstream registry answered, as JSON */
export interface UpstreamResolveSummary {
  kind: 'upstream'
  reference: string
  host: string
  repository: string
  tag?: string
  manifestDigest: string
  mediaType?: string
  endpoint: string
  /** `upstream`: asked now; `cache`: within the tag TTL; `stale`: past it, the registry unreachable; `reference`: the name gave the digest */
  from: 'upstream' | 'cache' | 'stale' | 'reference'
  /** Why provenir's sources gave no answer first */
  provenir?: { name: string, message: string }
  /** Every answer in priority order, provenir's then the upstreams' (explain only) */
  answers?: AnswerSummary[]
}

/** What `name resolve` answers: a provenir resolution, or an upstream registry's */
export type ImageResolveSummary = (ResolveSummary & { kind?: 'provenir' }) | UpstreamResolveSummary

export interface ClaimSummary {
  name: string
  userId: UserId
  registry: string
  seq: number
  issued: string
  /** The binding: the DSSE envelope, as the registry signed it */
  binding: unknown
}

/**
 * The tag of `repo` in an image's recorded name, or undefined: `small:v1`,
 * `provenir/small:v1` and `localhost:5000/provenir/small:v1` name tag `v1`
 * of repo `small`; a bare OCI ref name (`v1`) names no repo.
 */
export function tagFor (recorded: string, repo: string): string | undefined {
  const colon = recorded.lastIndexOf(':')
  if (colon <= 0) return undefined
  const name = recorded.slice(0, colon)
  const tag = recorded.slice(colon + 1)
  if (tag.includes('/')) return undefined
  const last = name.slice(name.lastIndexOf('/') + 1)
  return last === repo ? tag : undefined
}

/** An answer as `resolve --explain` shows it */
export function summariseAnswer (answer: NameAnswer, winner: NameAnswer | undefined): AnswerSummary {
  const s = answer.source
  const out: AnswerSummary = { source: describeAnswer(answer), kind: s.kind, winner: answer === winner }
  if (s.kind !== 'pin') {
    out.registry = s.registry
    if (s.domain != null) out.domain = s.domain
  }
  if (s.kind === 'registry') out.priority = s.priority
  if (answer.from != null && s.kind !== 'pin') out.from = answer.from
  if (answer.userId != null) out.userId = answer.userId
  if (answer.binding != null) out.bindingSeq = answer.binding.seq
  if (answer.error != null) out.error = { name: answer.error.name, message: answer.error.message }
  return out
}

/** A resolution as JSON; `record` says whether the pointer was this node's own or the DHT's */
export function summariseResolution (reference: string, resolution: Resolution, cached: boolean, record: 'local' | 'dht' = 'dht'): ResolveSummary {
  const out: ResolveSummary = {
    reference,
    owner: resolution.owner,
    repo: resolution.reference.repo,
    manifestDigest: resolution.manifestDigest,
    mediaType: resolution.image.mediaType,
    seq: resolution.document.seq,
    expires: resolution.document.expires,
    documentCid: resolution.documentCid.toString(),
    record,
    cached
  }
  if (resolution.reference.tag != null) out.tag = resolution.reference.tag
  if (resolution.name != null) {
    const winner = resolution.name.answer
    out.name = { name: resolution.name.name, userId: resolution.name.userId, source: describeAnswer(winner) }
    if (resolution.name.answers != null) out.answers = resolution.name.answers.map(a => summariseAnswer(a, winner))
  }
  return out
}

/** An upstream registry's answer as `resolve --explain` shows it */
export function summariseUpstreamAnswer (answer: UpstreamNameAnswer, winner: boolean): AnswerSummary {
  const out: AnswerSummary = { source: `upstream ${answer.host}`, kind: 'upstream', host: answer.host, repository: answer.repository, winner }
  if (answer.resolved != null) {
    out.digest = answer.resolved.digest
    out.endpoint = answer.resolved.endpoint
  }
  if (answer.error != null) out.error = { name: answer.error.name, message: answer.error.message }
  return out
}

/** Whichever source answered, as JSON */
export function summariseImageResolution (res: ImageResolution): ImageResolveSummary {
  const upstreamAnswers = (winner: string | undefined): AnswerSummary[] =>
    (res.upstreamAnswers ?? []).map(a => summariseUpstreamAnswer(a, winner != null && a.resolved?.digest === winner && a.host === res.upstream?.host))
  if (res.provenir != null) {
    const summary: ImageResolveSummary = summariseResolution(res.reference, res.provenir.resolution, res.provenir.cached, res.provenir.record)
    if (res.upstreamAnswers != null) summary.answers = [...summary.answers ?? [], ...upstreamAnswers(undefined)]
    return summary
  }
  const up = res.upstream
  if (up == null) throw new Error('an image resolution without an answer')
  const out: UpstreamResolveSummary = {
    kind: 'upstream', reference: res.reference, host: up.host, repository: up.repository, manifestDigest: up.digest, endpoint: up.endpoint, from: up.from
  }
  if (up.tag != null) out.tag = up.tag
  if (up.mediaType != null) out.mediaType = up.mediaType
  if (res.provenirError != null) out.provenir = { name: res.provenirError.name, message: res.provenirError.message }
  if (res.nameAnswers != null || res.upstreamAnswers != null) {
    out.answers = [...(res.nameAnswers ?? []).map(a => summariseAnswer(a, undefined)), ...upstreamAnswers(up.digest)]
  }
  return out
}

/**
 * The trusted image record a resolution gives `node.pull`: the signed
 * document's blob roots and statement CIDs for the manifest it names. The
 * document carries no per-blob media types; the pull takes them from the
 * manifest it verifies.
 */
export function recordFromResolution (resolution: Resolution): ImageRecord {
  const statements = resolution.document.statements?.[resolution.manifestDigest]
  return {
    manifestDigest: resolution.manifestDigest as ImageRecord['manifestDigest'],
    mediaType: resolution.image.mediaType,
    blobs: resolution.image.blobs.map(b => ({
      digest: b.digest as ImageRecord['manifestDigest'],
      size: b.size,
      root: b.root,
      mediaType: b.digest === resolution.manifestDigest ? resolution.image.mediaType : ''
    })),
    ...(statements != null && statements.length > 0 ? { statements: [...statements] } : {})
  }
}

/**
 * The name the trust policy sees for a pull by name: `namespace/repo:tag`
 * (or `@digest`) as the reference wrote it, without a registry part.
 */
export function policyReferenceOf (resolution: Resolution): string {
  const ref = resolution.reference
  return `${ref.namespace}/${ref.repo}${ref.tag != null ? `:${ref.tag}` : ''}${ref.digest != null ? `@${ref.digest}` : ''}`
}
