import { randomUUID } from 'node:crypto'
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { base32upper } from 'multiformats/bases/base32'
import { InvalidConfigError } from '@provenir/interface'
import { BaseContentBlockstore } from './blockstore.js'
import { bytesLevel } from './level.js'
import type { BlockstoreInit } from './blockstore.js'

export interface FsBlockstoreInit extends BlockstoreInit {
  /**
   * Repo directory. Blocks go in `<path>/blocks`, the level index and pins in
   * `<path>/index`, writes in progress in `<path>/tmp`.
   */
  path: string
}

/**
 * The file name and shard of a block, as Kubo's flatfs names them
 * (`/repo/flatfs/shard/v1/next-to-last/2`): base32 upper of the multihash,
 * without padding or multibase prefix, in a directory named by its next-to-last
 * two characters. (The last character of a 34-byte multihash in base32 holds
 * only 2 bits, so sharding on the last two would give 128 directories, not 1024.)
 *
 * @internal
 */
export function blockPath (key: Uint8Array): { shard: string, name: string } {
  const name = base32upper.baseEncode(key)
  return { shard: name.slice(-3, -1), name: `${name}.data` }
}

/** The multihash a block file is named after, or undefined if `name` is not a block file's name. */
function keyOf (name: string): Uint8Array | undefined {
  if (!name.endsWith('.data')) return undefined
  try {
    const key = base32upper.baseDecode(name.slice(0, -'.data'.length))
    return blockPath(key).name === name ? key : undefined
  } catch {
    return undefined
  }
}

function isErrno (err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code
}

/**
 * Blocks stored as files in sharded directories, with `level` holding the
 * index and the pins. A block is written to `tmp/`, fsynced, renamed into its
 * shard (and the shard directory fsynced), and only then indexed: the index is
 * the record of what is stored, so a crash leaves a block either indexed and
 * whole, or unindexed. Unfinished tmp files are removed on `open()`; block
 * files that were never indexed ("strays") are removed by `gc()`.
 */
export class FsBlockstore extends BaseContentBlockstore {
  readonly #blocks: string
  readonly #tmp: string
  readonly #shards = new Set<string>()
  /** Block file names with a write, delete or sweep in progress, so the three never interleave on one file */
  readonly #busy = new Map<string, Promise<void>>()

  constructor (init: FsBlockstoreInit) {
    if (typeof init.path !== 'string' || init.path.length === 0) {
      throw new InvalidConfigError('FsBlockstore needs a path')
    }
    super(bytesLevel(join(init.path, 'index')), init)
    this.#blocks = join(init.path, 'blocks')
    this.#tmp = join(init.path, 'tmp')
  }

  protected override async openStorage (): Promise<void> {
    await mkdir(this.#blocks, { recursive: true })
    await rm(this.#tmp, { recursive: true, force: true })
    await mkdir(this.#tmp, { recursive: true })
    for (const shard of await readdir(this.#blocks)) {
      this.#shards.add(shard)
    }
  }

  async #exclusive <T> (name: string, fn: () => Promise<T>): Promise<T> {
    // no await between the last check and the set, so two callers cannot both pass
    for (let busy = this.#busy.get(name); busy != null; busy = this.#busy.get(name)) {
      await busy
    }
    let release!: () => void
    this.#busy.set(name, new Promise<void>(resolve => { release = resolve }))
    try {
      return await fn()
    } finally {
      this.#busy.delete(name)
      release()
    }
  }

  protected async writeBlock (key: Uint8Array, info: Uint8Array, bytes: Uint8Array): Promise<void> {
    const { shard, name } = blockPath(key)
    await this.#exclusive(name, async () => this.#write(key, info, bytes, shard, name))
  }

  async #write (key: Uint8Array, info: Uint8Array, bytes: Uint8Array, shard: string, name: string): Promise<void> {
    const dir = join(this.#blocks, shard)
    if (!this.#shards.has(shard)) {
      await mkdir(dir, { recursive: true })
      this.#shards.add(shard)
    }
    const tmp = join(this.#tmp, `${randomUUID()}.tmp`)
    try {
      const file = await open(tmp, 'wx')
      try {
        await file.writeFile(bytes)
        if (this.sync) await file.sync()
      } finally {
        await file.close()
      }
      await rename(tmp, join(dir, name))
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    }
    if (this.sync) {
      const handle = await open(dir, 'r')
      try {
        await handle.sync()
      } finally {
        await handle.close()
      }
    }
    await this.db.batch([{ type: 'put', sublevel: this.index, key, value: info }], { sync: this.sync })
  }

  protected async readBlock (key: Uint8Array): Promise<Uint8Array | undefined> {
    if (!(await this.index.has(key))) {
      return undefined
    }
    const { shard, name } = blockPath(key)
    try {
      return await readFile(join(this.#blocks, shard, name))
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined
      throw err
    }
  }

  protected override async readBlockInto (key: Uint8Array, target: Uint8Array): Promise<Uint8Array | undefined> {
    if (!(await this.index.has(key))) {
      return undefined
    }
    const { shard, name } = blockPath(key)
    let file
    try {
      file = await open(join(this.#blocks, shard, name), 'r')
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined
      throw err
    }
    try {
      let length = 0
      for (;;) {
        if (length === target.byteLength) {
          // it may not fit: a larger block is read whole (the positional reads left the file offset at 0)
          const { size } = await file.stat()
          if (size === length) return target.subarray(0, length)
          return await file.readFile()
        }
        const { bytesRead } = await file.read(target, length, target.byteLength - length, length)
        if (bytesRead === 0) return target.subarray(0, length)
        length += bytesRead
      }
    } finally {
      await file.close()
    }
  }

  protected async deleteBlock (key: Uint8Array): Promise<void> {
    const { shard, name } = blockPath(key)
    await this.#exclusive(name, async () => {
      await this.db.batch([{ type: 'del', sublevel: this.index, key }], { sync: this.sync })
      await rm(join(this.#blocks, shard, name), { force: true })
    })
  }

  /**
   * Removes block files with no index entry: left by a crash between the
   * rename and the index write, or by a delete that stopped after its index
   * entry went. Files that are not block files are left alone.
   */
  protected override async sweepStrays (): Promise<{ files: number, bytes: number }> {
    let files = 0
    let bytes = 0
    for (const shard of await readdir(this.#blocks)) {
      let names: string[]
      try {
        names = await readdir(join(this.#blocks, shard))
      } catch (err) {
        if (isErrno(err, 'ENOTDIR') || isErrno(err, 'ENOENT')) continue
        throw err
      }
      for (const name of names) {
        const key = keyOf(name)
        if (key == null || blockPath(key).shard !== shard) continue
        const file = join(this.#blocks, shard, name)
        await this.#exclusive(name, async () => {
          if (await this.index.has(key)) return
          try {
            const { size } = await stat(file)
            await rm(file)
            files++
            bytes += size
          } catch (err) {
            if (!isErrno(err, 'ENOENT')) throw err
          }
        })
      }
    }
    return { files, bytes }
  }
}
