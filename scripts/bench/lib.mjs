// Helpers the benchmarks share: the docker-registry baseline, free ports, and what /proc says of a
// process (CPU seconds, peak RSS).
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'

const TICKS_PER_SECOND = 100 // USER_HZ

/** A TCP port free on 127.0.0.1 a moment ago */
export async function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)) })
    srv.on('error', reject)
  })
}

/** Whether Debian's docker-registry is installed; says so on stderr when it is not */
export function hasDockerRegistry () {
  if (spawnSync('which', ['docker-registry']).status === 0) return true
  console.error('docker-registry is not installed (apt-get install docker-registry): no baseline')
  return false
}

/**
 * Starts docker-registry (distribution) on 127.0.0.1 with its storage in `dir`, and waits until it
 * answers. `stop()` kills it and removes `dir`.
 */
export async function startDockerRegistry (dir) {
  await fs.mkdir(dir, { recursive: true })
  const port = await freePort()
  const cfg = path.join(dir, 'registry.yml')
  await fs.writeFile(cfg, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'storage')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`)
  const child = spawn('docker-registry', ['serve', cfg], { stdio: 'ignore' })
  const exited = new Promise(resolve => child.once('exit', resolve))
  for (let i = 0; ; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) break } catch {}
    if (i === 100) { child.kill(); throw new Error('docker-registry did not answer within 10 s') }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return {
    port,
    pid: child.pid,
    async stop () {
      child.kill()
      await exited
      await fs.rm(dir, { recursive: true, force: true })
    }
  }
}

/** A process's CPU time so far, in seconds, from /proc/<pid>/stat */
export async function processCpu (pid) {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(f[11]) / TICKS_PER_SECOND, sys: Number(f[12]) / TICKS_PER_SECOND }
}

/** Bytes a process has read and written so far through system calls (files and sockets alike), from /proc/<pid>/io */
export async function processIo (pid) {
  const io = await fs.readFile(`/proc/${pid}/io`, 'utf8')
  const field = name => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)[1])
  return { read: field('rchar'), written: field('wchar') }
}

/** A process's peak RSS so far (VmHWM), in MiB */
export async function vmHWM (pid) {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024
}

/**
 * A daemon's own account of its last pull, from its stderr: the `pulled ...` line it logs at
 * `PROVENIR_LOG_LEVEL=debug` (the pull's steps' times), with the digest left out; '' without one
 */
export function pullLogLine (stderr) {
  const line = stderr.split('\n').findLast(l => l.includes('pulled sha256:'))
  return line != null ? JSON.parse(line).msg.replace(/sha256:[0-9a-f]+/, 'the image') : ''
}

/** Bytes of blocks `daemon` (a DaemonProcess) sent so far over the bulk channel and over bitswap, from its metrics */
export async function blockBytesSent (daemon) {
  const text = await (await fetch(`${await daemon.ready()}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
  const value = re => Number(text.match(re)?.[1] ?? 0)
  const bulk = value(/^provenir_bulk_events_total\{event="bytes-sent"\} (\d+)/m)
  const bitswap = value(/^provenir_bitswap_data_sent_bytes_total (\d+)/m)
  return { bulk, bitswap, total: bulk + bitswap }
}
