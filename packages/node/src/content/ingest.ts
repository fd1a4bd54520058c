/**
 * Bytes from a source that returns a plain stream (an upstream registry):
 * passed on to the reader while they are hashed against the digest and
 * imported into the store as blocks, the last chunk held back until the
 * whole blob matched and its root was written and recorded. A blob that
 * fails its check breaks the reader's stream short and leaves only unpinned
 * blocks, which `gc()` collects.
 */

import { BlobSizeMismatchError, copiesOnPut, importBlob } from '@provenir/content'
import { pushable } from 'it-pushable'
import type { ContentBlockstore } from '@provenir/content'
import type { CID } from 'multiformats/cid'

/** Bytes handed to the importer and not taken yet before the stream waits for it */
export const INGEST_BACKLOG = 4 * 1024 * 1024

/**
 * Pieces smaller than this are gathered into one buffer of this size before
 * they are hashed, stored and passed on: an HTTPS body arrives in 8-16 KiB
 * pieces, and each piece costs a socket write to the client and a turn
 * through every generator between them (measured: 12,800 pieces for a
 * 100 MB blob, half a second of the daemon's CPU in socket writes alone).
 * The DAG's leaf size, so each gathered buffer is one leaf.
 *
 * @default 1 MiB
 */
export const INGEST_CHUNK = 1024 * 1024

export interface IngestOptions {
  store: ContentBlockstore
  signal?: AbortSignal
  /** Called once the blob matched and its blocks are written (still guarded from gc): record and pin it */
  onStored(blob: { root: CID, size: number, blocks: CID[] }): Promise<void>
}

/** Yields `source`, checking it against `digest` and `size` and storing it; see the file's comment */
export async function * ingest (source: AsyncIterable<Uint8Array>, digest: string, size: number, options: IngestOptions): AsyncGenerator<Uint8Array> {
  const queue = pushable<Uint8Array>()
  const guards: Array<() => void> = []
  const store = options.store
  // the importer hashes what it is given against the digest, and writes the root only if it matched
  const imported = importBlob(queue, {
    put: async (cid, bytes, opts) => {
      guards.push(store.guard([cid]))
      return store.put(cid, bytes, opts)
    },
    copiesOnPut: copiesOnPut(store)
  } as Parameters<typeof importBlob>[1], { expectedDigest: digest, size, signal: options.signal })
  imported.catch(() => {})
  let held: Uint8Array | undefined
  let received = 0
  try {
    for await (const chunk of coalesce(source, INGEST_CHUNK)) {
      received += chunk.byteLength
      if (received > size) throw new BlobSizeMismatchError(`blob ${digest} is longer than its ${size} bytes`)
      queue.push(chunk)
      if (queue.readableLength > INGEST_BACKLOG) await Promise.race([queue.onEmpty(), imported.then(() => {})])
      if (held != null) yield held
      held = chunk
    }
    queue.end()
    const blob = await imported
    await options.onStored({ root: blob.root, size: blob.size, blocks: blob.blocks })
  } catch (err) {
    queue.end(err as Error)
    // every block the importer writes is guarded: let it stop before the guards go
    await imported.catch(() => {})
    throw err
  } finally {
    for (const release of guards) release()
  }
  if (held != null) yield held
}

/**
 * `source` in pieces of `size` bytes (the last one shorter), each a fresh
 * buffer the caller may keep; a piece already that large passes as it is.
 */
export async function * coalesce (source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let buffer: Uint8Array | undefined
  let fill = 0
  for await (const chunk of source) {
    if (fill === 0 && chunk.byteLength >= size) {
      yield chunk
      continue
    }
    let offset = 0
    while (offset < chunk.byteLength) {
      buffer ??= Buffer.allocUnsafe(size)
      const n = Math.min(size - fill, chunk.byteLength - offset)
      buffer.set(chunk.subarray(offset, offset + n), fill)
      fill += n
      offset += n
      if (fill === size) {
        yield buffer
        buffer = undefined
        fill = 0
      }
    }
  }
  if (buffer != null && fill > 0) yield buffer.subarray(0, fill)
}
