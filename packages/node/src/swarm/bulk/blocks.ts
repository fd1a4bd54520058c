/** Small helpers about blocks that the bulk channel's modules share */

import { toString } from 'uint8arrays/to-string'
import type { CID } from 'multiformats/cid'

/** The key a block is known by: its multihash (a CIDv0 and a CIDv1 of one hash are one block) */
export function blockKey (cid: CID): string {
  return toString(cid.multihash.bytes, 'base64')
}

/** A block's bytes from a store's `get`, which may yield them in pieces */
export async function collect (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
}

/** Settles as `promise` does, or with `fallback` once `ms` have passed */
export async function within<T> (promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([promise, new Promise<T>(resolve => { timer = setTimeout(() => { resolve(fallback) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** Sets `key` as the newest entry of `map`, dropping the oldest past `max` (a Map keeps insertion order) */
export function setNewest<K, V> (map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > max) {
    const oldest = map.keys().next()
    if (oldest.done !== true) map.delete(oldest.value)
  }
}
