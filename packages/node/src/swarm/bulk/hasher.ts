/**
 * Hashing received blocks off the event loop. The event loop of a pulling
 * node decrypts TLS, copies each piece of a block into its buffer and
 * writes blocks to the store; the sha256 of every byte (a quarter of its
 * CPU for a large pull) runs on a worker thread beside it, so on a host
 * with a core to spare a pull is bound by the wire or the disk, not by the
 * hash.
 *
 * A block is handed over without a copy: it is received into a buffer on a
 * SharedArrayBuffer (`SharedBuffers`), and only its offset and length cross
 * to the worker. A block too small to be worth a message, or in a buffer
 * of its own, is hashed on the spot.
 */

import { createHash } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import type { ReceiveBuffers } from './client.js'

/** Blocks under this many bytes are hashed on the event loop: a message round trip costs more */
export const INLINE_HASH_MAX = 64 * 1024

const WORKER = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
parentPort.on('message', ({ id, algorithm, buffer, offset, length }) => {
  try {
    const digest = createHash(algorithm).update(new Uint8Array(buffer, offset, length)).digest()
    parentPort.postMessage({ id, digest })
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message) })
  }
})
`

interface Job {
  resolve(digest: Uint8Array): void
  reject(err: Error): void
}

export class BlockHasher {
  #worker?: Worker
  readonly #jobs = new Map<number, Job>()
  #nextId = 0

  /** The digest of `bytes` with `algorithm` (node's name for it), from the worker when `bytes` lie on shared memory */
  async digest (algorithm: string, bytes: Uint8Array): Promise<Uint8Array> {
    if (bytes.byteLength < INLINE_HASH_MAX || !(bytes.buffer instanceof SharedArrayBuffer)) {
      return createHash(algorithm).update(bytes).digest()
    }
    const worker = this.#start()
    const id = this.#nextId++
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#jobs.set(id, { resolve, reject })
      // a digest being computed keeps the process alive; an idle thread does not
      if (this.#jobs.size === 1) worker.ref()
      worker.postMessage({ id, algorithm, buffer: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength })
    })
  }

  #start (): Worker {
    if (this.#worker != null) return this.#worker
    const worker = new Worker(WORKER, { eval: true })
    worker.unref()
    worker.on('message', ({ id, digest, error }: { id: number, digest?: Uint8Array, error?: string }) => {
      const job = this.#jobs.get(id)
      this.#jobs.delete(id)
      if (this.#jobs.size === 0) worker.unref()
      if (digest != null) job?.resolve(digest)
      else job?.reject(new Error(`hashing failed: ${error ?? 'unknown'}`))
    })
    worker.on('error', (err) => { this.#fail(err) })
    worker.on('exit', () => {
      this.#worker = undefined
      this.#fail(new Error('the hashing thread exited'))
    })
    this.#worker = worker
    return worker
  }

  #fail (err: Error): void {
    for (const job of this.#jobs.values()) job.reject(err)
    this.#jobs.clear()
  }

  /** Ends the thread (a later digest starts another) */
  async close (): Promise<void> {
    const worker = this.#worker
    this.#worker = undefined
    await worker?.terminate()
  }
}

/**
 * Receive buffers on shared memory, reused: the hashing thread reads a block
 * where it was received, and a fresh 1 MiB buffer for every block would cost
 * a page fault per 4 KiB on first touch.
 */
export class SharedBuffers implements ReceiveBuffers {
  readonly size: number
  readonly #keep: number
  readonly #free: Uint8Array[] = []
  readonly #ours = new WeakSet<ArrayBufferLike>()

  constructor (size: number, keep: number) {
    this.size = size
    this.#keep = keep
  }

  take (): Uint8Array {
    const free = this.#free.pop()
    if (free != null) return free
    const made = new Uint8Array(new SharedArrayBuffer(this.size))
    this.#ours.add(made.buffer)
    return made
  }

  /** Takes back a buffer from `take` (any view of it); anything else is ignored */
  release (buffer: Uint8Array): void {
    if (!this.#ours.has(buffer.buffer) || this.#free.length >= this.#keep) return
    if (this.#free.some(b => b.buffer === buffer.buffer)) return
    this.#free.push(new Uint8Array(buffer.buffer, 0, this.size))
  }
}
