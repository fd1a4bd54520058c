/**
 * Running the system's tools (`ip`, `tc`, skopeo, the provenir CLI inside a
 * namespace), each with a timeout and an AbortSignal.
 */
import { spawn } from 'node:child_process'
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
  const signal = AbortSignal.any([AbortSignal.timeout(options.timeout ?? COMMAND_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
  signal.throwIfAborted()
  const t0 = performance.now()
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env })
  const stdout = collector(MAX_OUTPUT_BYTES)
  const stderr = collector(MAX_OUTPUT_BYTES)
  child.stdout.setEncoding('utf8').on('data', stdout.add)
  child.stderr.setEncoding('utf8').on('data', stderr.add)
  const onAbort = (): void => { child.kill('SIGKILL') }
  signal.addEventListener('abort', onAbort, { once: true })
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
