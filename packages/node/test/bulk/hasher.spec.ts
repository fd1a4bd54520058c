import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { BlockHasher, INLINE_HASH_MAX, SharedBuffers } from '../../src/swarm/bulk/hasher.js'

const sha256 = (bytes: Uint8Array): Uint8Array => createHash('sha256').update(bytes).digest()

describe('bulk hashing thread', () => {
  const hasher = new BlockHasher()
  after(async () => { await hasher.close() })

  it('hashes blocks in shared buffers on the thread, and others on the spot, each right', async () => {
    const pool = new SharedBuffers(1 << 20, 4)
    const blocks = [1 << 20, 300_000, INLINE_HASH_MAX - 1, 1].map(n => randomBytes(n))
    const shared = blocks.map(b => {
      const buffer = pool.take().subarray(0, b.byteLength)
      buffer.set(b)
      return buffer
    })
    assert.ok(shared.every(b => b.buffer instanceof SharedArrayBuffer))
    const digests = await Promise.all([...shared, ...blocks].map(async b => hasher.digest('sha256', b)))
    assert.deepEqual(digests.map(d => Buffer.from(d).toString('hex')), [...blocks, ...blocks].map(b => Buffer.from(sha256(b)).toString('hex')))
    assert.deepEqual(Buffer.from(await hasher.digest('sha512', shared[0])), createHash('sha512').update(blocks[0]).digest())
  })

  it('a digest after close starts the thread again', async () => {
    await hasher.close()
    const pool = new SharedBuffers(1 << 20, 1)
    const buffer = pool.take()
    buffer.fill(7)
    assert.deepEqual(Buffer.from(await hasher.digest('sha256', buffer)), Buffer.from(sha256(buffer)))
  })

  it('the pool gives its buffers back out, and only its own', () => {
    const pool = new SharedBuffers(1024, 2)
    const a = pool.take()
    pool.release(a.subarray(0, 10))
    pool.release(new Uint8Array(1024))
    const again = pool.take()
    assert.equal(again.buffer, a.buffer)
    assert.equal(again.byteLength, 1024)
    assert.notEqual(pool.take().buffer, a.buffer)
  })
})
