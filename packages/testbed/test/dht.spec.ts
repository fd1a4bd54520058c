import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createSwarm } from '../src/index.js'
import type { Swarm, SwarmTransport } from '../src/index.js'

async function makeCids (count: number, salt: string): Promise<CID[]> {
  return Promise.all(Array.from({ length: count }, async (_, i) => {
    const digest = await sha256.digest(new TextEncoder().encode(`provenir test block ${salt} ${i}`))
    return CID.createV1(raw.code, digest)
  }))
}

for (const transport of ['memory', 'tcp'] as SwarmTransport[]) {
  describe(`a 30-node swarm over ${transport}`, () => {
    let swarm: Swarm

    before(async () => {
      swarm = await createSwarm({ size: 30, transport, difficulty: 4, topology: 'ring' })
      await swarm.waitForRoutingTables(3)
    })

    after(async () => {
      await swarm?.stop()
    })

    it('the farthest node finds every CID that node 0 provides', async () => {
      const cids = await makeCids(20, transport)
      const origin = swarm.nodes[0]
      for (const cid of cids) {
        for await (const _ of origin.dht.provide(cid, { signal: AbortSignal.timeout(30_000) })) { /* drain */ }
      }
      // the node halfway round the ring is the farthest from node 0 in hops
      const far = swarm.nodes[15]
      for (const cid of cids) {
        let found = false
        for await (const evt of far.dht.findProviders(cid, { signal: AbortSignal.timeout(30_000) })) {
          if (evt.name === 'PROVIDER' && evt.providers.some(p => p.id.equals(origin.peerId))) {
            found = true
            break
          }
        }
        assert.ok(found, `node 15 did not find node 0 as a provider of ${cid}`)
      }
    })
  })
}
