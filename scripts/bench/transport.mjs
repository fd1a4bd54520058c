// The transport floor of a node-to-node pull, against the whole registry pull, in one run:
//
//   - baseline: `skopeo copy` of the large test image (315 MB) from Debian's docker-registry
//     (plain HTTP) into an OCI layout, verified and written to disk;
//   - the same number of bytes between two Node processes over TCP loopback, doing nothing
//     else with them: plain TCP; TLS 1.3 on the socket itself (node's native TLSWrap), read with
//     'data' events and into one reused buffer (`onread`, as the bulk client reads; and so with
//     a sha256 of each 1 MiB, the check the bulk client must make); TLS 1.3
//     over a JavaScript stream (JSStreamSocket, what @libp2p/tls does under libp2p); and a
//     libp2p stream over TLS 1.3 and yamux (`bitswap.mjs --only raw`), the transport every
//     provenir pull rides on.
//
// A pull can be no faster than its transport: this shows how much of the 1.5x goal the
// transport alone uses on this machine. One more row shows what a bulk channel with TLS on the
// socket and no muxer could do: the same transfer with the puller's own mandatory work (a sha256
// per 1 MiB leaf for its CID, one over the whole blob for its digest, a file per leaf).
//
// And the real bulk channel (`packages/node/src/swarm/bulk`, driven by `bulk-transfer.mjs`): the
// same bytes as the image's 1 MiB raw blocks, sent by one node and fetched by another through the
// bulk transport's session (TLS on the socket, both identities checked, each block hashed against
// its CID as it arrives). Three rows: the channel alone (blocks sent from memory, as the TLS rows
// send theirs, and dropped on arrival), the same sent from an FsBlockstore (a file read per
// block), and from a store into a store (against TLS with the puller's hashes and writes). The
// channel is set up first (4 blocks); a bulk row's time and CPU are its rate after that, over the
// whole image; the set-up is printed apart. B's and A's CPU are the receiving and the sending
// process's over the transfer.
//
//   npm exec -- node scripts/bench/transport.mjs [--runs 3] [--only native,bulk,...] [--window 16] [--connections 2]
import { execFileSync, fork, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Duplex } from 'node:stream'
import tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { hasDockerRegistry, startDockerRegistry } from './lib.mjs'

const here = fileURLToPath(import.meta.url)
const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** A duplex over the socket in JavaScript, so a TLSSocket on it cannot use the socket's handle */
function jsStream (sock) {
  const d = new Duplex({
    read () { sock.resume() },
    write (chunk, _enc, cb) { sock.write(chunk, cb) },
    final (cb) { sock.end(); cb() }
  })
  sock.on('data', c => { if (!d.push(c)) sock.pause() })
  sock.on('end', () => d.push(null))
  sock.on('error', err => d.destroy(err))
  return d
}

const role = process.argv[2]
if (role === 'server' || role === 'client') {
  // child: one end of one transfer; argv: role mode bytes [port] certDir
  const [, , , mode, bytesArg, portArg, certDir] = process.argv
  const total = Number(bytesArg)
  const key = fs.readFileSync(path.join(certDir, 'key.pem'))
  const cert = fs.readFileSync(path.join(certDir, 'cert.pem'))
  if (role === 'server') {
    const server = net.createServer(raw => {
      let s = raw
      if (mode === 'native' || mode === 'native-work' || mode.startsWith('native-onread')) s = new tls.TLSSocket(raw, { isServer: true, key, cert, minVersion: 'TLSv1.3' })
      if (mode === 'js-stream') s = new tls.TLSSocket(jsStream(raw), { isServer: true, key, cert, minVersion: 'TLSv1.3' })
      const chunk = Buffer.alloc(256 * 1024, 7)
      let sent = 0
      const pump = () => {
        while (sent < total) {
          const piece = chunk.subarray(0, Math.min(chunk.length, total - sent))
          sent += piece.length
          if (!s.write(piece)) { s.once('drain', pump); return }
        }
        s.end()
      }
      pump()
      s.on('close', () => {
        const cpu = process.cpuUsage(cpu0)
        process.send({ cpu: (cpu.user + cpu.system) / 1e6 }, () => server.close())
      })
    })
    const cpu0 = process.cpuUsage()
    server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  } else {
    let got = 0
    // node reads a TLS socket it created itself into one reused buffer (`onread`), as the bulk
    // client does, instead of a new buffer for each 'data' event
    // with -hash, each 1 MiB is copied out and hashed, as the bulk client checks each block against its CID
    const block = Buffer.allocUnsafeSlow(1024 * 1024)
    let filled = 0
    let hash = createHash('sha256')
    const take = (buf, n) => {
      for (let off = 0; off < n;) {
        const part = Math.min(n - off, block.length - filled)
        block.set(buf.subarray(off, off + part), filled)
        hash.update(buf.subarray(off, off + part))
        filled += part
        off += part
        if (filled === block.length) { hash.digest(); hash = createHash('sha256'); filled = 0 }
      }
    }
    let s = mode.startsWith('native-onread')
      ? tls.connect({ host: '127.0.0.1', port: Number(portArg), rejectUnauthorized: false, minVersion: 'TLSv1.3', onread: { buffer: Buffer.allocUnsafeSlow(64 * 1024), callback: (n, buf) => { got += n; if (mode === 'native-onread-hash') take(buf, n); return true } } })
      : net.connect(Number(portArg), '127.0.0.1')
    if (mode === 'native' || mode === 'native-work') s = tls.connect({ socket: s, rejectUnauthorized: false, minVersion: 'TLSv1.3' })
    if (mode === 'js-stream') s = tls.connect({ socket: jsStream(s), rejectUnauthorized: false, minVersion: 'TLSv1.3' })
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    const done = () => {
      const cpu = process.cpuUsage(cpu0)
      process.send({ seconds: (performance.now() - t0) / 1000, bytes: got, cpu: (cpu.user + cpu.system) / 1e6 })
      process.exit(0)
    }
    if (mode !== 'native-work') {
      if (!mode.startsWith('native-onread')) s.on('data', d => { got += d.length })
      s.on('end', done)
    } else {
      // what a puller must do besides receiving: hash each 1 MiB leaf (its CID) and the whole
      // blob (its digest), and write each leaf to a file of its own (no fsync, no index)
      const out = fs.mkdtempSync(path.join(certDir, 'leaves-'))
      const MIB = 1024 * 1024
      const whole = createHash('sha256')
      let leaf = createHash('sha256')
      let parts = []
      let filled = 0
      let count = 0
      let writing = 0
      let ended = false
      const maybeDone = () => { if (ended && writing === 0) { whole.digest(); done() } }
      const flushLeaf = () => {
        leaf.digest()
        const list = parts
        writing++
        fs.open(path.join(out, String(count++)), 'w', (err, fd) => {
          if (err != null) throw err
          fs.writev(fd, list, (err2) => {
            if (err2 != null) throw err2
            fs.close(fd, () => { writing--; maybeDone() })
          })
        })
        leaf = createHash('sha256')
        parts = []
        filled = 0
      }
      s.on('data', d => {
        got += d.length
        for (let off = 0; off < d.length;) {
          const part = d.subarray(off, off + Math.min(MIB - filled, d.length - off))
          leaf.update(part)
          whole.update(part)
          parts.push(part)
          filled += part.length
          off += part.length
          if (filled === MIB) flushLeaf()
        }
      })
      s.on('end', () => { if (filled > 0) flushLeaf(); ended = true; maybeDone() })
    }
  }
} else {
  const arg = (name, fallback) => process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback
  const runs = Number(arg('--runs', 3))
  const only = new Set(arg('--only', 'baseline,tcp,native,native-onread,native-onread-hash,native-work,js-stream,libp2p,bulk-mem,bulk,bulk-store').split(','))
  const window = arg('--window', '16')
  const perPeer = arg('--connections', '2')
  const { buildFixtures } = await import('../../test/dist/image-helpers.js')
  const { large } = await buildFixtures('large')
  const bytes = fs.readdirSync(path.join(large.oci, 'blobs', 'sha256')).reduce((n, f) => n + fs.statSync(path.join(large.oci, 'blobs', 'sha256', f)).size, 0)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'provenir-transport-'))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(work, 'key.pem'), '-out', path.join(work, 'cert.pem'), '-days', '1', '-subj', '/CN=bench'], { stdio: 'ignore' })

  const cpus = {}
  const serverCpus = {}
  const transfer = async (mode) => {
    const server = fork(here, ['server', mode, String(bytes), '0', work], { stdio: 'inherit' })
    const { port } = await new Promise(resolve => server.once('message', resolve))
    const served = new Promise(resolve => server.once('message', resolve))
    const client = fork(here, ['client', mode, String(bytes), String(port), work], { stdio: 'inherit' })
    const res = await new Promise(resolve => client.once('message', resolve))
    const { cpu: serverCpu } = await served
    await new Promise(resolve => server.once('exit', resolve))
    if (res.bytes !== bytes) throw new Error(`${mode}: received ${res.bytes} of ${bytes} bytes`)
    ;(cpus[mode] ??= []).push(res.cpu)
    ;(serverCpus[mode] ??= []).push(serverCpu)
    return res.seconds
  }

  // the real bulk channel: the image's blobs as 1 MiB blocks in a store, prepared once
  const bulkScript = path.join(path.dirname(here), 'bulk-transfer.mjs')
  const daemonFlags = ['--max-semi-space-size=4', '--initial-old-space-size=96']
  const bulkStore = path.join(work, 'bulk-store')
  const connections = []
  const setups = []
  if (only.has('bulk-mem') || only.has('bulk') || only.has('bulk-store')) {
    const prep = fork(bulkScript, ['prepare', large.oci, bulkStore], { stdio: 'inherit' })
    await new Promise((resolve, reject) => prep.once('exit', code => code === 0 ? resolve() : reject(new Error(`bulk-transfer.mjs prepare exited with ${code}`))))
  }
  const transferBulk = async (mode) => {
    const server = fork(bulkScript, ['server', bulkStore, perPeer, mode === 'bulk-mem' ? 'memory' : 'store'], { stdio: 'inherit', execArgv: daemonFlags })
    const { addr } = await new Promise(resolve => server.once('message', resolve))
    const client = fork(bulkScript, ['client', mode === 'bulk-mem' ? 'bulk' : mode, addr, bulkStore, window, perPeer], { stdio: 'inherit', execArgv: daemonFlags })
    const res = await new Promise((resolve, reject) => {
      client.once('message', resolve)
      client.once('exit', code => reject(new Error(`bulk-transfer.mjs client exited with ${code}`)))
    })
    server.send('stop')
    const { cpu: serverCpu } = await new Promise(resolve => server.once('message', resolve))
    await new Promise(resolve => server.once('exit', resolve))
    if (res.bytes !== bytes) throw new Error(`${mode}: received ${res.bytes} of ${bytes} bytes`)
    // the rest after the set-up, at its rate, over the whole image (comparable with the other rows)
    const scale = bytes / res.timed
    ;(cpus[mode] ??= []).push(res.cpu * scale)
    ;(serverCpus[mode] ??= []).push(serverCpu * scale)
    connections.push(res.connections)
    setups.push(res.setup)
    return res.seconds * scale
  }

  const results = { baseline: [], tcp: [], native: [], 'native-onread': [], 'native-onread-hash': [], 'native-work': [], 'js-stream': [], libp2p: [], 'bulk-mem': [], bulk: [], 'bulk-store': [] }
  const registry = hasDockerRegistry() ? await startDockerRegistry(path.join(work, 'registry')) : undefined
  const port = registry?.port
  if (registry != null) {
    execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${large.oci}:v1`, `docker://127.0.0.1:${port}/bench/large:v1`])
  }
  try {
    for (let r = 0; r < runs; r++) {
      if (registry != null && only.has('baseline')) {
        const out = path.join(work, `pull-${r}`)
        const t0 = performance.now()
        execFileSync('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://127.0.0.1:${port}/bench/large:v1`, `oci:${out}:v1`])
        results.baseline.push((performance.now() - t0) / 1000)
        fs.rmSync(out, { recursive: true, force: true })
      }
      for (const mode of ['tcp', 'native', 'native-onread', 'native-onread-hash', 'native-work', 'js-stream']) {
        if (only.has(mode)) results[mode].push(await transfer(mode))
      }
      for (const mode of ['bulk-mem', 'bulk', 'bulk-store']) {
        if (only.has(mode)) results[mode].push(await transferBulk(mode))
      }
      if (!only.has('libp2p')) continue
      const out = spawnSync(process.execPath, [path.join(path.dirname(here), 'bitswap.mjs'), '--only', 'raw', '--size-mib', String(Math.round(bytes / 1048576)), '--reps', '1'], { encoding: 'utf8', env: { ...process.env, BENCH_ENCRYPTER: 'tls' } })
      const m = /raw\s+rep 0: [\d.]+ MiB\/s \(([\d.]+) s\)/.exec(out.stdout)
      if (m == null) throw new Error(`bitswap.mjs --only raw printed no rep: ${out.stdout}${out.stderr}`)
      results.libp2p.push(Number(m[1]))
    }
  } finally {
    // a failed run leaves no registry behind
    await registry?.stop()
    fs.rmSync(work, { recursive: true, force: true })
  }

  const base = results.baseline.length > 0 ? median(results.baseline) : undefined
  console.log(`\nTransport floor: ${(bytes / 1e6).toFixed(0)} MB between two processes on loopback, ${runs} runs, medians, ${os.cpus().length} cores, load average ${os.loadavg().map(x => x.toFixed(1)).join(' ')}\n`)
  console.log('| what moves the bytes | time | against the whole registry pull | B\'s CPU (the receiver) | A\'s CPU (the sender) |')
  console.log('|---|---|---|---|---|')
  const cpu = (table, mode) => table[mode] != null ? `${median(table[mode]).toFixed(2)} s (${table[mode].map(x => x.toFixed(2)).join(', ')})` : ''
  const row = (name, mode) => {
    const xs = results[mode]
    if (xs.length === 0) return
    console.log(`| ${name} | ${median(xs).toFixed(2)} s (${xs.map(x => x.toFixed(2)).join(', ')}) | ${base != null ? (median(xs) / base).toFixed(2) + 'x' : 'n/a'} | ${cpu(cpus, mode)} | ${cpu(serverCpus, mode)} |`)
  }
  row('baseline: skopeo copy from docker-registry (HTTP, digest check, written to disk)', 'baseline')
  row('plain TCP, nothing else', 'tcp')
  row('TLS 1.3 on the socket (native TLSWrap)', 'native')
  row('TLS 1.3 on the socket, read into one reused buffer (onread, as the bulk client reads)', 'native-onread')
  row('the same, each 1 MiB copied out and hashed (sha256) on arrival, as the bulk client checks a block against its CID', 'native-onread-hash')
  row('TLS 1.3 on the socket (data events), and the puller hashes each 1 MiB leaf and the whole blob and writes each leaf to a file', 'native-work')
  row('TLS 1.3 over a JavaScript stream (as @libp2p/tls)', 'js-stream')
  row('libp2p stream: TLS 1.3 + yamux (every provenir pull)', 'libp2p')
  row(`the bulk channel alone: blocks sent from memory, each checked against its CID on arrival, dropped (window ${window}, ${perPeer} connections)`, 'bulk-mem')
  row(`the bulk channel from an FsBlockstore (a file read per block), each checked on arrival, dropped`, 'bulk')
  row(`the bulk channel into an FsBlockstore, as a pull stores them (window ${window}, ${perPeer} connections)`, 'bulk-store')
  const against = (mode, what, floor = 'native') => {
    if (results[mode].length === 0 || results[floor].length === 0) return
    console.log(`${what} moves ${(100 * median(results[floor]) / median(results[mode])).toFixed(0)}% of the bytes per second TLS on the socket (${floor}) does (goal >= 80%); runs paired: ${results[mode].map((x, i) => (100 * results[floor][i] / x).toFixed(0) + '%').join(', ')}`)
  }
  console.log()
  for (const floor of ['native', 'native-onread', 'native-onread-hash']) {
    against('bulk-mem', 'the bulk channel alone', floor)
    against('bulk', 'the bulk channel from a store', floor)
  }
  if (results['bulk-store'].length > 0 && results['native-work'].length > 0) {
    console.log(`into the store, ${(100 * median(results['native-work']) / median(results['bulk-store'])).toFixed(0)}% of the idealized path's rate (TLS + the puller's hashes and file writes)`)
  }
  if (connections.length > 0) console.log(`bulk connections the client held: ${connections.join(', ')}; set-up (bulk address, connections, certificates, first 4 blocks) ${setups.map(x => (1000 * x).toFixed(0)).join(', ')} ms, not in the bulk rows' times (their rate after it, over the whole image)`)
}
