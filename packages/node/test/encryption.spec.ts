import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode, DEFAULT_CONFIG } from '../src/index.js'
import type { EncryptionName, ProvenirNode } from '../src/index.js'

async function nodeWith (encryption: EncryptionName[]): Promise<ProvenirNode> {
  return createNode({
    privateKey: await generateKeyPair('Ed25519'),
    config: { difficulty: 0, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true, encryption }
  })
}

describe('connection encryption over TCP', () => {
  let preferTls: ProvenirNode
  let noiseOnly: ProvenirNode
  let tlsOnly: ProvenirNode

  before(async () => {
    preferTls = await nodeWith(DEFAULT_CONFIG.encryption)
    noiseOnly = await nodeWith(['noise'])
    tlsOnly = await nodeWith(['tls'])
  })

  after(async () => {
    await Promise.all([preferTls, noiseOnly, tlsOnly].map(async n => n?.stop()))
  })

  it('prefers TLS 1.3 by default, and noise is still offered', () => {
    assert.deepEqual(DEFAULT_CONFIG.encryption, ['tls', 'noise'])
  })

  it('two default nodes speak TLS', async () => {
    const other = await nodeWith(DEFAULT_CONFIG.encryption)
    try {
      const conn = await preferTls.libp2p.dial(other.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
      assert.equal(conn.encryption, '/tls/1.0.0')
      assert.equal(conn.remotePeer.toString(), other.peerId.toString())
    } finally {
      await other.stop()
    }
  })

  it('a default node and a noise-only node agree on noise, dialling either way', async () => {
    const out = await preferTls.libp2p.dial(noiseOnly.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    assert.equal(out.encryption, '/noise')
    await out.close()
    const back = await noiseOnly.libp2p.dial(preferTls.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    assert.equal(back.encryption, '/noise')
  })

  it('a noise-only node cannot reach a TLS-only node (nothing in common)', async () => {
    await assert.rejects(noiseOnly.libp2p.dial(tlsOnly.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) }))
    assert.equal(noiseOnly.libp2p.getConnections(tlsOnly.peerId).length, 0)
  })
})
