#!/usr/bin/env node
// Benchmark of the S/Kademlia static puzzle (NodeId search) and of NodeId checks.
//
//   npm run build && npm exec -- node scripts/bench/puzzle.mjs [--seconds 5]
//
// Measures in one run:
//   (a) the raw single-core rate of the exact operation a search worker runs
//       (node:crypto Ed25519 keygen + hand-built multihash + sha256), on this
//       thread, plus the rejected alternatives for comparison;
//   (b) generateIdentity's rate over all cores (an unreachable difficulty,
//       aborted after --seconds), per core, and its ratio to (a); also per
//       CPU second of the process, which stays fair when other processes
//       compete for the cores (the wall-clock ratio then drops);
//   (c) the expected time to find a NodeId at c1 = 16, 20, 24;
//   (d) the cost of verifyNodeId (median over 100k calls).
import { createPrivateKey, createPublicKey, generateKeyPairSync, hash, randomFillSync } from 'node:crypto'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { NodeIdSearch, generateIdentity, verifyNodeId } from '../../packages/identity/dist/src/index.js'

const args = process.argv.slice(2)
const secondsAt = args.indexOf('--seconds')
const seconds = secondsAt >= 0 ? Number(args[secondsAt + 1]) || 5 : 5
const RAW_MS = 3000
const ALT_MS = 800
/** No key meets this; every measured search runs until it is stopped */
const UNREACHABLE = 64

const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** CPU seconds (user + system, every thread) this process has used */
const cpuSeconds = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1e6 }

/**
 * Run `fn(batch)` repeatedly for about `ms`. Returns operations per wall-clock
 * second, and per CPU second of the whole process (which other processes
 * competing for the cores do not skew).
 */
function measure (fn, ms, batch = 64) {
  const warm = performance.now() + Math.min(200, ms / 4)
  while (performance.now() < warm) fn(batch)
  let ops = 0
  const cpu0 = cpuSeconds()
  const start = performance.now()
  let elapsed = 0
  do {
    fn(batch)
    ops += batch
    elapsed = performance.now() - start
  } while (elapsed < ms)
  return { wall: ops / (elapsed / 1000), cpu: ops / (cpuSeconds() - cpu0) }
}
const rateOf = (fn, ms, batch) => measure(fn, ms, batch).wall

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

console.log(`provenir puzzle benchmark: node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown cpu'}), load ${loadavg().map(l => l.toFixed(2)).join(' ')}`)
console.log()

// (a) raw single-core rate of the worker's own loop, and the alternatives
const search = new NodeIdSearch(UNREACHABLE)
const rawMeasure = measure(n => { search.run(n) }, RAW_MS)
const raw = rawMeasure.wall

const PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20)
const input = Buffer.alloc(38)
input.set(PREFIX)
const seeds = Buffer.alloc(32 * 1024)
let off = seeds.length
const nextSeed = () => {
  if (off >= seeds.length) { randomFillSync(seeds); off = 0 }
  off += 32
  return seeds.subarray(off - 32, off)
}
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')
const alternatives = [
  ['generateKeyPairSync + JWK export (fallback for Node < 24.x) + sha256', n => {
    for (let i = 0; i < n; i++) {
      const { publicKey } = generateKeyPairSync('ed25519')
      input.write(publicKey.export({ format: 'jwk' }).x, 6, 'base64url')
      hash('sha256', input, 'buffer')
    }
  }],
  ['random seed + @noble/curves getPublicKey + sha256', n => {
    for (let i = 0; i < n; i++) {
      input.set(ed25519.getPublicKey(nextSeed()), 6)
      hash('sha256', input, 'buffer')
    }
  }],
  ['random seed + createPrivateKey(PKCS#8) + createPublicKey + sha256', n => {
    for (let i = 0; i < n; i++) {
      const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, nextSeed()]), format: 'der', type: 'pkcs8' })
      input.write(createPublicKey(key).export({ format: 'jwk' }).x, 6, 'base64url')
      hash('sha256', input, 'buffer')
    }
  }]
].map(([name, fn]) => [name, rateOf(fn, ALT_MS, 16)])

// (b) generateIdentity over every core, read from its progress events
const workers = availableParallelism()
const events = []
const cpuAt = []
const controller = new AbortController()
const timer = setTimeout(() => { controller.abort() }, seconds * 1000)
try {
  await generateIdentity({ difficulty: UNREACHABLE, workers, signal: controller.signal, onProgress: evt => { events.push(evt.detail); cpuAt.push(cpuSeconds()) } })
} catch (err) {
  if (err.name !== 'AbortError') throw err
} finally {
  clearTimeout(timer)
}
const last = events.at(-1)
// steady state: from the first progress event (workers started and warm) to the last
const first = events[0]
const steady = (last.attempts - first.attempts) / (last.elapsedSeconds - first.elapsedSeconds)
const perCore = steady / workers
// the same window in process CPU time: attempts per CPU second, and how many cores the search really got
const cpuUsed = cpuAt.at(-1) - cpuAt[0]
const perCpuSecond = (last.attempts - first.attempts) / cpuUsed
const coresGot = cpuUsed / (last.elapsedSeconds - first.elapsedSeconds)

// (d) verifyNodeId: median over 1,000 batches of 100 calls, on 1,000 real PeerIds
const peers = await Promise.all(Array.from({ length: 1000 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
const multihashes = peers.map(p => p.toMultihash().bytes)
function perCall (fn) {
  const samples = []
  let sink = 0
  for (let round = 0; round < 1100; round++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < 100; i++) sink += fn(i + round) ? 1 : 0
    const t1 = process.hrtime.bigint()
    if (round >= 100) samples.push(Number(t1 - t0) / 100 / 1000) // first 100 rounds warm up
  }
  if (sink < 0) console.log(sink)
  return median(samples)
}
const verifyPeerUs = perCall(i => verifyNodeId(peers[i % 1000], 16))
const verifyBytesUs = perCall(i => verifyNodeId(multihashes[i % 1000], 16))
const nobleUs = perCall(i => sha256(multihashes[i % 1000])[0] === 0)
const nodeHashUs = perCall(i => hash('sha256', multihashes[i % 1000], 'buffer')[0] === 0)

// report
const rows = []
const row = (what, value, note = '') => rows.push([what, value, note])
row('(a) raw rate, 1 thread: keygen + sha256 (worker loop)', `${fmt(raw)} /s`, `${fmt(1e6 / raw, 1)} µs per attempt; node:crypto generateKeyPairSync + raw export`)
for (const [name, rate] of alternatives) {
  row(`    alternative: ${name}`, `${fmt(rate)} /s`, `${fmt(rate / raw, 2)}x the worker loop`)
}
row(`(b) generateIdentity, ${workers} workers, ${seconds} s`, `${fmt(steady)} /s`, `${fmt(events.length)} progress events; overall ${fmt(last.rate)} /s incl. worker start-up`)
row('    per core', `${fmt(perCore)} /s`, `ratio to raw ${fmt(perCore / raw, 2)} (target >= 0.90)`)
row('    per CPU second (whole process)', `${fmt(perCpuSecond)} /s`, `ratio to raw per CPU second (${fmt(rawMeasure.cpu)} /s): ${fmt(perCpuSecond / rawMeasure.cpu, 2)}; cores obtained ${fmt(coresGot, 2)} of ${workers}`)
for (const c1 of [16, 20, 24]) {
  const expected = 2 ** c1
  row(`(c) expected time at c1 = ${c1}`, `${fmt(expected / steady, 1)} s`, `2^${c1} = ${fmt(expected)} attempts; one core: ${fmt(expected / raw, 1)} s`)
}
row('(d) verifyNodeId(PeerId, 16)', `${fmt(verifyPeerUs, 3)} µs`, 'median over 100k calls; budget 10 µs')
row('    verifyNodeId(multihash bytes, 16)', `${fmt(verifyBytesUs, 3)} µs`)
row('    sha256 alone: node:crypto hash()', `${fmt(nodeHashUs, 3)} µs`, 'the hash verifyNodeId uses')
row('    sha256 alone: @noble/hashes', `${fmt(nobleUs, 3)} µs`)

const widths = [0, 1, 2].map(i => Math.max(...rows.map(r => r[i].length)))
console.log(['measure'.padEnd(widths[0]), 'value'.padStart(widths[1]), 'note'].join('  '))
console.log('-'.repeat(widths[0] + widths[1] + widths[2] + 4))
for (const [a, b, c] of rows) console.log([a.padEnd(widths[0]), b.padStart(widths[1]), c].join('  '))
if (coresGot < workers * 0.9) {
  console.log()
  console.log(`warning: the search got only ${fmt(coresGot, 2)} of ${workers} cores (other processes are busy); the wall-clock ratio understates it, the CPU-second ratio does not`)
}
