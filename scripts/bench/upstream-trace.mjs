// Where the first pull through the mirror spends its time: one blob (100 MB) fetched through a fresh
// node's gateway (mirror path, nothing cached), the same blob again (served from the node's store),
// and straight from the stand-in, each with a plain HTTP client reading as fast as it can.
//   npm exec -- node scripts/bench/upstream-trace.mjs
import fs from 'node:fs/promises'
import path from 'node:path'
import { Agent, request } from 'undici'
import { DaemonProcess, TEST_INIT, runJson, tempDir } from '../../test/dist/daemon-helpers.js'
import { useStandIn } from '../../test/dist/upstream/daemons.js'
import { FIXTURES, startStandIn } from '../../test/dist/upstream/stand-in.js'

const LAYER = 'sha256:2ee6c33cd0dae7a6ccc533212c70e9a6098f64e2361fba624a94cd04557d5b9a'
const work = await tempDir()
const hub = await startStandIn(path.join(work, 'hub'), { images: [[path.join(FIXTURES, 'large', 'oci'), 'library/large', 'v1']] })
const repo = path.join(work, 'node')
await runJson(repo, ['init', ...TEST_INIT])
await useStandIn(repo, hub)
const daemon = new DaemonProcess(repo)
async function get (url, init = {}) {
  const t0 = performance.now()
  const res = await request(url, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json', ...init.headers }, dispatcher: init.dispatcher, maxRedirections: 0 })
  let n = 0
  for await (const c of res.body) n += c.byteLength
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`)
  return { ms: performance.now() - t0, n }
}
try {
  await daemon.ready()
  const gateway = new URL((await runJson(repo, ['id'])).gateway).host
  const base = `http://${gateway}/v2/${hub.host.replace(':', '_')}/library/large`
  const m = await get(`${base}/manifests/v1`)
  console.log(`manifest through the node (tag HEAD upstream, swarm miss, upstream GET): ${m.ms.toFixed(0)} ms`)
  const cold = await get(`${base}/blobs/${LAYER}`)
  console.log(`100 MB layer through the node, cold: ${cold.ms.toFixed(0)} ms (${(cold.n / cold.ms / 1000).toFixed(0)} MB/s)`)
  const warm = await get(`${base}/blobs/${LAYER}`)
  console.log(`the same, warm (from the node's store): ${warm.ms.toFixed(0)} ms (${(warm.n / warm.ms / 1000).toFixed(0)} MB/s)`)
  const dispatcher = new Agent({ connect: { ca: await fs.readFile(path.join(hub.pki.certDir, 'ca.crt')) } })
  const { token } = await (await request(`${hub.issuer.url}?service=provenir-test-upstream&scope=repository:library/large:pull`, { dispatcher })).body.json()
  const direct = await get(`${hub.url}/v2/library/large/blobs/${LAYER}`, { dispatcher, headers: { authorization: `Bearer ${token}` } })
  console.log(`the same straight from docker-registry over TLS: ${direct.ms.toFixed(0)} ms (${(direct.n / direct.ms / 1000).toFixed(0)} MB/s)`)
  await dispatcher.close()
} finally {
  await daemon.stop()
  if (process.env.BENCH_DAEMON_LOG != null) await fs.writeFile(process.env.BENCH_DAEMON_LOG, daemon.stderr)
  await hub.close()
  await fs.rm(work, { recursive: true, force: true })
}
