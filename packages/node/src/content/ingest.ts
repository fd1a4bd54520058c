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
    for await (const chunk of source) {
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
