/**
 * Signed statements about an image (image and layer signatures, build
 * attestations) as blocks. Each statement is the JSON of a DSSE envelope,
 * stored as one raw block whose CID is the sha256 of those bytes. The image
 * record lists the CIDs, so the statements are pinned with the image, sent
 * with its record to pullers, and provided in the DHT like its blobs.
 *
 * A statement is accepted for an image only when every signature verifies,
 * its payload is an in-toto statement, and at least one of its subjects is
 * the manifest or a blob of that image. Whether the signers are trusted is
 * the policy's question, not this one.
 */

import { sha256 } from 'multiformats/hashes/sha2'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { MAX_ENVELOPE_BYTES, parseEnvelope, StatementInvalidError, subjectMatches, verifyStatement } from '@provenir/trust'
import type { ImageRecord } from '@provenir/content'
import type { UserId } from '@provenir/trust'

/** A statement checked against the image it is attached to. */
export interface ImageStatement {
  /** CIDv1 raw sha256 of the envelope's bytes */
  cid: CID
  /** The envelope's JSON bytes, as stored */
  bytes: Uint8Array
  /** UserIds whose signatures verified */
  signers: UserId[]
  predicateType: string
  /** The image's digests (manifest, config or layers) that the statement names */
  subjects: string[]
}

/** The block CID of a statement: CIDv1, raw, sha256 of the envelope's bytes */
export async function statementCid (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(bytes))
}

/**
 * Checks that `bytes` are a signed statement about `image`.
 *
 * @throws EnvelopeInvalidError, SignatureInvalidError, KeyIdInvalidError when the envelope does not verify
 * @throws StatementInvalidError when the payload is not a statement, or names nothing in the image
 */
export async function checkImageStatement (bytes: Uint8Array, image: Pick<ImageRecord, 'manifestDigest' | 'blobs'>): Promise<ImageStatement> {
  if (bytes.byteLength > MAX_ENVELOPE_BYTES) throw new StatementInvalidError(`a statement is at most ${MAX_ENVELOPE_BYTES} bytes, got ${bytes.byteLength}`)
  const envelope = parseEnvelope(bytes)
  const verified = await verifyStatement(envelope)
  const digests = [image.manifestDigest, ...image.blobs.map(b => b.digest)]
  const subjects = [...new Set(digests.filter(d => verified.statement.subject.some(s => subjectMatches(s, d))))]
  if (subjects.length === 0) {
    throw new StatementInvalidError(`the statement (${verified.statement.predicateType}) names no digest of image ${image.manifestDigest}`)
  }
  return {
    cid: await statementCid(bytes),
    bytes,
    signers: verified.signers,
    predicateType: verified.statement.predicateType,
    subjects
  }
}
