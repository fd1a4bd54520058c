// Name resolution at 100 nodes in one process (memory transport, blockstores
// on disk): link name -> registry binding -> DHT pointer -> signed document
// -> manifest digest, through the daemon's own resolver (DaemonNaming).
//
//  - cold: a resolver with an empty cache asks the registry
//    (/provenir/names/1.0.0), gets the pointer from the DHT and the document
//    by bitswap, and verifies all three
//  - cached: the same reference again on that resolver (the daemon's
//    resolution cache, 30 s by default)
//  - baseline, measured in the same run by the same seekers: a bare kad-dht
//    GET of the pointer record, the floor of any DHT-based name (what an
//    IPNS resolve costs before it fetches anything)
//
//   npm exec -- node scripts/bench/naming.mjs [size] [lookups]
import { defaultLogger } from '@libp2p/logger'
import { userIdFromKey } from '../../packages/trust/dist/src/index.js'
import { RepoPublisher, dhtRecordPutter, repoKey } from '../../packages/naming/dist/src/index.js'
import { DaemonNaming } from '../../packages/cli/dist/src/index.js'
import { createSwarm, makeIdentities } from '../../packages/testbed/dist/src/index.js'
import { generateKeyPair } from '@libp2p/crypto/keys'

const size = Number(process.argv[2] ?? 100)
const lookups = Number(process.argv[3] ?? 200)
const OWNERS = 10
const REGISTRY = 1
const FIRST_SEEKER = 1 + OWNERS + 1
const ROOT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const logger = defaultLogger()

function pct (sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

function stats (values) {
  const s = [...values].sort((a, b) => a - b)
  return { n: s.length, median: pct(s, 0.5), p99: pct(s, 0.99), max: s[s.length - 1] }
}

function namingConfig (registryAddr) {
  return {
    pins: {},
    registries: [registryAddr],
    defaultRegistry: null,
    dns: { servers: [], timeoutMs: 5000 },
    registry: { serve: false, allowClaims: true, bindings: {} },
    cacheTtlMs: 30_000
  }
}

const t = Date.now()
const identities = await makeIdentities(size, 0)
const swarm = await createSwarm({ size, transport: 'memory', difficulty: 0, topology: 'random', identities, blockstores: true })
await swarm.waitForRoutingTables(10, { timeout: 180_000 })
console.error(`swarm of ${size} up in ${((Date.now() - t) / 1000).toFixed(1)} s`)

// owners on nodes 2..11 publish app:latest; the registry on node 1 binds n0..n9 to them
const owners = []
for (let i = 0; i < OWNERS; i++) {
  const key = await generateKeyPair('Ed25519')
  const node = swarm.nodes[2 + i]
  const publisher = new RepoPublisher({
    key,
    seqStore: node.seqStore,
    putBlock: async (cid, bytes, options) => {
      await node.blockstore.put(cid, bytes, options)
      for await (const _ of node.dht.provide(cid, options)) { /* drain */ }
    },
    putRecord: dhtRecordPutter(node.dht)
  })
  const digest = 'sha256:' + i.toString(16).padStart(64, '0')
  await publisher.publish('app', { images: [{ manifestDigest: digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', blobs: [{ digest, size: 1, root: ROOT }] }], tags: { latest: digest } })
  owners.push({ name: `n${i}`, userId: userIdFromKey(key), digest })
}
const registryNode = swarm.nodes[REGISTRY]
const registryId = registryNode.peerId.toString()
const listen = swarm.addrOf(REGISTRY).toString()
const registryAddr = listen.endsWith(`/p2p/${registryId}`) ? listen : `${listen}/p2p/${registryId}`
const registry = new DaemonNaming({
  node: registryNode,
  config: { ...namingConfig(registryAddr), registries: [], registry: { serve: true, allowClaims: true, bindings: Object.fromEntries(owners.map(o => [o.name, o.userId])) } },
  keystorePath: '/nonexistent',
  privateKey: identities[REGISTRY],
  logger
})
await registry.start()

const cold = []
const cached = []
const baseline = []
let failures = 0
for (let i = 0; i < lookups; i++) {
  const seeker = swarm.nodes[FIRST_SEEKER + ((i * 37) % (size - FIRST_SEEKER))]
  const owner = owners[i % OWNERS]
  const naming = new DaemonNaming({ node: seeker, config: namingConfig(registryAddr), keystorePath: '/nonexistent', privateKey: identities[0], logger })
  const reference = `${owner.name}/app:latest`
  try {
    let t0 = performance.now()
    const first = await naming.resolve(reference, { signal: AbortSignal.timeout(60_000) })
    cold.push(performance.now() - t0)
    if (first.resolution.manifestDigest !== owner.digest || first.cached) throw new Error('wrong answer')
    t0 = performance.now()
    const again = await naming.resolve(reference)
    cached.push(performance.now() - t0)
    if (!again.cached || again.resolution.manifestDigest !== owner.digest) throw new Error('not served from the cache')
    t0 = performance.now()
    let got = false
    for await (const evt of seeker.dht.get(repoKey(owner.userId, 'app'), { signal: AbortSignal.timeout(30_000) })) {
      if (evt.name === 'VALUE') { got = true; break }
    }
    baseline.push(performance.now() - t0)
    if (!got) throw new Error('baseline: no value')
  } catch (err) {
    failures++
    console.error(`lookup ${i} (${reference}) failed: ${err.message}`)
  }
}
await registry.stop()
await swarm.stop()

const fmt = s => `median ${s.median.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms (n=${s.n})`
console.log(`\nName resolution, ${size} nodes in one process (memory transport), ${lookups} lookups of ${OWNERS} link names from ${size - FIRST_SEEKER} seekers\n`)
console.log('| lookup | median (ms) | p99 (ms) | max (ms) |')
console.log('|---|---|---|---|')
for (const [label, values] of [
  ['cold: registry + DHT pointer + document (bitswap), all verified', cold],
  ['cached: the daemon\'s resolution cache', cached],
  ['baseline: bare kad-dht GET of the pointer record', baseline]
]) {
  const s = stats(values)
  console.log(`| ${label} | ${s.median.toFixed(1)} | ${s.p99.toFixed(2)} | ${s.max.toFixed(1)} |`)
}
console.log(`\ncold ${fmt(stats(cold))}\ncached ${fmt(stats(cached))}\nbaseline ${fmt(stats(baseline))}\nfailures ${failures}`)
process.exit(failures > 0 ? 1 : 0)
