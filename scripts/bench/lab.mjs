// The lab benchmark (issue 16; needs root, see packages/lab/README.md): hosts in their own network
// namespaces, each link capped with tc, on one bridge, beside an origin running docker-registry.
//
//  1. Rollouts: N hosts fetch one image at once, three ways in one run: central (skopeo from the
//     origin's docker-registry, the baseline), provenir `image pull`, provenir through each host's
//     own gateway (skopeo); against the physical limits S/R and N·S/R0. Images: a synthetic 64 MiB
//     one and the large test image (315 MB).
//  2. DHT findProviders across separate processes: 10 daemons provide 50 images; 6 seekers, each a
//     provenir node in its own process and namespace that joined after the provides, time
//     findProviders until an answer names the provider, one lookup at a time. Baseline in the same run: the same swarm
//     and lookups with every node in one process (the test bed, TCP on loopback).
//
//   npm run bench -- lab                        # 8 and 16 hosts at 100 Mbit/s, both images, the DHT
//   npm exec -- node scripts/bench/lab.mjs --hosts 8 --rate 25mbit --images 64MiB --no-dht
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { Lab, formatBytes, formatRate, formatRollout, labUnavailable, parseBytes, parseRate, rollout, swarmAddress, writeSyntheticLayout } from '../../packages/lab/dist/src/index.js'
import { cidForDigest } from '../../packages/content/dist/src/index.js'
import { buildFixtures } from '../../test/dist/image-helpers.js'

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '8,16' },
    rate: { type: 'string', default: '100mbit' },
    'origin-rate': { type: 'string' },
    images: { type: 'string', default: '64MiB,large' },
    modes: { type: 'string', default: 'central,pull,gateway' },
    'no-dht': { type: 'boolean', default: false },
    'dht-only': { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(os.tmpdir(), 'provenir-lab-bench.json') }
  }
})

const reason = await labUnavailable()
if (reason != null) {
  console.log(`lab: skipped: ${reason}`)
  process.exit(0)
}

const DHT_HOSTS = 16
const DHT_PROVIDERS = 10
const DHT_IMAGES_PER_PROVIDER = 5
const DHT_LOOKUPS = 200
const rate = parseRate(values.rate)
const originRate = values['origin-rate'] != null ? parseRate(values['origin-rate']) : rate
const hostCounts = values.hosts.split(',').map(Number)
const modes = values.modes.split(',')
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-lab-bench-'))
const results = { rollouts: [], dht: null, machine: { cores: os.availableParallelism(), loadavg: os.loadavg() } }
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]

/** The images to roll out: `large` is the large test image, a size (64MiB) a synthetic one */
async function images () {
  const out = []
  for (const name of values.images.split(',')) {
    if (name === 'large' || name === 'small') out.push({ name, layout: (await buildFixtures(name))[name].oci })
    else out.push({ name, layout: (await writeSyntheticLayout(path.join(work, `synthetic-${name}`), parseBytes(name) - 1024)).layout })
  }
  return out
}

const say = m => process.stderr.write(`lab bench: ${m}\n`)

async function rollouts (lab, hosts) {
  for (const image of await images()) {
    const report = await rollout(lab, { image: image.layout, modes, onProgress: say })
    results.rollouts.push({ name: image.name, report })
    console.log(`\n${formatRollout(report).join('\n')}\n`)
  }
}

/** The DHT measurement on an up lab of DHT_HOSTS hosts */
async function dhtInLab (lab, fresh) {
  // after rollouts: cold daemons again, with no record of the rolled-out images
  if (!fresh) await lab.resetDaemons()
  const providers = lab.hosts.slice(0, DHT_PROVIDERS)
  const seekers = lab.hosts.slice(DHT_PROVIDERS, DHT_HOSTS)
  // the seekers join after the provides, so no provider record reached them
  for (const h of seekers) await lab.stopDaemon(h.name)
  const lookups = []
  await Promise.all(providers.map(async (h, p) => {
    for (let i = 0; i < DHT_IMAGES_PER_PROVIDER; i++) {
      const layout = await writeSyntheticLayout(path.join(work, `dht-${p}-${i}`), 4096)
      await lab.cli(h.name, ['image', 'import', layout.layout], { timeout: 120_000 })
      lookups.push({ cid: cidForDigest(layout.digest).toString(), provider: h.peerId, digest: layout.digest })
    }
  }))
  lookups.sort((a, b) => a.digest < b.digest ? -1 : 1)
  // every provide is done: the origin's DHT names each provider
  for (const l of lookups) {
    for (let i = 0; ; i++) {
      const found = await lab.cli('origin', ['providers', l.digest])
      if (found.providers.some(p => p.peerId === l.provider)) break
      if (i === 50) throw new Error(`no provider record of ${l.digest}`)
    }
  }
  const seeds = [swarmAddress(lab.origin), swarmAddress(lab.hosts[0])]
  const perSeeker = Math.ceil(DHT_LOOKUPS / seekers.length)
  const probes = await Promise.all(seekers.map(async (h, s) => {
    const mine = Array.from({ length: perSeeker }, (_, i) => lookups[(s * 7 + i * 3) % lookups.length])
    const job = path.join(work, `probe-${h.name}.json`)
    await fs.writeFile(job, JSON.stringify({ listen: `/ip4/${h.address}/tcp/4101`, bootstrap: seeds, difficulty: lab.state.difficulty, minPeers: 10, lookups: mine }))
    return startProbe(h, job)
  }))
  const kill = setTimeout(() => { for (const p of probes) p.child.kill('SIGKILL') }, 900_000)
  const runs = []
  try {
    for (const p of probes) await p.next() // each has joined and settled
    // one seeker at a time, so that lookups never overlap (as in dht.mjs)
    for (const p of probes) {
      p.send('go')
      runs.push(await p.next())
    }
  } finally {
    for (const p of probes) p.send('exit')
    await Promise.all(probes.map(async p => p.exited))
    clearTimeout(kill)
  }
  return summariseDht(`lab: ${DHT_PROVIDERS} provider daemons + origin, ${seekers.length} seekers, each in its own process and namespace at ${formatRate(lab.state.rate)}`, runs)
}

/** A seeker process in the host's namespace (lab-dht-probe.mjs), driven line by line */
function startProbe (h, job) {
  const child = spawn('ip', ['netns', 'exec', h.ns, process.execPath, new URL('./lab-dht-probe.mjs', import.meta.url).pathname, job], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  return {
    child,
    exited: new Promise(resolve => child.once('exit', resolve)),
    send: line => { if (child.exitCode == null) child.stdin.write(line + '\n') },
    async next () {
      const { value, done } = await lines.next()
      if (done) throw new Error(`the DHT probe on ${h.name} exited`)
      return JSON.parse(value)
    }
  }
}

function summariseDht (label, runs) {
  const lat = runs.flatMap(r => r.lat).sort((a, b) => a - b)
  return { label, lookups: lat.length, median: pct(lat, 0.5), p99: pct(lat, 0.99), max: lat[lat.length - 1], misses: runs.reduce((a, r) => a + r.misses, 0), opens: runs.reduce((a, r) => a + r.opens, 0), routingTables: runs.map(r => r.routingTable) }
}

/** The same swarm and lookups in one process (the baseline), in a child process of its own */
function dhtInProcess () {
  const res = spawnSync(process.execPath, [new URL('./lab-dht-inprocess.mjs', import.meta.url).pathname, String(DHT_PROVIDERS), String(DHT_HOSTS - DHT_PROVIDERS), String(DHT_IMAGES_PER_PROVIDER), String(DHT_LOOKUPS)], { encoding: 'utf8', maxBuffer: 1 << 24 })
  if (res.status !== 0) throw new Error(`in-process DHT baseline failed: ${res.stderr}`)
  const runs = JSON.parse(res.stdout.trim().split('\n').pop())
  return summariseDht(`one process: the same ${DHT_PROVIDERS + 1} + ${DHT_HOSTS - DHT_PROVIDERS} nodes, TCP on loopback`, runs)
}

try {
  if (!values['dht-only']) {
    for (const n of hostCounts) {
      say(`${n} hosts at ${formatRate(rate)} (origin ${formatRate(originRate)})`)
      const lab = await Lab.up({ dir: path.join(work, `lab-${n}`), hosts: n, rate, originRate, onProgress: say })
      try {
        await rollouts(lab, n)
        if (n === DHT_HOSTS && !values['no-dht']) results.dht = [dhtInProcess(), await dhtInLab(lab, false)]
      } finally {
        await lab.down({ keepLogs: true })
      }
    }
  }
  if (results.dht == null && !values['no-dht']) {
    const lab = await Lab.up({ dir: path.join(work, 'lab-dht'), hosts: DHT_HOSTS, rate, onProgress: say })
    try {
      results.dht = [dhtInProcess(), await dhtInLab(lab, true)]
    } finally {
      await lab.down({ keepLogs: true })
    }
  }
} finally {
  results.machine.loadavgAfter = os.loadavg()
  await fs.writeFile(values.out, JSON.stringify(results, null, 2))
}

if (results.rollouts.length > 0) {
  console.log(`\nRollouts at ${formatRate(rate)} per host (origin ${formatRate(originRate)}), ${os.availableParallelism()} cores: max completion time, and its ratio to S/R\n`)
  console.log('| hosts | image (S) | S/R | central (N·S/R0) | provenir pull | provenir gateway | origin sent: central / pull / gateway | CPU busy: central / pull / gateway |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const { name, report: r } of results.rollouts) {
    const m = mode => r.phases.find(p => p.mode === mode)
    const cell = mode => { const p = m(mode); return p == null ? '-' : `${p.max?.toFixed(1) ?? '-'} s (${p.ratioToSR?.toFixed(2) ?? '-'}x)${p.done < p.pullers ? ` ${p.done}/${p.pullers} done` : ''}` }
    const sent = ['central', 'pull', 'gateway'].map(x => m(x) == null ? '-' : `${m(x).originSentRatio.toFixed(2)}x`).join(' / ')
    const cpu = ['central', 'pull', 'gateway'].map(x => m(x) == null ? '-' : `${Math.round(m(x).cpuBusy * 100)}%`).join(' / ')
    console.log(`| ${r.lab.hosts} | ${name} (${formatBytes(r.image.size)}) | ${r.limits.perHost.toFixed(1)} s | ${cell('central')} (limit ${r.limits.central.toFixed(1)} s) | ${cell('pull')} | ${cell('gateway')} | ${sent} | ${cpu} |`)
  }
}
if (results.dht != null) {
  console.log(`\nDHT findProviders, ${DHT_LOOKUPS} lookups of ${DHT_PROVIDERS * DHT_IMAGES_PER_PROVIDER} manifests provided by ${DHT_PROVIDERS} hosts, from seekers that joined after the provides (time to the first answer naming the provider)\n`)
  console.log('| setup | median | p99 | max | misses | connections opened by the seekers |')
  console.log('|---|---|---|---|---|---|')
  for (const d of results.dht) console.log(`| ${d.label} | ${d.median.toFixed(1)} ms | ${d.p99.toFixed(1)} ms | ${d.max.toFixed(1)} ms | ${d.misses} | ${d.opens} |`)
}
console.log(`\nload average (1, 5, 15 min) before: ${results.machine.loadavg.map(l => l.toFixed(2)).join(', ')}; after: ${results.machine.loadavgAfter.map(l => l.toFixed(2)).join(', ')}; JSON: ${values.out}`)
// the images go; each lab's logs, metrics and rollout reports stay
for (const f of await fs.readdir(work)) if (!f.startsWith('lab-')) await fs.rm(path.join(work, f), { recursive: true, force: true })
console.log(`logs, metrics and reports of each lab: ${work}`)
