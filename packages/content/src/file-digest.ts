/**
 * Hashes a sequence of files in order on a worker thread: the whole-blob
 * digest check of a fetched blob, whose leaves are block files already
 * written, without its reads and hashing on the event loop (a 315 MB pull
 * spent 0.2-0.3 s of its main thread there, while the transfer of the next
 * blob waited for it; see BENCHMARKS.md).
 *
 * One worker serves the process (`lazy-worker.ts`): started on first use,
 * stopped once idle, never keeping the process alive.
 *
 * @internal
 */

import { AbortError } from '@provenir/interface'
import { LazyWorker } from './lazy-worker.js'
import type { WorkerAnswer } from './lazy-worker.js'
import type { AbortOptions } from '@provenir/interface'

/** A job for the digest worker */
export interface DigestJob {
  id: number
  algorithm: string
  paths: string[]
  /** an Int32Array's buffer: non-zero once the caller gave up on the job */
  cancel: SharedArrayBuffer
}

/** The digest worker's answer to one job */
export interface DigestAnswer extends WorkerAnswer {
  digest?: string
  sizes?: number[]
  cancelled?: true
}

export interface FileDigest {
  /** The hex digest of the files' bytes, one after another */
  digest: string
  /** Each file's size, in the order given */
  sizes: number[]
}

const worker = new LazyWorker(new URL('./digest-worker.js', import.meta.url))

/**
 * Hashes the files at `paths`, in that order, as one stream of bytes.
 *
 * @throws WorkerCallError when a file cannot be read (its `code` says why: ENOENT, EISDIR, ...)
 * @throws WorkerFailedError when the worker fails
 * @throws AbortError when `signal` aborts first (the worker stops at the next file)
 */
export async function digestFiles (paths: string[], algorithm: string, options: AbortOptions = {}): Promise<FileDigest> {
  options.signal?.throwIfAborted()
  const cancel = new SharedArrayBuffer(4)
  const onAbort = (): void => { Atomics.store(new Int32Array(cancel), 0, 1) }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const answer = await worker.call<DigestAnswer>({ algorithm, paths, cancel })
    if (answer.digest == null || answer.sizes == null) throw new AbortError('the digest was cancelled')
    return { digest: answer.digest, sizes: answer.sizes }
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
  }
}
