import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { LazyWorker } from '../src/lazy-worker.js'
import type { HashAnswer } from '../src/off-thread-hash.js'

const HASH_WORKER = new URL('../src/hash-worker.js', import.meta.url)

describe('LazyWorker', () => {
  it('warm() starts the worker before any call, and it stops again once idle without one', async () => {
    const worker = new LazyWorker(HASH_WORKER, 300)
    assert.equal(worker.running, false)
    worker.warm()
    assert.equal(worker.running, true)
    // a call on the warmed worker is answered by it
    const bytes = new Uint8Array(16)
    const answer = await worker.call<HashAnswer>({ kind: 'block', algorithm: 'sha256', buffer: bytes.buffer, offset: 0, length: 16 }, [bytes.buffer])
    assert.equal(Buffer.from(answer.digest!).toString('hex'), '374708fff7719dd5979ec875d56cd2286f6d3cf7ec317a3b25632aab28ec37bb')
    await sleep(800)
    assert.equal(worker.running, false, 'an idle worker stops')
    // warmed and never called: it stops too
    worker.warm()
    assert.equal(worker.running, true)
    await sleep(800)
    assert.equal(worker.running, false, 'a warmed worker nobody called stops')
  })

  it('a call made while a worker stopped for idleness exits goes to a new worker, and is answered', async () => {
    const worker = new LazyWorker(HASH_WORKER, 20)
    const hash = async (): Promise<HashAnswer> => {
      const bytes = new Uint8Array(16)
      return worker.call<HashAnswer>({ kind: 'block', algorithm: 'sha256', buffer: bytes.buffer, offset: 0, length: 16 }, [bytes.buffer])
    }
    for (let i = 0; i < 5; i++) {
      await hash()
      // the idle timer has terminated it: its exit event comes later, while the next call runs
      while (worker.running) await new Promise(resolve => setImmediate(resolve))
      const answer = await hash()
      assert.equal(Buffer.from(answer.digest!).toString('hex'), '374708fff7719dd5979ec875d56cd2286f6d3cf7ec317a3b25632aab28ec37bb')
    }
  })
})
