// The registry gateway against Debian's docker-registry (distribution), with
// the same image (the large test image, 315 MB) and the same skopeo commands,
// both measured in this run:
//   push; warm pull (the node already holds the image); cold pull through a
//   second node B that fetches from A over the swarm; A's peak RSS during the
//   push and B's by the end of the cold pull.
//
//   npm exec -- node scripts/bench/gateway.mjs [--runs 3]
import { spawnSync } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { DaemonProcess, TEST_INIT, runJson, tempDir } from '../../test/dist/daemon-helpers.js'
import { buildFixtures } from '../../test/dist/image-helpers.js'
import { blockBytesSent, hasDockerRegistry, startDockerRegistry, vmHWM } from './lib.mjs'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } })
const RUNS = Number(values.runs)
const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function skopeo (...args) {
  const t0 = performance.now()
  const res = spawnSync('skopeo', ['copy', '-q', ...args], { encoding: 'utf8', maxBuffer: 1 << 24 })
  if (res.status !== 0) throw new Error(`skopeo copy ${args.join(' ')} failed: ${res.stderr}`)
  return (performance.now() - t0) / 1000
}

const { large } = await buildFixtures('large')
const src = `oci:${large.oci}:v1`
const work = await tempDir()
const reg = { push: [], pull: [] }
const ours = { push: [], warm: [], cold: [], rssPush: [], rssCold: [], coldSent: [] }
const IMAGE_BYTES = 315 * 1e6

const hasRegistry = hasDockerRegistry()

for (let r = 0; r < RUNS; r++) {
  if (hasRegistry) {
    const registry = await startDockerRegistry(path.join(work, `registry-${r}`))
    const port = registry.port
    reg.push.push(skopeo('--dest-tls-verify=false', src, `docker://127.0.0.1:${port}/bench/large:v1`))
    reg.pull.push(skopeo('--src-tls-verify=false', `docker://127.0.0.1:${port}/bench/large:v1`, `oci:${path.join(work, `reg-out-${r}`)}:v1`))
    await registry.stop()
  }

  const repoA = path.join(work, `a${r}`)
  const repoB = path.join(work, `b${r}`)
  await runJson(repoA, ['init', ...TEST_INIT])
  const a = new DaemonProcess(repoA)
  await a.ready()
  const gwA = a.events().find(e => e.event === 'ready').gateway.replace(/^http:\/\//, '')
  ours.push.push(skopeo('--dest-tls-verify=false', src, `docker://${gwA}/bench/large:v1`))
  ours.rssPush.push(await vmHWM(a.child.pid))
  ours.warm.push(skopeo('--src-tls-verify=false', `docker://${gwA}/bench/large:v1`, `oci:${path.join(work, `warm-${r}`)}:v1`))
  const digest = JSON.parse(spawnSync('skopeo', ['inspect', '--tls-verify=false', `docker://${gwA}/bench/large:v1`], { encoding: 'utf8' }).stdout).Digest
  const idA = await runJson(repoA, ['id'])
  await runJson(repoB, ['init', ...TEST_INIT, '--bootstrap', idA.addresses[0]])
  const b = new DaemonProcess(repoB)
  await b.ready()
  const gwB = b.events().find(e => e.event === 'ready').gateway.replace(/^http:\/\//, '')
  for (let i = 0; i < 100; i++) {
    if ((await runJson(repoB, ['providers', digest])).providers.length > 0) break
  }
  const sentBefore = await blockBytesSent(a)
  ours.cold.push(skopeo('--src-tls-verify=false', `docker://${gwB}/bench/large@${digest}`, `oci:${path.join(work, `cold-${r}`)}`))
  ours.coldSent.push(((await blockBytesSent(a)).total - sentBefore.total) / IMAGE_BYTES)
  ours.rssCold.push(await vmHWM(b.child.pid))
  await b.stop()
  await a.stop()
  await fs.rm(path.join(work, `warm-${r}`), { recursive: true, force: true })
  await fs.rm(path.join(work, `cold-${r}`), { recursive: true, force: true })
  await fs.rm(path.join(work, `reg-out-${r}`), { recursive: true, force: true })
}

const row = (name, x, y, goal) => console.log(`| ${name} | ${x.toFixed(2)} s | ${y != null ? y.toFixed(2) + ' s' : 'n/a'} | ${y != null ? (x / y).toFixed(2) + 'x' : ''} | ${goal} |`)
console.log(`\nRegistry gateway vs docker-registry, large image (315 MB), skopeo, ${RUNS} runs, medians\n`)
console.log('| measure | provenir gateway | docker-registry | ratio | goal |')
console.log('|---|---|---|---|---|')
row('push', median(ours.push), hasRegistry ? median(reg.push) : null, '<= 1.5x')
row('warm pull (the node holds the image)', median(ours.warm), hasRegistry ? median(reg.pull) : null, '<= 1.1x')
row('cold pull through B (A -> B over the swarm)', median(ours.cold), hasRegistry ? median(reg.pull) : null, '<= 1.5x')
console.log(`\npeak RSS of daemon A during the push: ${ours.rssPush.map(x => x.toFixed(0)).join(', ')} MiB (goal <= 300 MB)`)
console.log(`peak RSS of daemon B by the end of the cold pull through it: ${ours.rssCold.map(x => x.toFixed(0)).join(', ')} MiB`)
console.log(`blocks A sent during the cold pull through B: ${ours.coldSent.map(x => x.toFixed(2)).join(', ')}x the image`)
console.log(`raw: push ${ours.push.map(x => x.toFixed(2)).join(', ')}; warm ${ours.warm.map(x => x.toFixed(2)).join(', ')}; cold ${ours.cold.map(x => x.toFixed(2)).join(', ')}; registry push ${reg.push.map(x => x.toFixed(2)).join(', ')}, pull ${reg.pull.map(x => x.toFixed(2)).join(', ')}`)
await fs.rm(work, { recursive: true, force: true })
