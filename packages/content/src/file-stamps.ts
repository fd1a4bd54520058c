/**
 * A memo of block files whose bytes this process has hashed, keyed by the
 * file's identity and change time, so that a verified read of a file nobody
 * has changed since need not hash it again.
 *
 * A file's stamp is its device, inode, size, ctime and mtime in nanoseconds.
 * Every write through the file system, a rename over it, a truncation or a
 * `utimes` moves ctime, which no unprivileged caller can set back. So a file
 * whose stamp is the one it had when its bytes were hashed holds those bytes,
 * unless the medium itself rotted them (which no stamp shows, and which the
 * `provenir verify` / export paths and every OCI client's digest check still
 * catch).
 *
 * Timestamps have a granularity. Where the kernel hands out coarse ones (one
 * clock tick, 1 to 4 ms), a same-size rewrite within the tick of the stamp
 * would leave ctime unchanged. Linux 6.13+ gives ext4, xfs, btrfs and tmpfs
 * multigrain timestamps: once a stamp has been read, the next change gets a
 * fine-grained one. `probeFineTimestamps` tests the store's own file system
 * at open; where it finds coarse timestamps, a stamp is only remembered once
 * the file is `COARSE_STAMP_AGE_MS` old, git's rule for "racily clean" files.
 *
 * @internal
 */

import { open, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { BigIntStats } from 'node:fs'

/** How old a file's ctime must be before its stamp is trusted where timestamps are coarse */
export const COARSE_STAMP_AGE_MS = 1000

/** What a file's stamp is taken from: a `stat` with `bigint: true`, or those of its fields */
export type StampStats = Pick<BigIntStats, 'dev' | 'ino' | 'size' | 'ctimeNs' | 'mtimeNs'>

/** The identity and change times of a file, as one string */
export function stampOf (st: StampStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.ctimeNs}:${st.mtimeNs}`
}

/**
 * Whether this file system gives a change right after a stat a new ctime
 * (multigrain or fine timestamps). Writes, stats and rewrites a probe file in
 * `dir` a few times; any unchanged ctime means coarse.
 */
export async function probeFineTimestamps (dir: string): Promise<boolean> {
  const file = join(dir, `stamp-probe-${process.pid}.tmp`)
  try {
    const handle = await open(file, 'w')
    try {
      for (let i = 0; i < 5; i++) {
        await handle.write(new Uint8Array([i]), 0, 1, 0)
        const before = await handle.stat({ bigint: true })
        await handle.write(new Uint8Array([i + 100]), 0, 1, 0)
        const after = await handle.stat({ bigint: true })
        if (before.ctimeNs === after.ctimeNs) return false
      }
      return true
    } finally {
      await handle.close()
    }
  } catch {
    return false
  } finally {
    await rm(file, { force: true })
  }
}

/**
 * A bounded memo (least recently used goes first) of block key -> the stamp
 * its file had when its bytes were last hashed or written from checked bytes.
 */
export class VerifiedFiles {
  readonly #max: number
  readonly #fine: boolean
  readonly #stamps = new Map<string, { stamp: string, size: number }>()

  /**
   * @param max - entries kept; 0 keeps none (every verified read hashes)
   * @param fine - the file system's timestamps change on every write after a stat (`probeFineTimestamps`)
   */
  constructor (max: number, fine: boolean) {
    this.#max = max
    this.#fine = fine
  }

  get size (): number {
    return this.#stamps.size
  }

  /** Whether the file's stamp is the one remembered for `key` */
  matches (key: string, st: StampStats): boolean {
    const entry = this.#stamps.get(key)
    if (entry == null || entry.stamp !== stampOf(st)) return false
    this.#stamps.delete(key)
    this.#stamps.set(key, entry)
    return true
  }

  /** The size of the file remembered for `key`, if any */
  sizeOf (key: string): number | undefined {
    return this.#stamps.get(key)?.size
  }

  /**
   * Remembers the stamp of a file whose bytes were just hashed, or written from
   * checked bytes. Where timestamps are coarse, a file changed in the last
   * `COARSE_STAMP_AGE_MS` is not remembered: a rewrite in the same tick would
   * not show.
   */
  remember (key: string, st: StampStats, now = Date.now()): void {
    if (this.#max === 0) return
    if (!this.#fine && Number(st.ctimeNs / 1_000_000n) > now - COARSE_STAMP_AGE_MS) return
    this.#stamps.delete(key)
    this.#stamps.set(key, { stamp: stampOf(st), size: Number(st.size) })
    if (this.#stamps.size > this.#max) {
      const oldest = this.#stamps.keys().next().value
      if (oldest != null) this.#stamps.delete(oldest)
    }
  }

  /** Remembers the stamp of the file at `path` (after a write) */
  async rememberPath (key: string, path: string): Promise<void> {
    if (this.#max === 0) return
    this.remember(key, await stat(path, { bigint: true }))
  }

  forget (key: string): void {
    this.#stamps.delete(key)
  }

  clear (): void {
    this.#stamps.clear()
  }
}
