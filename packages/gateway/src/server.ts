/**
 * The gateway's HTTP server: fastify, the checks every request passes
 * (loopback safety, access), the dispatch to the route modules in `routes/`
 * (thin adapters over the node's content service, one per resource, as in
 * distribution's `registry/handlers/`), and the one error answer: every
 * error is mapped by `@provenir/interface`'s `ERROR_TABLE` and logged with
 * its cause. See index.ts for the options and README.md for the routes.
 */

import { dirname, join } from 'node:path'
import Fastify from 'fastify'
import { InvalidConfigError, isLoopbackHost, loopbackRefusal } from '@provenir/interface'
import * as C from './constants.js'
import { OciError, toErrorResponse } from './errors.js'
import { presentedToken, tokenMatches } from './http.js'
import { IdleGuard } from './idle.js'
import { route, routePattern, unmirror } from './router.js'
import { deleteBlob, getBlob } from './routes/blobs.js'
import { catalog } from './routes/catalog.js'
import { deleteManifest, getManifest, putManifest } from './routes/manifests.js'
import { referrers } from './routes/referrers.js'
import { tagsList } from './routes/tags.js'
import { patchUpload, putUpload, startUpload, uploadStatus } from './routes/uploads.js'
import { Uploads } from './uploads.js'
import type { GatewayInit, Gateway } from './index.js'
import type { Route } from './router.js'
import type { RouteContext } from './routes/context.js'
import type { Logger } from '@libp2p/interface'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/** A logger that drops everything (a gateway made without one) */
function silentLogger (): Logger {
  const log = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {} })
  return Object.assign(log, { newScope: () => log }) as unknown as Logger
}

export class GatewayServer implements Gateway {
  readonly #init: GatewayInit
  readonly #ctx: RouteContext
  readonly #uploads: Uploads
  readonly #app: FastifyInstance
  readonly #host: string
  readonly #port: number
  readonly #closing = new AbortController()
  readonly #idle: IdleGuard
  #address?: { host: string, port: number }

  constructor (init: GatewayInit) {
    this.#init = init
    const node = init.node
    if (node?.blockstore == null || node.content == null) throw new InvalidConfigError('the gateway needs a node with a blockstore (createNode with blockstorePath)')
    this.#host = init.host ?? C.DEFAULT_HOST
    this.#port = init.port ?? C.DEFAULT_PORT
    if (!Number.isInteger(this.#port) || this.#port < 0 || this.#port > 65535) throw new InvalidConfigError(`gateway port must be 0-65535, not ${init.port}`)
    if (init.token != null && init.token.length < 16) throw new InvalidConfigError('the gateway token must be at least 16 characters')
    if (init.token == null && !isLoopbackHost(this.#host)) {
      throw new InvalidConfigError(`the gateway refuses to listen on ${this.#host} (beyond loopback) without a token: anyone who can push can make the node sign`)
    }
    if (init.token == null && init.requireTokenOnLoopback === true) throw new InvalidConfigError('requireTokenOnLoopback is set but no token is configured')
    const dataPath = init.dataPath ?? (init.blockstorePath != null ? join(dirname(init.blockstorePath), 'gateway') : undefined)
    if (dataPath == null) throw new InvalidConfigError('the gateway needs a dataPath (or the node\'s blockstorePath) for its staging directory')
    const uploadsPath = init.uploadsPath ?? (init.blockstorePath != null ? join(dirname(init.blockstorePath), 'uploads') : join(dataPath, 'uploads'))
    const maxUploadSize = init.maxUploadSize ?? C.DEFAULT_MAX_UPLOAD_SIZE
    this.#uploads = new Uploads({
      dir: uploadsPath,
      maxSize: maxUploadSize,
      maxConcurrent: init.maxConcurrentUploads ?? C.DEFAULT_MAX_CONCURRENT_UPLOADS,
      timeout: init.uploadTimeout ?? C.DEFAULT_UPLOAD_TIMEOUT,
      sweepInterval: init.sweepInterval ?? C.DEFAULT_SWEEP_INTERVAL,
      store: node.blockstore,
      log: (message) => { this.#ctx.log.error('%s', message) }
    })
    this.#ctx = {
      content: node.content,
      init,
      uploads: this.#uploads,
      store: node.blockstore,
      log: init.logger?.forComponent('provenir:gateway') ?? silentLogger(),
      maxUploadSize,
      pullTimeout: init.pullTimeout ?? C.DEFAULT_PULL_TIMEOUT,
      manifestPullTimeout: init.manifestPullTimeout ?? C.DEFAULT_MANIFEST_PULL_TIMEOUT,
      idleTimeout: init.idleTimeout ?? C.DEFAULT_IDLE_TIMEOUT,
      closing: this.#closing.signal,
      background: new Set(),
      writeAuthorized: (req) => init.token != null && tokenMatches(presentedToken(req.headers.authorization), init.token)
    }
    this.#idle = new IdleGuard(this.#ctx.idleTimeout, this.#ctx.pullTimeout, this.#ctx.log)
    this.#app = this.#build()
    this.#idle.attach(this.#app.server)
  }

  get address (): { host: string, port: number } | undefined {
    return this.#address
  }

  /** @internal the upload sessions, for tests (sweeping) */
  get uploads (): Uploads {
    return this.#uploads
  }

  async listen (): Promise<{ host: string, port: number }> {
    // the node provides the images it holds; the indexes and artifacts here
    void this.#ctx.content.provideHeld().catch((err: Error) => { this.#ctx.log.error('providing the indexes held failed - %e', err) })
    await this.#uploads.start()
    await this.#app.listen({ host: this.#host, port: this.#port })
    const addr = this.#app.server.address()
    if (addr == null || typeof addr === 'string') throw new Error('the gateway has no TCP address')
    this.#address = { host: this.#host, port: addr.port }
    this.#ctx.log('listening on %s:%d%s', this.#host, addr.port, this.#init.tls != null ? ' (TLS)' : '')
    return this.#address
  }

  async close (): Promise<void> {
    await this.#app.close()
    this.#closing.abort(new Error('the gateway is closing'))
    await Promise.allSettled([...this.#ctx.background])
    await this.#uploads.stop()
    this.#address = undefined
  }

  #build (): FastifyInstance {
    const tls = this.#init.tls
    const app = Fastify({
      logger: false,
      ...(tls != null ? { https: { cert: tls.cert, key: tls.key } } : {}),
      exposeHeadRoutes: false,
      requestTimeout: this.#init.requestTimeout ?? C.DEFAULT_REQUEST_TIMEOUT,
      connectionTimeout: this.#ctx.idleTimeout,
      // paths carry repository names with slashes and digests with colons
      routerOptions: { maxParamLength: 1024 }
    }) as unknown as FastifyInstance
    // every body is a raw stream: blobs are never buffered, manifests are read with a cap
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', (_req, payload, done) => { done(null, payload) })
    app.setErrorHandler((err, req, reply) => { this.#answerError(err, req, reply) })
    app.setNotFoundHandler((req, reply) => {
      this.#ctx.log('%s %s: no route', req.method, req.url)
      void reply.code(404).header('Content-Type', 'application/json').send({ errors: [{ code: 'UNSUPPORTED', message: `no route for ${req.method} ${req.url.split('?')[0]}`, detail: null }] })
    })
    app.addHook('onRequest', async (req, reply) => {
      this.#idle.track(req.raw, reply.raw)
      this.#admit(req, reply)
    })
    const onResponse = this.#init.onResponse
    if (onResponse != null) {
      app.addHook('onResponse', async (req, reply) => {
        onResponse({ method: req.method, route: routePattern(req.url), status: reply.statusCode, seconds: reply.elapsedTime / 1000, ...(req.ip != null ? { remoteAddress: req.ip } : {}) })
      })
    }
    app.get(C.TOKEN_PATH, async (req, reply) => { await this.#token(req, reply) })
    const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const r = route(req.url)
      if (r == null) throw new OciError('UNSUPPORTED', 404, `no route for ${req.method} ${req.url.split('?')[0]}`)
      await this.#dispatch(unmirror(r, req, this.#ctx.init.mirrorHost), req, reply)
    }
    for (const method of ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'] as const) {
      app.route({ method, url: '/v2', handler })
      app.route({ method, url: '/v2/*', handler })
    }
    return app
  }

  /** Answers an error with the status and OCI code of the one table, and logs it with its cause */
  #answerError (err: unknown, req: FastifyRequest, reply: FastifyReply): void {
    const { status, headers, body } = toErrorResponse(err)
    if (status >= 500) this.#ctx.log.error('%s %s failed with %d - %e', req.method, req.url, status, err)
    else this.#ctx.log('%s %s: %d %s - %e', req.method, req.url, status, body.errors[0]?.code, err)
    void reply.code(status).headers(headers).header('Content-Type', 'application/json').send(req.method === 'HEAD' ? undefined : body)
  }

  get #readsOpen (): boolean {
    return this.#init.readToken == null && this.#init.protectReads !== true
  }

  #validFor (token: string | undefined, write: boolean): boolean {
    const init = this.#init
    return (init.token != null && tokenMatches(token, init.token)) || (!write && init.readToken != null && tokenMatches(token, init.readToken))
  }

  #challenge (req: FastifyRequest): Record<string, string> {
    return { 'WWW-Authenticate': `Bearer realm="${req.protocol}://${req.headers.host ?? `${this.#host}:${this.#port}`}${C.TOKEN_PATH}",service="${C.AUTH_REALM}"` }
  }

  /**
   * Every request: on loopback, no foreign `Host` and no `Origin` (DNS
   * rebinding, a web page; a CORS preflight is refused too); then access.
   */
  #admit (req: FastifyRequest, reply: FastifyReply): void {
    reply.header('Docker-Distribution-API-Version', 'registry/2.0')
    if (isLoopbackHost(this.#host) && this.#address != null) {
      const refusal = loopbackRefusal(req.headers, this.#address.port)
      if (refusal != null) throw new OciError('DENIED', 403, `${refusal}: this gateway serves only clients on this machine`)
    }
    const path = req.url.split('?')[0]
    if (path === C.TOKEN_PATH) return
    const init = this.#init
    const write = req.method !== 'GET' && req.method !== 'HEAD'
    const token = presentedToken(req.headers.authorization)
    const readsOpen = this.#readsOpen
    const authConfigured = init.token != null || !readsOpen
    // the version check answers 401 when auth is configured and no credentials came, so that
    // clients learn the challenge and send their token (reads stay open to any bearer)
    const ping = path === '/v2' || path === '/v2/'
    const needed = write ? init.token != null : (!readsOpen || (ping && authConfigured && req.headers.authorization == null))
    if (needed && !(readsOpen && !write && req.headers.authorization != null) && !this.#validFor(token, write)) {
      throw new OciError('UNAUTHORIZED', 401, write ? 'push and delete need the gateway token' : 'authentication required', null, this.#challenge(req))
    }
  }

  /**
   * A token endpoint for the Docker token flow, so clients can use the
   * challenge: Basic credentials whose password is a configured token get
   * that token back; anonymous clients get a token good for reads only (when
   * reads are open).
   */
  async #token (req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const given = presentedToken(req.headers.authorization)
    let token: string | undefined
    if (given != null && this.#validFor(given, false)) token = given
    else if (req.headers.authorization == null && this.#readsOpen) token = 'anonymous'
    if (token == null) throw new OciError('UNAUTHORIZED', 401, 'invalid credentials', null, this.#challenge(req))
    await reply.code(200).header('Content-Type', 'application/json').send(Buffer.from(JSON.stringify({ token, access_token: token, expires_in: 3600 })))
  }

  async #dispatch (r: Route, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const m = req.method
    const ctx = this.#ctx
    switch (r.kind) {
      case 'base':
        if (m !== 'GET' && m !== 'HEAD') break
        await reply.code(200).header('Content-Type', 'application/json').send(m === 'HEAD' ? undefined : {}); return
      case 'catalog':
        if (m !== 'GET') break
        await catalog(ctx, req, reply); return
      case 'tags':
        if (m !== 'GET') break
        await tagsList(ctx, r.name, req, reply); return
      case 'manifest':
        if (m === 'GET' || m === 'HEAD') { await getManifest(ctx, r.name, r.reference, req, reply); return }
        if (m === 'PUT') { await putManifest(ctx, r.name, r.reference, req, reply); return }
        if (m === 'DELETE') { await deleteManifest(ctx, r.name, r.reference, reply); return }
        break
      case 'blob':
        if (m === 'GET' || m === 'HEAD') { await getBlob(ctx, r.name, r.digest, req, reply); return }
        if (m === 'DELETE') { await deleteBlob(ctx, r.name, r.digest, reply); return }
        break
      case 'uploads':
        if (m === 'POST') { await startUpload(ctx, r.name, req, reply); return }
        break
      case 'upload':
        if (m === 'GET') { uploadStatus(this.#uploads.get(r.name, r.id), reply, 204); return }
        if (m === 'PATCH') { await patchUpload(ctx, this.#uploads.get(r.name, r.id), req, reply); return }
        if (m === 'PUT') { await putUpload(ctx, this.#uploads.get(r.name, r.id), req, reply); return }
        if (m === 'DELETE') {
          await this.#uploads.remove(this.#uploads.get(r.name, r.id))
          await reply.code(204).send(); return
        }
        break
      case 'referrers':
        if (m !== 'GET') break
        await referrers(ctx, r.name, r.digest, req, reply); return
    }
    throw new OciError('UNSUPPORTED', 405, `${m} is not supported here`)
  }
}
