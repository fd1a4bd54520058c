/**
 * The worker thread behind `off-thread-hash.ts`: hashes the bytes of each
 * message it is sent and answers with the digest, in the order received.
 * Bytes in shared memory (a `SharedArrayBuffer`) are read where they are,
 * not copied.
 *
 * @internal
 */

import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { HashRequest, HashAnswer } from './off-thread-hash.js'

parentPort?.on('message', (request: HashRequest) => {
  let out: HashAnswer
  try {
    out = { id: request.id, digest: createHash(request.algorithm).update(request.bytes).digest() }
  } catch (err: any) {
    out = { id: request.id, error: { message: String(err?.message ?? err) } }
  }
  parentPort?.postMessage(out)
})
