// Throughput through a private-network connection protector, in one run:
// the same bytes over one libp2p stream (TCP loopback, noise, yamux) with no
// protector (the baseline), with stock @libp2p/pnet (XSalsa20 in the
// `xsalsa20` package's WebAssembly) and with provenir's (packages/node/src/pnet.ts,
// @noble/ciphers' xsalsa20). Each case runs one stream, then four streams on
// four connections at once (the load under which the WebAssembly memory grew
// until it failed), in MB/s of payload, with this process's peak RSS.
//
//   npm exec -- node scripts/bench/pnet.mjs [--mb 256] [--runs 3]
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { preSharedKey as stockPnet } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { byteStream } from '@libp2p/utils'
import { createLibp2p } from 'libp2p'
import { generateSwarmKey } from '../../packages/node/dist/src/index.js'
import { preSharedKey as ourPnet } from '../../packages/node/dist/src/pnet.js'

// the stock protector's cipher throws inside an event listener; let the case's process end on it
process.on('uncaughtException', (err) => { console.error(`uncaught: ${err?.name ?? err?.constructor?.name}: ${err?.message ?? ''}`); process.exit(1) })

const arg = (name, def) => { const i = process.argv.indexOf(name); return i === -1 ? def : Number(process.argv[i + 1]) }
const MB = arg('--mb', 256)
const RUNS = arg('--runs', 3)
const SINK = '/provenir-bench/sink/1.0.0'
const key = generateSwarmKey()
const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function node (protector) {
  const n = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(protector != null ? { connectionProtector: protector } : {})
  })
  await n.handle(SINK, (stream) => {
    let got = 0
    stream.addEventListener('message', (evt) => { got += evt.data.byteLength })
    stream.addEventListener('remoteCloseWrite', () => { stream.send(new TextEncoder().encode(String(got))); void stream.close().catch(() => {}) })
  }, { maxInboundStreams: 64 })
  return n
}

/** Sends `bytes` over one new stream and waits for the receiver to confirm it got them all */
async function send (from, to, bytes) {
  const stream = await from.dialProtocol(to.getMultiaddrs(), SINK, { signal: AbortSignal.timeout(30_000) })
  const chunk = new Uint8Array(256 * 1024).fill(7)
  for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
    if (!stream.send(chunk.subarray(0, Math.min(chunk.byteLength, bytes - sent)))) await stream.onDrain({ signal: AbortSignal.timeout(60_000) })
  }
  const reader = byteStream(stream)
  // close our writable end; the receiver answers with its count and closes its own
  const [ack] = await Promise.all([reader.read({ signal: AbortSignal.timeout(120_000) }), stream.close({ signal: AbortSignal.timeout(120_000) })])
  const got = Number(new TextDecoder().decode(ack?.subarray()))
  if (got !== bytes) throw new Error(`sent ${bytes}, the receiver counted ${got}`)
}

const CASES = {
  none: ['no protector (baseline)', undefined],
  provenir: ['provenir pnet (@noble/ciphers)', () => ourPnet({ psk: key })],
  stock: ['stock @libp2p/pnet (WASM)', () => stockPnet({ psk: key })]
}

/** One case, in a child process: prints one JSON line of MB/s per stream count */
async function runCase (name) {
  const protector = CASES[name][1]
  const out = {}
  for (const streams of [1, 4]) {
    const rates = []
    for (let r = 0; r < RUNS; r++) {
      const receiver = await node(protector?.())
      const senders = await Promise.all(Array.from({ length: streams }, async () => node(protector?.())))
      const bytes = Math.floor(MB * 1024 * 1024 / streams)
      const started = performance.now()
      await Promise.all(senders.map(async s => send(s, receiver, bytes)))
      rates.push(bytes * streams / 1e6 / ((performance.now() - started) / 1000))
      await Promise.all([receiver, ...senders].map(async n => n.stop()))
    }
    out[streams] = rates
  }
  out.rss = process.resourceUsage().maxRSS / 1024
  console.log(JSON.stringify(out))
}

const caseIndex = process.argv.indexOf('--case')
if (caseIndex !== -1) {
  await runCase(process.argv[caseIndex + 1])
  process.exit(0)
}

console.log(`${MB} MiB per case, ${RUNS} runs each (median), each case in its own process: TCP loopback + noise + yamux`)
const { spawnSync } = await import('node:child_process')
for (const [name, [label]] of Object.entries(CASES)) {
  const res = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--case', name, '--mb', String(MB), '--runs', String(RUNS)], { encoding: 'utf8' })
  const line = res.stdout.trim().split('\n').pop()
  if (res.status !== 0 || line == null || !line.startsWith('{')) {
    const lines = res.stderr.trim().split('\n').map(l => l.trim())
    const why = (lines.find(l => /RangeError|Memory|[A-Za-z]+Error:/.test(l)) ?? lines.find(l => /^[A-Za-z]+(Event|Error) \{/.test(l)) ?? lines.pop() ?? '').slice(0, 200)
    console.log(`${label.padEnd(32)} FAILED (exit ${res.status}): ${why}`)
    continue
  }
  const r = JSON.parse(line)
  const show = xs => `${median(xs).toFixed(0)} MB/s (${xs.map(x => x.toFixed(0)).join(', ')})`
  console.log(`${label.padEnd(32)} 1 stream ${show(r[1])}; 4 streams at once ${show(r[4])}; peak RSS ${r.rss.toFixed(0)} MiB`)
}
