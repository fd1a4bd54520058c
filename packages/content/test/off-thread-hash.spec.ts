import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { BufferPool } from '../src/buffer-pool.js'
import { OffThreadWrites, hashTransferring } from '../src/off-thread-hash.js'
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const MIB = 1024 * 1024

/** `bytes` copied into a buffer of their own, at an offset into it */
function own (bytes: Uint8Array, offset = 7): Uint8Array<ArrayBuffer> {
  const view = new Uint8Array(new ArrayBuffer(bytes.byteLength + offset + 3), offset, bytes.byteLength)
  view.set(bytes)
  return view
}

describe('off-thread hash', () => {
  it('hashes bytes on the worker and gives them back unchanged, their old view detached', async () => {
    const bytes = new Uint8Array(randomBytes(MIB + 13))
    const view = own(bytes)
    const { digest, bytes: back } = await hashTransferring(view, 'sha256')
    assert.deepEqual(Buffer.from(digest), createHash('sha256').update(bytes).digest())
    assert.equal(view.byteLength, 0)
    assert.equal(back.byteOffset, 7)
    assert.deepEqual(back, bytes)
    assert.deepEqual(Buffer.from((await hashTransferring(own(bytes), 'sha512')).digest), createHash('sha512').update(bytes).digest())
    // many at once: each answer goes to its own call
    const blocks = Array.from({ length: 16 }, () => new Uint8Array(randomBytes(4096)))
    const answers = await Promise.all(blocks.map(async b => hashTransferring(own(b), 'sha256')))
    for (let i = 0; i < blocks.length; i++) {
      assert.deepEqual(Buffer.from(answers[i].digest), createHash('sha256').update(blocks[i]).digest())
      assert.deepEqual(answers[i].bytes, blocks[i])
    }
  })

  it('a hash the worker cannot make fails as a WorkerCallError, and the worker goes on', async () => {
    await assert.rejects(hashTransferring(own(new Uint8Array([1])), 'no-such-hash'), { name: 'WorkerCallError' })
    assert.deepEqual(Buffer.from((await hashTransferring(own(new Uint8Array([1])), 'sha256')).digest), createHash('sha256').update(new Uint8Array([1])).digest())
  })

  it('a BufferPool takes back a buffer of its own that moved to the worker and back, and no other', async () => {
    const pool = new BufferPool(1024, 2)
    const taken = pool.take()
    const { bytes } = await hashTransferring(taken.subarray(0, 100), 'sha256')
    // a new buffer object over the same memory: not the pool's until adopted
    pool.release(bytes)
    assert.equal(pool.free, 0)
    pool.adopt(bytes)
    pool.release(bytes)
    assert.equal(pool.free, 1)
    assert.equal(pool.take().buffer, bytes.buffer)
    // a buffer of another size is not adopted
    const foreign = new Uint8Array(2048)
    pool.adopt(foreign)
    pool.release(foreign)
    assert.equal(pool.free, 0)
  })

  it('OffThreadWrites: more writes than slots all land whole, each renamed into place with its stamp', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenir-offthread-'))
    try {
      const writes = new OffThreadWrites(64 * 1024, 2)
      const blocks = Array.from({ length: 7 }, (_, i) => new Uint8Array(randomBytes(i === 0 ? 64 * 1024 : 1000 + i)))
      const stamps = await Promise.all(blocks.map(async (b, i) => writes.write(join(dir, `${i}.tmp`), join(dir, `${i}.data`), b)))
      for (let i = 0; i < blocks.length; i++) {
        assert.deepEqual(new Uint8Array(await readFile(join(dir, `${i}.data`))), blocks[i])
        const st = await stat(join(dir, `${i}.data`), { bigint: true })
        assert.deepEqual(stamps[i], { dev: st.dev, ino: st.ino, size: st.size, ctimeNs: st.ctimeNs, mtimeNs: st.mtimeNs })
      }
      assert.deepEqual((await readdir(dir)).filter(f => f.endsWith('.tmp')), [])
      await assert.rejects(writes.write(join(dir, 'x.tmp'), join(dir, 'x.data'), new Uint8Array(64 * 1024 + 1)), RangeError)
      // an existing tmp is not overwritten (O_EXCL), and the error names its cause
      await assert.rejects(writes.write(join(dir, '0.data'), join(dir, 'y.data'), blocks[1]), { name: 'WorkerCallError', code: 'EEXIST' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
