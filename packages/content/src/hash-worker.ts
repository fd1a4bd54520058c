/**
 * The worker thread behind `off-thread-hash.ts`: hashes bytes it is sent,
 * whole (`digest`) or as a stream of updates (`update`, then `final`). Bytes
 * in shared memory (a `SharedArrayBuffer`) are read where they are, not
 * copied. Each message is answered once, in the order received.
 *
 * @internal
 */

import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { Hash } from 'node:crypto'
import type { HashRequest, HashAnswer } from './off-thread-hash.js'

/** Streams kept at once: an abandoned one (its fetch failed) is dropped with the oldest */
const MAX_STREAMS = 1024

const streams = new Map<number, Hash>()

function answer (request: HashRequest): HashAnswer {
  switch (request.op) {
    case 'digest':
      return { id: request.id, digest: createHash(request.algorithm).update(request.bytes).digest() }
    case 'update': {
      let hash = streams.get(request.stream)
      if (hash == null) {
        // a stream this worker did not start (it was restarted, or dropped it) cannot go on
        if (!request.first) throw new Error(`hash stream ${request.stream} is unknown to this worker`)
        hash = createHash(request.algorithm)
        streams.set(request.stream, hash)
        if (streams.size > MAX_STREAMS) streams.delete(streams.keys().next().value as number)
      }
      hash.update(request.bytes)
      return { id: request.id }
    }
    case 'final': {
      const hash = streams.get(request.stream)
      streams.delete(request.stream)
      if (hash == null) throw new Error(`hash stream ${request.stream} is unknown to this worker`)
      return { id: request.id, hex: hash.digest('hex') }
    }
    case 'drop':
      streams.delete(request.stream)
      return { id: request.id }
  }
}

parentPort?.on('message', (request: HashRequest) => {
  let out: HashAnswer
  try {
    out = answer(request)
  } catch (err: any) {
    out = { id: request.id, error: { message: String(err?.message ?? err) } }
  }
  parentPort?.postMessage(out)
})
