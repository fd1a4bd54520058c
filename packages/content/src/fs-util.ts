/**
 * Small file helpers shared by the blockstore, its sync queue and import.
 *
 * @internal
 */

import type { FileHandle } from 'node:fs/promises'

/** Whether `err` is a system error with this `code` (ENOENT, ENOTDIR, ...) */
export function isErrno (err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code
}

/**
 * Reads from the start of `file` into `buffer` until it is full or the file
 * ends (positional reads: the file offset is left where it was); returns the
 * bytes read.
 */
export async function readFully (file: FileHandle, buffer: Uint8Array): Promise<number> {
  let length = 0
  while (length < buffer.byteLength) {
    const { bytesRead } = await file.read(buffer, length, buffer.byteLength - length, length)
    if (bytesRead === 0) break
    length += bytesRead
  }
  return length
}
