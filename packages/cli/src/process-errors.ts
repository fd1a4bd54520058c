/**
 * The daemon's last line of defence: what happens to an error nothing
 * handled.
 *
 * - An **unhandled rejection** is logged to stderr with its stack and its
 *   whole `.cause` chain, counted in `provenir_unhandled_rejections_total`,
 *   and the daemon keeps running. The operation that failed has already
 *   ended by the time its promise is found unhandled, so the process is in
 *   the state it was; Node's default (exit 1) would instead let anyone who
 *   finds such a bug stop the registry. Every peer-facing path handles its
 *   own rejections (the rogue-peer suite checks that no daemon logs one), so
 *   one appearing here is a bug to report, not something a peer can do.
 * - An **uncaught exception** was thrown synchronously out of a callback,
 *   possibly half-way through changing some state. It is logged the same way
 *   and the daemon exits 1, as Node does, after `onFatal` (which removes the
 *   `api` file).
 */

import { Counter, register } from 'prom-client'
import { errorText } from './log.js'
import type { PinoLogger } from './log.js'
import type { Registry } from 'prom-client'

/** Name of the counter of rejections nothing handled */
export const UNHANDLED_REJECTIONS_METRIC = 'provenir_unhandled_rejections_total'

/** Causes followed when describing an error (a cycle or a long chain stops here) */
const MAX_CAUSE_DEPTH = 8

/** Characters of one error's description kept (a huge message must not flood the log) */
const MAX_DESCRIPTION = 16 * 1024

/**
 * An error with its stack, then each `.cause` (and each error of an
 * AggregateError) on its own indented lines, so the log shows where the
 * failure came from and not only the wrapper.
 */
export function describeError (err: unknown, depth = 0, seen = new Set<unknown>()): string {
  const indent = '  '.repeat(depth)
  if (seen.has(err)) return `${indent}[cause cycle]`
  seen.add(err)
  let text: string
  if (err instanceof Error) {
    const stack = typeof err.stack === 'string' && err.stack.includes(err.message) ? err.stack : `${err.name}: ${err.message}\n${err.stack ?? ''}`
    text = stack.slice(0, MAX_DESCRIPTION)
    // a subclass may not put its name in the stack's first line
    if (!text.startsWith(err.name)) text = `${err.name}: ${text}`
  } else {
    text = `non-error value: ${safeString(err)}`
  }
  const lines = [text.split('\n').map(l => indent + l).join('\n')]
  if (depth >= MAX_CAUSE_DEPTH) return lines[0]
  if (err instanceof AggregateError) {
    err.errors.slice(0, MAX_CAUSE_DEPTH).forEach((e, i) => {
      lines.push(`${indent}  [error ${i}]`, describeError(e, depth + 1, seen))
    })
  }
  if (err instanceof Error && err.cause !== undefined) {
    lines.push(`${indent}  [cause]`, describeError(err.cause, depth + 1, seen))
  }
  return lines.join('\n')
}

function safeString (value: unknown): string {
  try {
    return String(value).slice(0, MAX_DESCRIPTION)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/** The `provenir_unhandled_rejections_total` counter in `registry`, created on first use */
export function unhandledRejectionsCounter (registry: Registry = register): Counter {
  const existing = registry.getSingleMetric(UNHANDLED_REJECTIONS_METRIC)
  if (existing != null) return existing as Counter
  return new Counter({
    name: UNHANDLED_REJECTIONS_METRIC,
    help: 'Promise rejections nothing handled (each is a bug, logged with its cause; the daemon keeps running)',
    registers: [registry]
  })
}

export interface ProcessErrorHandlersInit {
  /** The daemon's log: when given, each error is one record (level error or fatal) with the error and its causes in `err` */
  log?: PinoLogger
  /** Where the descriptions go when there is no `log` @default process.stderr */
  write?(text: string): void
  /** Called after an uncaught exception was logged, before the process exits 1 */
  onFatal?(): void
  /** @default process.exit */
  exit?(code: number): void
}

/**
 * Installs the daemon's `unhandledRejection` and `uncaughtException`
 * handlers (see the module comment); returns a function that removes them.
 */
export function installProcessErrorHandlers (init: ProcessErrorHandlersInit = {}): () => void {
  const write = init.write ?? ((text: string) => { process.stderr.write(text) })
  const exit = init.exit ?? ((code: number) => { process.exit(code) })
  const counter = unhandledRejectionsCounter()
  const log = init.log
  const onRejection = (reason: unknown): void => {
    counter.inc()
    if (log != null) {
      log.error({ err: reason }, `unhandled rejection (a bug; the daemon keeps running): ${errorText(reason)}`)
      return
    }
    write(`${new Date().toISOString()} provenir daemon: unhandled rejection (a bug; the daemon keeps running):\n${describeError(reason)}\n`)
  }
  const onException = (err: unknown, origin: string): void => {
    if (log != null) log.fatal({ err }, `uncaught exception (${origin}); exiting: ${errorText(err)}`)
    else write(`${new Date().toISOString()} provenir daemon: uncaught exception (${origin}); exiting:\n${describeError(err)}\n`)
    try {
      init.onFatal?.()
    } finally {
      exit(1)
    }
  }
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  return () => {
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onException)
  }
}
