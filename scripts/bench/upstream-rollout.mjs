// A rollout of an upstream image to several nodes of one swarm, on loopback: how many copies of
// each blob the upstream serves. The DESIGN's aim is one ("a digest is asked of the swarm first, of
// the upstream only when no peer has it"). Two ways in one run, each with fresh daemons:
//   at once    - every node runs `image pull <upstream>/library/<repo>:v1` at the same moment;
//   staggered  - one node pulls first, then the others at once.
// The baseline is the physical limit the design aims at: 1 copy. Blob GETs that returned 200 are
// counted from docker-registry's access log.
//   npm exec -- node scripts/bench/upstream-rollout.mjs [--nodes 4] [--mib 32]
import fs from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { DaemonProcess, TEST_INIT, runJson, tempDir, waitFor } from '../../test/dist/daemon-helpers.js'
import { useStandIn } from '../../test/dist/upstream/daemons.js'
import { pushNewImage } from '../../test/dist/upstream/push.js'
import { startStandIn } from '../../test/dist/upstream/stand-in.js'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '4' }, mib: { type: 'string', default: '32' } } })
const NODES = Number(values.nodes)
const work = await tempDir()
const hub = await startStandIn(path.join(work, 'hub'), {})
try {
  for (const mode of ['at once', 'staggered']) {
    const repository = `library/roll-${mode === 'at once' ? 'a' : 'b'}`
    const made = await pushNewImage(hub, repository, 'v1', Number(values.mib) * 1024 * 1024)
    const daemons = []
    const repos = []
    try {
      for (let i = 0; i < NODES; i++) {
        const repo = path.join(work, `${mode === 'at once' ? 'a' : 'b'}${i}`)
        const boot = i === 0 ? [] : ['--bootstrap', (await runJson(repos[0], ['id'])).addresses[0]]
        await runJson(repo, ['init', ...TEST_INIT, ...boot])
        await useStandIn(repo, hub)
        const d = new DaemonProcess(repo)
        await d.ready()
        daemons.push(d)
        repos.push(repo)
      }
      await waitFor('every node connected', async () => {
        const counts = await Promise.all(repos.map(async r => (await runJson(r, ['peers'])).peers?.length ?? 0))
        return counts.every(c => c >= 1) ? true : undefined
      }, 60_000)
      const before = (await hub.accessLog()).length
      const pull = async (r) => runJson(r, ['image', 'pull', `${hub.host}/${repository}:v1`])
      const t0 = performance.now()
      if (mode === 'at once') {
        await Promise.all(repos.map(pull))
      } else {
        await pull(repos[0])
        await Promise.all(repos.slice(1).map(pull))
      }
      const seconds = (performance.now() - t0) / 1000
      const log = (await hub.accessLog()).slice(before)
      const layerGets = log.filter(e => e.method === 'GET' && e.path === `/v2/${repository}/blobs/${made.layer}` && e.status === 200).length
      console.log(`${mode}: ${NODES} nodes, ${values.mib} MiB layer: the upstream served the layer ${layerGets} time(s) (the aim: 1), all done in ${seconds.toFixed(1)} s`)
    } finally {
      for (const [i, d] of daemons.entries()) {
        await d.stop()
        if (process.env.BENCH_DAEMON_LOG != null) await fs.writeFile(`${process.env.BENCH_DAEMON_LOG}.${mode === 'at once' ? 'a' : 'b'}${i}`, d.stderr)
      }
    }
  }
} finally {
  await hub.close()
  await fs.rm(work, { recursive: true, force: true })
}
