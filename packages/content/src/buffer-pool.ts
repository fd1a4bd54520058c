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
  readonly #free: Array<Uint8Array<ArrayBuffer>> = []
  readonly #ours = new WeakSet<ArrayBufferLike>()
  readonly #idleMs?: number
  #timer?: ReturnType<typeof setTimeout>
  #used = false
  #made = 0

  /**
   * `idleMs`: free buffers are dropped once nothing was taken for that long,
   * so a pool that served one transfer does not hold its memory until the
   * next (the process's peak stays the transfer's, not the transfer's plus
   * whatever runs after it).
   */
  constructor (size = DEFAULT_CHUNK_SIZE, keep = 16, options: { idleMs?: number } = {}) {
    this.#size = size
    this.#keep = keep
    this.#idleMs = options.idleMs
  }

  take (): Uint8Array<ArrayBuffer> {
    this.#used = true
    const buffer = this.#free.pop()
    if (buffer != null) return buffer
    const made = new Uint8Array(this.#size)
    this.#made++
    this.#ours.add(made.buffer)
    return made
  }

  /**
   * Takes `chunk` as the pool's own: a view of one of its buffers that moved
   * to a worker thread and back (`hashTransferring`), whose memory is the
   * same but whose buffer object is new. Its buffer must be the pool's size.
   */
  adopt (chunk: Uint8Array): void {
    if (chunk.buffer.byteLength === this.#size) this.#ours.add(chunk.buffer)
  }

  /** Whether `chunk` is a view of one of the pool's buffers */
  owns (chunk: Uint8Array): boolean {
    return this.#ours.has(chunk.buffer)
  }

  release (chunk: Uint8Array): void {
    if (!this.#ours.has(chunk.buffer) || this.#free.length >= this.#keep) return
    if (this.#free.some(b => b.buffer === chunk.buffer)) return
    // only ArrayBuffers are the pool's own
    this.#free.push(new Uint8Array(chunk.buffer as ArrayBuffer, 0, this.#size))
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

  /** Buffers the pool made since it was created: fewer than it handed out when they were reused */
  get made (): number {
    return this.#made
  }

  /** Buffers waiting to be taken */
  get free (): number {
    return this.#free.length
  }
}
