import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The built `provenir` command: bin.js bundled by build.mjs, as `bin/provenir` runs it */
export const BIN = fileURLToPath(new URL('../src/provenir.js', import.meta.url))

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  /** `PROVENIR_PATH` for the child */
  repo?: string
  /** Called with the child as soon as it is spawned (e.g. to signal it) */
  onSpawn?(child: ReturnType<typeof spawn>): void
  /** Kill the child after this long, in ms (a safety net, not a synchronisation) */
  timeout?: number
}

/** Run the CLI as a real process and collect its output */
export async function runCli (args: string[], options: RunOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.PROVENIR_PATH
  if (options.repo != null) env.PROVENIR_PATH = options.repo
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  options.onSpawn?.(child)
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 60_000)
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (c, s) => { resolve([c, s]) })
    })
    return { code, signal, stdout, stderr }
  } finally {
    clearTimeout(timer)
  }
}

/** Parse the `--json` error document a failed command writes to stderr */
export function jsonError (result: CliResult): { name: string, message: string } {
  const line = result.stderr.trim().split('\n').pop() ?? ''
  return JSON.parse(line).error
}

export interface FileState {
  type: 'file' | 'dir'
  mode: number
  mtimeMs: number
  sha256?: string
}

/** Every file and directory under `dir` with its mode, mtime and (for files) content hash */
export async function snapshot (dir: string): Promise<Record<string, FileState>> {
  const out: Record<string, FileState> = {}
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      const st = await fs.lstat(p)
      const rel = path.relative(dir, p)
      if (e.isDirectory()) {
        out[rel] = { type: 'dir', mode: st.mode, mtimeMs: st.mtimeMs }
        await walk(p)
      } else {
        out[rel] = { type: 'file', mode: st.mode, mtimeMs: st.mtimeMs, sha256: createHash('sha256').update(await fs.readFile(p)).digest('hex') }
      }
    }
  }
  await walk(dir)
  return out
}

/** A fresh temporary directory; remove it with `fs.rm` */
export async function tempDir (prefix = 'provenir-cli-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix))
}

/** Poll `fn` until it returns a value other than undefined, or throw after `timeout` ms */
export async function waitFor<T> (what: string, fn: () => Promise<T | undefined> | T | undefined, timeout = 20_000, interval = 50): Promise<T> {
  const deadline = Date.now() + timeout
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const value = await fn()
      if (value !== undefined) return value
    } catch (err) {
      lastError = err
    }
    await new Promise(resolve => setTimeout(resolve, interval))
  }
  throw new Error(`timed out waiting for ${what}${lastError != null ? `: ${String(lastError)}` : ''}`)
}

/** Test-sized init flags: difficulty 4, loopback on a free port, RPC on a free port */
export const TEST_INIT = ['--difficulty', '4', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--gateway', '127.0.0.1:0', '--workers', '1', '--no-docker-hub']
