import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'

const SHA2_256 = 0x12

/** The CIDv1 (raw, sha2-256) of `bytes`: how documents are stored as blocks. @internal */
export function rawCid (bytes: Uint8Array): CID {
  return CID.createV1(raw.code, Digest.create(SHA2_256, createHash('sha256').update(bytes).digest()))
}

/** Parses a CID string, or undefined when it is not one. @internal */
export function parseCid (value: unknown): CID | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) return undefined
  try {
    return CID.parse(value)
  } catch {
    return undefined
  }
}
