/**
 * Group commit for `FsBlockstore`: block files are written and renamed into
 * place without waiting for the disk, and this queue makes them durable in
 * the background, a batch at a time: fdatasync of each file, fsync of each
 * shard directory, then one synced level write that clears the batch's dirty
 * marks. A caller that needs durability (a pin, a close) waits with
 * `flush()`; nothing else waits for the disk.
 *
 * @internal
 */

import { open } from 'node:fs/promises'
import { isErrno } from './fs-util.js'
import type { BytesLevel, BytesSublevel } from './level.js'

export interface UnsyncedBlock {
  /** The block's multihash: the key of its index entry and its dirty mark */
  key: Uint8Array
  /** The block file */
  path: string
  /** Its shard directory */
  dir: string
}

export interface SyncQueueInit {
  db: BytesLevel
  dirty: BytesSublevel
  /** Blocks made durable in one round */
  batchSize: number
  /** fsyncs in flight at once (each holds a libuv thread) */
  concurrency: number
  /** Blocks written and not yet durable before `add` makes its caller wait */
  maxUnsynced: number
}

interface Waiter {
  seq: number
  resolve(): void
  reject(err: Error): void
}

/** fsync of a file or directory; a file deleted meanwhile needs none */
async function syncPath (path: string, data: boolean): Promise<void> {
  let handle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return
    throw err
  }
  try {
    await (data ? handle.datasync() : handle.sync())
  } finally {
    await handle.close()
  }
}

async function eachLimit <T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      await fn(items[next++])
    }
  }))
}

export class SyncQueue {
  readonly #init: SyncQueueInit
  readonly #pending: Array<UnsyncedBlock & { seq: number }> = []
  /** Paths of the blocks waiting, with how many writes of each wait */
  readonly #paths = new Map<string, number>()
  readonly #waiters: Waiter[] = []
  #written = 0
  #durable = 0
  #running = false
  #error?: Error

  constructor (init: SyncQueueInit) {
    this.#init = init
  }

  /** Blocks written and not yet durable */
  get unsynced (): number {
    return this.#written - this.#durable
  }

  /**
   * Queues a block whose file is in place and whose index entry and dirty
   * mark are written. Resolves at once, unless more than `maxUnsynced` blocks
   * wait for the disk: then once the backlog is back under it.
   */
  async add (block: UnsyncedBlock): Promise<void> {
    const seq = ++this.#written
    this.#pending.push({ ...block, seq })
    this.#paths.set(block.path, (this.#paths.get(block.path) ?? 0) + 1)
    this.#kick()
    if (seq - this.#durable > this.#init.maxUnsynced) {
      await this.#until(seq - this.#init.maxUnsynced)
    }
  }

  /** Whether a write of the file at `path` still waits for the disk */
  has (path: string): boolean {
    return this.#paths.has(path)
  }

  /** Resolves once every block added before the call is durable; rejects if making one durable failed */
  async flush (): Promise<void> {
    await this.#until(this.#written)
  }

  async #until (seq: number): Promise<void> {
    if (this.#error != null) throw this.#error
    if (this.#durable >= seq) return
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    this.#waiters.push({ seq, resolve, reject })
    await promise
  }

  #kick (): void {
    if (this.#running || this.#error != null) return
    this.#running = true
    void this.#run()
  }

  async #run (): Promise<void> {
    const { db, dirty, batchSize, concurrency } = this.#init
    for (;;) {
      if (this.#pending.length === 0) {
        // in the same turn as the check, with no await between: an `add` after it starts a new run
        this.#running = false
        return
      }
      const batch = this.#pending.splice(0, batchSize)
      try {
        await eachLimit(batch, concurrency, async block => { await syncPath(block.path, true) })
        await eachLimit([...new Set(batch.map(b => b.dir))], concurrency, async dir => { await syncPath(dir, false) })
        await db.batch(batch.map(b => ({ type: 'del' as const, sublevel: dirty, key: b.key })), { sync: true })
      } catch (err: any) {
        // the dirty marks stay: the next open checks those blocks again
        this.#error = err
        this.#running = false
        for (const waiter of this.#waiters.splice(0)) waiter.reject(err)
        return
      }
      this.#durable = batch[batch.length - 1].seq
      for (const { path } of batch) {
        const n = (this.#paths.get(path) ?? 1) - 1
        if (n <= 0) this.#paths.delete(path)
        else this.#paths.set(path, n)
      }
      for (let i = this.#waiters.length - 1; i >= 0; i--) {
        if (this.#waiters[i].seq <= this.#durable) {
          this.#waiters[i].resolve()
          this.#waiters.splice(i, 1)
        }
      }
    }
  }
}
