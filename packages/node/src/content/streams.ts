/**
 * Streams of the content path: the held-back last chunk that makes a
 * verified stream, a byte slice, and the one-fetch-per-key map that
 * concurrent requests share.
 */

/**
 * Yields `source`, holding its last chunk back until the source has ended
 * without error and `done` has resolved: the reader gets the end of a blob
 * only once the whole blob has matched its digest. A blob that fails its
 * check (in the source, or in `done`) breaks the stream short, so a reader
 * that counts bytes against the size never holds all of a bad blob. When
 * `done` rejects first, the stream breaks at once rather than reading the
 * rest of a blob already known to be bad (the source's reads stop with the
 * reader's signal).
 */
export async function * withheldEnd (source: AsyncIterable<Uint8Array>, done: Promise<void> = Promise.resolve()): AsyncGenerator<Uint8Array> {
  const failed = done.then(async () => new Promise<never>(() => {}))
  failed.catch(() => {})
  const iterator = source[Symbol.asyncIterator]()
  let held: Uint8Array | undefined
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), failed])
      if (next.done === true) break
      if (held != null) yield held
      held = next.value
    }
  } catch (err) {
    // a read may still be pending: the iterator finishes once it settles
    void Promise.resolve(iterator.return?.()).catch(() => {})
    throw err
  }
  await done
  if (held != null) yield held
}

/** Skips `start` bytes and yields up to `length` more */
export async function * slice (source: AsyncIterable<Uint8Array>, start: number, length: number): AsyncGenerator<Uint8Array> {
  let pos = 0
  let left = length
  for await (const chunk of source) {
    if (left <= 0) break
    const from = Math.max(0, start - pos)
    pos += chunk.byteLength
    if (from >= chunk.byteLength) continue
    const part = chunk.subarray(from, Math.min(chunk.byteLength, from + left))
    left -= part.byteLength
    yield part
  }
}

/**
 * Settles with `promise`, or rejects once `signal` aborts: with `timedOut()`
 * when it aborted for time, else with its reason. The promise goes on (other
 * callers may share it).
 */
export async function raceSignal<T> (promise: Promise<T>, signal: AbortSignal | undefined, timedOut: () => Error): Promise<T> {
  if (signal == null) return promise
  let onAbort!: () => void
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject((signal.reason as Error | undefined)?.name === 'TimeoutError' ? timedOut() : signal.reason) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/**
 * One fetch per key however many callers ask at once: the first caller's
 * `start` runs, the others share its promise, and the key is free again
 * once it settles.
 */
export class SingleFlight<T> {
  readonly #running = new Map<string, Promise<T>>()

  async run (key: string, start: () => Promise<T>): Promise<T> {
    const running = this.#running.get(key)
    if (running != null) return running
    const promise = start().finally(() => { this.#running.delete(key) })
    this.#running.set(key, promise)
    return promise
  }

  get size (): number {
    return this.#running.size
  }
}
