/**
 * Small file helpers shared by the blockstore, its sync queue and import.
 *
 * @internal
 */

import { writeSync } from 'node:fs'
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

/**
 * The most bytes handed to the kernel in one write of a new file. A larger
 * write lets the kernel fill the page cache with large folios, and on the
 * Firecracker VMs this project runs and benchmarks on, their memory is often
 * memory the host has not backed yet: a 1 MiB write of a new block cost
 * 2.5 ms of system time per MB that way, against 0.2-0.6 ms in writes of
 * 64 KiB (a 315 MB pull: 0.7-1.4 s of B's system time; see BENCHMARKS.md,
 * "Writes into the page cache"). skopeo, in Go, writes 32 KiB at a time.
 */
export const FILE_WRITE_CHUNK = 64 * 1024

/**
 * Writes all of `bytes` to `file` at `position`, at most `FILE_WRITE_CHUNK`
 * bytes per call, however many calls short writes need.
 */
export async function writeFully (file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength;) {
    const length = Math.min(FILE_WRITE_CHUNK, bytes.byteLength - offset)
    offset += (await file.write(bytes, offset, length, position + offset)).bytesWritten
  }
}

/** `writeFully` with synchronous calls on a file descriptor, for a worker thread */
export function writeFullySync (fd: number, bytes: Uint8Array, position: number): void {
  for (let offset = 0; offset < bytes.byteLength;) {
    offset += writeSync(fd, bytes, offset, Math.min(FILE_WRITE_CHUNK, bytes.byteLength - offset), position + offset)
  }
}
