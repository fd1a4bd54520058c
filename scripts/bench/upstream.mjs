// First pull of an upstream image through the node as a mirror, against skopeo pulling it
// straight from the upstream, in the same run: the Docker Hub stand-in (docker-registry behind
// TLS with token auth) holds the 315 MB image; each run starts a fresh node (nothing cached),
// then skopeo copies the image to a directory through the node's gateway (podman's mirror path)
// and straight from the stand-in, in alternating order. Then, with the tag cached on the node,
// 200 HEADs of it at the gateway (the mirror path), against 200 HEADs of the same tag straight at
// the stand-in with a token fetched once (docker-registry's own answer, no auth round trip).
//   npm run bench -- upstream   (or: npm exec -- node scripts/bench/upstream.mjs [--runs 3])
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { DaemonProcess, TEST_INIT, runJson, tempDir } from '../../test/dist/daemon-helpers.js'
import { useStandIn } from '../../test/dist/upstream/daemons.js'
import { FIXTURES, startStandIn } from '../../test/dist/upstream/stand-in.js'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } })
const RUNS = Number(values.runs)

/** Wall seconds of a skopeo copy */
async function skopeo (args) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn('skopeo', ['copy', '-q', ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr.on('data', d => { err += d })
    child.on('exit', code => code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(err)))
  })
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json'

/** Milliseconds of each of `n` HEADs of `url`, one at a time, after 10 unmeasured */
async function heads (url, n, init = {}) {
  const times = []
  for (let i = 0; i < n + 10; i++) {
    const t0 = performance.now()
    const res = await request(url, { method: 'HEAD', headers: { accept: ACCEPT, ...init.headers }, dispatcher: init.dispatcher })
    await res.body.dump()
    if (res.statusCode !== 200) throw new Error(`HEAD ${url}: ${res.statusCode}`)
    if (i >= 10) times.push(performance.now() - t0)
  }
  return times
}
const headsOurs = []
const headsBase = []
const work = await tempDir()
const hub = await startStandIn(path.join(work, 'hub'), { images: [[path.join(FIXTURES, 'large', 'oci'), 'library/large', 'v1']] })
const ours = []
const base = []
try {
  for (let run = 0; run < RUNS; run++) {
    const repo = path.join(work, `node-${run}`)
    await runJson(repo, ['init', ...TEST_INIT])
    await useStandIn(repo, hub)
    const daemon = new DaemonProcess(repo)
    try {
      await daemon.ready()
      const gateway = new URL((await runJson(repo, ['id'])).gateway).host
      const viaNode = async () => {
        const out = path.join(work, `node-${run}-copy`)
        const s = await skopeo(['--src-tls-verify=false', `docker://${gateway}/${hub.host.replace(':', '_')}/library/large:v1`, `dir:${out}`])
        await fs.rm(out, { recursive: true, force: true })
        return s
      }
      const direct = async () => {
        const out = path.join(work, `direct-${run}-copy`)
        const s = await skopeo(['--src-cert-dir', hub.pki.certDir, `docker://${hub.host}/library/large:v1`, `dir:${out}`])
        await fs.rm(out, { recursive: true, force: true })
        return s
      }
      if (run % 2 === 0) {
        ours.push(await viaNode())
        base.push(await direct())
      } else {
        base.push(await direct())
        ours.push(await viaNode())
      }
      headsOurs.push(...await heads(`http://${gateway}/v2/${hub.host.replace(':', '_')}/library/large/manifests/v1`, 200))
      const dispatcher = new Agent({ connect: { ca: await fs.readFile(path.join(hub.pki.certDir, 'ca.crt')) } })
      const tokenRes = await request(`${hub.issuer.url}?service=provenir-test-upstream&scope=repository:library/large:pull`, { dispatcher })
      const { token } = await tokenRes.body.json()
      headsBase.push(...await heads(`${hub.url}/v2/library/large/manifests/v1`, 200, { dispatcher, headers: { authorization: `Bearer ${token}` } }))
      await dispatcher.close()
      console.log(`run ${run + 1}: through the node ${ours.at(-1).toFixed(2)} s, skopeo from the upstream ${base.at(-1).toFixed(2)} s, ratio ${(ours.at(-1) / base.at(-1)).toFixed(2)} (load ${os.loadavg()[0].toFixed(1)})`)
    } finally {
      // SIGTERM: a daemon run with DAEMON_EXTRA_FLAGS="--cpu-prof ..." writes its profile
      await daemon.stop()
      if (process.env.BENCH_DAEMON_LOG != null) await fs.writeFile(`${process.env.BENCH_DAEMON_LOG}.${run}`, daemon.stderr)
      await fs.rm(repo, { recursive: true, force: true })
    }
  }
  console.log(`first pull of the 315 MB upstream image, median of ${RUNS}: through the node ${median(ours).toFixed(2)} s, skopeo straight from the upstream ${median(base).toFixed(2)} s, ratio ${(median(ours) / median(base)).toFixed(2)} (goal <= 1.2)`)
  console.log(`HEAD of the cached tag, ${headsOurs.length} each: at the gateway median ${median(headsOurs).toFixed(2)} ms, p99 ${p99(headsOurs).toFixed(2)} ms; docker-registry straight (token held) median ${median(headsBase).toFixed(2)} ms, p99 ${p99(headsBase).toFixed(2)} ms (goal <= 5 ms at the gateway)`)
} finally {
  await hub.close()
  await fs.rm(work, { recursive: true, force: true })
}
