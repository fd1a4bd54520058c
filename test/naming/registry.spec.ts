/**
 * Registries over `/provenir/names/1.0.0` between real in-process nodes
 * (provenir createNode through the test bed, memory transport).
 */

import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createSwarm, makeIdentities, type Swarm } from '@provenir/testbed'
import { userIdFromKey } from '@provenir/trust'
import { NAMES_PROTOCOL, Registry, RemoteRegistry, Resolver, addrsFor, verifyBinding } from '@provenir/naming'
import { newKey } from './fixtures.js'
import type { PrivateKey } from '@libp2p/interface'

describe('registry protocol', () => {
  let swarm: Swarm
  let keys: PrivateKey[]
  let r1: Registry
  let r2: Registry

  before(async () => {
    keys = await makeIdentities(3, 4)
    swarm = await createSwarm({ size: 3, identities: keys })
    // nodes 0 and 1 serve as registries: the libp2p node is the registrar
    r1 = new Registry({ registrar: swarm.nodes[0].libp2p, logger: swarm.nodes[0].libp2p.logger, privateKey: keys[0] })
    r2 = new Registry({ registrar: swarm.nodes[1].libp2p, logger: swarm.nodes[1].libp2p.logger, privateKey: keys[1] }, { allowClaims: false })
    await r1.start()
    await r2.start()
  })

  after(async () => {
    await r1?.stop()
    await r2?.stop()
    await swarm?.stop()
  })

  it('claims a name remotely, looks it up, and the binding validates offline', async () => {
    const client = swarm.nodes[2].libp2p
    const remote = new RemoteRegistry(client, { id: r1.nodeId, addrs: addrsFor(r1.nodeId, [swarm.addrOf(0)]) })
    assert.equal(remote.id, swarm.nodes[0].peerId.toString())
    const alice = await newKey()
    const binding = await remote.claim('aweiteka', alice)
    const checked = await verifyBinding(binding, swarm.nodes[0].peerId)
    assert.equal(checked.userId, userIdFromKey(alice))
    assert.deepEqual(await remote.lookup('aweiteka'), binding)
    assert.equal(await remote.lookup('nobody'), undefined)
    // a second claimant gets the registry's NameTakenError, by name
    await assert.rejects(remote.claim('aweiteka', await newKey()), { name: 'NameTakenError' })
    // a closed registry refuses claims
    const closed = new RemoteRegistry(client, { id: r2.nodeId, addrs: addrsFor(r2.nodeId, [swarm.addrOf(1)]) })
    await assert.rejects(closed.claim('other', alice), { name: 'ClaimInvalidError' })
  })

  it('conflicting registries over the wire: [R1, R2] gives K1, [R2, R1] gives K2', async () => {
    const k1 = await newKey()
    const k2 = await newKey()
    await r1.bind('conflict', userIdFromKey(k1))
    await r2.bind('conflict', userIdFromKey(k2))
    const client = swarm.nodes[2].libp2p
    const c1 = new RemoteRegistry(client, { id: r1.nodeId, addrs: addrsFor(r1.nodeId, [swarm.addrOf(0)]) })
    const c2 = new RemoteRegistry(client, { id: r2.nodeId, addrs: addrsFor(r2.nodeId, [swarm.addrOf(1)]) })
    assert.equal((await new Resolver({ registries: [c1, c2] }).resolveName('conflict')).userId, userIdFromKey(k1))
    assert.equal((await new Resolver({ registries: [c2, c1] }).resolveName('conflict')).userId, userIdFromKey(k2))
    const explained = await new Resolver({ registries: [c2, c1], pins: { conflict: userIdFromKey(k1) } }).resolveName('conflict', { explain: true })
    assert.deepEqual(explained.answers?.map(a => a.userId), [userIdFromKey(k1), userIdFromKey(k2), userIdFromKey(k1)])
  })

  it('bounds the request size, and answers garbage with an error', async () => {
    const client = swarm.nodes[2].libp2p
    const { lpStream } = await import('@libp2p/utils')
    const stream = await client.dialProtocol(swarm.addrOf(0), NAMES_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(new TextEncoder().encode('{"op":"nope"}'))
    const answer = JSON.parse(new TextDecoder().decode((await lp.read()).subarray()))
    assert.equal(answer.error.name, 'RegistryError')
    await stream.close()
    const big = await client.dialProtocol(swarm.addrOf(0), NAMES_PROTOCOL)
    const lp2 = lpStream(big)
    await lp2.write(new Uint8Array(20 * 1024).fill(0x20))
    await assert.rejects(lp2.read({ signal: AbortSignal.timeout(5000) }))
  })
})
