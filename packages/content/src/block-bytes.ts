/**
 * A block's bytes as one buffer, from bytes or chunks, refused as soon as
 * they pass the size cap.
 */

import { MAX_BLOCK_SIZE } from './constants.js'
import { BlockTooLargeError } from './errors.js'
import type { AbortOptions } from '@provenir/interface'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

/** `chunks` as one buffer of `length` bytes (the one chunk itself when there is only one) */
export function concatChunks (chunks: Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(length)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/**
 * Collects a block given as bytes or as an (async) iterable of chunks,
 * refusing it as soon as it passes `max` bytes.
 */
export async function collectBlock (input: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, max: number, cid: CID): Promise<Uint8Array> {
  if (input instanceof Uint8Array) {
    if (input.byteLength > max) {
      throw new BlockTooLargeError(`Block ${cid} is ${input.byteLength} bytes, over the ${max} byte limit`)
    }
    return input
  }
  const chunks: Uint8Array[] = []
  let length = 0
  for await (const chunk of input) {
    length += chunk.byteLength
    if (length > max) {
      throw new BlockTooLargeError(`Block ${cid} is over the ${max} byte limit`)
    }
    chunks.push(chunk)
  }
  return concatChunks(chunks, length)
}

/**
 * Reads a whole block from any blockstore into one buffer (`get` yields
 * chunks), refusing one over `max` bytes.
 */
export async function getBlockBytes (store: Pick<Blockstore, 'get'>, cid: CID, options: AbortOptions & { max?: number } = {}): Promise<Uint8Array> {
  return collectBlock(store.get(cid, { signal: options.signal }), options.max ?? MAX_BLOCK_SIZE, cid)
}
