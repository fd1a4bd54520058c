import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { difficultyGater, generateIdentity, nodeIdDifficulty } from '../src/index.js'
import { keyWithExactDifficulty, stubLogger } from './utils.js'
import type { MultiaddrConnection, PeerId } from '@libp2p/interface'

const C1 = 8
/** The gater does not look at the connection; a placeholder is enough */
const maConn = {} as unknown as MultiaddrConnection

describe('difficultyGater', () => {
  let below: PeerId
  let exact: PeerId
  let above: PeerId

  before(async () => {
    below = (await keyWithExactDifficulty(C1 - 1)).peerId
    exact = (await keyWithExactDifficulty(C1)).peerId
    above = peerIdFromPrivateKey(await generateIdentity({ difficulty: C1 + 2 }))
    assert.equal(nodeIdDifficulty(below), C1 - 1)
    assert.equal(nodeIdDifficulty(exact), C1)
    assert.ok(nodeIdDifficulty(above) >= C1 + 2)
  })

  it('refuses a peer one bit below c1 via each of the three hooks, counting, logging and reporting each', async () => {
    const logger = stubLogger()
    const refused: Array<[string, string]> = []
    const gater = difficultyGater({ difficulty: C1, logger, onRefuse: (peer, direction) => refused.push([peer.toString(), direction]) })

    assert.equal(await gater.denyDialPeer?.(below), true)
    assert.deepEqual(gater.refusals, { inbound: 0, outbound: 1 })
    assert.equal(await gater.denyInboundEncryptedConnection?.(below, maConn), true)
    assert.deepEqual(gater.refusals, { inbound: 1, outbound: 1 })
    assert.equal(await gater.denyOutboundEncryptedConnection?.(below, maConn), true)
    assert.deepEqual(gater.refusals, { inbound: 1, outbound: 2 })

    assert.deepEqual(refused, [
      [below.toString(), 'outbound'],
      [below.toString(), 'inbound'],
      [below.toString(), 'outbound']
    ])
    assert.equal(logger.lines.length, 3)
    for (const line of logger.lines) {
      assert.equal(line.component, 'provenir:gater')
      assert.equal(line.level, 'log')
      assert.ok(line.args.includes(below))
    }
  })

  it('accepts peers at and above c1 in both directions', async () => {
    const logger = stubLogger()
    let calls = 0
    const gater = difficultyGater({ difficulty: C1, logger, onRefuse: () => { calls++ } })
    for (const peer of [exact, above]) {
      assert.equal(await gater.denyDialPeer?.(peer), false)
      assert.equal(await gater.denyInboundEncryptedConnection?.(peer, maConn), false)
      assert.equal(await gater.denyOutboundEncryptedConnection?.(peer, maConn), false)
    }
    assert.deepEqual(gater.refusals, { inbound: 0, outbound: 0 })
    assert.equal(calls, 0)
    assert.equal(logger.lines.length, 0)
  })

  it('implements only the peer hooks', () => {
    const gater = difficultyGater({ difficulty: C1 })
    assert.equal(gater.denyDialMultiaddr, undefined)
    assert.equal(gater.denyInboundConnection, undefined)
    assert.equal(gater.filterMultiaddrForPeer, undefined)
  })

  it('refuses nobody at difficulty 0, and works without a logger or onRefuse', async () => {
    const open = difficultyGater({ difficulty: 0 })
    const random = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    assert.equal(await open.denyDialPeer?.(random), false)
    assert.equal(await open.denyInboundEncryptedConnection?.(below, maConn), false)

    const strict = difficultyGater({ difficulty: C1 })
    assert.equal(await strict.denyInboundEncryptedConnection?.(below, maConn), true)
    assert.deepEqual(strict.refusals, { inbound: 1, outbound: 0 })
  })

  it('still refuses when onRefuse throws, and logs the error', async () => {
    const logger = stubLogger()
    const gater = difficultyGater({ difficulty: C1, logger, onRefuse: () => { throw new Error('boom') } })
    assert.equal(await gater.denyDialPeer?.(below), true)
    assert.ok(logger.lines.some(l => l.level === 'error'))
  })

  it('rejects an invalid difficulty at construction', () => {
    for (const difficulty of [-1, 65, 0.5, Number.NaN]) {
      assert.throws(() => difficultyGater({ difficulty }), { name: 'InvalidParametersError' })
    }
  })
})
