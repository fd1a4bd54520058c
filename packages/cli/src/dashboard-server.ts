/**
 * The dashboard on the RPC server: the page and its assets at `/` (built by
 * `@provenir/dashboard`, loaded into memory at start, never fetched from a
 * network), and one server-sent-event stream, `GET /api/v0/events`, that
 * ticks with the transfers and a bandwidth sample so the page updates
 * without reload. The stream has a bounded number of subscribers, a
 * heartbeat, and ends when the daemon stops.
 *
 * The page is served from the API's own origin, so the API's guard stays as
 * strict as it is: a request must name a loopback Host, and the only Origin
 * it may carry is the API's own (what a browser sends with the page's POSTs).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loopbackRefusal } from '@provenir/interface'
import {
  DASHBOARD_HEARTBEAT_MS, DASHBOARD_HISTORY_SAMPLES, DASHBOARD_MAX_SUBSCRIBERS, DASHBOARD_TICK_MS, MAX_DASHBOARD_ASSET_BYTES
} from './constants.js'
import { bandwidthSample, markStarted } from './dashboard-routes.js'
import { transfersOf } from './transfers.js'
import type { BandwidthSample } from './dashboard-routes.js'
import type { Logger } from '@libp2p/interface'
import type { ProvenirNode } from '@provenir/node'
import type { FastifyInstance } from 'fastify'
import type { ServerResponse } from 'node:http'

type Headers = Record<string, string | string[] | undefined>

/**
 * The API guard with the page's own origin allowed: a browser sends
 * `Origin` with a same-origin POST, and the page's actions are POSTs. A
 * page on any other origin (another port, another name, a rebound DNS name)
 * differs in scheme, host or port, and is refused as before.
 */
export function apiRefusal (headers: Headers, port: number, tls: boolean): string | undefined {
  const origin = headers.origin
  if (typeof origin === 'string') {
    const host = String(headers.host ?? '').toLowerCase()
    const fetchSite = headers['sec-fetch-site']
    const own = `${tls ? 'https' : 'http'}://${host}`
    if (origin.toLowerCase() === own && (fetchSite == null || fetchSite === 'same-origin')) {
      const { origin: _, ...rest } = headers
      return loopbackRefusal(rest, port)
    }
  }
  return loopbackRefusal(headers, port)
}

interface Asset { type: string, body: Buffer }

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml'
}

/** Where `@provenir/dashboard` put its build, or undefined when it is not built */
function assetDir (): string | undefined {
  try {
    return path.dirname(fileURLToPath(import.meta.resolve('@provenir/dashboard/dist/index.html')))
  } catch {
    return undefined
  }
}

/** The built page's files, by URL path; empty when the dashboard is not built */
export function loadAssets (dir = assetDir()): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  if (dir == null) return assets
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return assets
  }
  for (const name of names) {
    const type = TYPES[path.extname(name)]
    const file = path.join(dir, name)
    if (type == null || !statSync(file).isFile() || statSync(file).size > MAX_DASHBOARD_ASSET_BYTES) continue
    assets.set(name === 'index.html' ? '/' : `/${name}`, { type, body: readFileSync(file) })
  }
  return assets
}

/** No script, style or connection from anywhere but the daemon; never framed */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** Bandwidth history and event-stream subscribers of one RPC server */
class EventHub {
  readonly #node: ProvenirNode
  readonly #log?: Logger
  readonly #subscribers = new Set<ServerResponse>()
  readonly #history: BandwidthSample[] = []
  #tick?: ReturnType<typeof setInterval>
  #heartbeat?: ReturnType<typeof setInterval>

  constructor (node: ProvenirNode, log?: Logger) {
    this.#node = node
    this.#log = log
  }

  /** Add a subscriber; false when there are DASHBOARD_MAX_SUBSCRIBERS already */
  subscribe (res: ServerResponse): boolean {
    if (this.#subscribers.size >= DASHBOARD_MAX_SUBSCRIBERS) return false
    this.#subscribers.add(res)
    res.once('close', () => { this.#unsubscribe(res) })
    this.#send(res, 'history', { samples: this.#history })
    this.#send(res, 'tick', this.#snapshot(this.#sample()))
    if (this.#tick == null) {
      this.#tick = setInterval(() => { this.#broadcast() }, DASHBOARD_TICK_MS)
      this.#heartbeat = setInterval(() => { for (const s of this.#subscribers) s.write(': heartbeat\n\n') }, DASHBOARD_HEARTBEAT_MS)
      this.#tick.unref()
      this.#heartbeat.unref()
    }
    return true
  }

  /** End every stream and stop sampling (the daemon is stopping) */
  close (): void {
    for (const res of this.#subscribers) res.end()
    this.#subscribers.clear()
    this.#stopTimers()
  }

  #unsubscribe (res: ServerResponse): void {
    this.#subscribers.delete(res)
    if (this.#subscribers.size === 0) this.#stopTimers()
  }

  #stopTimers (): void {
    clearInterval(this.#tick)
    clearInterval(this.#heartbeat)
    this.#tick = undefined
    this.#heartbeat = undefined
  }

  #sample (): BandwidthSample {
    const sample = bandwidthSample(this.#node)
    this.#history.push(sample)
    if (this.#history.length > DASHBOARD_HISTORY_SAMPLES) this.#history.shift()
    return sample
  }

  #snapshot (sample: BandwidthSample): object {
    return { sample, transfers: transfersOf(this.#node).list(), connections: this.#node.libp2p.getConnections().length }
  }

  #broadcast (): void {
    try {
      const data = this.#snapshot(this.#sample())
      for (const res of this.#subscribers) this.#send(res, 'tick', data)
    } catch (err) {
      this.#log?.error('the dashboard tick failed - %e', err)
    }
  }

  #send (res: ServerResponse, event: string, data: object): void {
    if (!res.writableEnded && !res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  }
}

export interface DashboardInit {
  node: ProvenirNode
  /** Aborted when the daemon stops: the streams end then */
  closing: AbortSignal
  log?: Logger
}

/** Serve the page at `/` and the event stream at `/api/v0/events` on the RPC server */
export function registerDashboard (fastify: FastifyInstance, init: DashboardInit): void {
  markStarted(init.node)
  const assets = loadAssets()
  const hub = new EventHub(init.node, init.log)
  // the swarm's pulls for registry clients (through the gateway) are transfers too
  const sources = init.node.content?.sources ?? []
  const tracker = transfersOf(init.node)
  for (const source of sources) source.observeFetches?.((digest, reference) => tracker.start(digest, reference, 'gateway'))
  init.closing.addEventListener('abort', () => {
    hub.close()
    for (const source of sources) source.observeFetches?.(undefined)
  }, { once: true })

  for (const [url, asset] of assets) {
    fastify.get(url, async (_request, reply) => {
      reply.header('content-security-policy', CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .type(asset.type)
      return asset.body
    })
  }
  if (!assets.has('/')) {
    fastify.get('/', async (_request, reply) => {
      reply.code(404).type('application/json')
      return { error: { name: 'NotFoundError', message: 'the dashboard is not built (run npm run build)' } }
    })
  }

  fastify.get('/api/v0/events', async (request, reply) => {
    if (init.closing.aborted) {
      reply.code(503).type('application/json')
      return { error: { name: 'UnavailableError', message: 'the daemon is stopping' } }
    }
    const res = reply.raw
    if (!res.headersSent) res.setHeader('x-content-type-options', 'nosniff')
    reply.hijack()
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    // a browser reconnects after this many ms when the stream breaks
    res.write('retry: 3000\n\n')
    if (!hub.subscribe(res)) {
      init.log?.('refused an event stream: %d subscribers already', DASHBOARD_MAX_SUBSCRIBERS)
      res.end(`event: full\ndata: ${JSON.stringify({ error: { name: 'TooManySubscribersError', message: `at most ${DASHBOARD_MAX_SUBSCRIBERS} dashboards may watch at once` } })}\n\n`)
      return undefined
    }
    init.log?.('event stream opened from %s', request.ip)
    return undefined
  })
}
