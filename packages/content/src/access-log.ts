/**
 * When each digest (a manifest or a blob) was last read or written, for
 * least-recently-used eviction. A read only sets a number in a map: the
 * times reach `level` in one batch every ACCESS_FLUSH_INTERVAL (or once
 * MAX_PENDING_ACCESSES wait), so serving a blob costs no write. A crash
 * loses the last interval's times, which only makes those digests look
 * older than they are; it never loses content.
 */

import { ACCESS_FLUSH_INTERVAL, MAX_PENDING_ACCESSES } from './constants.js'
import type { IndexSublevel } from './image-index.js'

export interface AccessLogInit {
  /** Where the times are kept (a sublevel of the image index's database) */
  db: IndexSublevel
  /** @default ACCESS_FLUSH_INTERVAL (30 s) */
  flushInterval?: number
  /** Clock, in ms since the epoch. @default Date.now */
  now?: () => number
}

export class AccessLog {
  readonly #db: IndexSublevel
  readonly #pending = new Map<string, number>()
  readonly #interval: number
  readonly #now: () => number
  #timer?: ReturnType<typeof setInterval>
  #flushing: Promise<void> = Promise.resolve()

  constructor (init: AccessLogInit) {
    this.#db = init.db
    this.#interval = init.flushInterval ?? ACCESS_FLUSH_INTERVAL
    this.#now = init.now ?? Date.now
  }

  /** Starts the periodic flush (the timer does not keep the process alive) */
  start (): void {
    if (this.#timer != null) return
    this.#timer = setInterval(() => { void this.flush().catch(() => {}) }, this.#interval)
    this.#timer.unref()
  }

  /** Stops the timer and writes what waits */
  async stop (): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.flush()
  }

  /** Records that `digests` were used now */
  touch (...digests: string[]): void {
    const now = this.#now()
    for (const digest of digests) this.#pending.set(digest, now)
    if (this.#pending.size >= MAX_PENDING_ACCESSES) void this.flush().catch(() => {})
  }

  /** When `digest` was last used (ms since the epoch), or 0 when never recorded */
  async lastUsed (digest: string): Promise<number> {
    const pending = this.#pending.get(digest)
    if (pending != null) return pending
    const stored = await this.#db.get(digest)
    return stored == null ? 0 : Number(stored)
  }

  /** Forgets `digests` (their content is gone) */
  async forget (digests: string[]): Promise<void> {
    for (const digest of digests) this.#pending.delete(digest)
    await this.#db.batch(digests.map(key => ({ type: 'del' as const, key })))
  }

  /** Writes the times waiting in memory, in one batch */
  async flush (): Promise<void> {
    const previous = this.#flushing
    const run = (async () => {
      await previous.catch(() => {})
      if (this.#pending.size === 0) return
      const entries = [...this.#pending]
      this.#pending.clear()
      await this.#db.batch(entries.map(([key, time]) => ({ type: 'put' as const, key, value: String(time) })))
    })()
    this.#flushing = run
    await run
  }
}
