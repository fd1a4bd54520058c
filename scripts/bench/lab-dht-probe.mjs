// A DHT seeker for the lab benchmark (scripts/bench/lab.mjs): one provenir node in its own
// process, run inside a lab host's namespace (`ip netns exec`), that joins the swarm through its
// seeds, waits until its routing table holds enough peers and it has settled, then, when told,
// times findProviders for each CID until an answer names the expected provider: what dht.mjs
// times in one process. The bench tells one seeker at a time, so lookups never overlap.
//
//   node lab-dht-probe.mjs <job.json>
//   prints {"ready":true} once settled; on a line "go" on stdin it runs the lookups and prints
//   { lat, misses, opens, routingTable }; on "exit" (or the end of stdin) it stops
//
// job.json: { listen, bootstrap: [multiaddr], difficulty, minPeers, lookups: [{ cid, provider }] }
import fs from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { generateIdentity } from '../../packages/identity/dist/src/index.js'
import { createNode } from '../../packages/node/dist/src/index.js'
import { CID } from 'multiformats/cid'

const job = JSON.parse(await fs.readFile(process.argv[2], 'utf8'))
const privateKey = await generateIdentity({ difficulty: job.difficulty, workers: 1 })
const node = await createNode({
  privateKey,
  config: { difficulty: job.difficulty, listen: [job.listen], bootstrap: job.bootstrap, allowPrivateAddresses: true }
})

// like the test bed's waitForRoutingTables: a self-query while the table is short
const deadline = Date.now() + 120_000
while (node.routingTableSize() < job.minPeers && Date.now() < deadline) {
  try {
    for await (const _ of node.dht.getClosestPeers(node.peerId.toMultihash().bytes, { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
  } catch {}
  await new Promise(resolve => setTimeout(resolve, 500))
}

// settled (as dht.mjs has it): kad-dht's start-up refresh of its routing table is over, i.e. no
// connection has opened for 5 s
let opens = 0
node.libp2p.addEventListener('connection:open', () => { opens++ })
const settleBy = Date.now() + 120_000
for (let before = -1; before !== opens && Date.now() < settleBy;) {
  before = opens
  await new Promise(resolve => setTimeout(resolve, 5_000))
}
process.stdout.write(JSON.stringify({ ready: true, routingTable: node.routingTableSize() }) + '\n')
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
while ((await lines.next()).value === 'go') process.stdout.write(JSON.stringify(await lookups()) + '\n')
await node.stop()
process.exit(0)

async function lookups () {
  opens = 0
  const lat = []
  let misses = 0
  for (const { cid, provider } of job.lookups) {
    const key = CID.parse(cid)
    const t0 = performance.now()
    let found = false
    try {
      for await (const evt of node.dht.findProviders(key, { signal: AbortSignal.timeout(30_000) })) {
        if (evt.name === 'PROVIDER' && evt.providers.some(p => p.id.toString() === provider)) { found = true; break }
      }
    } catch {}
    if (!found) misses++
    lat.push(performance.now() - t0)
  }
  return { lat, misses, opens, routingTable: node.routingTableSize() }
}
