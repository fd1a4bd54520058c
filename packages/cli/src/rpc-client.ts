import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { AbortError, DaemonNotRunningError, ProvenirError, TimeoutError } from '@provenir/interface'
import { formatApiAddress } from './api-address.js'
import { MAX_PEM_BYTES, RPC_CLIENT_MAX_LINE_BYTES, RPC_CLIENT_MAX_RESPONSE_BYTES, RPC_CLIENT_TIMEOUT_MS } from './constants.js'
import { knownErrorClass, RpcError, TlsMaterialError } from './errors.js'
import { readApiFile, repoPaths } from './repo-paths.js'
import type { ApiEndpoint } from './api-address.js'
import type { IncomingMessage } from 'node:http'
import type { RequestOptions } from 'node:https'

export interface RpcClientInit {
  /** The daemon's RPC address; with `tls`, https, trusting the system's CAs and `caFile` */
  address: ApiEndpoint
  /**
   * Default time each call may take, in ms
   *
   * @default RPC_CLIENT_TIMEOUT_MS (10 s)
   */
  timeout?: number
  /** Where the address came from, named in errors (e.g. the repo's api file) */
  source?: string
}

export interface RpcCallOptions {
  /** Cancels the call (in addition to the timeout) */
  signal?: AbortSignal
  /** ms; overrides the client's default */
  timeout?: number
  /** JSON request body */
  body?: unknown
}

export interface RpcStreamOptions<P> extends RpcCallOptions {
  /** Called with each `{"event":"progress",...}` line */
  onProgress?(line: P): void
}

/** Where to connect for an address a server listens on: the unspecified address is reached on loopback */
function connectHost (host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::') return '::1'
  return host
}

/**
 * node's HTTP modules, loaded when the first call is made and through
 * `require`: an ESM import of `node:http` builds its namespace by reading
 * every export, and the lazy `WebSocket`/`EventSource` getters among them load
 * undici (~40 ms of every CLI command; `require` is ~7 ms). node's `fetch` is
 * undici too (~65 ms to load and compile), which is why the client does not
 * use it.
 */
const load = createRequire(import.meta.url)

/** The CAs a TLS call trusts: the system's and the one in `caFile` (the repo's CA) */
async function tlsCas (caFile: string | undefined): Promise<string[]> {
  const { rootCertificates } = load('node:tls') as typeof import('node:tls')
  const ca = [...rootCertificates]
  if (caFile != null) {
    try {
      const pem = await readFile(caFile, 'utf8')
      if (pem.length > MAX_PEM_BYTES) throw new TlsMaterialError(`${caFile} is over ${MAX_PEM_BYTES} bytes`)
      ca.push(pem)
    } catch (err) {
      if (err instanceof TlsMaterialError) throw err
      throw new TlsMaterialError(`cannot read the daemon's CA ${caFile}: ${(err as Error).message}`, { cause: err })
    }
  }
  return ca
}

/**
 * One request on its own connection (no keep-alive: a CLI makes one or two
 * calls, and an idle pooled socket would hold a library caller's process
 * open). Resolves with the response once its head arrived; `signal` aborts
 * the request or the reading of its body.
 */
async function send (url: URL, options: RequestOptions & { signal: AbortSignal }, body: string | undefined): Promise<IncomingMessage> {
  const { request } = load(url.protocol === 'https:' ? 'node:https' : 'node:http') as typeof import('node:http')
  return new Promise((resolve, reject) => {
    const req = request(url, { ...options, agent: false }, resolve)
    // kept for the request's life: an error after the head arrived (a reset mid-body) must not go unhandled
    req.on('error', reject)
    req.end(body)
  })
}

/** node's codes for a certificate that does not verify */
const TLS_VERIFY_CODES = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE'])

function networkCode (err: unknown): string | undefined {
  let e: any = err
  for (let i = 0; i < 4 && e != null; i++) {
    if (typeof e.code === 'string') return e.code
    e = e.cause
  }
  return undefined
}

async function readBounded (response: IncomingMessage, max: number): Promise<string> {
  const declared = Number(response.headers['content-length'] ?? '0')
  if (declared > max) throw new ProvenirError(`daemon response is ${declared} bytes; the limit is ${max}`)
  const chunks: Uint8Array[] = []
  let length = 0
  for await (const chunk of response as AsyncIterable<Buffer>) {
    length += chunk.byteLength
    if (length > max) throw new ProvenirError(`daemon response is over ${max} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * A client of the daemon's RPC API. Every call has a timeout. When nothing
 * listens at the address it throws DaemonNotRunningError; an error the daemon
 * answers with is thrown with the name the daemon gave it.
 */
export class RpcClient {
  readonly address: ApiEndpoint
  private readonly timeout: number
  private readonly source?: string
  private cas?: Promise<string[]>

  constructor (init: RpcClientInit) {
    this.address = init.address
    this.timeout = init.timeout ?? RPC_CLIENT_TIMEOUT_MS
    this.source = init.source
  }

  /**
   * A client for the daemon running on the repo at `root`, from `<root>/api`.
   *
   * @throws DaemonNotRunningError when the repo has no api file
   */
  static async fromRepo (root: string, init: Omit<RpcClientInit, 'address' | 'source'> = {}): Promise<RpcClient> {
    const address = await readApiFile(root)
    return new RpcClient({ ...init, address, source: repoPaths(root).api })
  }

  /** `http://host:port`, or `https://` when the API serves TLS */
  get url (): string {
    return `${this.address.tls === true ? 'https' : 'http'}://${formatApiAddress({ host: connectHost(this.address.host), port: this.address.port })}`
  }

  /** GET `path` and parse the JSON answer */
  async get<T> (path: string, options: RpcCallOptions = {}): Promise<T> {
    return JSON.parse(await this.call('GET', path, options)) as T
  }

  /** POST `body` as JSON to `path` and parse the JSON answer */
  async post<T> (path: string, options: RpcCallOptions = {}): Promise<T> {
    return JSON.parse(await this.call('POST', path, options)) as T
  }

  /**
   * POST `body` to a route that answers with NDJSON events (import, export,
   * pull): `progress` lines go to `onProgress`, and the `done` line is
   * returned (without its `event` field). An `error` line is thrown as the
   * error the daemon named. Aborting `signal` closes the request, which
   * cancels the work in the daemon.
   */
  async stream<T, P = unknown> (path: string, options: RpcStreamOptions<P> = {}): Promise<T> {
    let result: T | undefined
    let failure: { name: unknown, message: string } | undefined
    await this.call('POST', path, options, (line) => {
      let value: any
      try {
        value = JSON.parse(line)
      } catch {
        throw new ProvenirError(`POST ${path}: the daemon sent a line that is not JSON`)
      }
      if (value?.event === 'progress') {
        options.onProgress?.(value as P)
      } else if (value?.event === 'done') {
        const { event: _, ...rest } = value
        result = rest as T
      } else if (value?.event === 'error') {
        failure = { name: value.error?.name, message: value.error?.message ?? `POST ${path} failed` }
      }
    })
    if (failure != null) throw await rebuildError(failure.name, failure.message, 500)
    if (result === undefined) throw new ProvenirError(`POST ${path}: the daemon closed the answer without a result; see its log`)
    return result
  }

  /** GET `path` and return the body as text (e.g. `/metrics`) */
  async text (path: string, options: RpcCallOptions = {}): Promise<string> {
    return this.call('GET', path, options)
  }

  private async call (method: string, path: string, options: RpcCallOptions, onLine?: (line: string) => void): Promise<string> {
    const timeoutMs = options.timeout ?? this.timeout
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
    const where = `${this.url}${this.source != null ? ` (from ${this.source})` : ''}`
    let response: IncomingMessage | undefined
    let text: string
    try {
      const headers: Record<string, string> = { accept: 'application/json' }
      const body = options.body !== undefined ? JSON.stringify(options.body) : undefined
      if (body !== undefined) headers['content-type'] = 'application/json'
      const ca = this.address.tls === true ? await (this.cas ??= tlsCas(this.address.caFile)) : undefined
      response = await send(new URL(`${this.url}${path}`), { method, headers, signal, ca }, body)
      text = ok(response) && onLine != null
        ? await readLines(response, RPC_CLIENT_MAX_LINE_BYTES, onLine)
        : await readBounded(response, RPC_CLIENT_MAX_RESPONSE_BYTES)
    } catch (err) {
      if (options.signal?.aborted === true) throw new AbortError(`${method} ${path} was cancelled`, { cause: err })
      if (timeout.aborted) {
        throw new TimeoutError(`the daemon at ${where} did not answer ${method} ${path} within ${timeoutMs} ms; is it overloaded or hung?`, { cause: err })
      }
      const code = networkCode(err)
      if (code != null && TLS_VERIFY_CODES.has(code)) {
        throw new TlsMaterialError(`cannot verify the TLS certificate of the daemon at ${where} (${code}): it is not signed by ${this.address.caFile ?? 'a CA this machine trusts'}, or does not name ${this.address.host}`, { cause: err })
      }
      if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL' || code === 'EPIPE') {
        if (response != null) throw new DaemonNotRunningError(`the daemon at ${where} broke off its answer to ${method} ${path} (${code}); has it stopped? Its log says why`, { cause: err })
        throw new DaemonNotRunningError(`the daemon is not running: nothing answers at ${where} (${code})`, { cause: err })
      }
      throw err
    }
    if (ok(response)) return text

    const status = response.statusCode ?? 0
    let name = 'RpcError'
    let message = `${method} ${path}: HTTP ${status}`
    try {
      const body = JSON.parse(text)
      if (typeof body?.error?.name === 'string') name = body.error.name
      if (typeof body?.error?.message === 'string') message = body.error.message
    } catch {}
    throw await rebuildError(name, message, status)
  }
}

function ok (response: IncomingMessage): boolean {
  const status = response.statusCode ?? 0
  return status >= 200 && status < 300
}

/** The error the daemon named, as its own class when it is a known one */
async function rebuildError (name: unknown, message: string, status: number): Promise<Error> {
  const Known = typeof name === 'string' ? await knownErrorClass(name) : undefined
  if (Known != null) return new Known(message)
  const err = new RpcError(message, status)
  if (typeof name === 'string') err.name = name
  return err
}

/** Read an NDJSON body line by line, each line at most `maxLine` bytes; returns '' */
async function readLines (response: IncomingMessage, maxLine: number, onLine: (line: string) => void): Promise<string> {
  const decoder = new TextDecoder()
  let buffered = ''
  for await (const chunk of response as AsyncIterable<Buffer>) {
    buffered += decoder.decode(chunk, { stream: true })
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line.trim() !== '') onLine(line)
    }
    if (buffered.length > maxLine) throw new ProvenirError(`a line of the daemon's answer is over ${maxLine} bytes`)
  }
  buffered += decoder.decode()
  if (buffered.trim() !== '') onLine(buffered)
  return ''
}
