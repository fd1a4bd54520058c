import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { BufferPool } from '../src/buffer-pool.js'
import { OffThreadHash, hashOffThread, isShared } from '../src/off-thread-hash.js'

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

  it('a stream hashes its updates in order, shared or not; each stream is its own', async () => {
    const parts = Array.from({ length: 5 }, (_, i) => new Uint8Array(randomBytes(1000 * (i + 1))))
    const expected = createHash('sha256')
    for (const p of parts) expected.update(p)
    const a = new OffThreadHash('sha256')
    const b = new OffThreadHash('sha256')
    for (let i = 0; i < parts.length; i++) {
      await a.update(i % 2 === 0 ? shared(parts[i]) : parts[i])
      await b.update(parts[parts.length - 1 - i])
    }
    assert.equal(await a.digest(), expected.digest('hex'))
    const reversed = createHash('sha256')
    for (const p of [...parts].reverse()) reversed.update(p)
    assert.equal(await b.digest(), reversed.digest('hex'))
    // no update: the digest of nothing
    assert.equal(await new OffThreadHash('sha256').digest(), createHash('sha256').digest('hex'))
  })

  it('a dropped stream is gone: its next update fails rather than start a hash over', async () => {
    const h = new OffThreadHash('sha256')
    await h.update(new Uint8Array([1, 2, 3]))
    h.drop()
    await assert.rejects(h.update(new Uint8Array([4])), { name: 'WorkerCallError' })
    await assert.rejects(new OffThreadHash('no-such-hash').update(new Uint8Array([1])), { name: 'WorkerCallError' })
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
