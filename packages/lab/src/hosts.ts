/**
 * A host's daemon: its repo, its process (started inside the host's namespace
 * with `ip netns exec`, detached, so it outlives the `lab up` that started
 * it), and the provenir CLI run inside the namespace, which reaches the
 * daemon's RPC API on the namespace's own 127.0.0.1.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { CLI_TIMEOUT_MS, DAEMON_NODE_FLAGS, DAEMON_READY_TIMEOUT_MS, DAEMON_STOP_TIMEOUT_MS, LOG_TAIL_BYTES, LOG_TAIL_LINES, SWARM_PORT } from './constants.js'
import { CommandFailedError, DaemonStartError } from './errors.js'
import { namespacePids } from './network.js'
import { nsRun, poll } from './sys.js'
import type { HostState, LabState } from './state.js'
import type { RunOptions } from './sys.js'

/** More V8 flags for every lab daemon, as the tests' `DAEMON_EXTRA_FLAGS`: e.g. `DAEMON_EXTRA_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` */
const DAEMON_EXTRA_FLAGS = (process.env.DAEMON_EXTRA_FLAGS ?? '').split(' ').filter(f => f !== '')

/** The provenir binary the lab runs (this workspace's build) */
export const PROVENIR_BIN = fileURLToPath(new URL('./bin.js', import.meta.resolve('@provenir/cli')))

/** The script that fetches a URL from inside a namespace (`ns-fetch.ts`) */
const NS_FETCH = fileURLToPath(new URL('./ns-fetch.js', import.meta.url))

/** Where a host's files live */
export function hostFiles (host: HostState): { log: string, events: string, metrics: string } {
  return {
    log: path.join(host.dir, 'daemon.log'),
    events: path.join(host.dir, 'daemon.events.jsonl'),
    metrics: path.join(host.dir, 'metrics')
  }
}

/** The multiaddr other daemons bootstrap to */
export function swarmAddress (host: HostState): string {
  if (host.peerId == null) throw new DaemonStartError(`host ${host.name} has no identity yet`)
  return `/ip4/${host.address}/tcp/${SWARM_PORT}/p2p/${host.peerId}`
}

/**
 * Creates the host's repo: an identity at the lab's difficulty, the swarm on
 * the host's lab address, the RPC API and the gateway on the namespace's
 * loopback (port 0: the daemon writes the ports it got), private addresses
 * allowed (the lab is a private LAN), and `bootstrap`.
 */
export async function initHostRepo (state: LabState, host: HostState, bootstrap: string[]): Promise<string> {
  const { initRepo } = await import('@provenir/cli')
  await fs.mkdir(host.dir, { recursive: true })
  const res = await initRepo(host.repo, {
    difficulty: state.difficulty,
    workers: 1,
    config: {
      node: { listen: [`/ip4/${host.address}/tcp/${SWARM_PORT}`], bootstrap, allowPrivateAddresses: true },
      api: '127.0.0.1:0',
      gateway: { listen: '127.0.0.1:0' }
    }
  })
  return res.peerId.toString()
}

/** The lines of `file` from byte `offset` on */
async function linesFrom (file: string, offset: number): Promise<string[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '')
  return text.slice(offset).split('\n').filter(l => l.trim() !== '')
}

/** The last `n` lines of a file (from its last LOG_TAIL_BYTES) */
export async function tailLines (file: string, n = LOG_TAIL_LINES): Promise<string[]> {
  let handle: fs.FileHandle | undefined
  try {
    handle = await fs.open(file, 'r')
    const { size } = await handle.stat()
    const length = Math.min(size, LOG_TAIL_BYTES)
    const buf = Buffer.alloc(length)
    await handle.read(buf, 0, length, size - length)
    return buf.toString('utf8').split('\n').filter(l => l.trim() !== '').slice(-n)
  } catch {
    return []
  } finally {
    await handle?.close()
  }
}

/** Whether process `pid` runs inside the host's namespace */
export async function runsIn (host: HostState, pid: number | undefined): Promise<boolean> {
  return pid != null && (await namespacePids(host.ns)).includes(pid)
}

/**
 * Starts the host's daemon inside its namespace, detached, with stdout (JSON
 * events) and stderr (its log) appended to files in the host's directory;
 * resolves once it printed its ready event, with its pid and gateway.
 */
export async function startHostDaemon (state: LabState, host: HostState, options: { signal?: AbortSignal } = {}): Promise<{ pid: number, gateway: string | undefined }> {
  const files = hostFiles(host)
  await fs.mkdir(host.dir, { recursive: true })
  const offset = await fs.stat(files.events).then(s => s.size, () => 0)
  const out = await fs.open(files.events, 'a')
  const err = await fs.open(files.log, 'a')
  let pid: number
  try {
    await err.write(`--- ${new Date().toISOString()} lab: starting the daemon of ${host.name} in ${host.ns}\n`)
    const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, ...DAEMON_NODE_FLAGS, ...DAEMON_EXTRA_FLAGS, PROVENIR_BIN, 'daemon', '--json'], {
      detached: true,
      stdio: ['ignore', out.fd, err.fd],
      env: { ...process.env, PROVENIR_PATH: host.repo, DEBUG: state.debug }
    })
    child.unref()
    if (child.pid == null) throw new DaemonStartError(`the daemon of ${host.name} did not start`)
    pid = child.pid
  } finally {
    await out.close()
    await err.close()
  }
  const ready = await poll(async () => {
    const lines = await linesFrom(files.events, offset)
    const line = lines.find(l => l.includes('"event":"ready"'))
    if (line != null) return JSON.parse(line) as { gateway: string | null }
    try {
      process.kill(pid, 0)
    } catch {
      throw new DaemonStartError(`the daemon of ${host.name} exited before it was ready: ${(await tailLines(files.log)).join('\n')}`)
    }
    return undefined
  }, DAEMON_READY_TIMEOUT_MS, last => last instanceof DaemonStartError ? last : new DaemonStartError(`the daemon of ${host.name} was not ready within ${DAEMON_READY_TIMEOUT_MS} ms (log: ${files.log})`), { signal: options.signal })
  return { pid, gateway: ready.gateway ?? undefined }
}

/** SIGTERM to the host's daemon, SIGKILL if it has not stopped in time; only a pid inside the host's namespace is signalled */
export async function stopHostDaemon (host: HostState): Promise<void> {
  const pid = host.daemonPid
  if (pid == null || !await runsIn(host, pid)) return
  process.kill(pid, 'SIGTERM')
  const gone = async (): Promise<true | undefined> => await runsIn(host, pid) ? undefined : true
  try {
    await poll(gone, DAEMON_STOP_TIMEOUT_MS, () => new Error('still running'))
  } catch {
    if (await runsIn(host, pid)) process.kill(pid, 'SIGKILL')
    await poll(gone, DAEMON_STOP_TIMEOUT_MS, () => new DaemonStartError(`the daemon of ${host.name} (pid ${pid}) outlived SIGKILL`))
  }
}

/** Empties a stopped daemon's stores (datastore, content, gateway state), keeping its identity and config */
export async function resetHostRepo (host: HostState): Promise<void> {
  for (const sub of ['datastore', 'content', 'gateway', 'api']) {
    await fs.rm(path.join(host.repo, sub), { recursive: true, force: true })
  }
}

/** Runs `provenir <args> --json` inside the host's namespace and parses its answer */
export async function hostCli<T = any> (host: HostState, args: string[], options: RunOptions = {}): Promise<T> {
  const res = await nsRun(host.ns, process.execPath, [PROVENIR_BIN, ...args, '--json'], {
    timeout: CLI_TIMEOUT_MS,
    ...options,
    env: { ...process.env, PROVENIR_PATH: host.repo }
  })
  try {
    return JSON.parse(res.stdout) as T
  } catch (err) {
    throw new CommandFailedError(`provenir ${args.join(' ')} on ${host.name} printed no JSON: ${res.stdout.slice(0, 500)}`, res.code, res.stderr, { cause: err })
  }
}

/** GETs `url` from inside the host's namespace (its daemon's RPC API, the origin's registry) */
export async function nsFetch (host: HostState, url: string, options: RunOptions = {}): Promise<string> {
  const res = await nsRun(host.ns, process.execPath, [NS_FETCH, url], { timeout: 15_000, ...options })
  return res.stdout
}

/** The daemon's RPC address, from `<repo>/api` */
export async function apiAddress (host: HostState): Promise<string> {
  return (await fs.readFile(path.join(host.repo, 'api'), 'utf8')).trim()
}
