/**
 * A promise-chain mutex: `run()` calls one function at a time, in call order.
 * Pinning and garbage collection share one so that a block cannot be pinned
 * between gc's "is it pinned?" check and its delete.
 *
 * @internal
 */
export class Mutex {
  #tail: Promise<void> = Promise.resolve()

  async run <T> (fn: () => Promise<T>): Promise<T> {
    const previous = this.#tail
    let release!: () => void
    this.#tail = new Promise<void>(resolve => { release = resolve })
    await previous
    try {
      return await fn()
    } finally {
      release()
    }
  }
}
