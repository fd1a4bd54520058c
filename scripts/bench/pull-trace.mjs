// Cold pull A->B of the large image, N times, with wall time and each daemon's CPU
// during the pull (utime+stime from /proc): a diagnostic for where the time goes, not a benchmark
// (`pull.mjs` measures the pull against docker-registry).
//   npm exec -- node scripts/bench/pull-trace.mjs [--runs 3]
//   DAEMON_EXTRA_FLAGS="--cpu-prof --cpu-prof-dir=DIR" to profile both daemons
//   PERF_OUT=FILE to record B (A with PERF_WHO=a) with `perf record -g` during each pull (FILE.<run>)
//   PROVENIR_LOG_LEVEL=debug to print B's log line of each pull (manifest, record, first leaf, blobs)
import fs from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { DaemonProcess, TEST_INIT, runJson, startPuller, tempDir } from '../../test/dist/daemon-helpers.js'
import { buildFixtures } from '../../test/dist/image-helpers.js'
import { processCpu, processIo, pullLogLine } from './lib.mjs'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } })
const RUNS = Number(values.runs)
const mb = (x, y) => `read ${((y.read - x.read) / 1e6).toFixed(0)} MB, wrote ${((y.written - x.written) / 1e6).toFixed(0)} MB`
const diff = (x, y) => `${(y.user + y.sys - x.user - x.sys).toFixed(2)} s (user ${(y.user - x.user).toFixed(2)}, sys ${(y.sys - x.sys).toFixed(2)})`

const { large } = await buildFixtures('large')
const work = await tempDir()
const repoA = path.join(work, 'a')
await runJson(repoA, ['init', ...TEST_INIT])
const a = new DaemonProcess(repoA)
await a.ready()
const idA = await runJson(repoA, ['id'])
const imported = await runJson(repoA, ['image', 'import', large.oci])
const digest = imported.images[0].digest
for (let r = 0; r < RUNS; r++) {
  const repoB = path.join(work, `b${r}`)
  const b = await startPuller(repoB, idA.addresses[0], digest)
  const ca = await processCpu(a.child.pid); const cb = await processCpu(b.child.pid); const ia = await processIo(a.child.pid); const ib = await processIo(b.child.pid)
  const perf = process.env.PERF_OUT != null ? (await import('node:child_process')).spawn('perf', ['record', '-e', 'cpu-clock', '-F', '2000', '-g', '-o', `${process.env.PERF_OUT}.${r}`, '-p', String(process.env.PERF_WHO === 'a' ? a.child.pid : b.child.pid)], { stdio: 'ignore' }) : undefined
  if (perf != null) await new Promise(resolve => setTimeout(resolve, 500))
  const t0 = performance.now()
  await runJson(repoB, ['image', 'pull', digest])
  if (perf != null) { perf.kill('SIGINT'); await new Promise(resolve => perf.once('exit', resolve)) }
  const wall = (performance.now() - t0) / 1000
  const da = await processCpu(a.child.pid); const db = await processCpu(b.child.pid); const ja = await processIo(a.child.pid); const jb = await processIo(b.child.pid)
  // with PROVENIR_LOG_LEVEL=debug, B's own account of the pull (its steps' times)
  const pulled = pullLogLine(b.stderr)
  const steps = pulled !== '' ? `; B: ${pulled}` : ''
  console.log(`run ${r}: pull ${wall.toFixed(2)} s; CPU A ${diff(ca, da)}, B ${diff(cb, db)}; A ${mb(ia, ja)}; B ${mb(ib, jb)}${steps}`)
  await b.stop()
}
await a.stop()
await fs.rm(work, { recursive: true, force: true })
