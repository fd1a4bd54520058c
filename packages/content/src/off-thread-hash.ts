/**
 * Hashing on a worker thread, for bytes the event loop would otherwise hash
 * itself: a received block against its CID (the bulk channel), a blob's
 * leaves in order against its digest. Bytes in shared memory (a
 * `BufferPool` made with `shared`) reach the worker without a copy; others
 * are copied into the message.
 *
 * @internal
 */

import { createHash } from 'node:crypto'
import { LazyWorker } from './lazy-worker.js'
import type { WorkerAnswer } from './lazy-worker.js'

export type HashRequest =
  | { id: number, op: 'digest', algorithm: string, bytes: Uint8Array } |
  { id: number, op: 'update', stream: number, first: boolean, algorithm: string, bytes: Uint8Array } |
  { id: number, op: 'final', stream: number } |
  { id: number, op: 'drop', stream: number }

export interface HashAnswer extends WorkerAnswer {
  /** the digest of a `digest` request */
  digest?: Uint8Array
  /** the hex digest of a `final` request */
  hex?: string
}

const worker = new LazyWorker(new URL('./hash-worker.js', import.meta.url))
let nextStream = 0

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
      const answer = await worker.call<HashAnswer>({ op: 'digest', algorithm, bytes })
      if (answer.digest != null) return answer.digest
    } catch (err: any) {
      if (err?.name !== 'WorkerFailedError') throw err
    }
  }
  return createHash(algorithm).update(bytes).digest()
}

/**
 * A hash the worker keeps: updates are hashed there in the order given.
 * When the worker fails, `update` and `digest` throw and the hash is lost;
 * the caller starts over another way.
 */
export class OffThreadHash {
  readonly #algorithm: string
  readonly #stream = nextStream++
  #started = false
  #ended = false

  constructor (algorithm: string) {
    this.#algorithm = algorithm
  }

  /**
   * Hashes `bytes` after every earlier update; resolves once the worker has
   * read them (the caller may then reuse their buffer).
   *
   * @throws WorkerCallError or WorkerFailedError when the worker lost the hash
   */
  async update (bytes: Uint8Array): Promise<void> {
    const first = !this.#started
    this.#started = true
    await worker.call({ op: 'update', stream: this.#stream, first, algorithm: this.#algorithm, bytes })
  }

  /** The hex digest of every update; the hash is gone after it */
  async digest (): Promise<string> {
    this.#ended = true
    if (!this.#started) return createHash(this.#algorithm).digest('hex')
    const answer = await worker.call<HashAnswer>({ op: 'final', stream: this.#stream })
    if (answer.hex == null) throw new Error('the hash worker gave no digest')
    return answer.hex
  }

  /** Forgets the hash without its digest (the fetch it checked failed) */
  drop (): void {
    if (this.#ended || !this.#started) return
    this.#ended = true
    worker.call({ op: 'drop', stream: this.#stream }).catch(() => {})
  }
}
