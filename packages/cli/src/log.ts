/**
 * The daemon's log: pino (the logger fastify is built around), one record
 * per event, at `info` by default.
 *
 * - **Format.** JSON lines when stderr is not a terminal (systemd's journal,
 *   a file, a log shipper), a human format on a terminal: pino-pretty used as
 *   a synchronous stream in this thread (no transport worker), so a line
 *   written just before a crash is not lost and nothing else starts a thread.
 * - **Components.** The code logs through libp2p's `ComponentLogger`
 *   (`log()`, `log.error()`, `log.trace()`), so every package keeps one
 *   logger interface. For the `provenir:*` components this module maps
 *   `log.error` to pino's `error`, `log.trace` to `trace` and `log()` to
 *   `debug`, except for the components in INFO_COMPONENTS (the daemon's own
 *   lifecycle lines), whose `log()` is `info`. libp2p's own components keep
 *   going to @libp2p/logger only: they log every dial and stream, which
 *   belongs to `DEBUG=libp2p:*`, not to an operator's log.
 * - **DEBUG.** `DEBUG=provenir:*,libp2p:*` still prints @libp2p/logger's
 *   debug lines as before (a developer's tool, beside the pino log).
 * - **Errors.** A `%e` argument is put in the record's `err` (pino's error
 *   serializer: type, message and stack with the whole `.cause` chain) and
 *   its message with its causes goes into `msg`.
 * - **Secrets.** Headers that carry credentials and fields named like
 *   secrets are redacted by pino wherever they appear at the first two
 *   levels of a record (REDACT_PATHS). Request lines carry the path without
 *   its query.
 */

import { format as formatUtil } from 'node:util'
import { defaultLogger } from '@libp2p/logger'
import { pino } from 'pino'
import { PinoPretty } from 'pino-pretty'
import { InvalidLogLevelError } from './errors.js'
import type { ComponentLogger, Logger } from '@libp2p/interface'
import type { DestinationStream, Logger as PinoLogger } from 'pino'

export type { PinoLogger }

/** The levels `--log-level` accepts, most verbose first */
export const LOG_LEVELS = Object.freeze(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const)
export type LogLevel = typeof LOG_LEVELS[number]

/** `auto`: pretty on a terminal, JSON otherwise */
export const LOG_FORMATS = Object.freeze(['auto', 'json', 'pretty'] as const)
export type LogFormat = typeof LOG_FORMATS[number]

/**
 * The level when neither `--log-level` nor PROVENIR_LOG_LEVEL sets one
 *
 * @default 'info'
 */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info'

/** Components whose plain `log()` lines are `info`: what an operator wants to see without asking */
const INFO_COMPONENTS = new Set(['provenir:daemon'])

/** Credentials in the places a record can carry them: request headers and fields named like secrets */
export const REDACT_PATHS = Object.freeze([
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["proxy-authorization"]',
  'headers.authorization', 'headers.cookie', 'headers["proxy-authorization"]',
  'authorization', 'token', 'password', 'privateKey', 'secret',
  '*.token', '*.password', '*.privateKey', '*.secret', '*.authorization'
])

/** Arguments of a format string longer than this are cut (a huge value must not flood the log) */
const MAX_ARG_CHARS = 4096

export interface DaemonLogInit {
  /** @default DEFAULT_LOG_LEVEL */
  level?: LogLevel
  /** @default 'auto' */
  format?: LogFormat
  /** Where records go @default stderr, written synchronously */
  destination?: DestinationStream
  /** Whether the destination is a terminal, for `auto` @default process.stderr.isTTY */
  isTTY?: boolean
}

export interface DaemonLog {
  /** The pino root logger (process errors, request lines) */
  readonly pino: PinoLogger
  /** The same log as libp2p's ComponentLogger, for the node, the gateway and the RPC server */
  readonly components: ComponentLogger
}

/**
 * Parses a level name from the command line or the environment.
 *
 * @throws InvalidLogLevelError naming the accepted levels
 */
export function parseLogLevel (value: string, source: string): LogLevel {
  const level = value.trim().toLowerCase()
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new InvalidLogLevelError(`${source}: "${value.slice(0, 64)}" is not a log level (one of ${LOG_LEVELS.join(', ')})`)
  return level as LogLevel
}

/**
 * Parses a format name from the command line or the environment.
 *
 * @throws InvalidLogLevelError naming the accepted formats
 */
export function parseLogFormat (value: string, source: string): LogFormat {
  const format = value.trim().toLowerCase()
  if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new InvalidLogLevelError(`${source}: "${value.slice(0, 64)}" is not a log format (one of ${LOG_FORMATS.join(', ')})`)
  return format as LogFormat
}

/** The daemon's pino log and its ComponentLogger view (see the module comment) */
export function createDaemonLog (init: DaemonLogInit = {}): DaemonLog {
  const format = init.format ?? 'auto'
  const pretty = format === 'pretty' || (format === 'auto' && (init.isTTY ?? process.stderr.isTTY === true))
  const destination = pretty
    ? PinoPretty({ destination: init.destination ?? 2, sync: true, colorize: init.destination == null && process.stderr.isTTY === true, ignore: 'pid,hostname,component', messageFormat: '{if component}{component}: {end}{msg}', translateTime: 'SYS:HH:MM:ss.l', messageKey: 'msg' })
    : init.destination ?? pino.destination({ fd: 2, sync: true })
  const root = pino({
    level: init.level ?? DEFAULT_LOG_LEVEL,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err }
  }, destination)
  return { pino: root, components: componentLogger(root) }
}

/** libp2p's ComponentLogger writing the `provenir:*` components to `root` (see the module comment) */
export function componentLogger (root: PinoLogger): ComponentLogger {
  const base = defaultLogger()
  return {
    forComponent (name: string): Logger {
      const debugLog = base.forComponent(name)
      if (name !== 'provenir' && !name.startsWith('provenir:')) return debugLog
      return pinoComponent(root.child({ component: name }), debugLog, INFO_COMPONENTS.has(name) ? 'info' : 'debug')
    }
  }
}

function pinoComponent (log: PinoLogger, debugLog: Logger, plain: 'info' | 'debug'): Logger {
  const emit = (level: 'trace' | 'debug' | 'info' | 'error', also: (...args: any[]) => void, formatter: unknown, args: unknown[]): void => {
    if (debugLog.enabled) also(formatter, ...args)
    if (!log.isLevelEnabled(level)) return
    const { msg, err } = formatMessage(formatter, args)
    if (err != null) log[level]({ err }, msg)
    else log[level](msg)
  }
  const logger = ((formatter: unknown, ...args: unknown[]) => { emit(plain, debugLog, formatter, args) }) as Logger
  logger.error = (formatter: unknown, ...args: unknown[]) => { emit('error', debugLog.error, formatter, args) }
  logger.trace = (formatter: unknown, ...args: unknown[]) => { emit('trace', debugLog.trace, formatter, args) }
  Object.defineProperty(logger, 'enabled', { get: () => debugLog.enabled || log.isLevelEnabled(plain), set: () => {} })
  ;(logger as unknown as { newScope(scope: string): Logger }).newScope = (scope: string) => {
    const child = (debugLog as unknown as { newScope?(scope: string): Logger }).newScope?.(scope) ?? debugLog
    return pinoComponent(log.child({ scope }), child, plain)
  }
  return logger
}

/**
 * The message of a debug-style format string (`%s %d %o %j %e %p %c %a %b
 * %t %k %m`), and the first `%e` error, for the record's `err`.
 */
export function formatMessage (formatter: unknown, args: unknown[]): { msg: string, err?: unknown } {
  if (typeof formatter !== 'string') return { msg: formatUtil('%o', formatter) }
  let err: unknown
  let i = 0
  const msg = formatter.replace(/%([a-zA-Z%])/g, (match, letter: string) => {
    if (letter === '%') return '%'
    if (i >= args.length) return match
    const value = args[i++]
    switch (letter) {
      case 'e':
        err ??= value
        return errorText(value)
      case 'd': case 'i': case 'f':
        return String(Number(value))
      case 'o': case 'O': case 'j':
        return cut(formatUtil('%o', value))
      default:
        return cut(value == null ? String(value) : String(value))
    }
  })
  return err != null ? { msg, err } : { msg }
}

/** `Name: message`, then `: Cause: message` for each cause, as one line */
export function errorText (value: unknown): string {
  const parts: string[] = []
  const seen = new Set<unknown>()
  let e: unknown = value
  while (e != null && !seen.has(e) && parts.length < 8) {
    seen.add(e)
    if (e instanceof Error) {
      parts.push(`${e.name}: ${e.message}`)
      e = e.cause
    } else {
      parts.push(cut(String(e)))
      break
    }
  }
  return parts.join(' <- ')
}

function cut (text: string): string {
  return text.length > MAX_ARG_CHARS ? `${text.slice(0, MAX_ARG_CHARS)}...` : text
}

/** A request an HTTP server answered (the gateway's and the RPC API's `onResponse`) */
export interface AnsweredRequest {
  method: string
  route: string
  status: number
  seconds: number
  remoteAddress?: string
}

/** Routes polled by machines (Prometheus, health checks), logged at debug when they succeed */
const QUIET_ROUTES = new Set(['/metrics', '/healthz'])

/**
 * One `info` record per answered request of `server` (the access log): the
 * route's pattern rather than the URL, so no path or query (and nothing a
 * client put in them) reaches the log. `/metrics` and `/healthz` answered
 * without error are `debug`.
 */
export function requestLog (root: PinoLogger, server: 'gateway' | 'rpc'): (info: AnsweredRequest) => void {
  const log = root.child({ component: `provenir:${server}` })
  return (info) => {
    // a scraper's or a health check's polls would fill the log: debug, unless they fail
    const level = QUIET_ROUTES.has(info.route) && info.status < 400 ? 'debug' : 'info'
    if (!log.isLevelEnabled(level)) return
    log[level]({ method: info.method, route: info.route, status: info.status, ms: Math.round(info.seconds * 1000), remote: info.remoteAddress }, `${info.method} ${info.route} ${info.status}`)
  }
}
