import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateIdentity, nodeIdDifficulty, verifyNodeId } from '../src/index.js'
import { liveMessagePorts } from './utils.js'
import type { IdentityProgress } from '../src/index.js'

/** Far above what a test can reach: the search only ends by abort. */
const UNREACHABLE = 48

describe('generateIdentity', () => {
  it('makes Ed25519 identities that meet c1 = 8, every time', async () => {
    const before = liveMessagePorts()
    for (let i = 0; i < 20; i++) {
      const key = await generateIdentity({ difficulty: 8 })
      assert.equal(key.type, 'Ed25519')
      const peerId = peerIdFromPrivateKey(key)
      assert.equal(verifyNodeId(peerId, 8), true)
      assert.ok(nodeIdDifficulty(peerId) >= 8)
      // the key signs, and its public key verifies
      const msg = new TextEncoder().encode(`provenir ${i}`)
      assert.equal(await key.publicKey.verify(msg, await key.sign(msg)), true)
    }
    assert.equal(liveMessagePorts(), before, 'every worker is terminated')
  })

  it('uses as many workers as asked, including one', async () => {
    const key = await generateIdentity({ difficulty: 6, workers: 1 })
    assert.equal(verifyNodeId(peerIdFromPrivateKey(key), 6), true)
    const key3 = await generateIdentity({ difficulty: 6, workers: 3 })
    assert.equal(verifyNodeId(peerIdFromPrivateKey(key3), 6), true)
  })

  it('returns at once for difficulty 0', async () => {
    const events: IdentityProgress[] = []
    const key = await generateIdentity({ difficulty: 0, onProgress: evt => events.push(evt.detail) })
    assert.equal(key.type, 'Ed25519')
    assert.equal(events.length, 1)
    assert.equal(events[0].attempts, 1)
    assert.equal(events[0].etaSeconds, 0)
  })

  it('rejects bad parameters with InvalidParametersError', async () => {
    for (const difficulty of [-1, 65, 2.5, Number.NaN, '8' as unknown as number, undefined as unknown as number]) {
      await assert.rejects(generateIdentity({ difficulty }), { name: 'InvalidParametersError' })
    }
    for (const workers of [0, -1, 1.5, 100000]) {
      await assert.rejects(generateIdentity({ difficulty: 4, workers }), { name: 'InvalidParametersError' })
    }
  })

  it('rejects with AbortError when the signal has already aborted', async () => {
    const before = liveMessagePorts()
    await assert.rejects(generateIdentity({ difficulty: 8, signal: AbortSignal.abort() }), { name: 'AbortError' })
    assert.equal(liveMessagePorts(), before)
  })

  it('aborts an unreachable search with AbortError, terminates its workers, and can search again', async () => {
    const before = liveMessagePorts()
    const controller = new AbortController()
    let progressEvents = 0
    const search = generateIdentity({
      difficulty: UNREACHABLE,
      workers: 2,
      signal: controller.signal,
      onProgress: () => {
        progressEvents++
        // the workers are running: abort now
        controller.abort()
      }
    })
    await assert.rejects(search, (err: Error) => {
      assert.equal(err.name, 'AbortError')
      return true
    })
    assert.ok(progressEvents >= 1)
    assert.equal(liveMessagePorts(), before, 'no worker is left running')

    const key = await generateIdentity({ difficulty: 4 })
    assert.equal(verifyNodeId(peerIdFromPrivateKey(key), 4), true)
    assert.equal(liveMessagePorts(), before)
  })

  it('aborts through AbortSignal.timeout, even when the listener throws on the final event', async () => {
    const before = liveMessagePorts()
    await assert.rejects(generateIdentity({ difficulty: UNREACHABLE, signal: AbortSignal.timeout(100) }), { name: 'AbortError' })
    await assert.rejects(generateIdentity({
      difficulty: UNREACHABLE,
      signal: AbortSignal.timeout(100),
      onProgress: () => { throw new Error('listener failed') }
    }), { name: 'AbortError' })
    assert.equal(liveMessagePorts(), before)
  })

  it('reports progress with sane numbers, a few times a second, and a final event', async () => {
    const controller = new AbortController()
    const events: IdentityProgress[] = []
    const types = new Set<string>()
    const search = generateIdentity({
      difficulty: UNREACHABLE,
      signal: controller.signal,
      onProgress: evt => {
        types.add(evt.type)
        events.push(evt.detail)
        if (events.length === 4) controller.abort()
      }
    })
    await assert.rejects(search, { name: 'AbortError' })

    assert.deepEqual([...types], ['identity:progress'])
    assert.equal(events.length, 5, 'four while searching and a final one')
    const expected = 2 ** UNREACHABLE
    for (let i = 0; i < events.length; i++) {
      const e = events[i]
      assert.equal(e.expected, expected)
      assert.ok(e.attempts > 0 && Number.isInteger(e.attempts))
      assert.ok(e.elapsedSeconds > 0)
      assert.ok(Math.abs(e.rate - e.attempts / e.elapsedSeconds) <= e.rate * 1e-9)
      assert.ok(Number.isFinite(e.etaSeconds) && e.etaSeconds > 0)
      assert.ok(Math.abs(e.etaSeconds - expected / e.rate) <= e.etaSeconds * 1e-9)
      if (i > 0) {
        assert.ok(e.attempts >= events[i - 1].attempts, 'attempts never go down')
        assert.ok(e.elapsedSeconds > events[i - 1].elapsedSeconds)
      }
    }
    // throttled: at least PROGRESS_INTERVAL_MS between events while searching
    for (let i = 1; i < 4; i++) {
      assert.ok(events[i].elapsedSeconds - events[i - 1].elapsedSeconds >= 0.2)
    }
  })

  it('ends with a final progress event when it finds a key', async () => {
    const events: IdentityProgress[] = []
    const key = await generateIdentity({ difficulty: 4, onProgress: evt => events.push(evt.detail) })
    assert.equal(verifyNodeId(peerIdFromPrivateKey(key), 4), true)
    const last = events.at(-1)
    assert.ok(last != null)
    assert.ok(last.attempts >= 1)
    assert.equal(last.expected, 16)
    assert.equal(last.etaSeconds, 0)
  })

  it('rejects with the error an onProgress listener throws, and stops the workers', async () => {
    const before = liveMessagePorts()
    await assert.rejects(generateIdentity({
      difficulty: UNREACHABLE,
      onProgress: () => { throw new Error('listener failed') }
    }), { message: 'listener failed' })
    assert.equal(liveMessagePorts(), before)
  })
})
