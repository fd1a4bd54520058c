import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { BufferPool } from '../src/buffer-pool.js'
import { hashOffThread, isShared } from '../src/off-thread-hash.js'

const MIB = 1024 * 1024

/** `bytes` copied into shared memory, at an offset into a larger buffer */
function shared (bytes: Uint8Array, offset = 7): Uint8Array {
  const view = new Uint8Array(new SharedArrayBuffer(bytes.byteLength + offset + 3), offset, bytes.byteLength)
  view.set(bytes)
  return view
}

describe('off-thread hash', () => {
  it('hashes bytes in shared memory on the worker, and others here, to the same digest', async () => {
    const bytes = new Uint8Array(randomBytes(MIB + 13))
    const expected = createHash('sha256').update(bytes).digest()
    const view = shared(bytes)
    assert.equal(isShared(view), true)
    assert.equal(isShared(bytes), false)
    assert.deepEqual(Buffer.from(await hashOffThread(view, 'sha256')), expected)
    assert.deepEqual(Buffer.from(await hashOffThread(bytes, 'sha256')), expected)
    assert.deepEqual(Buffer.from(await hashOffThread(shared(bytes), 'sha512')), createHash('sha512').update(bytes).digest())
    // many at once: each answer goes to its own call
    const blocks = Array.from({ length: 16 }, () => new Uint8Array(randomBytes(4096)))
    const digests = await Promise.all(blocks.map(async b => hashOffThread(shared(b), 'sha256')))
    for (let i = 0; i < blocks.length; i++) assert.deepEqual(Buffer.from(digests[i]), createHash('sha256').update(blocks[i]).digest())
  })

  it('a hash the worker cannot make fails as a WorkerCallError, and the worker goes on', async () => {
    await assert.rejects(hashOffThread(shared(new Uint8Array([1])), 'no-such-hash'), { name: 'WorkerCallError' })
    assert.deepEqual(Buffer.from(await hashOffThread(shared(new Uint8Array([1])), 'sha256')), createHash('sha256').update(new Uint8Array([1])).digest())
  })

  it('a shared BufferPool hands out buffers in shared memory, and takes them back', () => {
    const pool = new BufferPool(1024, 2, { shared: true })
    const a = pool.take()
    assert.equal(isShared(a), true)
    assert.equal(a.byteLength, 1024)
    pool.release(a.subarray(0, 10))
    assert.equal(pool.take().buffer, a.buffer)
    assert.equal(isShared(new BufferPool(1024, 2).take()), false)
  })
})
