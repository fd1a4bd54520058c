/**
 * Small helpers shared by the engine, the want manager and sessions.
 *
 * @internal
 */

import { CID } from 'multiformats/cid'
import { UnsupportedHashError } from './errors.js'
import type { CIDPrefix } from './message.js'
import type { AbortOptions } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'
import type { MultihashDigest, MultihashHasher } from 'multiformats/hashes/interface'

/**
 * The key under which a block is tracked: its multihash bytes as a binary
 * string. CIDs that differ only in version or codec name the same bytes, as in
 * Kubo and Helia.
 */
export function cidKey (cid: CID): string {
  return String.fromCharCode.apply(null, cid.multihash.bytes as unknown as number[])
}

/** Reads a whole block from a blockstore whose `get` yields chunks */
export async function readBlock (blockstore: Blockstore, cid: CID, options: AbortOptions): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let length = 0
  for await (const chunk of blockstore.get(cid, options)) {
    chunks.push(chunk)
    length += chunk.byteLength
  }
  if (chunks.length === 1) {
    return chunks[0]
  }
  const out = new Uint8Array(length)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/** Hashers by multihash code */
export class Hashers {
  private readonly byCode: Map<number, MultihashHasher>

  constructor (hashers: MultihashHasher[]) {
    this.byCode = new Map()
    for (const hasher of hashers) {
      this.byCode.set(hasher.code, hasher)
    }
  }

  /** Throws UnsupportedHashError unless blocks of `cid` can be verified */
  assertSupported (cid: CID): void {
    if (!this.byCode.has(cid.multihash.code)) {
      throw new UnsupportedHashError(`No hasher for multihash code 0x${cid.multihash.code.toString(16)} of ${cid}`)
    }
  }

  /**
   * The CID that `data` has under `prefix`. Synchronous when the hasher is
   * (sha2 in Node.js is), otherwise a promise.
   */
  cidOf (prefix: CIDPrefix, data: Uint8Array): CID | Promise<CID> {
    const hasher = this.byCode.get(prefix.hashCode)
    if (hasher == null) {
      throw new UnsupportedHashError(`No hasher for multihash code 0x${prefix.hashCode.toString(16)}`)
    }
    const digest = hasher.digest(data, { truncate: prefix.digestLength })
    if (isPromise(digest)) {
      return digest.then(d => toCID(prefix, d))
    }
    return toCID(prefix, digest)
  }
}

function toCID (prefix: CIDPrefix, digest: MultihashDigest): CID {
  if (digest.digest.byteLength !== prefix.digestLength) {
    throw new UnsupportedHashError(`Hasher produced ${digest.digest.byteLength} bytes, prefix says ${prefix.digestLength}`)
  }
  return prefix.version === 0 ? CID.createV0(digest as MultihashDigest<0x12>) : CID.createV1(prefix.codec, digest)
}

function isPromise<T> (value: T | Promise<T>): value is Promise<T> {
  return typeof (value as any)?.then === 'function'
}
