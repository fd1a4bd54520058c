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
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createNode } from '../src/index.js'
import type { NodeConfig, ProvenirNode } from '../src/index.js'
import type { PeerId } from '@libp2p/interface'

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
