/**
 * The bootstrap dialer's schedule, with stubbed components and node:test's
 * mock clock: rounds while the node has no connection, the wait doubling
 * from the minimum to the bound and staying there; none while connected; a
 * fresh start from the minimum after the last connection closes. (Real
 * nodes: `lan.spec.ts`, "bootstrap peers are dialled again".)
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { BootstrapDialer } from '../src/index.js'
import type { BootstrapDialerComponents } from '../src/index.js'

const MIN = 100
const MAX = 500

async function flush (): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise(resolve => setImmediate(resolve))
}

describe('bootstrap dialer: backoff', () => {
  let dials: number[]
  /** The bootstrap peer accepts dials */
  let reachable: boolean
  /** The node has a connection */
  let connected: boolean
  const events = new EventTarget()

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 })
    dials = []
    reachable = false
    connected = false
  })
  afterEach(() => { mock.timers.reset() })

  async function dialer (): Promise<BootstrapDialer> {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const components = {
      peerStore: { merge: async () => {} },
      events,
      logger: defaultLogger(),
      connectionManager: {
        openConnection: async () => {
          dials.push(Date.now())
          if (!reachable) throw new Error('connection refused')
          connected = true
          return {}
        },
        getConnections: () => connected ? [{}] : []
      }
    } as unknown as BootstrapDialerComponents
    const d = new BootstrapDialer(components, { list: [`/ip4/127.0.0.1/tcp/1/p2p/${id.toString()}`], minDelay: MIN, maxDelay: MAX })
    await d.start()
    d.afterStart()
    return d
  }

  async function runFor (ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 10) {
      mock.timers.tick(10)
      await flush()
    }
  }

  it('doubles the wait from the minimum to the bound, and stays at the bound', async () => {
    const d = await dialer()
    await flush()
    await runFor(3_000)
    await d.stop()
    const gaps = dials.slice(1).map((t, i) => t - dials[i])
    assert.deepEqual(gaps.slice(0, 4), [MIN, 2 * MIN, 4 * MIN, MAX], `the waits: ${gaps.join(', ')}`)
    assert.ok(gaps.length >= 6 && gaps.slice(3).every(g => g === MAX), `never above the bound: ${gaps.join(', ')}`)
  })

  it('stops while connected, and starts again from the minimum when the last connection closes', async () => {
    const d = await dialer()
    await flush()
    await runFor(1_000)
    reachable = true
    const before = dials.length
    await runFor(MAX + 10)
    assert.equal(dials.length, before + 1, `one more round, which connected: ${dials.join(', ')}`)
    await runFor(3_000)
    assert.equal(dials.length, before + 1, 'no round while connected')

    reachable = false
    connected = false
    const closedAt = Date.now()
    events.dispatchEvent(new Event('peer:disconnect'))
    await runFor(MIN + 10)
    assert.equal(dials.length, before + 2, 'a round after the minimum wait')
    assert.equal(dials[dials.length - 1] - closedAt, MIN)
    await d.stop()
  })
})
