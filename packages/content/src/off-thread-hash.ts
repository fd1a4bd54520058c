/**
 * Hashing on a worker thread, for bytes the event loop would otherwise hash
 * itself: a block received over the bulk channel, against its CID. Bytes in
 * shared memory (a `BufferPool` made with `shared`) reach the worker without
 * a copy; others are hashed here.
 *
 * A blob's leaves hashed in order on the worker as a fetch takes them (its
 * digest) measured no faster through the gateway (3.02-3.95 s against
 * 2.82-3.77 s, 6 pulls each): each leaf's buffer is held until the worker's
 * answer reaches a busy event loop, and the fetch's window waits for it.
 *
 * @internal
 */

import { createHash } from 'node:crypto'
import { LazyWorker } from './lazy-worker.js'
import type { WorkerAnswer } from './lazy-worker.js'

export interface HashRequest {
  id: number
  algorithm: string
  bytes: Uint8Array
}

export interface HashAnswer extends WorkerAnswer {
  digest?: Uint8Array
}

const worker = new LazyWorker(new URL('./hash-worker.js', import.meta.url))

/** Whether `bytes` are in shared memory: a worker reads them without a copy */
export function isShared (bytes: Uint8Array): boolean {
  return bytes.buffer instanceof SharedArrayBuffer
}

/**
 * The digest of `bytes`: on the hash worker when they are in shared memory,
 * here otherwise, or when the worker fails. The caller must not change the
 * bytes until this settles.
 */
export async function hashOffThread (bytes: Uint8Array, algorithm: string): Promise<Uint8Array> {
  if (isShared(bytes)) {
    try {
      const answer = await worker.call<HashAnswer>({ algorithm, bytes })
      if (answer.digest != null) return answer.digest
    } catch (err: any) {
      if (err?.name !== 'WorkerFailedError') throw err
    }
  }
  return createHash(algorithm).update(bytes).digest()
}
