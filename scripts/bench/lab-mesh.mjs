// The lab's physical limit for a swarm, measured (needs root, see packages/lab/README.md): every
// host fetches S at once, an equal share from the origin and from each other host, all of it over
// plain HTTP at the same moment: the schedule a swarm would have if every byte were everywhere from
// the start, with no protocol and no hashing. What it measures is what the lab's tbf links and the
// kernel's TCP give all-to-all traffic, beside the computed S/R that `lab.mjs` compares rollouts
// with. The origin sends S in all, each host S less its own share.
//
//   npm exec -- node scripts/bench/lab-mesh.mjs --hosts 16 --rate 10mbit --size 64MiB --runs 2
import { parseArgs } from 'node:util'
import { Lab, formatBytes, formatRate, labUnavailable, nsHeld, nsRun, parseBytes, parseRate, poll } from '../../packages/lab/dist/src/index.js'

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '16' },
    rate: { type: 'string', default: '10mbit' },
    size: { type: 'string', default: '64MiB' },
    runs: { type: 'string', default: '1' },
    port: { type: 'string', default: '18080' }
  }
})

const reason = await labUnavailable()
if (reason != null) {
  console.log(`lab-mesh: skipped: ${reason}`)
  process.exit(0)
}

const hostCount = Number(values.hosts)
const rate = parseRate(values.rate)
const size = parseBytes(values.size)
const runs = Number(values.runs)
const port = Number(values.port)

// each host's server answers GET /<n> with n bytes (at most one share) of one random buffer
const SERVER = `
const http = require('node:http')
const { randomBytes } = require('node:crypto')
const [addr, port, max] = process.argv.slice(1)
const buf = randomBytes(Number(max))
http.createServer((req, res) => {
  const n = Number(req.url.slice(1))
  if (!Number.isInteger(n) || n < 0 || n > buf.length) { res.statusCode = 400; res.end(); return }
  res.setHeader('content-length', n)
  res.end(buf.subarray(0, n))
}).listen(Number(port), addr, () => { console.log('listening') })
`

const lab = await Lab.up({ dir: `/tmp/provenir-lab-mesh-${process.pid}`, hosts: hostCount, rate, onProgress: m => { console.error(`lab-mesh: ${m}`) } })
const servers = []
try {
  const hosts = lab.state.hosts
  const sources = hosts.length - 1
  const share = Math.ceil(size / sources)
  for (const h of hosts) {
    const server = nsHeld(h.ns, process.execPath, ['-e', SERVER, h.address, String(port), String(share)], { timeout: 24 * 3600_000 })
    // it runs until the lab's down ends it
    server.result.catch(() => {})
    servers.push(server)
  }
  for (const s of servers) s.go()
  // every server answers a request from the origin's namespace before the clock starts
  for (const h of hosts) {
    await poll(async () => nsRun(hosts[0].ns, 'curl', ['-sf', '-o', '/dev/null', `http://${h.address}:${port}/1`]).then(() => true, () => undefined), 30_000, (last) => new Error(`the mesh server on ${h.name} did not answer: ${last}`), { interval: 200 })
  }
  const limit = size * 8 / rate
  const rows = []
  for (let r = 0; r < runs; r++) {
    const pullers = hosts.slice(1).map(h => {
      const urls = hosts.filter(o => o !== h).map(o => `http://${o.address}:${port}/${share}`)
      return { h, run: nsHeld(h.ns, 'curl', ['--no-progress-meter', '--fail', '--parallel', '--parallel-max', String(urls.length), '-w', '%{size_download}\\n', ...urls.flatMap(u => ['-o', '/dev/null', u])], { timeout: Math.max(120_000, Math.ceil(20 * size * 8 / rate * 1000)) }) }
    })
    await Promise.all(pullers.map(p => p.run.ready))
    const t0 = performance.now()
    for (const p of pullers) p.run.go()
    const times = await Promise.all(pullers.map(async ({ h, run }) => {
      const res = await run.result
      const got = res.stdout.split('\n').filter(Boolean).reduce((a, b) => a + Number(b), 0)
      if (got !== share * sources) throw new Error(`${h.name} received ${got} bytes of ${share * sources}`)
      return (performance.now() - t0) / 1000
    }))
    times.sort((a, b) => a - b)
    rows.push(times)
    console.log(`run ${r + 1}: ${hostCount} hosts each received ${formatBytes(share * sources)} from ${sources} peers at once in ${times[0].toFixed(1)}-${times[times.length - 1].toFixed(1)} s (median ${times[times.length >> 1].toFixed(1)} s); S/R ${limit.toFixed(1)} s: max ${(times[times.length - 1] / limit).toFixed(2)}x`)
  }
  console.log(`\n| hosts | S | rate | S/R | all-to-all over TCP: max (x S/R), each run |`)
  console.log('|---|---|---|---|---|')
  console.log(`| ${hostCount} | ${formatBytes(size)} | ${formatRate(rate)} | ${limit.toFixed(1)} s | ${rows.map(t => `${t[t.length - 1].toFixed(1)} s (${(t[t.length - 1] / limit).toFixed(2)}x)`).join(', ')} |`)
} finally {
  for (const s of servers) s.go()
  await lab.down()
}
