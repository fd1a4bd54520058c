/**
 * The LAN DHT, the main DHT's public-only addresses, mDNS's gate and the
 * bootstrap dialer, with real nodes on loopback TCP (no multicast: every
 * node here listens on 127.0.0.1, so none runs mDNS).
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { DualDHT, createNode, listensBeyondLoopback, validateConfig, withPublicAddressesOnly, createLanPeerInfoMapper } from '../src/index.js'
import type { NodeConfig, ProvenirNode } from '../src/index.js'
import type { SingleKadDHT } from '@libp2p/kad-dht'

const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

async function node (config: Partial<NodeConfig> = {}): Promise<ProvenirNode> {
  // no allowPrivateAddresses: the defaults a fresh repo has
  return createNode({ privateKey: await generateKeyPair('Ed25519'), config: { difficulty: 0, listen: LOOPBACK, ...config } })
}

async function until (what: string, check: () => boolean | Promise<boolean>, timeout = 30_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

const tableSize = (dht: unknown): number => (dht as SingleKadDHT).routingTable.size

describe('LAN config', () => {
  it('is on by default, mDNS included, and refuses what it does not know', () => {
    assert.deepEqual(validateConfig({}).lan, { enabled: true, mdns: true })
    assert.deepEqual(validateConfig({ lan: { mdns: false } }).lan, { enabled: true, mdns: false })
    for (const [input, field] of [[{ lan: { enabled: 'yes' } }, 'lan.enabled'], [{ lan: { mdsn: true } }, 'lan.mdsn'], [{ lan: [] }, 'lan']] as const) {
      assert.throws(() => validateConfig(input, 'c.json'), (err: Error) => err.name === 'InvalidConfigError' && err.message.includes(`"${field}"`))
    }
  })

  it('runs mDNS only when a listen address reaches beyond loopback', () => {
    assert.equal(listensBeyondLoopback(['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0', '/memory/x']), false)
    assert.equal(listensBeyondLoopback(['/ip4/0.0.0.0/tcp/4101']), true)
    assert.equal(listensBeyondLoopback(['/ip4/10.0.0.5/tcp/4101']), true)
    assert.equal(listensBeyondLoopback(['/ip6/::/tcp/4101']), true)
  })
})

describe('address rules of the two DHTs', () => {
  it('the main DHT announces public addresses only; the LAN DHT keeps private ones only', () => {
    const addrs = ['/ip4/127.0.0.1/tcp/1', '/ip4/192.168.1.5/tcp/1', '/ip4/10.1.2.3/tcp/1', '/ip4/8.8.8.8/tcp/1', '/dns4/example.com/tcp/1'].map(a => multiaddr(a))
    const components = withPublicAddressesOnly({ addressManager: { getAddresses: () => addrs, getListenAddrs: () => addrs } as any, other: 42 })
    assert.deepEqual(components.addressManager.getAddresses().map(String), ['/ip4/8.8.8.8/tcp/1', '/dns4/example.com/tcp/1'])
    assert.equal((components.addressManager as any).getListenAddrs().length, 5, 'only getAddresses is filtered')
    assert.equal((components as any).other, 42)
  })

  it('the LAN mapper drops public addresses, and every address of a peer below the difficulty', async () => {
    const id = (await generateKeyPair('Ed25519'))
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const peer = { id: peerIdFromPrivateKey(id), multiaddrs: ['/ip4/10.0.0.1/tcp/1', '/ip4/8.8.8.8/tcp/1'].map(a => multiaddr(a)) }
    assert.deepEqual(createLanPeerInfoMapper(0)(peer).multiaddrs.map(String), ['/ip4/10.0.0.1/tcp/1'])
    assert.deepEqual(createLanPeerInfoMapper(64)(peer).multiaddrs, [])
  })
})

describe('LAN DHT: two nodes with the default config on loopback', () => {
  const nodes: ProvenirNode[] = []
  after(async () => { await Promise.all(nodes.map(async n => n.stop())) })

  it('fill the LAN table (never the main one) and provide and find content through it', async () => {
    const a = await node()
    const b = await node()
    nodes.push(a, b)
    assert.ok(a.dht instanceof DualDHT, 'the node asks both DHTs')
    assert.equal(a.libp2p.services.lanDiscovery, undefined, 'no mDNS on loopback')
    await b.libp2p.dial(a.getMultiaddrs()[0])
    await until('each node in the other\'s LAN table', () => tableSize(a.libp2p.services.lanDHT) === 1 && tableSize(b.libp2p.services.lanDHT) === 1)
    assert.equal(tableSize(a.libp2p.services.dht), 0, 'a loopback peer never enters the main DHT')
    assert.equal(tableSize(b.libp2p.services.dht), 0)
    assert.equal(a.routingTableSize(), 1)

    const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('lan')))
    a.provide(cid)
    const found = await (async () => {
      for (let i = 0; i < 100; i++) {
        for await (const p of b.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) return p
      }
      return undefined
    })()
    assert.ok(found?.id.equals(a.peerId), 'B finds A as the provider through the LAN DHT')
  })

  it('a peer reached over a public address stays out of the LAN table, whatever private addresses it announces', async () => {
    // the memory transport's addresses are not IP addresses, so not private: a connection over one
    // stands for one over the internet, while each node also announces 127.0.0.1
    const listen = (name: string): string[] => [...LOOPBACK, `/memory/provenir-lan-${process.pid}-${name}`]
    const a = await node({ transports: ['tcp', 'memory'], listen: listen('a') })
    const b = await node({ transports: ['tcp', 'memory'], listen: listen('b') })
    nodes.push(a, b)
    const lanAdds: string[] = []
    const table = (b.libp2p.services.lanDHT as unknown as { routingTable: { add(p: unknown, o?: unknown): Promise<void> } }).routingTable
    const add = table.add.bind(table)
    table.add = async (peer, options) => {
      lanAdds.push(String(peer))
      await add(peer, options)
    }
    await b.libp2p.dial(a.getMultiaddrs().find(ma => ma.toString().startsWith('/memory/'))!)
    // the main DHT takes A by its memory address; the LAN DHT would be asked at the same moment
    await until('A in B\'s main table', () => tableSize(b.libp2p.services.dht) === 1)
    assert.deepEqual(lanAdds, [], 'B never queued A for its LAN table')
    assert.equal(tableSize(b.libp2p.services.lanDHT), 0)
  })

  it('no LAN DHT with allowPrivateAddresses (the main DHT holds LAN peers) nor with lan.enabled false', async () => {
    const c = await node({ allowPrivateAddresses: true })
    const d = await node({ lan: { enabled: false, mdns: false } })
    nodes.push(c, d)
    assert.equal(c.libp2p.services.lanDHT, undefined)
    assert.equal(d.libp2p.services.lanDHT, undefined)
    assert.ok(!(c.dht instanceof DualDHT))
  })
})

describe('bootstrap peers are dialled again while the node has none', () => {
  const nodes: ProvenirNode[] = []
  after(async () => { await Promise.all(nodes.map(async n => n.stop())) })

  it('a peer down at start is reached once it comes up, and again after the node lost every peer', async () => {
    const seedKey = await generateKeyPair('Ed25519')
    // the seed's address is known before it runs: a fixed port the OS gave a probe
    const probe = await node()
    const port = probe.getMultiaddrs()[0].getComponents().find(c => c.name === 'tcp')?.value
    await probe.stop()
    const seedConfig = { listen: [`/ip4/127.0.0.1/tcp/${port}`], allowPrivateAddresses: true }
    let seed = await createNode({ privateKey: seedKey, start: false, config: { difficulty: 0, ...seedConfig } })
    const seedAddr = `/ip4/127.0.0.1/tcp/${port}/p2p/${seed.peerId.toString()}`
    const joiner = await node({ bootstrap: [seedAddr], allowPrivateAddresses: true })
    nodes.push(joiner)
    assert.equal(joiner.libp2p.getConnections().length, 0, 'the seed is down')

    await seed.start()
    await until('the joiner to reach the seed that came up', () => joiner.libp2p.getConnections(seed.peerId).length > 0)

    // the seed goes away and comes back: the joiner, with no peer left, dials it again
    await seed.stop()
    await until('the joiner to see the seed gone', () => joiner.libp2p.getConnections().length === 0)
    seed = await createNode({ privateKey: seedKey, config: { difficulty: 0, ...seedConfig } })
    nodes.push(seed)
    await until('the joiner to reach the seed again', () => joiner.libp2p.getConnections(seed.peerId).length > 0)
  })
})
