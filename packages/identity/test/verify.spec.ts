import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { sha256 } from '@noble/hashes/sha2.js'
import { kademliaKey, nodeIdDifficulty, verifyNodeId } from '../src/index.js'
import { keyWithExactDifficulty } from './utils.js'

/** Leading zero bits, counted the slow and obvious way. */
function zeroBits (digest: Uint8Array): number {
  const bits = [...digest].map(b => b.toString(2).padStart(8, '0')).join('')
  const one = bits.indexOf('1')
  return one === -1 ? bits.length : one
}

describe('verifyNodeId / nodeIdDifficulty / kademliaKey', () => {
  it('hashes the PeerId multihash bytes with sha256', async () => {
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const bytes = peerId.toMultihash().bytes
    assert.equal(bytes.byteLength, 38)
    assert.deepEqual([...bytes.subarray(0, 6)], [0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
    const expected = sha256(bytes)
    assert.deepEqual(kademliaKey(peerId), expected)
    assert.deepEqual(kademliaKey(bytes), expected)
    assert.equal(kademliaKey(peerId).constructor, Uint8Array)
    assert.equal(nodeIdDifficulty(peerId), zeroBits(expected))
    assert.equal(nodeIdDifficulty(bytes), zeroBits(expected))
  })

  it('agrees with a slow count over many keys', async () => {
    for (let i = 0; i < 300; i++) {
      const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
      const d = zeroBits(sha256(peerId.toMultihash().bytes))
      assert.equal(nodeIdDifficulty(peerId), d)
      assert.equal(verifyNodeId(peerId, d), true)
      assert.equal(verifyNodeId(peerId, d + 1), false)
    }
  })

  it('refuses a key one bit below c1 and accepts it at c1 - 1', async () => {
    const c1 = 8
    const { peerId } = await keyWithExactDifficulty(c1 - 1)
    assert.equal(verifyNodeId(peerId, c1), false)
    assert.equal(verifyNodeId(peerId.toMultihash().bytes, c1), false)
    assert.equal(verifyNodeId(peerId, c1 - 1), true)
    assert.equal(verifyNodeId(peerId, 0), true)
    // the same key, parsed back from its string form
    assert.equal(verifyNodeId(peerIdFromString(peerId.toString()), c1), false)
  })

  it('rejects an out-of-range c1', async () => {
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    for (const c1 of [-1, 65, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => verifyNodeId(peerId, c1), { name: 'InvalidParametersError' })
    }
  })
})
