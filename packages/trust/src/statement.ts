/**
 * in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md),
 * carried in a DSSE envelope as `application/vnd.in-toto+json`.
 *
 * Two predicates are provenir's own:
 * - `https://provenir.dev/signature/image/v1`: an image signature. Its one
 *   subject is the manifest digest; the predicate may name the repository.
 * - `https://provenir.dev/signature/layer/v1`: a layer signature. Its subjects
 *   are layer (blob) digests, so a base-image vendor can sign its layers once
 *   and every image built on them carries that signature unchanged.
 */

import { parseDigest, type Digest, type DigestAlgorithm } from '@provenir/content'
import { describeValue, parseJson } from '@provenir/interface'
import { IN_TOTO_STATEMENT_V1, MAX_SUBJECTS, PAYLOAD_TYPE_IN_TOTO, PREDICATE_TYPE_IMAGE_SIGNATURE, PREDICATE_TYPE_LAYER_SIGNATURE } from './constants.js'
import { signEnvelope, verifyEnvelope, type Envelope, type EnvelopeLimits } from './dsse.js'
import { EnvelopeInvalidError, KeyIdMismatchError, StatementInvalidError, SubjectMismatchError } from './errors.js'
import type { UserId } from './keys.js'
import type { PrivateKey } from '@libp2p/interface'

/** An in-toto DigestSet: algorithm -> lowercase hex. */
export type DigestSet = Partial<Record<DigestAlgorithm, string>> & Record<string, string>

/** An in-toto ResourceDescriptor as a statement subject. */
export interface Subject {
  name: string
  digest: DigestSet
}

/** An in-toto Statement v1. */
export interface Statement<P = Record<string, unknown>> {
  _type: typeof IN_TOTO_STATEMENT_V1
  subject: Subject[]
  predicateType: string
  predicate: P
}

/** The predicate of an image signature. */
export interface ImageSignaturePredicate {
  /** the repository (`namespace/repo`) the signer publishes the image under, when it says */
  repository?: string
  /** the manifest's media type */
  mediaType?: string
}

/** The predicate of a layer signature. */
export interface LayerSignaturePredicate {
  /** free text: which image or build the layers come from */
  source?: string
}

/** A statement taken out of an envelope whose signatures verified. */
export interface VerifiedStatement<P = Record<string, unknown>> {
  statement: Statement<P>
  /** UserIds whose signatures verified */
  signers: UserId[]
  envelope: Envelope
}

export interface VerifyStatementOptions extends EnvelopeLimits {
  /** Each of these digests must be a subject of the statement (SubjectMismatchError otherwise) */
  digests?: string[]
  /** The statement must have this predicateType (StatementInvalidError otherwise) */
  predicateType?: string
  /** At least one of these UserIds must have signed (KeyIdMismatchError otherwise) */
  signers?: UserId[]
}

const MAX_NAME_LENGTH = 1024
const MAX_PREDICATE_TYPE_LENGTH = 1024
const HEX = /^[a-f0-9]+$/

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value != null && !Array.isArray(value)
}

/** `sha256:abc...` -> `{ sha256: 'abc...' }`; throws DigestInvalidError for a bad digest. */
export function digestSet (digest: string): DigestSet {
  const { algorithm, encoded } = parseDigest(digest)
  return { [algorithm]: encoded } as DigestSet
}

/** True when `subject` names `digest` (an OCI digest string). */
export function subjectMatches (subject: Subject, digest: string): boolean {
  const colon = digest.indexOf(':')
  if (colon < 1) return false
  return subject.digest[digest.slice(0, colon)] === digest.slice(colon + 1)
}

/** True when some subject of `statement` names `digest`. */
export function statementNames (statement: Statement<unknown>, digest: string): boolean {
  return statement.subject.some(s => subjectMatches(s, digest))
}

/**
 * Builds a statement. Subjects are given as `{ name, digest }` with an OCI
 * digest string, and converted to in-toto DigestSets.
 */
export function createStatement<P> (subjects: Array<{ name?: string, digest: string }>, predicateType: string, predicate: P): Statement<P> {
  if (subjects.length === 0 || subjects.length > MAX_SUBJECTS) {
    throw new StatementInvalidError(`a statement takes 1 to ${MAX_SUBJECTS} subjects, got ${subjects.length}`)
  }
  const statement: Statement<P> = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: subjects.map(s => ({ name: s.name ?? s.digest, digest: digestSet(s.digest) })),
    predicateType,
    predicate
  }
  checkStatement(statement)
  return statement
}

/** An image signature statement: its subject is the manifest digest. */
export function imageSignatureStatement (manifestDigest: Digest | string, predicate: ImageSignaturePredicate = {}): Statement<ImageSignaturePredicate> {
  const name = predicate.repository != null ? `${predicate.repository}@${manifestDigest}` : manifestDigest
  return createStatement([{ name, digest: manifestDigest }], PREDICATE_TYPE_IMAGE_SIGNATURE, predicate)
}

/** A layer signature statement: its subjects are the layer digests. */
export function layerSignatureStatement (layerDigests: Array<Digest | string>, predicate: LayerSignaturePredicate = {}): Statement<LayerSignaturePredicate> {
  if (new Set(layerDigests).size !== layerDigests.length) {
    throw new StatementInvalidError('layer digests must not repeat')
  }
  return createStatement(layerDigests.map(digest => ({ digest })), PREDICATE_TYPE_LAYER_SIGNATURE, predicate)
}

/**
 * Checks that `value` is an in-toto Statement v1 and returns it.
 *
 * @throws StatementInvalidError naming the bad field
 */
export function checkStatement (value: unknown): Statement {
  if (!isObject(value)) throw new StatementInvalidError('statement must be a JSON object')
  if (value._type !== IN_TOTO_STATEMENT_V1) {
    throw new StatementInvalidError(`statement._type must be ${IN_TOTO_STATEMENT_V1}, got ${describeValue(value._type)}`)
  }
  if (!Array.isArray(value.subject) || value.subject.length === 0) {
    throw new StatementInvalidError('statement.subject must be a non-empty array')
  }
  if (value.subject.length > MAX_SUBJECTS) {
    throw new StatementInvalidError(`statement.subject has ${value.subject.length} entries; at most ${MAX_SUBJECTS} are accepted`)
  }
  value.subject.forEach((subject: unknown, i) => {
    const path = `statement.subject[${i}]`
    if (!isObject(subject)) throw new StatementInvalidError(`${path} must be an object`)
    if (typeof subject.name !== 'string' || subject.name.length > MAX_NAME_LENGTH) {
      throw new StatementInvalidError(`${path}.name must be a string of at most ${MAX_NAME_LENGTH} characters`)
    }
    if (!isObject(subject.digest) || Object.keys(subject.digest).length === 0) {
      throw new StatementInvalidError(`${path}.digest must be a non-empty DigestSet`)
    }
    for (const [algorithm, hex] of Object.entries(subject.digest)) {
      if (typeof hex !== 'string' || !HEX.test(hex) || hex.length > 128) {
        throw new StatementInvalidError(`${path}.digest.${algorithm} must be lowercase hex`)
      }
    }
    const { sha256, sha512 } = subject.digest
    if ((sha256 !== undefined && (sha256 as string).length !== 64) || (sha512 !== undefined && (sha512 as string).length !== 128)) {
      throw new StatementInvalidError(`${path}.digest has a sha256 or sha512 of the wrong length`)
    }
  })
  if (typeof value.predicateType !== 'string' || value.predicateType.length === 0 || value.predicateType.length > MAX_PREDICATE_TYPE_LENGTH || !URL.canParse(value.predicateType)) {
    throw new StatementInvalidError('statement.predicateType must be a URI')
  }
  if (value.predicate !== undefined && !isObject(value.predicate)) {
    throw new StatementInvalidError('statement.predicate must be an object')
  }
  return { _type: IN_TOTO_STATEMENT_V1, subject: value.subject as Subject[], predicateType: value.predicateType, predicate: (value.predicate ?? {}) as Record<string, unknown> }
}

/** Signs a statement: a DSSE envelope of type `application/vnd.in-toto+json`. */
export async function signStatement (statement: Statement<unknown>, keys: PrivateKey | PrivateKey[]): Promise<Envelope> {
  checkStatement(statement)
  return signEnvelope(new TextEncoder().encode(JSON.stringify(statement)), PAYLOAD_TYPE_IN_TOTO, keys)
}

/**
 * Verifies an envelope's signatures, then parses its payload as a statement
 * and checks it against `options`.
 *
 * @throws EnvelopeInvalidError, KeyIdInvalidError, SignatureInvalidError (from the envelope)
 * @throws StatementInvalidError when the payload is not a statement, or not of `predicateType`
 * @throws SubjectMismatchError when a digest of `options.digests` is not a subject
 * @throws KeyIdMismatchError when none of `options.signers` signed
 */
export async function verifyStatement<P = Record<string, unknown>> (envelope: Envelope | unknown, options: VerifyStatementOptions = {}): Promise<VerifiedStatement<P>> {
  const verified = await verifyEnvelope(envelope, options)
  if (verified.payloadType !== PAYLOAD_TYPE_IN_TOTO) {
    throw new EnvelopeInvalidError(`envelope.payloadType is ${JSON.stringify(verified.payloadType)}, not ${PAYLOAD_TYPE_IN_TOTO}`)
  }
  let doc: unknown
  try {
    doc = parseJson(verified.payload)
  } catch (err: unknown) {
    throw new StatementInvalidError(`payload is not UTF-8 JSON: ${(err as Error).message}`, { cause: err })
  }
  const statement = checkStatement(doc) as Statement<P>
  if (options.predicateType != null && statement.predicateType !== options.predicateType) {
    throw new StatementInvalidError(`statement has predicateType ${statement.predicateType}, expected ${options.predicateType}`)
  }
  for (const digest of options.digests ?? []) {
    if (!statementNames(statement, digest)) {
      const named = statement.subject.map(s => Object.entries(s.digest).map(([a, h]) => `${a}:${h}`).join('/')).join(', ')
      throw new SubjectMismatchError(`statement signed by ${verified.signers.join(', ')} does not name ${digest}; its subjects are ${named}`)
    }
  }
  if (options.signers != null && !verified.signers.some(s => options.signers?.includes(s) === true)) {
    throw new KeyIdMismatchError(`statement is signed by ${verified.signers.join(', ')}, none of the expected signers ${options.signers.join(', ')}`)
  }
  return { statement, signers: verified.signers, envelope: verified.envelope }
}
