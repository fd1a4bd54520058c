import fs from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { ProvenirError } from '@provenir/interface'

/** node:crypto, loaded by the first temporary name: most commands write no file, and its ESM import costs ~7 ms of every start */
const load = createRequire(import.meta.url)

/** A unique temporary name beside `file`, in the same directory (so rename is atomic). */
export function tmpName (file: string): string {
  const { randomBytes } = load('node:crypto') as typeof import('node:crypto')
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
}

/** fsync a directory so that a rename in it is durable. Best effort: some filesystems refuse. */
export async function fsyncDir (dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined
  try {
    fh = await fs.open(dir, 'r')
    await fh.sync()
  } catch {
    // not every platform lets a directory be opened or synced
  } finally {
    await fh?.close().catch(() => {})
  }
}

export interface WriteAtomicOptions {
  /** File mode of the new file */
  mode: number
  /**
   * Fail with EEXIST instead of replacing an existing file. The check and the
   * write are one atomic step (link(2)), so two writers cannot both win.
   *
   * @default false
   */
  exclusive?: boolean
}

/**
 * Write `data` to `file` atomically: a temp file in the same directory is
 * written, fsynced, then renamed (or linked, when `exclusive`) into place. A
 * crash leaves the old file or the new one, never a half-written one.
 */
export async function writeFileAtomic (file: string, data: string | Uint8Array, options: WriteAtomicOptions): Promise<void> {
  const tmp = tmpName(file)
  let fh: fs.FileHandle | undefined
  try {
    fh = await fs.open(tmp, 'wx', options.mode)
    await fh.writeFile(data)
    // the umask may have narrowed the mode; set it exactly
    await fh.chmod(options.mode)
    await fh.sync()
    await fh.close()
    fh = undefined
    if (options.exclusive === true) {
      await fs.link(tmp, file)
      await fs.unlink(tmp)
    } else {
      await fs.rename(tmp, file)
    }
    await fsyncDir(path.dirname(file))
  } catch (err) {
    await fh?.close().catch(() => {})
    await fs.rm(tmp, { force: true }).catch(() => {})
    throw err
  }
}

/**
 * Read `file`, refusing one larger than `maxBytes` (the error comes from
 * `tooLarge`), so a huge or endless file is never buffered whole.
 */
export async function readFileBounded (file: string, maxBytes: number, tooLarge: (message: string) => Error = m => new ProvenirError(m)): Promise<Buffer> {
  const fh = await fs.open(file, 'r')
  try {
    const buf = Buffer.alloc(maxBytes + 1)
    let length = 0
    while (length < buf.length) {
      const { bytesRead } = await fh.read(buf, length, buf.length - length, null)
      if (bytesRead === 0) break
      length += bytesRead
    }
    if (length > maxBytes) {
      throw tooLarge(`${file}: larger than ${maxBytes} bytes`)
    }
    return buf.subarray(0, length)
  } finally {
    await fh.close()
  }
}

/** True when `file` exists (of any type). Errors other than ENOENT are thrown. */
export async function exists (file: string): Promise<boolean> {
  try {
    await fs.lstat(file)
    return true
  } catch (err: any) {
    if (err?.code === 'ENOENT') return false
    throw err
  }
}

/** Node's system errors carry a `code`; this reads it without a cast at every call site. */
export function errorCode (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}
