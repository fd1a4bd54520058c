/**
 * HTTP to one upstream registry, on undici: one connection pool per
 * upstream (its CA added to the system's), a timeout on every phase,
 * retries with backoff for what is worth retrying, and redirects followed
 * by hand so that `Authorization` never crosses to another origin (Docker
 * Hub answers a blob with a 307 to a CDN that must not see the token).
 */

import { rootCertificates } from 'node:tls'
import { AbortError } from '@provenir/interface'
import { Agent } from 'undici'
import {
  DEFAULT_ATTEMPTS, DEFAULT_BODY_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_HEADERS_TIMEOUT_MS, MAX_REDIRECTS,
  RETRY_BASE_DELAY_MS, RETRY_MAX_DELAY_MS, USER_AGENT
} from './constants.js'
import { UpstreamResponseError, UpstreamTlsError, UpstreamUnavailableError } from './errors.js'
import type { Logger } from '@provenir/interface'
import type { Dispatcher } from 'undici'

export interface TransportInit {
  /** PEM certificates trusted beside the system's, for this upstream's endpoints and their redirects */
  ca?: string
  /** @default DEFAULT_CONNECT_TIMEOUT_MS */
  connectTimeoutMs?: number
  /** @default DEFAULT_HEADERS_TIMEOUT_MS */
  headersTimeoutMs?: number
  /** @default DEFAULT_BODY_TIMEOUT_MS */
  bodyTimeoutMs?: number
  /** Attempts of a retryable request. @default DEFAULT_ATTEMPTS */
  attempts?: number
  /** @default RETRY_BASE_DELAY_MS */
  retryBaseDelayMs?: number
  log?: Logger
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST'
  url: URL
  headers?: Record<string, string>
  body?: string
  signal: AbortSignal
  /** Names the registry in errors: `docker.io (https://registry-1.docker.io)` */
  registry: string
}

export interface HttpResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Dispatcher.ResponseData['body']
  /** Where the answer came from, after redirects */
  url: URL
}

/** Statuses a registry or a proxy in front of it gives for a passing fault */
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504])

/** OpenSSL's codes for a certificate that does not verify: retrying cannot help */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE', 'INVALID_CA', 'ERR_SSL_WRONG_VERSION_NUMBER'
])

function noop (): void {}
/** A logger that writes nothing, for a client built without one */
export const silentLogger: Logger = Object.assign(noop, { enabled: false, error: noop, trace: noop, newScope: () => silentLogger }) as unknown as Logger

export class Transport {
  readonly agent: Agent
  private readonly attempts: number
  private readonly baseDelay: number
  private readonly log: Logger

  constructor (init: TransportInit = {}) {
    this.attempts = Math.max(1, init.attempts ?? DEFAULT_ATTEMPTS)
    this.baseDelay = init.retryBaseDelayMs ?? RETRY_BASE_DELAY_MS
    this.log = init.log ?? silentLogger
    this.agent = new Agent({
      connect: {
        timeout: init.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        ...(init.ca != null ? { ca: [...rootCertificates, init.ca] } : {})
      },
      headersTimeout: init.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
      bodyTimeout: init.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS
    })
  }

  async close (): Promise<void> {
    await this.agent.destroy()
  }

  /**
   * One request, redirects followed, retried with backoff on a connection
   * fault, a timeout, 408, 429 or a 5xx; the last such answer is returned
   * (a status) or thrown (a fault) when the attempts run out. The body of
   * the returned response is the caller's to read or dump.
   *
   * @throws UpstreamTlsError, UpstreamUnavailableError, AbortError
   */
  async request (req: HttpRequest): Promise<HttpResponse> {
    for (let attempt = 1; ; attempt++) {
      let res: HttpResponse
      try {
        res = await this.follow(req)
      } catch (err: unknown) {
        const failure = this.classify(err, req)
        if (failure.name !== 'UpstreamUnavailableError' || attempt >= this.attempts) throw failure
        this.log('%s %s failed (attempt %d of %d), retrying: %s', req.method, req.url.href, attempt, this.attempts, failure.message)
        await this.pause(this.delay(attempt), req)
        continue
      }
      if (!RETRY_STATUSES.has(res.status) || attempt >= this.attempts) return res
      const wait = retryAfter(res.headers['retry-after']) ?? this.delay(attempt)
      await res.body.dump().catch(() => {})
      this.log('%s %s answered %d (attempt %d of %d), retrying in %d ms', req.method, req.url.href, res.status, attempt, this.attempts, wait)
      await this.pause(wait, req)
    }
  }

  private async pause (ms: number, req: HttpRequest): Promise<void> {
    try {
      await sleep(ms, req.signal)
    } catch (err) {
      throw this.classify(err, req)
    }
  }

  private delay (attempt: number): number {
    const base = Math.min(RETRY_MAX_DELAY_MS, this.baseDelay * 2 ** (attempt - 1))
    return Math.round(base / 2 + Math.random() * base / 2)
  }

  private async follow (req: HttpRequest): Promise<HttpResponse> {
    let url = req.url
    let method = req.method
    let headers: Record<string, string> = { 'user-agent': USER_AGENT, ...req.headers }
    for (let hop = 0; ; hop++) {
      const res = await this.agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        ...(method === 'POST' && req.body != null ? { body: req.body } : {}),
        signal: req.signal
      })
      const location = res.headers.location
      if (![301, 302, 303, 307, 308].includes(res.statusCode) || typeof location !== 'string') {
        return { status: res.statusCode, headers: res.headers, body: res.body, url }
      }
      await res.body.dump().catch(() => {})
      if (hop >= MAX_REDIRECTS) throw new UpstreamResponseError(`${req.registry}: more than ${MAX_REDIRECTS} redirects from ${req.url.href}`)
      const next = new URL(location, url)
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new UpstreamResponseError(`${req.registry}: a redirect to ${next.protocol} is not followed`)
      if (url.protocol === 'https:' && next.protocol === 'http:') throw new UpstreamResponseError(`${req.registry}: a redirect from https to http (${next.origin}) is not followed`)
      if (next.origin !== url.origin) {
        // the registry's credentials stay with the registry
        const { authorization: _dropped, ...rest } = headers
        headers = rest
      }
      if (res.statusCode === 303) method = 'GET'
      this.log('%s %s redirected to %s', req.method, url.href, next.origin)
      url = next
    }
  }

  /** An error thrown by undici, as one of ours */
  classify (err: unknown, req: HttpRequest): Error {
    const e = err as { name?: string, code?: string, message?: string, cause?: { code?: string, message?: string } }
    if (req.signal.aborted) {
      const reason = req.signal.reason as Error | undefined
      if (reason?.name === 'TimeoutError') return new UpstreamUnavailableError(`${req.registry}: ${req.method} ${req.url.pathname} timed out`, { cause: err })
      return new AbortError(`${req.registry}: ${req.method} ${req.url.pathname} was cancelled`, { cause: err })
    }
    if (e?.name === 'UpstreamResponseError') return err as Error
    const code = e?.code ?? e?.cause?.code
    const message = String(e?.message ?? err)
    if (code != null && TLS_CODES.has(code)) {
      return new UpstreamTlsError(`${req.registry}: the TLS certificate of ${req.url.host} does not verify against the configured CA or the system's (${code}: ${message})`, { cause: err })
    }
    return new UpstreamUnavailableError(`${req.registry}: ${req.method} ${req.url.origin}${req.url.pathname} failed: ${code != null ? `${code}: ` : ''}${message}`, { cause: err })
  }
}

/** `Retry-After` in seconds (or an HTTP date), bounded by RETRY_MAX_DELAY_MS */
function retryAfter (value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined
  const seconds = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - Date.now()
  if (!Number.isFinite(seconds)) return undefined
  return Math.max(0, Math.min(RETRY_MAX_DELAY_MS, seconds))
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = (): void => { clearTimeout(timer); reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Reads a whole body, refusing one over `max` bytes before reading past it.
 *
 * @throws UpstreamResponseError when the body is over `max`
 */
export async function readBounded (res: HttpResponse, max: number, what: string, registry: string): Promise<Uint8Array> {
  const declared = Number(res.headers['content-length'])
  if (Number.isFinite(declared) && declared > max) {
    await res.body.dump().catch(() => {})
    throw new UpstreamResponseError(`${registry}: ${what} is ${declared} bytes; at most ${max} are read`)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length
    if (size > max) {
      res.body.destroy()
      throw new UpstreamResponseError(`${registry}: ${what} is over ${max} bytes`)
    }
    chunks.push(chunk as Buffer)
  }
  return new Uint8Array(Buffer.concat(chunks, size))
}
