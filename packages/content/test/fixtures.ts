import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { MultihashDigest } from 'multiformats/hashes/interface'

export interface TestBlock {
  cid: CID
  bytes: Uint8Array
}

/** A raw CIDv1 block of `bytes` (random bytes of `size` when a number). */
export async function makeBlock (bytesOrSize: Uint8Array | number = 64, codec: number = raw.code): Promise<TestBlock> {
  const bytes = typeof bytesOrSize === 'number' ? new Uint8Array(randomBytes(bytesOrSize)) : bytesOrSize
  return { cid: CID.createV1(codec, await sha256.digest(bytes)), bytes }
}

export async function makeBlocks (count: number, size = 64): Promise<TestBlock[]> {
  return Promise.all(Array.from({ length: count }, async () => makeBlock(size)))
}

/** A fresh temporary directory and a function that removes it. */
export async function tempDir (prefix = 'provenir-content-'): Promise<{ path: string, remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
}

/** Concatenates a block read as chunks. */
export async function readAll (source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/** The CIDv0 (dag-pb) with the same sha2-256 multihash as `cid`. */
export function v0Of (cid: CID): CID {
  return CID.createV0(cid.multihash as MultihashDigest<0x12>)
}
