// Image pull benchmarks (issue 4), each against a baseline measured in the same run:
//
//  1. Cold pull of the large test image (3 layers, 315 MB), node A -> node B, two daemon
//     processes over TCP loopback, against `skopeo copy` of the same image from Debian's
//     docker-registry (distribution) started here.
//  2. Import throughput and the daemons' peak RSS (VmHWM).
//  3. Origin egress when 16 pullers fetch a 64 MiB image at once (in-process test bed),
//     against the 16x a central registry sends.
//
//   npm exec -- node scripts/bench/pull.mjs [--runs 3]
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { DaemonProcess, TEST_INIT, runJson, startPuller, tempDir } from '../../test/dist/daemon-helpers.js'
import { buildFixtures } from '../../test/dist/image-helpers.js'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } })
const RUNS = Number(values.runs)
const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = s => `${s.toFixed(2)} s`

async function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)) })
    srv.on('error', reject)
  })
}

function timed (cmd, args) {
  const t0 = performance.now()
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 })
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${res.stderr}`)
  return (performance.now() - t0) / 1000
}

async function vmHWM (pid) {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024
}

const fixtures = await buildFixtures('large')
const large = fixtures.large
const work = await tempDir()

// ---- baseline: docker-registry + skopeo
let registry
const baseline = { push: [], pull: [] }
if (spawnSync('which', ['docker-registry']).status === 0) {
  // a fresh registry for each run, so every push uploads every blob
  for (let r = 0; r < RUNS; r++) {
    const port = await freePort()
    const cfg = path.join(work, `registry-${r}.yml`)
    await fs.writeFile(cfg, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(work, `registry-${r}`)}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`)
    registry = spawn('docker-registry', ['serve', cfg], { stdio: 'ignore' })
    for (let i = 0; i < 100; i++) {
      try { if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) break } catch {}
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    baseline.push.push(timed('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${large.oci}:v1`, `docker://127.0.0.1:${port}/bench/large:v1`]))
    const out = path.join(work, `skopeo-pull-${r}`)
    baseline.pull.push(timed('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://127.0.0.1:${port}/bench/large:v1`, `oci:${out}:v1`]))
    registry.kill()
    await fs.rm(out, { recursive: true, force: true })
    await fs.rm(path.join(work, `registry-${r}`), { recursive: true, force: true })
  }
} else {
  console.error('docker-registry is not installed (apt-get install docker-registry): no baseline')
}

// ---- provenir: daemon A imports, a fresh daemon B pulls cold, then exports
const repoA = path.join(work, 'a')
await runJson(repoA, ['init', ...TEST_INIT])
const a = new DaemonProcess(repoA)
await a.ready()
const idA = await runJson(repoA, ['id'])
const t0 = performance.now()
const imported = await runJson(repoA, ['image', 'import', large.oci])
const importSec = (performance.now() - t0) / 1000
const digest = imported.images[0].digest
const size = imported.images[0].size
const ours = { pull: [], export: [], rssPull: [], rssB: [] }
for (let r = 0; r < RUNS; r++) {
  const repoB = path.join(work, `b${r}`)
  const b = await startPuller(repoB, idA.addresses[0], digest)
  const tp = performance.now()
  await runJson(repoB, ['image', 'pull', digest])
  ours.pull.push((performance.now() - tp) / 1000)
  ours.rssPull.push(await vmHWM(b.child.pid))
  const te = performance.now()
  await runJson(repoB, ['image', 'export', digest, path.join(work, `export-${r}`)])
  ours.export.push((performance.now() - te) / 1000)
  ours.rssB.push(await vmHWM(b.child.pid))
  await b.stop()
  await fs.rm(path.join(work, `export-${r}`), { recursive: true, force: true })
}
const rssA = await vmHWM(a.child.pid)
await a.stop()

console.log(`\nCold pull of the large image (${(size / 1e6).toFixed(0)} MB, ${RUNS} runs, medians), ${os.cpus().length} cores\n`)
console.log('| measure | provenir | docker-registry + skopeo | ratio |')
console.log('|---|---|---|---|')
const row = (name, x, y) => console.log(`| ${name} | ${fmt(x)} | ${y != null ? fmt(y) : 'n/a'} | ${y != null ? (x / y).toFixed(2) + 'x' : ''} |`)
row('cold pull A->B (into B\'s store)', median(ours.pull), baseline.pull.length ? median(baseline.pull) : null)
row('cold pull + export to an OCI layout', median(ours.pull) + median(ours.export), baseline.pull.length ? median(baseline.pull) : null)
console.log(`\nimport on A: ${fmt(importSec)} (${(size / 1e6 / importSec).toFixed(0)} MB/s, through the CLI); skopeo push to docker-registry: ${baseline.push.length ? fmt(median(baseline.push)) : 'n/a'}`)
console.log(`peak RSS (VmHWM): daemon A ${rssA.toFixed(0)} MiB; daemon B after the pull ${ours.rssPull.map(x => x.toFixed(0)).join(', ')} MiB, after the export too ${ours.rssB.map(x => x.toFixed(0)).join(', ')} MiB`)
console.log(`raw: pull ${ours.pull.map(fmt).join(', ')}; export ${ours.export.map(fmt).join(', ')}; skopeo pull ${baseline.pull.map(fmt).join(', ')}`)

// ---- origin egress, 16 pullers of a 64 MiB image (in-process)
const egress = process.env.BENCH_SKIP_EGRESS === '1' ? { stdout: '' } : spawnSync(process.execPath, [new URL('./pull-egress.mjs', import.meta.url).pathname], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
process.stdout.write(egress.stdout)
await fs.rm(work, { recursive: true, force: true })
