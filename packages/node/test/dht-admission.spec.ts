/**
 * A node never tries to put itself in its own routing table. A peer's
 * GET_PROVIDERS and GET_VALUE answers list the closest peers it knows without
 * leaving out the one asking (kad-dht excludes the asker from FIND_NODE
 * answers only), and kad-dht adds every peer of an answer to the routing
 * table, pinging it first: a dial to itself ("Can not dial self") at each
 * lookup. `dht-admission.ts` keeps the node out; the node still answers as a
 * provider of what it holds (the pull tests).
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { MAX_RECENT_PEERS, PEER_RECORD_REUSE, PEER_REPEAT_WINDOW, RecentPeers, withPeerRecordReuse } from '../src/dht-admission.js'
import { createNode } from '../src/index.js'
import type { NodeConfig, ProvenirNode } from '../src/index.js'
import type { Libp2pEvents, Peer, PeerId, PeerStore, TypedEventTarget } from '@libp2p/interface'

async function node (config: Partial<NodeConfig>): Promise<ProvenirNode> {
  return createNode({ privateKey: await generateKeyPair('Ed25519'), config: { difficulty: 0, listen: ['/ip4/127.0.0.1/tcp/0'], ...config } })
}

async function until (what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** Every peer the DHT's routing table is asked to add (kad-dht calls `add` for each peer it learns of) */
function recordAdds (dht: unknown): PeerId[] {
  const table = (dht as { routingTable: { add(peer: PeerId, options?: unknown): Promise<void> } }).routingTable
  const added: PeerId[] = []
  const add = table.add.bind(table)
  table.add = async (peer, options) => {
    added.push(peer)
    await add(peer, options)
  }
  return added
}

describe('a node never adds itself to its routing table', () => {
  const nodes: ProvenirNode[] = []
  after(async () => { await Promise.all(nodes.map(async n => n.stop())) })

  for (const [name, config, service] of [
    ['the main DHT', { allowPrivateAddresses: true }, 'dht'],
    ['the LAN DHT', {}, 'lanDHT']
  ] as const) {
    it(`when a peer's answer lists it (${name})`, async () => {
      const a = await node(config)
      const b = await node(config)
      nodes.push(a, b)
      const table = (n: ProvenirNode): number => (n.libp2p.services[service] as any).routingTable.size
      await b.libp2p.dial(a.getMultiaddrs()[0])
      await until('each in the other\'s routing table', () => table(a) === 1 && table(b) === 1)
      const added = recordAdds(b.libp2p.services[service])

      // A's answers name B among the closest peers it knows
      const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`nobody provides this ${name}`)))
      for await (const _ of b.libp2p.services[service]!.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
      for await (const _ of b.libp2p.services[service]!.get(new TextEncoder().encode('/provenir-name/nothing'), { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
      // the routing table's update queue runs after the answer: give it every chance
      await b.libp2p.services[service]!.refreshRoutingTable()

      assert.ok(added.length > 0, 'the lookups did reach the routing table (A answered)')
      assert.ok(!added.some(p => p.equals(b.peerId)), 'B never tried to add itself')

      // and A still names itself as the provider of what it provides
      const held = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`A holds this ${name}`)))
      a.provide(held)
      let provider: PeerId | undefined
      for (let i = 0; i < 100 && provider == null; i++) {
        for await (const p of b.findProviders(held, { signal: AbortSignal.timeout(10_000) })) {
          provider = p.id
          break
        }
      }
      assert.ok(provider?.equals(a.peerId), 'B finds A as the provider')
    })
  }
})

describe('a peer an answer names again is not handed on again', () => {
  const nodes: ProvenirNode[] = []
  after(async () => { await Promise.all(nodes.map(async n => n.stop())) })

  it(`RecentPeers: the same addresses within ${PEER_REPEAT_WINDOW} ms are a repeat; new addresses or a later time are not`, async () => {
    const recent = new RecentPeers()
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const a = multiaddr('/ip4/10.0.0.1/tcp/4001')
    const b = multiaddr('/ip4/10.0.0.2/tcp/4001')
    assert.equal(recent.fresh({ id, multiaddrs: [a, b] }, 0), true)
    assert.equal(recent.fresh({ id, multiaddrs: [b, a] }, 1), false, 'the same addresses in another order')
    assert.equal(recent.fresh({ id, multiaddrs: [a] }, 2), true, 'an address fewer')
    assert.equal(recent.fresh({ id, multiaddrs: [a] }, 2 + PEER_REPEAT_WINDOW), true, 'the window passed')
    for (let i = 0; i < MAX_RECENT_PEERS; i++) recent.fresh({ id: peerIdFromPrivateKey(await generateKeyPair('Ed25519')), multiaddrs: [a] }, 3 + PEER_REPEAT_WINDOW)
    assert.equal(recent.fresh({ id, multiaddrs: [a] }, 4 + PEER_REPEAT_WINDOW), true, 'forgotten: the oldest go first')
  })

  it('a second lookup within the window hands on no peer its answers named in the first', async () => {
    const [a, b, c] = [await node({ allowPrivateAddresses: true }), await node({ allowPrivateAddresses: true }), await node({ allowPrivateAddresses: true })]
    nodes.push(a, b, c)
    const dht = b.libp2p.services.dht as unknown as EventTarget & { network: { safeDispatchEvent: unknown }, findProviders: ProvenirNode['libp2p']['services']['dht']['findProviders'] }
    assert.equal(typeof dht.network?.safeDispatchEvent, 'function', 'kad-dht still dispatches the peers of answers from its network')
    const table = (n: ProvenirNode): number => (n.libp2p.services.dht as any).routingTable.size
    await c.libp2p.dial(a.getMultiaddrs()[0])
    await until('A and C in each other\'s routing table', () => table(a) >= 1 && table(c) >= 1)
    await b.libp2p.dial(a.getMultiaddrs()[0])
    await until('A in B\'s routing table', () => table(b) >= 1)
    // each peer handed on, with its addresses (a peer named again with other addresses is news:
    // identify may have told A or C more about a peer between the lookups)
    const named: Array<{ id: string, addrs: string }> = []
    dht.addEventListener('peer', (evt) => {
      const { id, multiaddrs } = (evt as CustomEvent<{ id: PeerId, multiaddrs: Array<{ toString(): string }> }>).detail
      named.push({ id: id.toString(), addrs: multiaddrs.map(ma => ma.toString()).sort().join(' ') })
    })
    const lookup = async (text: string): Promise<void> => {
      const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text)))
      for await (const _ of dht.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
    }
    await lookup('nobody provides this, first')
    assert.ok(named.some(p => p.id === c.peerId.toString()), `the first lookup learned of C from A's answer (named: ${named.map(p => p.id).join(', ')})`)
    const first = new Map(named.map(p => [p.id, p.addrs]))
    named.length = 0
    await lookup('nobody provides this, second')
    const again = named.filter(p => first.get(p.id) === p.addrs)
    assert.deepEqual(again, [], 'the second lookup named the same peers with the same addresses: none handed on')
  })
})

describe('the DHT reuses a peer record for a moment', () => {
  /** A peer store that counts its reads; `fail` makes the next read throw */
  function countingStore (): { store: PeerStore, reads: () => number, fail: (yes: boolean) => void, addr: (ma: string) => void } {
    let reads = 0
    let failing = false
    let addrs = ['/ip4/10.0.0.1/tcp/4001']
    const store = {
      get: async (id: PeerId): Promise<Peer> => {
        reads++
        if (failing) throw Object.assign(new Error('not found'), { name: 'NotFoundError' })
        return { id, addresses: addrs.map(a => ({ multiaddr: multiaddr(a), isCertified: false })), protocols: [], metadata: new Map(), tags: new Map() }
      },
      has: async () => true
    } as unknown as PeerStore
    return { store, reads: () => reads, fail: (yes) => { failing = yes }, addr: (ma) => { addrs = [ma] } }
  }

  it(`reads a peer once within ${PEER_RECORD_REUSE} ms, again after a peer:update, after a failed read, and after the time`, async () => {
    const { store, reads, fail, addr } = countingStore()
    const events = new EventTarget() as unknown as TypedEventTarget<Libp2pEvents>
    const { peerStore } = withPeerRecordReuse({ peerStore: store, events })
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const first = await peerStore.getInfo(id)
    await peerStore.get(id)
    assert.equal(reads(), 1, 'the second read reused the first')
    assert.equal(first.multiaddrs[0].toString(), '/ip4/10.0.0.1/tcp/4001')
    assert.equal(await peerStore.has(id), true, 'everything else goes to the store')

    addr('/ip4/10.0.0.2/tcp/4001')
    events.dispatchEvent(new CustomEvent('peer:update', { detail: { peer: { id } as unknown as Peer } }))
    assert.equal((await peerStore.getInfo(id)).multiaddrs[0].toString(), '/ip4/10.0.0.2/tcp/4001', 'the change is read at once')
    assert.equal(reads(), 2)

    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    fail(true)
    await assert.rejects(peerStore.get(other), { name: 'NotFoundError' })
    fail(false)
    await peerStore.get(other)
    assert.equal(reads(), 4, 'a failed read is not reused')

    await new Promise(resolve => setTimeout(resolve, PEER_RECORD_REUSE + 50))
    await peerStore.get(id)
    assert.equal(reads(), 5, 'read again once the time passed')
  })
})
