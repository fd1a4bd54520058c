// DHT at 100 nodes in one process (memory transport):
//  - idle CPU share and RSS per node, with libp2p's stock connection monitor
//    (a ping stream per connection every 10 s) and with the test bed's setting
//  - findProviders latency (median, p99) from random nodes
//
//   npm exec -- node scripts/bench/dht.mjs [size]
//
// Each setup runs in its own child process, so RSS per node is the process's
// RSS over the node count, not a difference that reuses the other's heap.
import { spawnSync } from 'node:child_process'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createSwarm } from '../../packages/testbed/dist/src/index.js'

const size = Number(process.argv[2] ?? 100)
const IDLE_SETTLE_MS = 5_000
const QUIET_MS = 5_000
const SETTLE_MAX_MS = 120_000
const IDLE_WINDOW_MS = 20_000
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function idle (label, nodeInit) {
  const t = Date.now()
  const swarm = await createSwarm({ size, transport: 'memory', difficulty: 0, topology: 'random', nodeInit })
  await swarm.waitForRoutingTables(10, { timeout: 180_000 })
  // "settled": kad-dht's start-up routing-table refresh (a random walk per
  // bucket) has finished, i.e. no connection has opened for QUIET_MS
  let opens = 0
  for (const n of swarm.nodes) n.libp2p.addEventListener('connection:open', () => { opens++ })
  const settleDeadline = Date.now() + SETTLE_MAX_MS
  while (Date.now() < settleDeadline) {
    const before = opens
    await sleep(QUIET_MS)
    if (opens === before) break
  }
  const settleSec = (Date.now() - t) / 1000
  await sleep(IDLE_SETTLE_MS)
  const c0 = process.cpuUsage()
  const t0 = Date.now()
  await sleep(IDLE_WINDOW_MS)
  const cpu = process.cpuUsage(c0)
  const wall = (Date.now() - t0) / 1000
  const conns = swarm.nodes.reduce((a, n) => a + n.libp2p.getConnections().length, 0)
  const rssPerNode = process.memoryUsage().rss / size / 2 ** 20
  const result = { label, cpuShare: (cpu.user + cpu.system) / 1e6 / wall, rssPerNodeMiB: rssPerNode, connections: conns, settleSec }
  return { swarm, result }
}

function pct (sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}


async function child (mode) {
  const nodeInit = mode === 'stock' ? { connectionMonitor: {} } : undefined
  const label = mode === 'stock' ? 'stock connection monitor (a ping stream per connection every 10 s)' : 'provenir test bed (connection monitor off)'
  const { swarm, result } = await idle(label, nodeInit)
  if (mode === 'stock') {
    await swarm.stop()
    return result
  }
  const cids = await Promise.all(Array.from({ length: 50 }, async (_, i) => CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`bench ${i}`)))))
  for (let i = 0; i < cids.length; i++) {
    const provider = swarm.nodes[i % 10]
    for await (const _ of provider.dht.provide(cids[i], { signal: AbortSignal.timeout(30_000) })) {}
  }
  const lat = []
  let misses = 0
  let opens = 0
  for (const n of swarm.nodes) n.libp2p.addEventListener('connection:open', () => { opens++ })
  const opensBefore = opens
  for (let i = 0; i < 200; i++) {
    const cid = cids[i % cids.length]
    const provider = swarm.nodes[(i % cids.length) % 10]
    const seeker = swarm.nodes[10 + ((i * 37) % (size - 10))]
    const t0 = performance.now()
    let found = false
    for await (const evt of seeker.dht.findProviders(cid, { signal: AbortSignal.timeout(30_000) })) {
      if (evt.name === 'PROVIDER' && evt.providers.some(p => p.id.equals(provider.peerId))) { found = true; break }
    }
    if (!found) misses++
    lat.push(performance.now() - t0)
  }
  lat.sort((a, b) => a - b)
  await swarm.stop()
  const opensDuringLookups = opens - opensBefore
  return { ...result, opensDuringLookups, lookups: lat.length, median: pct(lat, 0.5), p99: pct(lat, 0.99), max: lat[lat.length - 1], misses }
}

if (process.argv[3] != null) {
  console.log(JSON.stringify(await child(process.argv[3])))
  process.exit(0)
}

const results = []
for (const mode of ['stock', 'provenir']) {
  const res = spawnSync(process.execPath, [new URL(import.meta.url).pathname, String(size), mode], { encoding: 'utf8', maxBuffer: 1 << 24 })
  if (res.status !== 0) {
    console.error(res.stderr)
    process.exit(1)
  }
  results.push(JSON.parse(res.stdout.trim().split('\n').pop()))
}

console.log(`\nDHT, ${size} nodes in one process (memory transport)\n`)
console.log('(settled: routing tables hold >= 10 peers and no connection opened for 5 s)\n')
console.log('| setup | idle CPU (share of one core) | RSS per node (MiB) | open connections | time to settle (s) |')
console.log('|---|---|---|---|---|')
for (const r of results) console.log(`| ${r.label} | ${(r.cpuShare * 100).toFixed(1)}% | ${r.rssPerNodeMiB.toFixed(1)} | ${r.connections} | ${r.settleSec.toFixed(1)} |`)
const f = results[1]
console.log(`\nfindProviders over ${f.lookups} lookups (50 CIDs, 10 providers, seekers among the other ${size - 10}):`)
console.log(`median ${f.median.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms, max ${f.max.toFixed(1)} ms, misses ${f.misses}, connections opened during the lookups ${f.opensDuringLookups}`)
