#!/usr/bin/env node
// Bitswap throughput benchmark: provenir vs Helia vs the raw libp2p stream ceiling.
//
//   npm exec -- node scripts/bench/bitswap.mjs [--size-mib 256] [--block-kib 1024] [--reps 3] [--only raw,provenir,helia,provenir4] [--profile DIR]
//
// Every transfer runs between separate processes over TCP on 127.0.0.1 with
// noise and yamux: the orchestrator forks provider processes (which build the
// blocks and listen) and then a fetcher process (which dials them, fetches
// everything and reports). Each process reports its own CPU time
// (process.cpuUsage) over the transfer and its peak RSS.
//
// Scenarios, all in one run so they share the machine's state:
//   raw        one stream, plain bytes in 256 KiB sends: the ceiling
//   provenir   @provenir/bitswap session, 1 provider
//   helia      @helia/bitswap (Helia fetching from Helia), blockstore.get at concurrency 16
//   provenir4  @provenir/bitswap session, 4 providers holding the same blocks
//
// With --profile DIR the fetcher and provider processes run with --cpu-prof and
// write their profiles to DIR; scripts/bench/bitswap-profile.mjs summarises them.
//
// Knobs for investigation (environment):
//   BENCH_DEBUG=1          fetcher prints progress each second, first-event times, yamux windows
//   BENCH_GAPS=1           fetcher prints the longest gaps between blocks
//   BENCH_WINDOW=N         provenir session window (default: the package default, 32)
//   BENCH_MAXMSG=N         provenir maxMessageSize on both sides (default 4 MiB)
//   BENCH_DISCARD=1        the provenir fetcher's blockstore drops blocks (shows the cost of keeping them in memory)
//   BENCH_FETCHER_ARGS / BENCH_PROVIDER_ARGS   extra node flags, e.g. --trace-gc

import { fork } from 'node:child_process'
import { createCipheriv, createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const __filename = fileURLToPath(import.meta.url)
const RAW_PROTOCOL = '/provenir-bench/raw/1.0.0'
const RAW_CHUNK = 256 * 1024
const HELIA_CONCURRENCY = 16
const MiB = 1024 * 1024
const GiB = 1024 * MiB

function parseArgs (argv) {
  const args = { sizeMiB: 256, blockKiB: 1024, reps: 3, profile: undefined, only: undefined }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--size-mib') args.sizeMiB = Number(argv[++i])
    else if (a === '--block-kib') args.blockKiB = Number(argv[++i])
    else if (a === '--reps') args.reps = Number(argv[++i])
    else if (a === '--profile') args.profile = path.resolve(argv[++i])
    else if (a === '--only') args.only = argv[++i].split(',')
  }
  return args
}

// ------------------------------------------------------------------ shared

/** Deterministic block i of a run: AES-CTR keystream keyed by the seed, so every provider holds the same bytes */
function makeBlock (seed, i, size) {
  const key = createHash('sha256').update(`provenir-bench-${seed}`).digest().subarray(0, 16)
  const iv = Buffer.alloc(16)
  iv.writeUInt32BE(i, 0)
  const cipher = createCipheriv('aes-128-ctr', key, iv)
  return new Uint8Array(cipher.update(Buffer.alloc(size)))
}

async function transportStack () {
  const { tcp } = await import('@libp2p/tcp')
  const { noise } = await import('@chainsafe/libp2p-noise')
  const { yamux } = await import('@chainsafe/libp2p-yamux')
  const { identify } = await import('@libp2p/identify')
  const encrypters = process.env.BENCH_ENCRYPTER === 'tls'
    ? [(await import('@libp2p/tls')).tls()]
    : [noise()]
  return {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: encrypters,
    streamMuxers: [yamux()],
    services: { identify: identify() }
  }
}

async function heliaNode () {
  const { createHelia } = await import('helia')
  const { MemoryBlockstore } = await import('blockstore-core')
  const libp2p = await transportStack()
  const helia = await createHelia({
    blockstore: new MemoryBlockstore(),
    libp2p,
    http: { delegatedRouters: [], recursiveGateways: [] },
    routers: []
  })
  await helia.start()
  return helia
}

async function provenirNode (blockstore) {
  const { createLibp2p } = await import('libp2p')
  const { bitswap } = await import('../../packages/bitswap/dist/src/index.js')
  const stack = await transportStack()
  const init = {
    ...(process.env.BENCH_MAXMSG != null ? { maxMessageSize: Number(process.env.BENCH_MAXMSG) } : {}),
    ...(process.env.BENCH_MAXBLOCK != null ? { maxBlockSize: Number(process.env.BENCH_MAXBLOCK) } : {})
  }
  return createLibp2p({ ...stack, services: { ...stack.services, bitswap: bitswap({ blockstore, ...init }) } })
}

function cpuSeconds (u) {
  return (u.user + u.system) / 1e6
}

function waitForMessage (child, type) {
  return new Promise((resolve, reject) => {
    const onMessage = (msg) => {
      if (msg?.type === type) {
        child.off('message', onMessage)
        child.off('exit', onExit)
        resolve(msg)
      } else if (msg?.type === 'error') {
        child.off('message', onMessage)
        child.off('exit', onExit)
        reject(new Error(`child failed: ${msg.error}`))
      }
    }
    const onExit = (code) => reject(new Error(`child exited with ${code} before sending ${type}`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

// ------------------------------------------------------------------ provider process

async function runProvider ({ impl, count, blockSize, seed }) {
  const { CID } = await import('multiformats/cid')
  const raw = await import('multiformats/codecs/raw')
  const { sha256 } = await import('multiformats/hashes/sha2')
  let node
  let peerId
  let addrs
  const cids = []

  if (impl === 'raw') {
    const { createLibp2p } = await import('libp2p')
    node = await createLibp2p(await transportStack())
    const chunk = makeBlock(seed, 0, RAW_CHUNK)
    await node.handle(RAW_PROTOCOL, async (stream) => {
      const request = await new Promise((resolve, reject) => {
        stream.addEventListener('message', (evt) => { resolve(evt.data.subarray()) }, { once: true })
        stream.addEventListener('close', () => reject(new Error('closed')), { once: true })
      })
      const total = Number(new DataView(request.buffer, request.byteOffset, 8).getBigUint64(0))
      const signal = AbortSignal.timeout(120_000)
      for (let sent = 0; sent < total; sent += RAW_CHUNK) {
        const buf = total - sent >= RAW_CHUNK ? chunk : chunk.subarray(0, total - sent)
        if (!stream.send(buf)) await stream.onDrain({ signal })
      }
      await stream.close({ signal })
    }, { maxInboundStreams: 4 })
    peerId = node.peerId
    addrs = node.getMultiaddrs()
  } else {
    const blocks = []
    for (let i = 0; i < count; i++) {
      const bytes = makeBlock(seed, i, blockSize)
      const cid = CID.createV1(raw.code, await sha256.digest(bytes))
      blocks.push({ cid, bytes })
      cids.push(cid.toString())
    }
    if (impl === 'helia') {
      node = await heliaNode()
      for (const { cid, bytes } of blocks) await node.blockstore.put(cid, bytes)
      peerId = node.libp2p.peerId
      addrs = node.libp2p.getMultiaddrs()
    } else {
      const { MemoryBlockstore } = await import('blockstore-core')
      const blockstore = new MemoryBlockstore()
      for (const { cid, bytes } of blocks) await blockstore.put(cid, bytes)
      node = await provenirNode(blockstore)
      peerId = node.peerId
      addrs = node.getMultiaddrs()
    }
  }

  let mark
  process.on('message', async (msg) => {
    if (msg.type === 'mark') {
      mark = process.cpuUsage()
      process.send({ type: 'marked' })
    } else if (msg.type === 'stop') {
      const cpu = mark == null ? 0 : cpuSeconds(process.cpuUsage(mark))
      process.send({ type: 'stopped', cpu, maxRssMiB: process.resourceUsage().maxRSS / 1024 })
      await node.stop()
      process.exit(0)
    }
  })
  process.send({ type: 'ready', peerId: peerId.toString(), addrs: addrs.map(String), cids })
}

// ------------------------------------------------------------------ fetcher process

async function runFetcher ({ impl, providers, cids, totalBytes }) {
  const { multiaddr } = await import('@multiformats/multiaddr')
  const { CID } = await import('multiformats/cid')
  const wanted = cids.map(c => CID.parse(c))
  let node
  let fetch

  if (impl === 'raw') {
    const { createLibp2p } = await import('libp2p')
    node = await createLibp2p(await transportStack())
    const conn = await node.dial(multiaddr(providers[0].addrs[0]), { signal: AbortSignal.timeout(10_000) })
    fetch = async () => {
      const stream = await conn.newStream(RAW_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
      const done = new Promise((resolve, reject) => {
        let received = 0
        stream.addEventListener('message', (evt) => {
          received += evt.data.byteLength
          if (received >= totalBytes) resolve(received)
        })
        stream.addEventListener('close', (evt) => {
          if (received < totalBytes) reject(evt.error ?? new Error(`closed after ${received} bytes`))
        })
      })
      const req = new Uint8Array(8)
      new DataView(req.buffer).setBigUint64(0, BigInt(totalBytes))
      stream.send(req)
      const received = await done
      await stream.close()
      return { bytes: received, blocks: 0 }
    }
  } else if (impl === 'helia') {
    node = await heliaNode()
    for (const p of providers) await node.libp2p.dial(multiaddr(p.addrs[0]), { signal: AbortSignal.timeout(10_000) })
    // Helia sends wants only to peers its bitswap topology has seen connect (after identify)
    await new Promise(resolve => setTimeout(resolve, 500))
    fetch = async () => {
      let next = 0
      let bytes = 0
      const worker = async () => {
        while (next < wanted.length) {
          const cid = wanted[next++]
          for await (const chunk of node.blockstore.get(cid, { signal: AbortSignal.timeout(120_000) })) bytes += chunk.byteLength
        }
      }
      await Promise.all(Array.from({ length: HELIA_CONCURRENCY }, worker))
      return { bytes, blocks: wanted.length }
    }
  } else {
    const { MemoryBlockstore } = await import('blockstore-core')
    // BENCH_DISCARD=1: a blockstore that drops what it is given, to measure what keeping 256 MiB in memory costs
    // BENCH_FS=1: provenir's FsBlockstore on disk (durable writes, level index), as a daemon has
    let blockstore = process.env.BENCH_DISCARD != null
      ? Object.assign(new MemoryBlockstore(), { put: (cid) => cid })
      : new MemoryBlockstore()
    if (process.env.BENCH_FS != null) {
      const { FsBlockstore } = await import('../../packages/content/dist/src/index.js')
      const os = await import('node:os')
      const fsp = await import('node:fs/promises')
      blockstore = new FsBlockstore({ path: await fsp.mkdtemp(path.join(os.tmpdir(), 'bench-fetcher-')) })
      await blockstore.open()
    }
    node = await provenirNode(blockstore)
    for (const p of providers) await node.dial(multiaddr(p.addrs[0]), { signal: AbortSignal.timeout(10_000) })
    const ids = providers.map(p => p.peerId)
    const deadline = Date.now() + 10_000
    while (node.services.bitswap.peers().length < ids.length) {
      if (Date.now() > deadline) throw new Error('providers did not show up as bitswap peers')
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    const peers = node.services.bitswap.peers()
    fetch = async () => {
      const session = node.services.bitswap.createSession({ peers, ...(process.env.BENCH_WINDOW != null ? { window: Number(process.env.BENCH_WINDOW) } : {}) })
      let bytes = 0
      let blocks = 0
      let last = performance.now()
      const gaps = []
      const debug = process.env.BENCH_DEBUG == null
        ? undefined
        : setInterval(() => {
          const l = node.services.bitswap.ledgers().map(l => `${l.blocksReceived}/${l.duplicateBlocks}dup`).join(' ')
          console.error(`fetcher: ${blocks} blocks, wantlist ${node.services.bitswap.wantlist().length}, ledgers ${l}`)
        }, 1000)
      const t0 = performance.now()
      const firsts = {}
      const onProgress = process.env.BENCH_DEBUG == null ? undefined : (e) => { firsts[e.type] ??= (performance.now() - t0).toFixed(1) }
      for await (const { bytes: b } of session.want(wanted, { signal: AbortSignal.timeout(120_000), onProgress })) {
        bytes += b.byteLength
        blocks++
        const now = performance.now()
        gaps.push(now - last)
        last = now
      }
      clearInterval(debug)
      if (process.env.BENCH_DEBUG != null) console.error('first events (ms):', JSON.stringify(firsts))
      if (process.env.BENCH_DEBUG != null) for (const c of node.getConnections()) console.error('streams', c.streams.map(s => `${s.protocol} ${s.direction} recvWindow=${s.recvWindow} rtt=${s.getRTT?.()}`).join('; '))
      if (process.env.BENCH_GAPS != null) {
        const sorted = [...gaps].sort((a, b) => b - a)
        console.error(`gaps ms: max ${sorted.slice(0, 5).map(g => g.toFixed(1)).join(' ')}  median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)}  first ${gaps[0].toFixed(1)}`)
      }
      session.close()
      return { bytes, blocks, ledgers: node.services.bitswap.ledgers().map(l => ({ peer: l.peer.toString(), blocks: l.blocksReceived, dup: l.duplicateBlocks })) }
    }
  }

  process.send({ type: 'connected' })
  await waitForMessage(process, 'go')
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  const result = await fetch()
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = cpuSeconds(process.cpuUsage(cpu0))
  if (result.bytes !== totalBytes) throw new Error(`fetched ${result.bytes} bytes, expected ${totalBytes}`)
  process.send({ type: 'result', seconds, cpu, maxRssMiB: process.resourceUsage().maxRSS / 1024, ...result })
  await (node.libp2p ?? node).stop()
  process.exit(0)
}

// ------------------------------------------------------------------ orchestrator

function child (role, config, profileDir, name) {
  const execArgv = profileDir == null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}.cpuprofile`]
  // extra node flags for one role, e.g. BENCH_FETCHER_ARGS=--trace-gc
  const extra = process.env[`BENCH_${role.toUpperCase()}_ARGS`]
  if (extra != null && extra !== '') execArgv.push(...extra.split(' '))
  const c = fork(__filename, [role, JSON.stringify(config)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return c
}

const SCENARIO_TIMEOUT = 90_000

/** Runs one scenario in fresh processes; kills them all if it takes longer than SCENARIO_TIMEOUT */
async function scenario (name, impl, providerCount, args, rep) {
  const children = []
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} rep ${rep} did not finish in ${SCENARIO_TIMEOUT / 1000} s`)), SCENARIO_TIMEOUT)
  })
  try {
    return await Promise.race([runScenario(name, impl, providerCount, args, rep, children), timeout])
  } finally {
    clearTimeout(timer)
    for (const c of children) {
      if (c.exitCode == null && c.signalCode == null) c.kill('SIGKILL')
    }
  }
}

async function runScenario (name, impl, providerCount, args, rep, children) {
  const count = Math.round(args.sizeMiB * 1024 / args.blockKiB)
  const blockSize = args.blockKiB * 1024
  const totalBytes = count * blockSize
  const seed = 42
  const providerImpl = impl === 'provenir4' ? 'provenir' : impl
  const profileDir = args.profile
  const providers = []
  for (let i = 0; i < providerCount; i++) {
    const c = child('provider', { impl: providerImpl, count, blockSize, seed }, profileDir, `${name}-r${rep}-provider${i}`)
    providers.push(c)
    children.push(c)
  }
  const ready = await Promise.all(providers.map(c => waitForMessage(c, 'ready')))
  const fetcher = child('fetcher', {
    impl: providerImpl,
    providers: ready.map(r => ({ peerId: r.peerId, addrs: r.addrs })),
    cids: ready[0].cids,
    totalBytes
  }, profileDir, `${name}-r${rep}-fetcher`)
  children.push(fetcher)
  await waitForMessage(fetcher, 'connected')
  for (const c of providers) c.send({ type: 'mark' })
  await Promise.all(providers.map(c => waitForMessage(c, 'marked')))
  const resultP = waitForMessage(fetcher, 'result')
  fetcher.send({ type: 'go' })
  const result = await resultP
  for (const c of providers) c.send({ type: 'stop' })
  const stopped = await Promise.all(providers.map(c => waitForMessage(c, 'stopped')))
  await Promise.all([fetcher, ...providers].map(c => new Promise(resolve => {
    if (c.exitCode != null) resolve()
    else c.once('exit', resolve)
  })))
  const providerCpu = stopped.reduce((acc, s) => acc + s.cpu, 0)
  return {
    name,
    rep,
    MiBps: totalBytes / MiB / result.seconds,
    seconds: result.seconds,
    fetcherCpuPerGiB: result.cpu / (totalBytes / GiB),
    providerCpuPerGiB: providerCpu / (totalBytes / GiB),
    fetcherRssMiB: result.maxRssMiB,
    providerRssMiB: Math.max(...stopped.map(s => s.maxRssMiB)),
    ledgers: result.ledgers
  }
}

async function main () {
  const args = parseArgs(process.argv.slice(2))
  if (args.profile != null) mkdirSync(args.profile, { recursive: true })
  const started = Date.now()
  console.log(`bitswap bench: ${args.sizeMiB} MiB in ${args.blockKiB} KiB blocks, ${args.reps} rep(s), TCP loopback + ${process.env.BENCH_ENCRYPTER === 'tls' ? 'TLS 1.3' : 'noise'} + yamux, separate processes`)
  const plan = [
    ['raw', 'raw', 1],
    ['provenir', 'provenir', 1],
    ['helia', 'helia', 1]
  ].filter(([name]) => args.only == null || args.only.includes(name))
  const results = []
  for (let rep = 0; rep < args.reps; rep++) {
    for (const [name, impl, n] of plan) {
      const r = await scenario(name, impl, n, args, rep)
      console.log(`  ${name.padEnd(10)} rep ${rep}: ${r.MiBps.toFixed(1)} MiB/s (${r.seconds.toFixed(2)} s)`)
      results.push(r)
    }
  }
  if (args.only == null || args.only.includes('provenir4')) {
    for (let rep = 0; rep < Math.max(1, Math.min(args.reps, 2)); rep++) {
      const r = await scenario('provenir4', 'provenir4', 4, args, rep)
      console.log(`  ${'provenir4'.padEnd(10)} rep ${rep}: ${r.MiBps.toFixed(1)} MiB/s (${r.seconds.toFixed(2)} s)  blocks per provider: ${r.ledgers.map(l => l.blocks).join(', ')}`)
      results.push(r)
    }
  }

  // best rep of each scenario (least disturbed by the rest of the machine)
  const best = new Map()
  for (const r of results) {
    if (!best.has(r.name) || best.get(r.name).MiBps < r.MiBps) best.set(r.name, r)
  }
  console.log('\nbest of reps:')
  console.log('scenario     MiB/s   fetcher CPU s/GiB   providers CPU s/GiB   fetcher peak RSS MiB   provider peak RSS MiB')
  for (const r of best.values()) {
    console.log(`${r.name.padEnd(10)} ${r.MiBps.toFixed(1).padStart(7)}   ${r.fetcherCpuPerGiB.toFixed(2).padStart(17)}   ${r.providerCpuPerGiB.toFixed(2).padStart(19)}   ${r.fetcherRssMiB.toFixed(0).padStart(20)}   ${r.providerRssMiB.toFixed(0).padStart(21)}`)
  }
  const raw = best.get('raw')
  const ours = best.get('provenir')
  const helia = best.get('helia')
  // ratios within each rep (the scenarios of one rep ran back to back), then their median
  const paired = (a, b) => {
    const ratios = []
    for (let rep = 0; rep < args.reps; rep++) {
      const x = results.find(r => r.name === a && r.rep === rep)
      const y = results.find(r => r.name === b && r.rep === rep)
      if (x != null && y != null) ratios.push(x.MiBps / y.MiBps)
    }
    ratios.sort((p, q) => p - q)
    if (ratios.length === 0) return NaN
    const mid = Math.floor(ratios.length / 2)
    return ratios.length % 2 === 1 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2
  }
  console.log('')
  console.log('ratio                    best-of-reps   median of per-rep ratios')
  if (ours != null && helia != null) console.log(`provenir / helia         ${(ours.MiBps / helia.MiBps).toFixed(2).padStart(10)}x   ${paired('provenir', 'helia').toFixed(2).padStart(10)}x   (goal >= 2x)`)
  if (ours != null && raw != null) console.log(`provenir / raw ceiling   ${(100 * ours.MiBps / raw.MiBps).toFixed(0).padStart(10)}%   ${(100 * paired('provenir', 'raw')).toFixed(0).padStart(10)}%   (goal >= 80%)`)
  if (helia != null && raw != null) console.log(`helia / raw ceiling      ${(100 * helia.MiBps / raw.MiBps).toFixed(0).padStart(10)}%   ${(100 * paired('helia', 'raw')).toFixed(0).padStart(10)}%`)
  const p4 = best.get('provenir4')
  if (p4 != null && ours != null) console.log(`4 providers / 1:         ${(p4.MiBps / ours.MiBps).toFixed(2)}x   (2 cores shared by 5 processes)`)
  console.log(`\ntotal bench time ${((Date.now() - started) / 1000).toFixed(0)} s`)
}

const role = process.argv[2]
if (role === 'provider' || role === 'fetcher') {
  // never outlive the orchestrator
  process.on('disconnect', () => process.exit(1))
  const config = JSON.parse(process.argv[3])
  const run = role === 'provider' ? runProvider : runFetcher
  run(config).catch(err => {
    console.error(`${role} failed:`, err)
    process.send?.({ type: 'error', error: String(err?.stack ?? err) })
    process.exit(1)
  })
} else {
  main().catch(err => {
    console.error(err)
    process.exit(1)
  })
}
