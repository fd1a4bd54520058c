// Warm pull through the gateway, N times, against docker-registry in the same run, with the
// wall time and the CPU of the serving process and of skopeo (children's rusage).
// With --cold, each run pulls through a fresh node B that fetches from A over the swarm, and also
// prints A's and B's CPU, B's bytes read and written and the bytes of blocks A sent.
//   npm exec -- node scripts/bench/gateway-trace.mjs [--runs 5] [--cold]
//   DAEMON_EXTRA_FLAGS="--cpu-prof --cpu-prof-dir=DIR" to profile the daemons
//   PERF_OUT=FILE to record the daemon (B with --cold) with `perf record -g` during each pull (FILE.<run>);
//   PERF_WHO=a records A instead of B; PROVENIR_LOG_LEVEL=debug prints B's log line of the pull (its steps' times)
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { DaemonProcess, TEST_INIT, runJson, tempDir } from '../../test/dist/daemon-helpers.js'
import { buildFixtures } from '../../test/dist/image-helpers.js'
import { blockBytesSent, processCpu, processIo, pullLogLine, startDockerRegistry } from './lib.mjs'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, cold: { type: 'boolean', default: false } } })
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
const gateway = daemon => daemon.events().find(e => e.event === 'ready').gateway.replace(/^http:\/\//, '')
const gwAddr = gateway(a)
await skopeo(['--dest-tls-verify=false', src, `docker://${gwAddr}/bench/large:v1`])
const digest = values.cold ? JSON.parse(spawnSync('skopeo', ['inspect', '--tls-verify=false', `docker://${gwAddr}/bench/large:v1`], { encoding: 'utf8' }).stdout).Digest : undefined
const idA = values.cold ? await runJson(repoA, ['id']) : undefined
for (let r = 0; r < RUNS; r++) {
  const outR = path.join(work, `reg-${r}`)
  const rc0 = await cpu(registry.pid)
  const reg = await skopeo(['--src-tls-verify=false', `docker://127.0.0.1:${port}/bench/large:v1`, `oci:${outR}:v1`])
  const rc = await cpu(registry.pid) - rc0
  const outP = path.join(work, `ours-${r}`)
  let b
  if (values.cold) {
    const repoB = path.join(work, `b${r}`)
    await runJson(repoB, ['init', ...TEST_INIT, '--bootstrap', idA.addresses[0]])
    b = new DaemonProcess(repoB)
    await b.ready()
    for (let i = 0; i < 100; i++) {
      if ((await runJson(repoB, ['providers', digest])).providers.length > 0) break
    }
  }
  const server = b ?? a
  const ac0 = await cpu(a.child.pid)
  const bc0 = b != null ? await cpu(b.child.pid) : 0
  const bio0 = b != null ? await processIo(b.child.pid) : undefined
  const sent0 = b != null ? await blockBytesSent(a) : undefined
  const perf = process.env.PERF_OUT != null ? spawn('perf', ['record', '-e', 'cpu-clock', '-F', '2000', '-g', '-o', `${process.env.PERF_OUT}.${r}`, '-p', String((process.env.PERF_WHO === 'a' ? a : server).child.pid)], { stdio: 'ignore' }) : undefined
  if (perf != null) await new Promise(resolve => setTimeout(resolve, 500))
  const from = b != null ? `docker://${gateway(b)}/bench/large@${digest}` : `docker://${gwAddr}/bench/large:v1`
  const ours = await skopeo(['--src-tls-verify=false', from, b != null ? `oci:${outP}` : `oci:${outP}:v1`])
  if (perf != null) { perf.kill('SIGINT'); await new Promise(resolve => perf.once('exit', resolve)) }
  const ac = await cpu(a.child.pid) - ac0
  let cold = ''
  if (b != null) {
    const bc = await cpu(b.child.pid) - bc0
    const bio = await processIo(b.child.pid)
    const sent1 = await blockBytesSent(a)
    const sent = (sent1.total - sent0.total) / 1e6
    const bySwap = (sent1.bitswap - sent0.bitswap) / 1e6
    cold = `; cold through B: A CPU ${ac.toFixed(2)}, B CPU ${bc.toFixed(2)}, B read (files and sockets) ${((bio.read - bio0.read) / 1e6).toFixed(0)} MB, wrote ${((bio.written - bio0.written) / 1e6).toFixed(0)} MB; A sent ${sent.toFixed(0)} MB of blocks (${bySwap.toFixed(0)} MB over bitswap)`
    // the pull the gateway started ends after the stream (the image recorded): its log line then
    if (process.env.PROVENIR_LOG_LEVEL === 'debug') {
      for (let i = 0; i < 100 && !b.stderr.includes('pulled sha256:'); i++) await new Promise(resolve => setTimeout(resolve, 100))
    }
    await b.stop()
    // with PROVENIR_LOG_LEVEL=debug, B's own account of the pull the gateway started
    const pulled = pullLogLine(b.stderr)
    if (pulled !== '') cold += `; B: ${pulled}`
  }
  console.log(`run ${r}: registry ${reg.wall.toFixed(2)} s (server CPU ${rc.toFixed(2)}, skopeo ${reg.cpu.toFixed(2)}); provenir ${ours.wall.toFixed(2)} s (${b == null ? `daemon CPU ${ac.toFixed(2)}, ` : ''}skopeo ${ours.cpu.toFixed(2)}); ratio ${(ours.wall / reg.wall).toFixed(2)}${cold}`)
  await fs.rm(outR, { recursive: true }); await fs.rm(outP, { recursive: true })
}
await registry.stop()
await a.stop()
await fs.rm(work, { recursive: true, force: true })
