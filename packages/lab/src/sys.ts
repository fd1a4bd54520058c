/**
 * Running the system's tools (`ip`, `tc`, skopeo, the provenir CLI inside a
 * namespace), each with a timeout and an AbortSignal.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { COMMAND_TIMEOUT_MS, MAX_OUTPUT_BYTES } from './constants.js'
import { CommandFailedError } from './errors.js'

export interface RunOptions {
  /** @default COMMAND_TIMEOUT_MS */
  timeout?: number
  signal?: AbortSignal
  env?: NodeJS.ProcessEnv
  /** Resolve with a failed result instead of throwing CommandFailedError */
  allowFailure?: boolean
}

export interface RunResult {
  /** The exit code, or null when a signal ended the command */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Wall-clock time from spawn to exit, in ms */
  ms: number
}

/** Keeps the last `max` bytes of a stream's text */
function collector (max: number): { add: (s: string) => void, text: () => string } {
  let text = ''
  return {
    add (s: string) {
      text += s
      if (text.length > max) text = text.slice(text.length - max)
    },
    text: () => text
  }
}

/**
 * Runs `cmd args` to its end. The timeout and the signal kill it (SIGKILL).
 * Throws CommandFailedError, naming the command and its stderr, when it exits
 * other than 0 (unless `allowFailure`).
 */
export async function run (cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return await spawnRun(cmd, args, options).result
}

/** A spawned command: its child, and its result once it exited */
function spawnRun (cmd: string, args: string[], options: RunOptions, stdin: 'ignore' | 'pipe' = 'ignore', onStdout?: (text: string) => void): { child: ChildProcess, result: Promise<RunResult> } {
  const signal = AbortSignal.any([AbortSignal.timeout(options.timeout ?? COMMAND_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
  signal.throwIfAborted()
  const t0 = performance.now()
  const child = spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'], env: options.env ?? process.env })
  const stdout = collector(MAX_OUTPUT_BYTES)
  const stderr = collector(MAX_OUTPUT_BYTES)
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    stdout.add(text)
    onStdout?.(stdout.text())
  })
  child.stderr?.setEncoding('utf8').on('data', stderr.add)
  const onAbort = (): void => { child.kill('SIGKILL') }
  signal.addEventListener('abort', onAbort, { once: true })
  const result = (async (): Promise<RunResult> => {
    try {
      const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
        child.once('error', reject)
        child.once('close', (c, s) => { resolve([c, s]) })
      })
      const result = { code, signal: sig, stdout: stdout.text(), stderr: stderr.text(), ms: performance.now() - t0 }
      if (code !== 0 && options.allowFailure !== true) {
        const why = signal.aborted ? `was stopped (${String(signal.reason?.message ?? signal.reason)})` : `exited ${code ?? sig}`
        throw new CommandFailedError(`${cmd} ${args.join(' ')} ${why}: ${result.stderr.trim().slice(-2000)}`, code, result.stderr)
      }
      return result
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new CommandFailedError(`${cmd} is not installed (not found on the PATH)`, null, '', { cause: err })
      }
      throw err
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  })()
  return { child, result }
}

/** `ip args...` in the root namespace */
export async function ip (args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run('ip', args, options)
}

/** `tc args...`; with `ns`, inside that namespace (`tc -n`) */
export async function tc (args: string[], ns?: string, options: RunOptions = {}): Promise<RunResult> {
  return run('tc', [...(ns != null ? ['-n', ns] : []), ...args], options)
}

/** `ip -j args...`, parsed */
export async function ipJson<T> (args: string[], options: RunOptions = {}): Promise<T> {
  const res = await ip(['-j', ...args], options)
  const text = res.stdout.trim()
  return (text === '' ? [] : JSON.parse(text)) as T
}

/** Runs `cmd args` inside the namespace `ns` (`ip netns exec`) */
export async function nsRun (ns: string, cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], options)
}

/** What a held command prints once its namespace and shell are up, before it waits for `go()` */
const HELD_MARK = 'provenir-lab-held'

/** A command whose start waits for `go()`: see {@link nsHeld} */
export interface HeldRun {
  /** Resolves once the command waits for `go()`, or ended before that */
  ready: Promise<void>
  /** Lets the command start; a second call does nothing */
  go(): void
  /** Its result (its stdout without the line the wait printed) */
  result: Promise<RunResult>
}

/**
 * Starts a command inside a namespace up to its exec, which waits until
 * `go()`. Many commands meant to start at one moment are started so: the
 * namespace's entry (`ip netns exec` unshares a mount namespace and
 * remounts /sys) and the shell's start are paid before it, where 16 of them
 * started at once on a busy 2-core machine reached their exec over 5.5 s.
 */
export function nsHeld (ns: string, cmd: string, args: string[], options: RunOptions = {}): HeldRun {
  let ready!: () => void
  const waiting = new Promise<void>(resolve => { ready = resolve })
  const script = `printf '%s\\n' ${HELD_MARK}; read -r _ || exit 125; exec "$@"`
  const { child, result } = spawnRun('ip', ['netns', 'exec', ns, 'sh', '-c', script, 'sh', cmd, ...args], options, 'pipe', text => {
    if (text.startsWith(`${HELD_MARK}\n`)) ready()
  })
  // a command that ended before `go()` closed its end: the write then fails, and its result says why
  child.stdin?.on('error', () => {})
  let gone = false
  return {
    ready: waiting,
    go () {
      if (gone) return
      gone = true
      child.stdin?.end('\n')
    },
    result: result.then(r => ({ ...r, stdout: r.stdout.replace(`${HELD_MARK}\n`, '') })).finally(ready)
  }
}

/** Waits `ms`, or rejects when `signal` aborts */
export async function delay (ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = (): void => { clearTimeout(timer); reject(signal?.reason) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Polls `fn` until it returns something other than undefined; throws `onTimeout()`
 * at the deadline. How the lab waits: on a condition, never a fixed sleep.
 */
export async function poll<T> (fn: () => Promise<T | undefined>, timeout: number, onTimeout: (last: unknown) => Error, options: { interval?: number, signal?: AbortSignal } = {}): Promise<T> {
  const deadline = Date.now() + timeout
  let last: unknown
  while (true) {
    options.signal?.throwIfAborted()
    try {
      const value = await fn()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    if (Date.now() >= deadline) throw onTimeout(last)
    await delay(options.interval ?? 100, options.signal)
  }
}

/** Runs `fn` over `items`, at most `limit` at once, in order of the items */
export async function mapLimit<T, R> (items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i], i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
