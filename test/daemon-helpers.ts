/**
 * Helpers for the end-to-end daemon tests: run the real `provenir` binary
 * as a child process and wait on conditions (never on fixed sleeps).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'

/** The repository root (this file runs from test/dist/) */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The compiled CLI, relative to ROOT */
export const BIN = 'packages/cli/dist/src/provenir.js'

/**
 * The V8 flags a daemon runs with, as `npm start` and the `provenir` binary's
 * shebang give them (BENCHMARKS.md):
 * - a 4 MiB young generation (semi-space) instead of V8's default, which
 *   lowers a pulling daemon's peak RSS by ~20 MiB at the same CPU;
 * - an old generation of at least 96 MiB before V8 starts a full GC. V8
 *   counts the Buffers allocated since the last full GC against that limit,
 *   and a daemon's heap is ~35 MiB, so at V8's own limit a serving daemon ran
 *   a full GC for every ~5 MB of blocks it read and sent: half its CPU.
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=4', '--initial-old-space-size=96']

/** More V8 flags for every daemon a test or bench starts, e.g. `DAEMON_EXTRA_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` */
const DAEMON_EXTRA_FLAGS = (process.env.DAEMON_EXTRA_FLAGS ?? '').split(' ').filter(f => f !== '')

/** init flags for a test repo: difficulty 4, loopback swarm and RPC on free ports, no Docker Hub (tests send nothing beyond loopback) */
export const TEST_INIT = ['--difficulty', '4', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--gateway', '127.0.0.1:0', '--allow-private-addresses', '--workers', '1', '--no-docker-hub']

function childEnv (repo: string): NodeJS.ProcessEnv {
  return { ...process.env, PROVENIR_PATH: repo }
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Run a short-lived CLI command as a real process */
export async function runCli (repo: string, args: string[], timeout = 60_000): Promise<CliResult> {
  return runTool(process.execPath, [BIN, ...args], timeout, { cwd: ROOT, env: childEnv(repo) })
}

/** Run a CLI command that must succeed with `--json`, and parse its output */
export async function runJson<T = any> (repo: string, args: string[]): Promise<T> {
  const res = await runCli(repo, [...args, '--json'])
  if (res.code !== 0) throw new Error(`provenir ${args.join(' ')} exited ${res.code}: ${res.stderr}`)
  return JSON.parse(res.stdout) as T
}

/**
 * A fresh daemon at `repo` that bootstraps to `bootstrap` and can already see a
 * provider of `digest` in the DHT, as a puller would after a publish (the
 * benchmarks' node B)
 */
export async function startPuller (repo: string, bootstrap: string, digest: string): Promise<DaemonProcess> {
  await runJson(repo, ['init', ...TEST_INIT, '--bootstrap', bootstrap])
  const daemon = new DaemonProcess(repo)
  await daemon.ready()
  for (let i = 0; i < 100; i++) {
    const found = await runJson(repo, ['providers', digest])
    if (found.providers.length > 0) break
  }
  return daemon
}

/** Every daemon this process started, for `keepDaemonLogs` */
const daemons = new Set<DaemonProcess>()

/** Where `keepDaemonLogs` writes the daemons' stderr of a failed test */
export const DAEMON_LOGS = path.join(ROOT, 'test-output', 'daemon-logs')

/**
 * For the calling test file: when a test fails, every daemon that ran during
 * it (started in it or before it, and not stopped before it began) has its
 * stderr (its errors and warnings) written to `DAEMON_LOGS` and its last
 * lines printed beside the failure, so a failure in CI says what the daemons
 * saw. Call once, at the top level of the file.
 */
export function keepDaemonLogs (file: string): void {
  const name = path.basename(file.startsWith('file:') ? fileURLToPath(file) : file).replace(/\.js$/, '')
  let began = 0
  beforeEach(() => { began = Date.now() })
  afterEach(async (t) => {
    // `passed` is node's since 21.7, not yet in our @types/node
    if ((t as { passed?: boolean }).passed !== false) return
    const ran = [...daemons].filter(d => d.exitedAt == null || d.exitedAt >= began)
    if (ran.length === 0) return
    await fs.mkdir(DAEMON_LOGS, { recursive: true })
    const test = t.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)
    for (const [i, daemon] of ran.entries()) {
      const out = path.join(DAEMON_LOGS, `${name}-${test}-${i}.log`)
      await fs.writeFile(out, daemon.stderr)
      console.error(`daemon ${i} of the failed test (repo ${daemon.repo}, ${daemon.running ? 'running' : 'exited'}): its stderr is in ${out}; the last lines:\n${daemon.stderr.split('\n').slice(-30).join('\n')}`)
    }
  })
}

/** A daemon running as a child process */
export class DaemonProcess {
  readonly repo: string
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  /** Resolves with the exit code and signal once the process has exited */
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** When the process exited (ms since the epoch) */
  exitedAt?: number

  /** `extraArgs` go after `daemon --json` (e.g. `--registry`) */
  constructor (repo: string, extraArgs: string[] = []) {
    this.repo = repo
    this.child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, ...DAEMON_EXTRA_FLAGS, BIN, 'daemon', '--json', ...extraArgs], { cwd: ROOT, env: childEnv(repo), stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => { this.stdout += d })
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => { this.stderr += d })
    this.exited = new Promise(resolve => {
      this.child.once('exit', (code, signal) => {
        this.exitedAt = Date.now()
        resolve({ code, signal })
      })
    })
    daemons.add(this)
  }

  /** The JSON events the daemon printed so far */
  events (): any[] {
    return this.stdout.split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l))
  }

  get running (): boolean {
    return this.child.exitCode == null && this.child.signalCode == null
  }

  /** Wait until `<repo>/api` exists, `/healthz` answers 200 and the ready event is printed; resolves with the API's base URL */
  async ready (timeout = 60_000): Promise<string> {
    return waitFor('the daemon to be healthy', async () => {
      if (!this.running) throw new Error(`the daemon exited early: ${this.stderr}`)
      let api: string
      try {
        api = (await fs.readFile(path.join(this.repo, 'api'), 'utf8')).split('\n')[0].trim()
      } catch {
        return undefined
      }
      // the daemon writes its api file, then prints its ready event: callers read that event
      const printed = this.stdout.split('\n').slice(0, -1).some(line => line.includes('"event":"ready"'))
      if (api.startsWith('https://')) {
        // a TLS API: the CLI's own client, which trusts the repo's CA
        const { RpcClient } = await import('@provenir/cli')
        const health = await (await RpcClient.fromRepo(this.repo, { timeout: 2_000 })).get<{ status: string }>('/healthz').catch(() => undefined)
        return health?.status === 'ok' && printed ? api : undefined
      }
      const res = await fetch(`http://${api}/healthz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined)
      return res?.status === 200 && printed ? `http://${api}` : undefined
    }, timeout, () => !this.running)
  }

  /** Send a signal and wait for the exit */
  async stop (signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal)
    return this.exited
  }

  /** Last resort in `after()`: make sure no daemon outlives the test */
  kill (): void {
    if (this.running) this.child.kill('SIGKILL')
  }
}

/**
 * Poll `fn` until it returns something other than undefined. Throws after
 * `timeout` ms, or at once when `giveUp` returns true.
 */
export async function waitFor<T> (what: string, fn: () => Promise<T | undefined>, timeout = 30_000, giveUp?: () => boolean): Promise<T> {
  const deadline = Date.now() + timeout
  let lastError: unknown
  while (Date.now() < deadline) {
    if (giveUp?.() === true) break
    try {
      const value = await fn()
      if (value !== undefined) return value
    } catch (err) {
      lastError = err
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`gave up waiting for ${what}${lastError != null ? `: ${String(lastError)}` : ''}`)
}

export async function getJson<T = any> (url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) })
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`)
  return await res.json() as T
}

export async function tempDir (): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'provenir-e2e-'))
}

export async function fileExists (file: string): Promise<boolean> {
  return fs.stat(file).then(() => true, () => false)
}

export interface DaemonPair {
  root: string
  repoA: string
  repoB: string
  a: DaemonProcess
  b: DaemonProcess
  /** A's `provenir id` */
  idA: { peerId: string, addresses: string[] }
  /** Kill both daemons and remove the directory */
  stop(): Promise<void>
}

/**
 * Two real daemons in a new temp directory: A, then B bootstrapped to A,
 * returned once B is connected to A. `beforeStartB` runs after both repos
 * exist and A is up, before B starts (e.g. to write B's policy.json).
 */
export async function startDaemonPair (beforeStartB?: (pair: { root: string, repoA: string, repoB: string }) => Promise<void>): Promise<DaemonPair> {
  const root = await tempDir()
  const repoA = path.join(root, 'a')
  const repoB = path.join(root, 'b')
  const spawned: DaemonProcess[] = []
  const stop = async (): Promise<void> => {
    for (const d of spawned) d.kill()
    await Promise.all(spawned.map(async d => d.exited))
    await fs.rm(root, { recursive: true, force: true })
  }
  try {
    const initA = await runCli(repoA, ['init', ...TEST_INIT])
    if (initA.code !== 0) throw new Error(`init A: ${initA.stderr}`)
    const a = new DaemonProcess(repoA)
    spawned.push(a)
    await a.ready()
    const idA = await runJson(repoA, ['id'])
    const initB = await runCli(repoB, ['init', ...TEST_INIT, '--bootstrap', idA.addresses[0]])
    if (initB.code !== 0) throw new Error(`init B: ${initB.stderr}`)
    await beforeStartB?.({ root, repoA, repoB })
    const b = new DaemonProcess(repoB)
    spawned.push(b)
    await b.ready()
    await waitFor('B to connect to A', async () => {
      const peers = await runJson(repoB, ['peers'])
      return peers.peers.some((p: { peerId: string }) => p.peerId === idA.peerId) ? true : undefined
    })
    return { root, repoA, repoB, a, b, idA, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Run a program (the CLI, skopeo, ...) to completion, killing it after `timeout` ms */
export async function runTool (cmd: string, args: string[], timeout = 120_000, options: { cwd?: string, env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeout)
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', resolve)
    })
    return { code, stdout, stderr }
  } finally {
    clearTimeout(timer)
  }
}

/** What would show that a daemon hid (or died of) an error nobody handled */
export function assertNoUnhandled (daemon: DaemonProcess, label: string): void {
  assert.ok(daemon.running, `${label}: the daemon is running (stderr: ${daemon.stderr.slice(-2000)})`)
  assert.doesNotMatch(daemon.stderr, /unhandled rejection|uncaught exception/i, `${label}: nothing went unhandled`)
}
