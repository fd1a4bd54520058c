/**
 * DNS TXT against a real DNS server: dnsmasq on a high port of 127.0.0.1,
 * serving `_provenir.registry.test`. A node finds the registry through it,
 * resolves a name, and validates the binding offline.
 */

import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { after, before, describe, it } from 'node:test'
import { createSwarm, makeIdentities, type Swarm } from '@provenir/testbed'
import { userIdFromKey } from '@provenir/trust'
import { Registry, Resolver, createRepoDocument, registryConnector, resolveRegistryDomain, signRepoDocument, signRepoPointer, verifyBinding } from '@provenir/naming'
import { DNSMASQ, MANIFEST, ROOT, newKey, startDnsmasq } from './fixtures.js'
import type { Dnsmasq } from './fixtures.js'
import type { PrivateKey } from '@libp2p/interface'

describe('registry found through DNS TXT (dnsmasq)', { skip: DNSMASQ == null ? 'dnsmasq is not installed (apt-get install dnsmasq); skipping the DNS TXT test' : false }, () => {
  let dnsmasq: Dnsmasq | undefined
  let server: string
  let swarm: Swarm
  let keys: PrivateKey[]
  let registry: Registry

  before(async () => {
    keys = await makeIdentities(2, 4)
    swarm = await createSwarm({ size: 2, identities: keys })
    registry = new Registry({ registrar: swarm.nodes[0].libp2p, logger: swarm.nodes[0].libp2p.logger, privateKey: keys[0] })
    await registry.start()
    const addr = swarm.addrOf(0).toString()
    dnsmasq = await startDnsmasq([
      `_provenir.registry.test,provenir=${registry.nodeId}`,
      `_provenir.registry.test,dnsaddr=${addr.includes('/p2p/') ? addr : `${addr}/p2p/${registry.nodeId}`}`,
      '_provenir.broken.test,provenir=not-a-node-id'
    ], '_provenir.registry.test')
    server = dnsmasq.server
  })

  after(async () => {
    await dnsmasq?.stop()
    await registry?.stop()
    await swarm?.stop()
  })

  it('reads provenir= and dnsaddr= from _provenir.<domain>', async () => {
    const found = await resolveRegistryDomain('registry.test', { servers: [server] })
    assert.deepEqual(found.nodeIds, [registry.nodeId])
    assert.equal(found.addrs.length, 1)
    await assert.rejects(resolveRegistryDomain('broken.test', { servers: [server] }), { name: 'DnsLookupError', message: /no valid provenir=/ })
    await assert.rejects(resolveRegistryDomain('missing.test', { servers: [server] }), { name: 'DnsLookupError' })
  })

  it('times out against a server that does not answer', async () => {
    const silent = createSocket('udp4')
    await new Promise<void>(resolve => { silent.bind(0, '127.0.0.1', resolve) })
    try {
      await assert.rejects(resolveRegistryDomain('registry.test', { servers: [`127.0.0.1:${silent.address().port}`], timeout: 300 }), { name: 'DnsLookupError' })
    } finally {
      silent.close()
    }
  })

  it('resolves registry.test/aweiteka/myapp: DNS -> registry -> binding -> pointer -> document, and validates the binding offline', async () => {
    const owner = await newKey()
    const uid = userIdFromKey(owner)
    await registry.bind('aweiteka', uid)
    const doc = await signRepoDocument(createRepoDocument({
      owner, repo: 'myapp', seq: 1, tags: { latest: MANIFEST },
      images: [{ manifestDigest: MANIFEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', blobs: [{ digest: MANIFEST, size: 1, root: ROOT }] }]
    }), owner)
    const pointer = await signRepoPointer({ repo: 'myapp', seq: 1, doc: doc.cid }, owner)
    const resolver = new Resolver({
      connect: registryConnector(swarm.nodes[1].libp2p, { servers: [server], timeout: 2000 }),
      pointers: async () => [pointer],
      documents: async () => doc.bytes
    })
    const r = await resolver.resolve('registry.test/aweiteka/myapp:latest')
    assert.equal(r.manifestDigest, MANIFEST)
    assert.equal(r.owner, uid)
    // detached validation: the binding bytes and the NodeId from DNS suffice
    const binding = r.name?.answer.bindingBytes
    assert.ok(binding != null)
    const { nodeIds } = await resolveRegistryDomain('registry.test', { servers: [server] })
    assert.equal((await verifyBinding(binding, nodeIds[0], { name: 'aweiteka' })).userId, uid)
  })
})
