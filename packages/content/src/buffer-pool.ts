import { DEFAULT_CHUNK_SIZE } from './constants.js'

/**
 * Leaf-sized buffers a reader reuses, so serving a blob makes no garbage:
 * `take` one to read a leaf into, and `release` a chunk once its bytes are
 * no longer needed (written to a socket, say). A chunk whose buffer the pool
 * did not hand out is ignored; when every buffer is out, `take` makes another,
 * and the pool keeps at most `keep` of them.
 */
export class BufferPool {
  readonly #size: number
  readonly #keep: number
  readonly #free: Uint8Array[] = []
  readonly #ours = new WeakSet<ArrayBufferLike>()
  readonly #idleMs?: number
  readonly #shared: boolean
  #timer?: ReturnType<typeof setTimeout>
  #used = false

  /**
   * `idleMs`: free buffers are dropped once nothing was taken for that long,
   * so a pool that served one transfer does not hold its memory until the
   * next (the process's peak stays the transfer's, not the transfer's plus
   * whatever runs after it).
   *
   * `shared`: the buffers are in shared memory (`SharedArrayBuffer`), which
   * a worker thread reads without a copy (`off-thread-hash.ts`).
   */
  constructor (size = DEFAULT_CHUNK_SIZE, keep = 16, options: { idleMs?: number, shared?: boolean } = {}) {
    this.#size = size
    this.#keep = keep
    this.#idleMs = options.idleMs
    this.#shared = options.shared === true
  }

  take (): Uint8Array {
    this.#used = true
    const buffer = this.#free.pop()
    if (buffer != null) return buffer
    const made = this.#shared ? new Uint8Array(new SharedArrayBuffer(this.#size)) : new Uint8Array(this.#size)
    this.#ours.add(made.buffer)
    return made
  }

  release (chunk: Uint8Array): void {
    if (!this.#ours.has(chunk.buffer) || this.#free.length >= this.#keep) return
    if (this.#free.some(b => b.buffer === chunk.buffer)) return
    this.#free.push(new Uint8Array(chunk.buffer, 0, this.#size))
    this.#armTrim()
  }

  #armTrim (): void {
    if (this.#idleMs == null || this.#timer != null) return
    this.#used = false
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (this.#used) {
        this.#armTrim()
        return
      }
      this.#free.length = 0
    }, this.#idleMs)
    this.#timer.unref?.()
  }

  /** Drops the free buffers (those taken still come back, and are kept again) */
  trim (): void {
    this.#free.length = 0
  }

  /** Buffers waiting to be taken */
  get free (): number {
    return this.#free.length
  }
}
