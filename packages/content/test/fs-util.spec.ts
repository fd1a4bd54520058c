import assert from 'node:assert/strict'
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { FILE_WRITE_CHUNK, writeFully } from '../src/fs-util.js'
import { tempDir } from './fixtures.js'
import type { FileHandle } from 'node:fs/promises'

describe('writeFully', () => {
  it('writes a block larger than a chunk in calls of at most FILE_WRITE_CHUNK bytes, and the file holds every byte', async () => {
    const dir = await tempDir()
    try {
      const bytes = new Uint8Array(2.5 * FILE_WRITE_CHUNK + 17).map((_, i) => (i * 31) & 0xff)
      const file = await open(join(dir.path, 'f'), 'wx')
      const lengths: number[] = []
      const counting = new Proxy(file, {
        get: (target, prop) => prop === 'write'
          ? async (buffer: Uint8Array, offset: number, length: number, position: number) => { lengths.push(length); return target.write(buffer, offset, length, position) }
          : Reflect.get(target, prop).bind(target)
      })
      try {
        await writeFully(counting, bytes, 0)
      } finally {
        await file.close()
      }
      assert.deepEqual(lengths, [FILE_WRITE_CHUNK, FILE_WRITE_CHUNK, FILE_WRITE_CHUNK / 2 + 17])
      assert.deepEqual(new Uint8Array(await readFile(join(dir.path, 'f'))), bytes)
    } finally {
      await dir.remove()
    }
  })

  it('finishes after short writes, at the right positions', async () => {
    // a file handle that takes at most 1,000 bytes a call, as a kernel may
    const written = new Uint8Array(5000)
    const calls: Array<{ position: number, length: number }> = []
    const short = {
      write: async (buffer: Uint8Array, offset: number, length: number, position: number) => {
        const n = Math.min(length, 1000)
        written.set(buffer.subarray(offset, offset + n), position)
        calls.push({ position, length })
        return { bytesWritten: n, buffer }
      }
    } as unknown as FileHandle
    const bytes = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff)
    await writeFully(short, bytes, 2000)
    assert.deepEqual(calls.map(c => c.position), [2000, 3000, 4000])
    assert.deepEqual(written.subarray(2000), bytes)
    assert.ok(written.subarray(0, 2000).every(b => b === 0))
  })
})
