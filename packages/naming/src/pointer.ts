/**
 * The DHT pointer record: a small signed record under
 * `/provenir-repo/<UserId>/<repo>` that names the current repository
 * document's CID. The document itself travels by bitswap.
 *
 * Format: a DSSE envelope (JSON, the same one the document uses) with
 * payloadType `application/vnd.provenir.repository-pointer.v1+json`, one
 * signature by the UserId's key, and the payload
 *
 * ```json
 * { "owner": "k51qzi5uqu5...", "repo": "myapp", "seq": 5, "expires": "2026-11-27T09:00:00.000Z", "doc": "bafkrei..." }
 * ```
 *
 * Owner and repo are in the signed payload as well as in the key, so a record
 * cannot be replayed under another repository of the same owner. About 600
 * bytes; at most MAX_POINTER_BYTES (10 KiB).
 */

import { InvalidParametersError } from '@provenir/interface'
import { isUserId, userIdFromKey, type UserId } from '@provenir/trust'
import { parseCid } from './cid.js'
import { DEFAULT_RECORD_LIFETIME, MAX_POINTER_BYTES, REPO_KEY_NAMESPACE, REPO_POINTER_PAYLOAD_TYPE } from './constants.js'
import { OwnerMismatchError, RecordInvalidError } from './errors.js'
import { checkExpiry, checkSeq, isRepoName, nowMs, openRecord, parseTime, peekRecord, signJson } from './signed.js'
import type { SeqStore } from './seq-store.js'
import type { AbortOptions, PrivateKey } from '@libp2p/interface'
import type { SelectFn } from '@libp2p/kad-dht'
import type { CID } from 'multiformats/cid'

export interface RepoPointer {
  owner: UserId
  repo: string
  seq: number
  /** ISO 8601 UTC */
  expires: string
  /** CID of the repository document block */
  doc: string
}

export interface CreateRepoPointerInit {
  repo: string
  seq: number
  doc: CID | string
  expires?: string
  /** @default DEFAULT_RECORD_LIFETIME (48 h) */
  lifetime?: number
  now?: Date | number
}

export interface VerifyRepoPointerOptions {
  now?: Date | number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** The DHT key of (owner, repo): `/provenir-repo/<UserId>/<repo>` as UTF-8 */
export function repoKey (owner: UserId, repo: string): Uint8Array {
  if (!isUserId(owner)) throw new InvalidParametersError(`${String(owner)} is not a UserId`)
  if (!isRepoName(repo)) throw new InvalidParametersError(`${String(repo)} is not a repository name`)
  return encoder.encode(`/${REPO_KEY_NAMESPACE}/${owner}/${repo}`)
}

/**
 * Parses a pointer record's DHT key.
 *
 * @throws RecordInvalidError
 */
export function parseRepoKey (key: Uint8Array): { owner: UserId, repo: string } {
  let text: string
  try {
    if (key.byteLength > 512) throw new Error('too long')
    text = decoder.decode(key)
  } catch {
    throw new RecordInvalidError('pointer record key is not a short UTF-8 string')
  }
  const parts = text.split('/')
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== REPO_KEY_NAMESPACE || !isUserId(parts[2]) || !isRepoName(parts[3])) {
    throw new RecordInvalidError(`pointer record key ${JSON.stringify(text.slice(0, 200))} is not /${REPO_KEY_NAMESPACE}/<UserId>/<repo>`)
  }
  return { owner: parts[2], repo: parts[3] }
}

/** Signs a pointer record with the owner's key; returns the record's bytes (the DHT value). */
export async function signRepoPointer (init: CreateRepoPointerInit, key: PrivateKey): Promise<Uint8Array> {
  const owner = userIdFromKey(key)
  const pointer = checkPointer({
    owner,
    repo: init.repo,
    seq: init.seq,
    expires: init.expires ?? new Date(nowMs(init.now) + (init.lifetime ?? DEFAULT_RECORD_LIFETIME)).toISOString(),
    doc: init.doc.toString()
  })
  const bytes = await signJson(pointer, REPO_POINTER_PAYLOAD_TYPE, key)
  if (bytes.byteLength > MAX_POINTER_BYTES) throw new RecordInvalidError(`pointer record is ${bytes.byteLength} bytes, over ${MAX_POINTER_BYTES}`)
  return bytes
}

function checkPointer (value: Record<string, unknown>): RepoPointer {
  const { owner, repo, seq, expires, doc } = value
  if (!isUserId(owner)) throw new RecordInvalidError('pointer record owner must be a UserId')
  if (!isRepoName(repo)) throw new RecordInvalidError('pointer record repo must be a repository name')
  checkSeq(seq, 'pointer record')
  parseTime(expires, 'pointer record expires')
  if (parseCid(doc) == null) throw new RecordInvalidError('pointer record doc must be a CID')
  return { owner, repo, seq: seq as number, expires: expires as string, doc: doc as string }
}

/**
 * Verifies a pointer record found under `key`: the key's form, the size, a
 * signature by the key whose PeerId is the key's UserId, the owner and repo in
 * the payload, and the expiry.
 *
 * @throws RecordInvalidError, RecordSignatureError, RecordSignerMismatchError, OwnerMismatchError, RecordExpiredError
 */
export async function verifyRepoPointer (key: Uint8Array, value: Uint8Array, options: VerifyRepoPointerOptions = {}): Promise<RepoPointer> {
  const { owner, repo } = parseRepoKey(key)
  const opened = await openRecord(value, {
    payloadType: REPO_POINTER_PAYLOAD_TYPE,
    maxBytes: MAX_POINTER_BYTES,
    maxPayloadBytes: MAX_POINTER_BYTES,
    signer: owner,
    what: `pointer record for ${owner}/${repo}`
  })
  const pointer = checkPointer(opened.payload)
  if (pointer.owner !== owner || pointer.repo !== repo) {
    throw new OwnerMismatchError(`pointer record is for ${pointer.owner}/${pointer.repo}, found under ${owner}/${repo}`)
  }
  checkExpiry(pointer.expires, `pointer record ${owner}/${repo} (seq ${pointer.seq})`, options.now)
  return pointer
}

/** Decodes a pointer record without verifying it (for selection among validated records). @internal */
export function peekRepoPointer (value: Uint8Array): RepoPointer | undefined {
  try {
    return checkPointer(peekRecord(value, { payloadType: REPO_POINTER_PAYLOAD_TYPE, maxBytes: MAX_POINTER_BYTES, what: 'pointer record' }).payload)
  } catch {
    return undefined
  }
}

/** A kad-dht ValidateFn that always returns a promise */
export type RepoValidateFn = (key: Uint8Array, value: Uint8Array, options?: AbortOptions) => Promise<void>

export interface RepoValidatorInit {
  /** When given, a record below the highest seq seen is refused, and a higher one recorded */
  seqStore?: SeqStore
  /** The clock, for tests */
  now?: () => Date | number
}

/**
 * A kad-dht validator for `/provenir-repo/` keys. Register it as
 * `validators: { 'provenir-repo': createRepoValidator({ seqStore }) }`.
 * With a SeqStore, a node that has seen seq N refuses every record below N
 * (a PUT_VALUE replay, or a stale answer to its own GET_VALUE).
 */
export function createRepoValidator (init: RepoValidatorInit = {}): RepoValidateFn {
  return async (key: Uint8Array, value: Uint8Array, options?: AbortOptions): Promise<void> => {
    const pointer = await verifyRepoPointer(key, value, { now: init.now?.() })
    await init.seqStore?.observe(pointer.owner, pointer.repo, pointer.seq, options)
  }
}

/** A stateless validator: signature, owner, size and expiry, no seq memory */
export const repoValidator: RepoValidateFn = createRepoValidator()

/**
 * A kad-dht selector for `/provenir-repo/` keys: the highest seq wins; on a
 * tie, the later expiry; then the first. A record that does not decode loses.
 */
export const repoSelector: SelectFn = (_key, records) => {
  let best = -1
  let bestSeq = -1
  let bestExpires = -1
  records.forEach((record, i) => {
    const p = peekRepoPointer(record)
    if (p == null) return
    const expires = Date.parse(p.expires)
    if (p.seq > bestSeq || (p.seq === bestSeq && expires > bestExpires)) {
      best = i
      bestSeq = p.seq
      bestExpires = expires
    }
  })
  return best === -1 ? 0 : best
}
