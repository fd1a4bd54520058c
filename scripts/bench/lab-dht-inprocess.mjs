// The baseline of the lab's DHT benchmark (scripts/bench/lab.mjs): the same swarm with every node
// in this one process (the test bed, TCP on loopback, TLS preferred as the daemons do). Node 0 plays
// the origin, nodes 1..P provide M CIDs each, and the S seekers join only after the provides,
// through nodes 0 and 1 as the lab's seekers do; each seeker times findProviders until an answer
// names the provider.
//
//   node lab-dht-inprocess.mjs <providers> <seekers> <cids per provider> <lookups>
//   prints one JSON line: [{ lat, misses, opens, routingTable }] per seeker
import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createSwarm } from '../../packages/testbed/dist/src/index.js'

const [P, S, M, LOOKUPS] = process.argv.slice(2).map(Number)
const swarm = await createSwarm({ size: 1 + P + S, transport: 'tcp', difficulty: 8, topology: 'none', config: { encryption: ['tls', 'noise'] } })
const core = swarm.nodes.slice(0, 1 + P)
const seekers = swarm.nodes.slice(1 + P)

async function selfQuery (node) {
  try {
    for await (const _ of node.dht.getClosestPeers(node.peerId.toMultihash().bytes, { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
  } catch {}
}

async function fill (nodes, min) {
  const deadline = Date.now() + 120_000
  while (nodes.some(n => n.routingTableSize() < min) && Date.now() < deadline) {
    await Promise.all(nodes.filter(n => n.routingTableSize() < min).map(selfQuery))
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}

// the core bootstraps to nodes 0 and 1, as the lab's daemons do to the origin and h1
await swarm.connect(1, 0)
for (let i = 2; i < core.length; i++) { await swarm.connect(i, 0); await swarm.connect(i, 1) }
await fill(core, Math.min(10, core.length - 1))
const lookups = []
for (let p = 1; p <= P; p++) {
  for (let i = 0; i < M; i++) {
    const cid = CID.createV1(raw.code, await sha256.digest(randomBytes(64)))
    for await (const _ of swarm.nodes[p].dht.provide(cid, { signal: AbortSignal.timeout(60_000) })) { /* drain */ }
    lookups.push({ cid, provider: swarm.nodes[p].peerId })
  }
}
for (let s = 0; s < seekers.length; s++) { await swarm.connect(1 + P + s, 0); await swarm.connect(1 + P + s, 1) }
await fill(seekers, 10)
// settled (as dht.mjs has it): no connection has opened for 5 s
let opened = 0
for (const n of swarm.nodes) n.libp2p.addEventListener('connection:open', () => { opened++ })
const settleBy = Date.now() + 120_000
for (let before = -1; before !== opened && Date.now() < settleBy;) {
  before = opened
  await new Promise(resolve => setTimeout(resolve, 5_000))
}

const perSeeker = Math.ceil(LOOKUPS / seekers.length)
// one seeker at a time, one lookup at a time, as the lab's seekers run
const runs = []
for (const [s, node] of seekers.entries()) {
  let opens = 0
  const count = () => { opens++ }
  node.libp2p.addEventListener('connection:open', count)
  const lat = []
  let misses = 0
  for (let i = 0; i < perSeeker; i++) {
    const { cid, provider } = lookups[(s * 7 + i * 3) % lookups.length]
    const t0 = performance.now()
    let found = false
    try {
      for await (const evt of node.dht.findProviders(cid, { signal: AbortSignal.timeout(30_000) })) {
        if (evt.name === 'PROVIDER' && evt.providers.some(p => p.id.equals(provider))) { found = true; break }
      }
    } catch {}
    if (!found) misses++
    lat.push(performance.now() - t0)
  }
  node.libp2p.removeEventListener('connection:open', count)
  runs.push({ lat, misses, opens, routingTable: node.routingTableSize() })
}
await swarm.stop()
process.stdout.write(JSON.stringify(runs) + '\n')
process.exit(0)
