import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createNode } from '@provenir/node'
import { nodeIdDifficulty } from '@provenir/identity'
import { createSwarm, makeIdentityWithExactDifficulty, waitFor } from '../src/index.js'
import type { Swarm } from '../src/index.js'
import type { ProvenirNode } from '@provenir/node'

const C1 = 6

describe('a peer one bit below the swarm difficulty', () => {
  let swarm: Swarm
  let weak: ProvenirNode
  let refusedBySwarm = 0

  before(async () => {
    swarm = await createSwarm({
      size: 3,
      transport: 'tcp',
      difficulty: C1,
      topology: 'line',
      nodeInit: { onRefuse: () => { refusedBySwarm++ } }
    })
    await swarm.waitForRoutingTables(2)
    const weakKey = await makeIdentityWithExactDifficulty(C1 - 1)
    assert.equal(nodeIdDifficulty(peerIdFromPrivateKey(weakKey)), C1 - 1)
    // the weak node itself believes the swarm difficulty is lower, so only
    // the swarm's gaters stand in its way
    weak = await createNode({
      privateKey: weakKey,
      config: { difficulty: 0, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true }
    })
  })

  after(async () => {
    await weak?.stop()
    await swarm?.stop()
  })

  it('is refused when it dials into the swarm (inbound)', async () => {
    const before = swarm.nodes[0].gater.refusals.inbound
    // the listener refuses after the noise handshake reveals the NodeId; the
    // dialer may have finished its side of the upgrade by then, so its dial
    // either fails or yields a connection that is closed at once
    await weak.libp2p.dial(swarm.addrOf(0), { signal: AbortSignal.timeout(10_000) }).catch(() => {})
    await waitFor(() => swarm.nodes[0].gater.refusals.inbound > before, { message: 'inbound refusal counted' })
    assert.equal(swarm.nodes[0].libp2p.getConnections(weak.peerId).length, 0)
    await waitFor(() => weak.libp2p.getConnections(swarm.nodes[0].peerId).every(c => c.status !== 'open'), {
      message: 'the weak node\'s side of the refused connection closed'
    })
    await assert.rejects(weak.libp2p.services.ping.ping(swarm.nodes[0].peerId, { signal: AbortSignal.timeout(5_000) }))
  })

  it('is refused when the swarm dials it (outbound)', async () => {
    const before = swarm.nodes[1].gater.refusals.outbound
    await assert.rejects(swarm.nodes[1].libp2p.dial(weak.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) }))
    assert.ok(swarm.nodes[1].gater.refusals.outbound > before)
    assert.equal(swarm.nodes[1].libp2p.getConnections(weak.peerId).length, 0)
  })

  it('is refused when a swarm node dials it by PeerId', async () => {
    await swarm.nodes[2].libp2p.peerStore.merge(weak.peerId, { multiaddrs: weak.getMultiaddrs() })
    await assert.rejects(swarm.nodes[2].libp2p.dial(weak.peerId, { signal: AbortSignal.timeout(10_000) }))
    assert.equal(swarm.nodes[2].libp2p.getConnections(weak.peerId).length, 0)
  })

  it('never enters a routing table', async () => {
    // let the weak node try its DHT against every swarm node
    for (let i = 0; i < swarm.size; i++) {
      await weak.libp2p.dial(swarm.addrOf(i), { signal: AbortSignal.timeout(5_000) }).catch(() => {})
    }
    await swarm.nodes[0].dht.refreshRoutingTable()
    for (const node of swarm.nodes) {
      const table = (node.dht as any).routingTable
      const peers: Array<{ peerId: { equals: (p: unknown) => boolean } }> = [...table.kb.toIterable()]
      assert.ok(peers.length >= 2, 'routing table holds the other swarm nodes')
      assert.ok(!peers.some(p => p.peerId.equals(weak.peerId)), 'the weak peer is in a routing table')
    }
    assert.ok(refusedBySwarm >= 3)
  })

  it('a peer at exactly c1 is accepted', async () => {
    const key = await makeIdentityWithExactDifficulty(C1)
    const ok = await createNode({
      privateKey: key,
      config: { difficulty: C1, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true }
    })
    try {
      await ok.libp2p.dial(swarm.addrOf(0), { signal: AbortSignal.timeout(10_000) })
      await waitFor(() => swarm.nodes[0].routingTableSize() >= 3, { message: 'the c1 peer enters node 0\'s routing table' })
    } finally {
      await ok.stop()
    }
  })
})
