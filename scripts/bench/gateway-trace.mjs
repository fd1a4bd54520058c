// Warm pull through the gateway, N times, against docker-registry in the same run, with the
// wall time and the CPU of the serving process and of skopeo (children's rusage).
//   npm exec -- node scripts/bench/gateway-trace.mjs [--runs 5]
//   DAEMON_EXTRA_FLAGS="--cpu-prof --cpu-prof-dir=DIR" to profile the daemon
//   PERF_OUT=FILE to record the daemon with `perf record -g` during each pull (FILE.<run>)
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { DaemonProcess, TEST_INIT, runJson, tempDir } from '../../test/dist/daemon-helpers.js'
import { buildFixtures } from '../../test/dist/image-helpers.js'
import { processCpu, startDockerRegistry } from './lib.mjs'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } })
const RUNS = Number(values.runs)

/** CPU seconds of a process so far */
async function cpu (pid) {
  const { user, sys } = await processCpu(pid)
  return user + sys
}
/** runs skopeo, returns wall seconds and skopeo's own CPU seconds (from /usr/bin/time's output) */
async function skopeo (args) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn('/usr/bin/env', ['bash', '-c', 'TIMEFORMAT="%U %S"; time skopeo copy -q "$@" > /dev/null', '_', ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr.on('data', d => { err += d })
    child.on('exit', code => {
      if (code !== 0) return reject(new Error(err))
      const [u, s] = err.trim().split('\n').pop().split(' ').map(Number)
      resolve({ wall: (performance.now() - t0) / 1000, cpu: u + s })
    })
  })
}

const { large } = await buildFixtures('large')
const src = `oci:${large.oci}:v1`
const work = await tempDir()
// docker-registry
const registry = await startDockerRegistry(path.join(work, 'registry'))
const port = registry.port
await skopeo(['--dest-tls-verify=false', src, `docker://127.0.0.1:${port}/bench/large:v1`])
// provenir
const repoA = path.join(work, 'a')
await runJson(repoA, ['init', ...TEST_INIT])
const a = new DaemonProcess(repoA)
await a.ready()
const gwAddr = a.events().find(e => e.event === 'ready').gateway.replace(/^http:\/\//, '')
await skopeo(['--dest-tls-verify=false', src, `docker://${gwAddr}/bench/large:v1`])
for (let r = 0; r < RUNS; r++) {
  const outR = path.join(work, `reg-${r}`)
  const rc0 = await cpu(registry.pid)
  const reg = await skopeo(['--src-tls-verify=false', `docker://127.0.0.1:${port}/bench/large:v1`, `oci:${outR}:v1`])
  const rc = await cpu(registry.pid) - rc0
  const outP = path.join(work, `ours-${r}`)
  const ac0 = await cpu(a.child.pid)
  const perf = process.env.PERF_OUT != null ? spawn('perf', ['record', '-e', 'cpu-clock', '-F', '2000', '-g', '-o', `${process.env.PERF_OUT}.${r}`, '-p', String(a.child.pid)], { stdio: 'ignore' }) : undefined
  if (perf != null) await new Promise(resolve => setTimeout(resolve, 500))
  const ours = await skopeo(['--src-tls-verify=false', `docker://${gwAddr}/bench/large:v1`, `oci:${outP}:v1`])
  if (perf != null) { perf.kill('SIGINT'); await new Promise(resolve => perf.once('exit', resolve)) }
  const ac = await cpu(a.child.pid) - ac0
  console.log(`run ${r}: registry ${reg.wall.toFixed(2)} s (server CPU ${rc.toFixed(2)}, skopeo ${reg.cpu.toFixed(2)}); provenir ${ours.wall.toFixed(2)} s (daemon CPU ${ac.toFixed(2)}, skopeo ${ours.cpu.toFixed(2)}); ratio ${(ours.wall / reg.wall).toFixed(2)}`)
  await fs.rm(outR, { recursive: true }); await fs.rm(outP, { recursive: true })
}
await registry.stop()
await a.stop()
await fs.rm(work, { recursive: true, force: true })
