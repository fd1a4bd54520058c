/**
 * A NodeId search worker, started by `generateIdentity` with
 * `new Worker(new URL('./worker.js', import.meta.url))`. It grinds keypairs
 * until one meets the difficulty, posting its attempt count every
 * `reportIntervalMs`, then posts the 32-byte seed of the winner and stops.
 * The main thread ends it with `worker.terminate()`, which also interrupts
 * the synchronous loop.
 *
 * @internal
 */
import { performance } from 'node:perf_hooks'
import { parentPort, workerData } from 'node:worker_threads'
import { NodeIdSearch } from './search.js'
import type { MessagePort } from 'node:worker_threads'

/** @internal */
export interface SearchWorkerData {
  /** Marks the thread as a search worker, so importing this file anywhere else does nothing */
  kind: typeof SEARCH_WORKER_KIND
  difficulty: number
  reportIntervalMs: number
}

/** @internal */
export type SearchWorkerMessage =
  | { type: 'progress', attempts: number }
  | { type: 'found', attempts: number, seed: Uint8Array }

/** @internal */
export const SEARCH_WORKER_KIND = 'provenir-identity-search'

/** Keypairs tried between two looks at the clock: ~1 ms of work */
const BATCH = 32

function run (port: MessagePort, data: SearchWorkerData): void {
  const search = new NodeIdSearch(data.difficulty)
  let reported = 0
  let nextReport = performance.now() + data.reportIntervalMs

  while (true) {
    const seed = search.run(BATCH)

    if (seed != null) {
      const msg: SearchWorkerMessage = { type: 'found', attempts: search.attempts - reported, seed }
      port.postMessage(msg, [seed.buffer as ArrayBuffer])
      port.close()
      return
    }

    const now = performance.now()
    if (now >= nextReport) {
      const msg: SearchWorkerMessage = { type: 'progress', attempts: search.attempts - reported }
      port.postMessage(msg)
      reported = search.attempts
      nextReport = now + data.reportIntervalMs
    }
  }
}

if (parentPort != null && (workerData as Partial<SearchWorkerData> | null)?.kind === SEARCH_WORKER_KIND) {
  run(parentPort, workerData as SearchWorkerData)
}
