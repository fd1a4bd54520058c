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
import { spawnSync } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { DaemonProcess, TEST_INIT, runJson, startPuller, tempDir } from '../../test/dist/daemon-helpers.js'
import { buildFixtures } from '../../test/dist/image-helpers.js'
import { hasDockerRegistry, processCpu, startDockerRegistry, vmHWM } from './lib.mjs'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } })
const RUNS = Number(values.runs)
const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = s => `${s.toFixed(2)} s`

function timed (cmd, args) {
  const t0 = performance.now()
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 })
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${res.stderr}`)
  return (performance.now() - t0) / 1000
}

/** `skopeo copy`, timed, with skopeo's own CPU (user and system seconds, from bash's `time`) */
function skopeoCopy (args) {
  const t0 = performance.now()
  const res = spawnSync('bash', ['-c', 'TIMEFORMAT="%U %S"; time skopeo copy -q "$@" > /dev/null', '_', ...args], { encoding: 'utf8', maxBuffer: 1 << 24 })
  if (res.status !== 0) throw new Error(`skopeo copy ${args.join(' ')} failed: ${res.stderr}`)
  const [user, sys] = res.stderr.trim().split('\n').pop().split(' ').map(Number)
  return { wall: (performance.now() - t0) / 1000, user, sys }
}

const fixtures = await buildFixtures('large')
const large = fixtures.large
const work = await tempDir()

// ---- provenir's A imports the image once
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

// ---- each run: the baseline (docker-registry + skopeo), then a fresh daemon B pulls cold from
// A and exports. Alternated, so both see the machine in the same state: on this VM a write into
// memory the host took back costs ~2 ms per MiB (BENCHMARKS.md, twelfth session), and the
// system times printed below show which runs paid it.
const baseline = { push: [], pull: [], cpu: [] }
const ours = { pull: [], export: [], rssPull: [], rssB: [], cpu: [] }
const registryHere = hasDockerRegistry()
for (let r = 0; r < RUNS; r++) {
  if (registryHere) {
    // a fresh registry for each run, so every push uploads every blob
    const registry = await startDockerRegistry(path.join(work, `registry-${r}`))
    const port = registry.port
    baseline.push.push(timed('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${large.oci}:v1`, `docker://127.0.0.1:${port}/bench/large:v1`]))
    const out = path.join(work, `skopeo-pull-${r}`)
    const pulled = skopeoCopy(['--src-tls-verify=false', `docker://127.0.0.1:${port}/bench/large:v1`, `oci:${out}:v1`])
    baseline.pull.push(pulled.wall)
    baseline.cpu.push(pulled)
    await registry.stop()
    await fs.rm(out, { recursive: true, force: true })
    await fs.rm(path.join(work, `registry-${r}`), { recursive: true, force: true })
  }

  const repoB = path.join(work, `b${r}`)
  const b = await startPuller(repoB, idA.addresses[0], digest)
  const c0 = await processCpu(b.child.pid)
  const tp = performance.now()
  await runJson(repoB, ['image', 'pull', digest])
  ours.pull.push((performance.now() - tp) / 1000)
  const c1 = await processCpu(b.child.pid)
  ours.cpu.push({ user: c1.user - c0.user, sys: c1.sys - c0.sys })
  ours.rssPull.push(await vmHWM(b.child.pid))
  const te = performance.now()
  await runJson(repoB, ['image', 'export', digest, path.join(work, `export-${r}`)])
  ours.export.push((performance.now() - te) / 1000)
  ours.rssB.push(await vmHWM(b.child.pid))
  await b.stop()
  // as the baseline removes what skopeo pulled: each run writes into memory the last one freed
  await fs.rm(repoB, { recursive: true, force: true })
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
const cpu = c => `${(c.user + c.sys).toFixed(2)} s (sys ${c.sys.toFixed(2)})`
console.log(`CPU of the pull: daemon B ${ours.cpu.map(cpu).join(', ')}; skopeo ${baseline.cpu.map(cpu).join(', ')} (the registry's not counted)`)

// ---- origin egress, 16 pullers of a 64 MiB image (in-process)
const egress = process.env.BENCH_SKIP_EGRESS === '1' ? { stdout: '' } : spawnSync(process.execPath, [new URL('./pull-egress.mjs', import.meta.url).pathname], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
process.stdout.write(egress.stdout)
await fs.rm(work, { recursive: true, force: true })
