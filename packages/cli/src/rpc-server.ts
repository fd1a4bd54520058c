import { nodeIdDifficulty } from '@provenir/identity'
import Fastify from 'fastify'
import { register } from 'prom-client'
import { formatApiAddress, parseApiAddress } from './api-address.js'
import { DEFAULT_API, MAX_PEERSTORE_LISTED, RPC_BODY_LIMIT, RPC_HANDLER_TIMEOUT_MS, RPC_KEEP_ALIVE_TIMEOUT_MS, RPC_MAX_PARAM_LENGTH, RPC_REQUEST_TIMEOUT_MS } from './constants.js'
import { CONTENT_ROUTES } from './content-routes.js'
import { STORAGE_ROUTES } from './storage-routes.js'
import { NAMING_ROUTES } from './naming-routes.js'
import { TRUST_ROUTES } from './trust-routes.js'
import { DASHBOARD_ROUTES } from './dashboard-routes.js'
import { apiRefusal, registerDashboard } from './dashboard-server.js'
import { isExpectedError } from './known-errors.js'
import { AbortError, errorMapping, TimeoutError } from '@provenir/interface'
import type { ApiAddress } from './api-address.js'
import type { Naming } from '@provenir/naming'
import type { ComponentLogger, Logger } from '@libp2p/interface'
import type { ProvenirNode } from '@provenir/node'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RequestDone } from '@provenir/gateway'
import type { Registry } from 'prom-client'

/** What a route handler gets */
export interface RpcContext {
  node: ProvenirNode
  /** The Prometheus registry `/metrics` serves */
  registry: Registry
  request: FastifyRequest
  reply: FastifyReply
  /**
   * Aborts (with TimeoutError) when the handler runs over its time, or (with
   * AbortError) when the client goes away: pass it to every network or store call
   */
  signal: AbortSignal
  /** The RPC server's logger, when it has one */
  log?: Logger
  /** The daemon's naming (resolver, publisher, registry), when it runs one */
  naming?: Naming
  /** The daemon runs a private swarm (swarm.key) */
  privateSwarm?: boolean
  /** The registry gateway's base URL, once it listens */
  gatewayUrl?: () => string | undefined
}

/**
 * One RPC route. The server wraps each handler with its timeout, body bound
 * and error mapping, so adding a command to the daemon is adding a route.
 * A handler returns the JSON body (or, having set a content type on
 * `ctx.reply`, a string).
 */
export interface RpcRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  url: string
  /**
   * ms before the server answers 504 and aborts `ctx.signal`
   *
   * @default RPC_HANDLER_TIMEOUT_MS (30 s)
   */
  timeout?: number
  /**
   * Largest request body, in bytes
   *
   * @default RPC_BODY_LIMIT (1 MiB)
   */
  bodyLimit?: number
  handler(ctx: RpcContext): Promise<unknown>
}

/** The JSON body of an error answer */
export interface RpcErrorBody {
  error: { name: string, message: string }
}

/** `GET /api/v0/id` */
export interface IdResponse {
  peerId: string
  /** Leading zero bits of sha256(NodeId) */
  difficulty: number
  /** The swarm difficulty c1 the node enforces */
  swarmDifficulty: number
  /** Addresses the node listens on or announces, each ending in /p2p/<NodeId> */
  addresses: string[]
  protocols: string[]
  /** The registry gateway's base URL (`http://127.0.0.1:5000`), when it runs */
  gateway?: string
}

/** `GET /api/v0/peers` */
export interface PeersResponse {
  peers: Array<{ peerId: string, addrs: string[] }>
}

/** `GET /api/v0/peerstore`: peers the node knows, connected or not (the peer store persists across restarts) */
export interface PeerStoreResponse {
  peers: Array<{ peerId: string, addrs: string[] }>
  /** True when there were more than MAX_PEERSTORE_LISTED */
  truncated: boolean
}

/** `GET /healthz` */
export interface HealthResponse {
  status: 'ok' | 'unavailable'
  peerId: string
}

/** The daemon's routes; pass `[...DEFAULT_ROUTES, ...more]` to `createRpcServer` to add some */
export const DEFAULT_ROUTES: readonly RpcRoute[] = Object.freeze([
  {
    method: 'GET',
    url: '/healthz',
    timeout: 5_000,
    async handler ({ node, reply }): Promise<HealthResponse> {
      const started = node.libp2p.status === 'started'
      if (!started) reply.code(503)
      return { status: started ? 'ok' : 'unavailable', peerId: node.peerId.toString() }
    }
  },
  {
    method: 'GET',
    url: '/metrics',
    async handler ({ registry, reply }): Promise<string> {
      reply.type(registry.contentType)
      return registry.metrics()
    }
  },
  {
    method: 'GET',
    url: '/api/v0/id',
    async handler ({ node, gatewayUrl }): Promise<IdResponse> {
      const gateway = gatewayUrl?.()
      return {
        peerId: node.peerId.toString(),
        difficulty: nodeIdDifficulty(node.peerId),
        swarmDifficulty: node.config.difficulty,
        addresses: node.getMultiaddrs().map(ma => ma.toString()),
        protocols: node.libp2p.getProtocols(),
        ...(gateway != null ? { gateway } : {})
      }
    }
  },
  {
    method: 'GET',
    url: '/api/v0/peers',
    async handler ({ node }): Promise<PeersResponse> {
      const byPeer = new Map<string, Set<string>>()
      for (const conn of node.libp2p.getConnections()) {
        const id = conn.remotePeer.toString()
        let addrs = byPeer.get(id)
        if (addrs == null) {
          addrs = new Set()
          byPeer.set(id, addrs)
        }
        addrs.add(conn.remoteAddr.toString())
      }
      return {
        peers: [...byPeer.entries()]
          .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
          .map(([peerId, addrs]) => ({ peerId, addrs: [...addrs].sort() }))
      }
    }
  },
  {
    method: 'GET',
    url: '/api/v0/peerstore',
    async handler ({ node, signal }): Promise<PeerStoreResponse> {
      const self = node.peerId
      const peers = await node.libp2p.peerStore.all({ filters: [peer => !peer.id.equals(self)], limit: MAX_PEERSTORE_LISTED + 1, signal })
      return {
        peers: peers.slice(0, MAX_PEERSTORE_LISTED)
          .map(peer => ({ peerId: peer.id.toString(), addrs: peer.addresses.map(a => a.multiaddr.toString()).sort() }))
          .sort((a, b) => a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0),
        truncated: peers.length > MAX_PEERSTORE_LISTED
      }
    }
  },
  ...CONTENT_ROUTES,
  ...STORAGE_ROUTES,
  ...TRUST_ROUTES,
  ...NAMING_ROUTES,
  ...DASHBOARD_ROUTES
])

export interface RpcServerInit {
  node: ProvenirNode
  /**
   * Address to bind. Keep it on loopback: anyone who reaches the API can
   * drive the node.
   *
   * @default "127.0.0.1"
   */
  host?: string
  /**
   * Port; 0 picks a free one (read it from `RpcServer.address`)
   *
   * @default 5101
   */
  port?: number
  /** @default DEFAULT_ROUTES */
  routes?: readonly RpcRoute[]
  /** @default prom-client's default registry */
  registry?: Registry
  logger?: ComponentLogger
  /** @default RPC_HANDLER_TIMEOUT_MS */
  handlerTimeout?: number
  /** @default RPC_BODY_LIMIT */
  bodyLimit?: number
  /** Naming for the naming routes and pull by name (the daemon passes `node.naming`) */
  naming?: Naming
  /** Serve TLS with this PEM certificate (chain) and key; plain HTTP without */
  tls?: { cert: string, key: string }
  /** The daemon runs a private swarm (swarm.key): the dashboard shows it */
  privateSwarm?: boolean
  /** The registry gateway's base URL, once it listens (`id` answers it) */
  gatewayUrl?: () => string | undefined
  /** Called once each response is sent: the daemon's request log and metrics (`route` is the route's pattern) */
  onResponse?(info: RequestDone): void
}

export interface RpcServer {
  /** Where the server listens (the real port when 0 was asked for) */
  readonly address: ApiAddress
  /** `http://host:port`, or `https://` with TLS */
  readonly url: string
  /** The server serves TLS */
  readonly tls: boolean
  readonly fastify: FastifyInstance
  /** Stop accepting, cancel in-flight work (handlers' signals abort), let the answers finish, close idle connections */
  close(): Promise<void>
}

/**
 * The signal a handler gets. fastify's `request.signal` aborts on the
 * request's 'close' event, which node emits as soon as a request body has
 * been read, not when the client goes away: a POST handler would see it
 * aborted at once. So keep only its timeout abort, and take "the client went
 * away" from the response closing before it finished.
 */
function handlerSignal (request: FastifyRequest, reply: FastifyReply, closing: AbortSignal): AbortSignal {
  const controller = new AbortController()
  const fastifySignal = request.signal
  const onAbort = (): void => {
    if ((fastifySignal.reason as { code?: string } | undefined)?.code === 'FST_ERR_HANDLER_TIMEOUT') {
      controller.abort(new TimeoutError(`${request.method} ${request.url} took too long`))
    }
  }
  if (fastifySignal.aborted) onAbort()
  else fastifySignal.addEventListener('abort', onAbort, { once: true })
  reply.raw.once('close', () => {
    fastifySignal.removeEventListener('abort', onAbort)
    if (!reply.raw.writableFinished) controller.abort(new AbortError(`${request.method} ${request.url}: the client went away`))
  })
  return AbortSignal.any([controller.signal, closing])
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

function errorBody (name: string, message: string): RpcErrorBody {
  return { error: { name, message } }
}

/**
 * Start the daemon's local RPC API: a fastify server on `host:port` serving
 * `routes`. Every handler has a timeout (504 and an aborted `ctx.signal`
 * when it runs over) and every body a size bound. On loopback, requests
 * whose Host header is not a loopback name, or that carry an Origin header
 * (a browser), are refused, so a web page cannot drive the API through DNS
 * rebinding.
 */
export async function createRpcServer (init: RpcServerInit): Promise<RpcServer> {
  const defaultAddress = parseApiAddress(DEFAULT_API)
  const host = init.host ?? defaultAddress.host
  const port = init.port ?? defaultAddress.port
  const registry = init.registry ?? register
  const log: Logger | undefined = init.logger?.forComponent('provenir:rpc')
  const routes = init.routes ?? DEFAULT_ROUTES

  const fastify = Fastify({
    logger: false,
    ...(init.tls != null ? { https: { cert: init.tls.cert, key: init.tls.key } } : {}),
    bodyLimit: init.bodyLimit ?? RPC_BODY_LIMIT,
    handlerTimeout: init.handlerTimeout ?? RPC_HANDLER_TIMEOUT_MS,
    requestTimeout: RPC_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: RPC_KEEP_ALIVE_TIMEOUT_MS,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { maxParamLength: RPC_MAX_PARAM_LENGTH }
  })

  const onResponse = init.onResponse
  if (onResponse != null) {
    fastify.addHook('onResponse', async (request, reply) => {
      onResponse({ method: request.method, route: request.routeOptions.url ?? 'unknown', status: reply.statusCode, seconds: reply.elapsedTime / 1000, remoteAddress: request.ip })
    })
  }

  let boundPort = port
  // aborted by close(): long work in progress (a pull, an import) is cancelled rather than awaited
  const closing = new AbortController()
  if (LOOPBACK.has(host)) {
    // the same check as the registry gateway's (`@provenir/interface`'s loopbackRefusal), but for
    // the Origin of the API's own page (the dashboard), which a browser sends with the page's POSTs
    fastify.addHook('onRequest', async (request, reply) => {
      const refusal = apiRefusal(request.headers, boundPort, init.tls != null)
      if (refusal != null) {
        log?.('refused %s %s: %s', request.method, request.url, refusal)
        return reply.code(403).send(errorBody('ForbiddenError', `requests must come from this machine (Host must be a loopback address; no Origin header): ${refusal}`))
      }
      return undefined
    })
  }

  fastify.setErrorHandler((err: FastifyError, request, reply) => {
    let status: number
    let body: RpcErrorBody
    const mapped = errorMapping(err)
    if (err.code === 'FST_ERR_HANDLER_TIMEOUT') {
      status = 504
      body = errorBody('TimeoutError', `${request.method} ${request.url} took too long`)
    } else if (mapped != null) {
      // the one table the registry gateway answers with too
      status = mapped.status
      body = errorBody(err.name, err.message)
    } else if (isExpectedError(err)) {
      // a named provenir condition without its own status: still worth passing on
      status = 500
      body = errorBody(err.name, err.message)
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      // fastify's own client errors: body too large, bad JSON, bad content type
      status = err.statusCode
      body = errorBody(err.name === 'FastifyError' ? 'InvalidParametersError' : err.name, err.message)
    } else {
      status = 500
      body = errorBody('InternalError', 'the daemon failed to handle the request; see its log')
    }
    // every error answer is logged with its cause: a 5xx always, the rest at debug level
    if (status >= 500) log?.error('%s %s failed with %d - %e', request.method, request.url, status, err)
    else log?.('%s %s: %d %s - %e', request.method, request.url, status, body.error.name, err)
    reply.code(status).type('application/json').send(body)
  })

  fastify.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody('NotFoundError', `no route ${request.method} ${request.url.split('?')[0]}`))
  })

  for (const route of routes) {
    fastify.route({
      method: route.method,
      url: route.url,
      ...(route.timeout != null ? { handlerTimeout: route.timeout } : {}),
      ...(route.bodyLimit != null ? { bodyLimit: route.bodyLimit } : {}),
      handler: async (request, reply) => route.handler({ node: init.node, registry, request, reply, signal: handlerSignal(request, reply, closing.signal), ...(log != null ? { log } : {}), ...(init.naming != null ? { naming: init.naming } : {}), ...(init.privateSwarm != null ? { privateSwarm: init.privateSwarm } : {}), ...(init.gatewayUrl != null ? { gatewayUrl: init.gatewayUrl } : {}) })
    })
  }
  registerDashboard(fastify as unknown as FastifyInstance, { node: init.node, closing: closing.signal, ...(log != null ? { log } : {}) })

  await fastify.listen({ host, port })
  const info = fastify.server.address()
  if (info == null || typeof info === 'string') {
    await fastify.close()
    throw new Error('the RPC server is not listening on a TCP port')
  }
  boundPort = info.port
  const address: ApiAddress = { host, port: info.port }
  log?.('listening on %s', formatApiAddress(address))

  return {
    address,
    url: `${init.tls != null ? 'https' : 'http'}://${formatApiAddress(address)}`,
    tls: init.tls != null,
    fastify: fastify as unknown as FastifyInstance,
    close: async () => {
      closing.abort(new AbortError('the daemon is shutting down'))
      await fastify.close()
    }
  }
}
