/**
 * Hashes a sequence of files in order on a worker thread: the whole-blob
 * digest check of a fetched blob, whose leaves are block files already
 * written, without its reads and hashing on the event loop (a 315 MB pull
 * spent 0.2-0.3 s of its main thread there, while the transfer of the next
 * blob waited for it; see BENCHMARKS.md).
 *
 * One worker serves the process, started on first use and stopped once idle
 * for {@link DIGEST_WORKER_IDLE_MS}; it never keeps the process alive.
 *
 * @internal
 */

import { Worker } from 'node:worker_threads'
import { AbortError, ProvenirError } from '@provenir/interface'
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
export type DigestAnswer =
  | { id: number, digest: string, sizes: number[] } |
  { id: number, cancelled: true } |
  { id: number, error: { message: string, code?: string } }

export interface FileDigest {
  /** The hex digest of the files' bytes, one after another */
  digest: string
  /** Each file's size, in the order given */
  sizes: number[]
}

/** The digest worker stops once it has had no job for this long, in ms */
export const DIGEST_WORKER_IDLE_MS = 10_000

/** A file the worker could not read (the error's `code` is the system's: ENOENT, EACCES, ...) */
export class FileDigestError extends ProvenirError {
  static override name = 'FileDigestError'
  override name = 'FileDigestError'
  readonly code?: string
  constructor (message: string, code?: string) {
    super(message)
    if (code != null) this.code = code
  }
}

interface Pending {
  resolve(result: FileDigest): void
  reject(err: Error): void
}

let worker: Worker | undefined
let nextId = 0
const pending = new Map<number, Pending>()
let idleTimer: ReturnType<typeof setTimeout> | undefined

function failAll (err: Error): void {
  for (const job of pending.values()) job.reject(err)
  pending.clear()
}

function stopWhenIdle (): void {
  clearTimeout(idleTimer)
  if (pending.size > 0) return
  idleTimer = setTimeout(() => {
    if (pending.size > 0 || worker == null) return
    const w = worker
    worker = undefined
    void w.terminate()
  }, DIGEST_WORKER_IDLE_MS)
  idleTimer.unref()
}

function startWorker (): Worker {
  const w = new Worker(new URL('./digest-worker.js', import.meta.url))
  // a job in flight holds it (ref), an idle one does not keep the process alive
  w.unref()
  w.on('message', (answer: DigestAnswer) => {
    const job = pending.get(answer.id)
    if (job == null) return
    pending.delete(answer.id)
    if (pending.size === 0) w.unref()
    if ('digest' in answer) job.resolve({ digest: answer.digest, sizes: answer.sizes })
    else if ('error' in answer) job.reject(new FileDigestError(answer.error.message, answer.error.code))
    else job.reject(new AbortError('the digest was cancelled'))
    stopWhenIdle()
  })
  const gone = (err: Error): void => {
    if (worker === w) worker = undefined
    failAll(err)
  }
  w.on('error', err => { gone(new FileDigestError(`the digest worker failed: ${err.message}`)) })
  w.on('exit', code => { gone(new FileDigestError(`the digest worker exited with code ${code}`)) })
  return w
}

/**
 * Hashes the files at `paths`, in that order, as one stream of bytes.
 *
 * @throws FileDigestError when a file cannot be read (its `code` says why) or the worker fails
 * @throws AbortError when `signal` aborts first (the worker stops at the next file)
 */
export async function digestFiles (paths: string[], algorithm: string, options: AbortOptions = {}): Promise<FileDigest> {
  options.signal?.throwIfAborted()
  worker ??= startWorker()
  const w = worker
  clearTimeout(idleTimer)
  const id = nextId++
  const cancel = new SharedArrayBuffer(4)
  const result = new Promise<FileDigest>((resolve, reject) => { pending.set(id, { resolve, reject }) })
  const onAbort = (): void => { Atomics.store(new Int32Array(cancel), 0, 1) }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  w.ref()
  w.postMessage({ id, algorithm, paths, cancel } satisfies DigestJob)
  try {
    return await result
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
  }
}
