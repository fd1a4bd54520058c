import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createNode, generateSwarmKey } from '@provenir/node'
import { createSwarm, makeIdentities } from '../src/index.js'
import type { Swarm } from '../src/index.js'
import type { ProvenirNode } from '@provenir/node'

describe('private swarms (pre-shared key)', () => {
  const key = generateSwarmKey()
  let swarm: Swarm
  const outsiders: ProvenirNode[] = []

  before(async () => {
    swarm = await createSwarm({ size: 2, transport: 'tcp', difficulty: 4, psk: key })
  })

  after(async () => {
    await Promise.all(outsiders.map(async n => n.stop()))
    await swarm?.stop()
  })

  async function outsider (psk?: Uint8Array): Promise<ProvenirNode> {
    const [privateKey] = await makeIdentities(1, 4)
    const node = await createNode({
      privateKey,
      swarmKey: psk,
      config: { difficulty: 4, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true }
    })
    outsiders.push(node)
    return node
  }

  it('nodes holding the same key connect', async () => {
    const conn = await swarm.nodes[0].libp2p.dial(swarm.addrOf(1), { signal: AbortSignal.timeout(10_000) })
    assert.equal(conn.status, 'open')
    const rtt = await swarm.nodes[0].libp2p.services.ping.ping(swarm.nodes[1].peerId, { signal: AbortSignal.timeout(10_000) })
    assert.ok(rtt >= 0)
  })

  it('a node with a different key cannot connect, in either direction', async () => {
    const other = await outsider(generateSwarmKey())
    await assert.rejects(other.libp2p.dial(swarm.addrOf(0), { signal: AbortSignal.timeout(5_000) }))
    await assert.rejects(swarm.nodes[0].libp2p.dial(other.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) }))
    assert.equal(swarm.nodes[0].libp2p.getConnections(other.peerId).length, 0)
  })

  it('a node with no key cannot connect, in either direction', async () => {
    const open = await outsider()
    await assert.rejects(open.libp2p.dial(swarm.addrOf(1), { signal: AbortSignal.timeout(5_000) }))
    await assert.rejects(swarm.nodes[1].libp2p.dial(open.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) }))
    assert.equal(swarm.nodes[1].libp2p.getConnections(open.peerId).length, 0)
  })

  it('nodes holding the same key connect over TLS, the daemons\' default, as well as noise', async () => {
    const [a, b] = [await outsider(key), await outsider(key)]
    const conn = await a.libp2p.dial(b.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    assert.equal(conn.encryption, '/tls/1.0.0')
    const rtt = await a.libp2p.services.ping.ping(b.peerId, { signal: AbortSignal.timeout(10_000) })
    assert.ok(rtt >= 0)
    // and a TLS-preferring node reaches the noise-only test bed nodes that hold the key
    const toBed = await a.libp2p.dial(swarm.addrOf(0), { signal: AbortSignal.timeout(10_000) })
    assert.equal(toBed.encryption, '/noise')
  })
})
