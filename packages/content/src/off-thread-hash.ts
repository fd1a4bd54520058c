/**
 * Hashing on a worker thread, for bytes the event loop would otherwise hash
 * itself while transfers wait for it:
 *
 * - `hashTransferring`: a block received over the bulk channel, against its
 *   CID. The bytes' buffer is transferred to the worker and back (moved,
 *   not copied), so the worker holds no reference to it once it answered.
 * - `digestFiles`: the whole-blob digest check of a fetched blob whose
 *   leaves are block files already written, read there (a 315 MB pull spent
 *   0.2-0.3 s of its main thread on that read-back, while the transfer of
 *   the next blob waited);
 * - `FileDigestStream`: the same check while a fetch stores the leaves in
 *   order (the gateway's), each leaf's file read there as it is added.
 * - `OffThreadWrites`: an FsBlockstore's block files of 64 KiB-1 MiB,
 *   written there (open, write, close, rename, stat) instead of through
 *   libuv's pool from the event loop.
 *
 * One worker serves them all (`lazy-worker.ts`: started on first use, stopped
 * once idle, never keeping the process alive); a second one would cost
 * another 12-18 MB of the daemon's memory.
 *
 * Sending the worker the leaves' bytes instead of their files measured no
 * faster through the gateway (3.02-3.95 s against 2.82-3.77 s, 6 pulls
 * each): each leaf's buffer is held until the worker's answer reaches a busy
 * event loop, and the fetch's window waits for it. A file needs no answer.
 *
 * @internal
 */

import { createHash } from 'node:crypto'
import { AbortError } from '@provenir/interface'
import { LazyWorker } from './lazy-worker.js'
import type { WorkerAnswer } from './lazy-worker.js'
import type { StampStats } from './file-stamps.js'
import type { AbortOptions } from '@provenir/interface'

/** A block to hash: its buffer moves to the worker */
export interface BlockJob {
  kind: 'block'
  id: number
  algorithm: string
  buffer: ArrayBuffer
  offset: number
  length: number
}

/** Files to hash in order as one stream */
export interface FilesJob {
  kind: 'files'
  id: number
  algorithm: string
  paths: string[]
  /** an Int32Array's buffer: non-zero once the caller gave up on the job */
  cancel: SharedArrayBuffer
}

/** A leaf's file, hashed after the ones added to the same stream before it */
export interface StreamAddJob {
  kind: 'stream-add'
  id: number
  stream: number
  /** the stream's first file: the worker starts the hash */
  first: boolean
  algorithm: string
  path: string
}

/** The stream's digest (or, with `drop`, its end without one) */
export interface StreamEndJob {
  kind: 'stream-end'
  id: number
  stream: number
  drop?: boolean
}

/** A block file to write: the first `length` bytes of `buffer` (shared, not copied) */
export interface WriteJob {
  kind: 'write'
  id: number
  buffer: SharedArrayBuffer
  length: number
  /** written first, with O_EXCL */
  tmp: string
  /** renamed to once written */
  path: string
}

export interface HashAnswer extends WorkerAnswer {
  /** a written file's stamp */
  stamp?: StampStats
  /** a block's digest, and its buffer back */
  digest?: Uint8Array
  buffer?: ArrayBuffer
  /** the files' hex digest and each one's size */
  hex?: string
  sizes?: number[]
  cancelled?: true
}

export interface FileDigest {
  /** The hex digest of the files' bytes, one after another */
  digest: string
  /** Each file's size, in the order given */
  sizes: number[]
}

const worker = new LazyWorker(new URL('./hash-worker.js', import.meta.url))
let nextStream = 0

/**
 * The digest of `bytes`, hashed on the hash worker, and the same bytes back
 * in a new view of the same memory: `bytes` and every other view of its
 * buffer are detached (empty) from the call on, so the caller must hold no
 * other view of it (a buffer of its own, or a `BufferPool`'s, which
 * `adopt`s the view returned).
 *
 * @throws WorkerCallError, WorkerFailedError when the worker cannot hash them (the bytes are lost)
 */
export async function hashTransferring (bytes: Uint8Array<ArrayBuffer>, algorithm: string): Promise<{ digest: Uint8Array, bytes: Uint8Array<ArrayBuffer> }> {
  const { buffer, byteOffset: offset, byteLength: length } = bytes
  const answer = await worker.call<HashAnswer>({ kind: 'block', algorithm, buffer, offset, length }, [buffer])
  if (answer.digest == null || answer.buffer == null) throw new Error('the hash worker gave no digest')
  return { digest: answer.digest, bytes: new Uint8Array(answer.buffer, offset, length) }
}

/**
 * Block files written on the hash worker. A block's bytes are copied into
 * one of a few buffers shared with the worker, which writes them to a
 * temporary file, renames it into place and stats it, with synchronous
 * calls. On the event loop the same write is ~20 trips through libuv's
 * thread pool (open, a write per chunk, close, rename, stat), each a
 * promise and a thread woken; on the worker it is one message there and
 * back, and the event loop never waits on the pool for a block's file
 * (BENCHMARKS.md, "Block files written on the hash worker").
 */
export class OffThreadWrites {
  /** The largest block written this way; a larger one is the caller's to write */
  readonly maxSize: number
  readonly #slots: number
  readonly #free: SharedArrayBuffer[] = []
  readonly #waiting: Array<(buffer: SharedArrayBuffer) => void> = []
  #made = 0

  /**
   * @param slots - buffers of `maxSize` bytes, each made when first needed: the most writes handed to the worker at once
   */
  constructor (maxSize: number, slots: number) {
    this.maxSize = maxSize
    this.#slots = slots
  }

  async #take (): Promise<SharedArrayBuffer> {
    const free = this.#free.pop()
    if (free != null) return free
    if (this.#made < this.#slots) {
      this.#made++
      return new SharedArrayBuffer(this.maxSize)
    }
    return new Promise(resolve => { this.#waiting.push(resolve) })
  }

  /**
   * Writes `bytes` to `tmp` (which must not exist) and renames it to `path`;
   * resolves with the file's stats once it is there (not yet durable).
   *
   * @throws WorkerCallError when a file operation fails (its `code` says why); `tmp` may be left
   * @throws WorkerFailedError when the worker fails first; `tmp` may be left
   */
  async write (tmp: string, path: string, bytes: Uint8Array): Promise<StampStats> {
    if (bytes.byteLength > this.maxSize) throw new RangeError(`${bytes.byteLength} bytes is more than the ${this.maxSize} an off-thread write takes`)
    const buffer = await this.#take()
    try {
      new Uint8Array(buffer, 0, bytes.byteLength).set(bytes)
      const answer = await worker.call<HashAnswer>({ kind: 'write', buffer, length: bytes.byteLength, tmp, path })
      if (answer.stamp == null) throw new Error('the hash worker gave no stamp')
      return answer.stamp
    } finally {
      // the worker is done with it: it answered, or it is gone
      const next = this.#waiting.shift()
      if (next != null) next(buffer)
      else this.#free.push(buffer)
    }
  }
}

/**
 * Starts the hash worker if it is not running: a transfer about to begin
 * calls this so its first block does not wait ~90 ms for the worker's start.
 */
export function warmHashWorker (): void {
  worker.warm()
}

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
    const answer = await worker.call<HashAnswer>({ kind: 'files', algorithm, paths, cancel })
    if (answer.hex == null || answer.sizes == null) throw new AbortError('the digest was cancelled')
    return { digest: answer.hex, sizes: answer.sizes }
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/**
 * Files hashed in order on the hash worker as they are added, as one stream
 * of bytes: a blob's leaves as a fetch stores them in order. `add` neither
 * waits nor throws; a file the worker cannot read, or a worker that fails or
 * stopped (10 s without a call), shows in `digest`.
 */
export class FileDigestStream {
  readonly #algorithm: string
  readonly #stream = nextStream++
  #added = 0
  #ended = false
  #failed?: Error

  constructor (algorithm: string) {
    this.#algorithm = algorithm
  }

  /** Queues the file at `path` after those added before it */
  add (path: string): void {
    if (this.#ended) return
    const first = this.#added === 0
    this.#added++
    worker.call({ kind: 'stream-add', stream: this.#stream, first, algorithm: this.#algorithm, path }).catch((err: Error) => { this.#failed ??= err })
  }

  /**
   * The digest of every file added, and each one's size.
   *
   * @throws WorkerCallError, WorkerFailedError when a file could not be read or the worker failed
   */
  async digest (): Promise<FileDigest> {
    this.#ended = true
    if (this.#added === 0) return { digest: createHash(this.#algorithm).digest('hex'), sizes: [] }
    const answer = await worker.call<HashAnswer>({ kind: 'stream-end', stream: this.#stream })
    if (this.#failed != null) throw this.#failed
    if (answer.hex == null || answer.sizes == null) throw new Error('the hash worker gave no digest')
    return { digest: answer.hex, sizes: answer.sizes }
  }

  /** Ends the stream without its digest: the worker forgets it */
  drop (): void {
    if (this.#ended) return
    this.#ended = true
    if (this.#added > 0) worker.call({ kind: 'stream-end', stream: this.#stream, drop: true }).catch(() => {})
  }
}
