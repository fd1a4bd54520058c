/**
 * The gateway: fastify routes for the OCI Distribution API over a provenir node.
 * See index.ts for the options and README.md for what is and is not done.
 */

import { createReadStream } from 'node:fs'
import { isIP } from 'node:net'
import type { OutgoingHttpHeaders } from 'node:http'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import Fastify from 'fastify'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { InvalidConfigError, ProvenirError } from '@provenir/interface'
import {
  BufferPool, cidForDigest, computeDigest, exportBlob, getBlockBytes, importBlob, readBlob, parseDigest, parseManifest,
  MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST
} from '@provenir/content'
import * as C from './constants.js'
import { OciError, toErrorResponse } from './errors.js'
import { paginate, parseContentRange, parseN, parseRange, presentedToken, readLimited, slice, tokenMatches, writeReleasing } from './http.js'
import { GatewayState } from './state.js'
import { Uploads, guardingWriter, rangeError, uploadLocation } from './uploads.js'
import { encodeEnvelope, imageSignatureStatement, layerSignatureStatement, parseEnvelope, signStatement, SIGSTORE_BUNDLE_V03_MEDIA_TYPE, toSigstoreBundle } from '@provenir/trust'
import type { GatewayInit, Gateway, GatewayNode, NamedImage } from './index.js'
import type { ManifestEntry } from './state.js'
import type { UploadSession } from './uploads.js'
import type { BlobReader, ContentBlockstore, Digest, ImageIndex, ImageRecord, ImageBlobRecord } from '@provenir/content'
import type { PullReady } from '@provenir/node'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

const MANIFEST_TYPES = new Set([MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST])

/** A pull found an image index (multi-arch) where it looked for an image manifest */
class ImageIndexFound extends Error {
  override name = 'ImageIndexFound'
}

function isLoopback (host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  if (isIP(host) === 6) return host === '::1'
  return false
}

/** A blob the gateway can serve: where its DAG starts and how long it is. */
interface BlobLocation {
  root: CID
  size: number
  /** For a blob of a pull in flight: settles when the pull has checked the whole blob against its digest */
  verified?: Promise<void>
}

/** An image the gateway is pulling through the swarm */
interface InflightPull {
  /** the manifest is in and checked (undefined: the pull finished without saying so) */
  ready: Promise<PullReady | undefined>
  /** the image is recorded */
  done: Promise<void>
  info?: PullReady
  /**
   * Resolves once the pull has checked blob `digest` against its digest
   * under `root`; rejects if the pull fails first, or if the bytes that
   * matched were another root's (the pull fell back to a root another
   * provider named, so what was streamed from `root` is not the blob).
   */
  verified(digest: string, root: CID): Promise<void>
}

/**
 * Yields `source`, holding its last chunk back until the source has ended
 * without error and `done` has resolved. A response's Content-Length is
 * reached only then: a blob that fails its check (in the source, or in
 * `done`) breaks the response short, and the client never holds all of it.
 * When `done` rejects first, the stream breaks at once rather than reading
 * the rest of a blob already known to be bad (the source's reads stop with
 * the response's signal).
 */
async function * withheldEnd (source: AsyncIterable<Uint8Array>, done: Promise<void> = Promise.resolve()): AsyncGenerator<Uint8Array> {
  const failed = done.then(async () => new Promise<never>(() => {}))
  failed.catch(() => {})
  const iterator = source[Symbol.asyncIterator]()
  let held: Uint8Array | undefined
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), failed])
      if (next.done === true) break
      if (held != null) yield held
      held = next.value
    }
  } catch (err) {
    // a read may still be pending: the iterator finishes once it settles
    void Promise.resolve(iterator.return?.()).catch(() => {})
    throw err
  }
  await done
  if (held != null) yield held
}

/** Aborts when the answer is closed: complete, or the client went away */
function closeSignal (reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => { controller.abort(new Error('the response was closed')) })
  return controller.signal
}

type Route =
  { kind: 'base' } |
  { kind: 'catalog' } |
  { kind: 'tags', name: string } |
  { kind: 'manifest', name: string, reference: string } |
  { kind: 'uploads', name: string } |
  { kind: 'upload', name: string, id: string } |
  { kind: 'blob', name: string, digest: string } |
  { kind: 'referrers', name: string, digest: string }

function checkName (name: string): string {
  if (name.length > C.MAX_NAME_LENGTH || !C.NAME_REGEX.test(name)) {
    throw new OciError('NAME_INVALID', 400, `invalid repository name ${JSON.stringify(name)}`, { name })
  }
  return name
}

/** Parses the path after `/v2/` (percent-decoded; `..` and other odd names fail the name grammar). */
function route (url: string): Route | undefined {
  const q = url.indexOf('?')
  let path = q >= 0 ? url.slice(0, q) : url
  if (!path.startsWith('/v2')) return undefined
  path = path.slice(3)
  if (path === '' || path === '/') return { kind: 'base' }
  if (!path.startsWith('/')) return undefined
  try {
    path = decodeURIComponent(path.slice(1))
  } catch {
    throw new OciError('NAME_INVALID', 400, 'malformed percent-encoding in the path')
  }
  if (path === '_catalog') return { kind: 'catalog' }
  let m: RegExpExecArray | null
  if ((m = /^(.+)\/tags\/list$/.exec(path)) != null) return { kind: 'tags', name: checkName(m[1]) }
  if ((m = /^(.+)\/manifests\/([^/]+)$/.exec(path)) != null) return { kind: 'manifest', name: checkName(m[1]), reference: m[2] }
  if ((m = /^(.+)\/blobs\/uploads\/?$/.exec(path)) != null) return { kind: 'uploads', name: checkName(m[1]) }
  if ((m = /^(.+)\/blobs\/uploads\/([^/]+)$/.exec(path)) != null) return { kind: 'upload', name: checkName(m[1]), id: m[2] }
  if ((m = /^(.+)\/blobs\/([^/]+)$/.exec(path)) != null) return { kind: 'blob', name: checkName(m[1]), digest: m[2] }
  if ((m = /^(.+)\/referrers\/([^/]+)$/.exec(path)) != null) return { kind: 'referrers', name: checkName(m[1]), digest: m[2] }
  // a name that cannot be parsed at all (e.g. with `..` segments) is still an invalid name
  if (/\/(manifests|blobs|tags|referrers)\//.test(path) || path.includes('..')) throw new OciError('NAME_INVALID', 400, `invalid repository name in ${JSON.stringify(path)}`)
  return undefined
}

function checkDigest (digest: string): Digest {
  try {
    parseDigest(digest, { allowSha512: false })
  } catch (err: any) {
    throw new OciError('DIGEST_INVALID', 400, err.message, { digest })
  }
  return digest as Digest
}

function query (req: FastifyRequest): Record<string, string | undefined> {
  const q = req.query as Record<string, string | string[] | undefined>
  const out: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(q ?? {})) out[k] = Array.isArray(v) ? v[0] : v
  return out
}

function body (req: FastifyRequest): AsyncIterable<Uint8Array> {
  return (req.body as AsyncIterable<Uint8Array> | undefined) ?? req.raw
}

export class GatewayServer implements Gateway {
  readonly #init: GatewayInit
  readonly #node: GatewayNode
  readonly #store: ContentBlockstore
  readonly #images: ImageIndex
  readonly #state: GatewayState
  readonly #uploads: Uploads
  readonly #app: FastifyInstance
  readonly #host: string
  readonly #port: number
  readonly #maxUploadSize: number
  readonly #pullTimeout: number
  readonly #manifestPullTimeout: number
  readonly #pulls = new Map<string, InflightPull>()
  readonly #afterPush = new Set<Promise<void>>()
  readonly #closing = new AbortController()
  /** The leaf buffers held blobs are served from, shared by every request */
  readonly #buffers = new BufferPool(undefined, C.SERVE_BUFFERS)
  #address?: { host: string, port: number }

  constructor (init: GatewayInit) {
    this.#init = init
    const node = init.node
    if (node?.blockstore == null || node.images == null) throw new InvalidConfigError('the gateway needs a node with a blockstore (createNode with blockstorePath)')
    this.#node = node
    this.#store = node.blockstore
    this.#images = node.images
    this.#host = init.host ?? C.DEFAULT_HOST
    this.#port = init.port ?? C.DEFAULT_PORT
    if (!Number.isInteger(this.#port) || this.#port < 0 || this.#port > 65535) throw new InvalidConfigError(`gateway port must be 0-65535, not ${init.port}`)
    if (init.token != null && init.token.length < 16) throw new InvalidConfigError('the gateway token must be at least 16 characters')
    if (init.token == null && !isLoopback(this.#host)) {
      throw new InvalidConfigError(`the gateway refuses to listen on ${this.#host} (beyond loopback) without a token: anyone who can push can make the node sign`)
    }
    if (init.token == null && init.requireTokenOnLoopback === true) throw new InvalidConfigError('requireTokenOnLoopback is set but no token is configured')
    const dataPath = init.dataPath ?? (init.blockstorePath != null ? join(dirname(init.blockstorePath), 'gateway') : undefined)
    if (dataPath == null) throw new InvalidConfigError('the gateway needs a dataPath (or the node\'s blockstorePath) for its state and staging directory')
    const uploadsPath = init.uploadsPath ?? (init.blockstorePath != null ? join(dirname(init.blockstorePath), 'uploads') : join(dataPath, 'uploads'))
    this.#maxUploadSize = init.maxUploadSize ?? C.DEFAULT_MAX_UPLOAD_SIZE
    this.#pullTimeout = init.pullTimeout ?? C.DEFAULT_PULL_TIMEOUT
    this.#manifestPullTimeout = init.manifestPullTimeout ?? C.DEFAULT_MANIFEST_PULL_TIMEOUT
    this.#state = new GatewayState(dataPath)
    this.#uploads = new Uploads({
      dir: uploadsPath,
      maxSize: this.#maxUploadSize,
      maxConcurrent: init.maxConcurrentUploads ?? C.DEFAULT_MAX_CONCURRENT_UPLOADS,
      timeout: init.uploadTimeout ?? C.DEFAULT_UPLOAD_TIMEOUT,
      sweepInterval: init.sweepInterval ?? C.DEFAULT_SWEEP_INTERVAL,
      store: this.#store,
      ...(init.log != null ? { log: init.log } : {})
    })
    this.#app = this.#build()
  }

  get address (): { host: string, port: number } | undefined {
    return this.#address
  }

  /** @internal the upload sessions, for tests (sweeping) */
  get uploads (): Uploads {
    return this.#uploads
  }

  async listen (): Promise<{ host: string, port: number }> {
    await this.#state.open()
    // the node provides the images it holds; the indexes it holds are the gateway's
    for (const [, m] of this.#state.manifests()) {
      if (m.kind === 'index') this.#node.provide(CID.parse(m.root))
    }
    await this.#uploads.start()
    await this.#app.listen({ host: this.#host, port: this.#port })
    const addr = this.#app.server.address()
    if (addr == null || typeof addr === 'string') throw new Error('the gateway has no TCP address')
    this.#address = { host: this.#host, port: addr.port }
    return this.#address
  }

  async close (): Promise<void> {
    await this.#app.close()
    this.#closing.abort(new Error('the gateway is closing'))
    await Promise.allSettled([...this.#afterPush])
    await this.#uploads.stop()
    this.#address = undefined
  }

  #build (): FastifyInstance {
    const init = this.#init
    const app = Fastify({
      logger: false,
      exposeHeadRoutes: false,
      requestTimeout: init.requestTimeout ?? C.DEFAULT_REQUEST_TIMEOUT,
      connectionTimeout: init.idleTimeout ?? C.DEFAULT_IDLE_TIMEOUT,
      // paths carry repository names with slashes and digests with colons
      routerOptions: { maxParamLength: 1024 }
    })
    // every body is a raw stream: blobs are never buffered, manifests are read with a cap
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', (_req, payload, done) => { done(null, payload) })

    app.setErrorHandler((err, req, reply) => {
      const { status, headers, body } = toErrorResponse(err)
      if (status === 500) init.log?.(`gateway: ${req.method} ${req.url} failed: ${(err as Error)?.stack ?? String(err)}`)
      void reply.code(status).headers(headers).header('Content-Type', 'application/json').send(req.method === 'HEAD' ? undefined : body)
    })
    app.setNotFoundHandler((req, reply) => {
      void reply.code(404).header('Content-Type', 'application/json').send({ errors: [{ code: 'UNSUPPORTED', message: `no route for ${req.method} ${req.url.split('?')[0]}`, detail: null }] })
    })

    const challenge = (req: FastifyRequest): Record<string, string> => ({
      'WWW-Authenticate': `Bearer realm="${req.protocol}://${req.headers.host ?? `${this.#host}:${this.#port}`}${C.TOKEN_PATH}",service="${C.AUTH_REALM}"`
    })
    const readsOpen = init.readToken == null && init.protectReads !== true
    const authConfigured = init.token != null || !readsOpen
    const validFor = (token: string | undefined, write: boolean): boolean =>
      (init.token != null && tokenMatches(token, init.token)) || (!write && init.readToken != null && tokenMatches(token, init.readToken))

    app.addHook('onRequest', async (req, reply) => {
      reply.header('Docker-Distribution-API-Version', 'registry/2.0')
      const path = req.url.split('?')[0]
      if (path === C.TOKEN_PATH) return
      const write = req.method !== 'GET' && req.method !== 'HEAD'
      const token = presentedToken(req.headers.authorization)
      // the version check answers 401 when auth is configured and no credentials came, so that
      // clients learn the challenge and send their token (reads stay open to any bearer)
      const ping = path === '/v2' || path === '/v2/'
      const needed = write ? init.token != null : (!readsOpen || (ping && authConfigured && req.headers.authorization == null))
      if (needed && !(readsOpen && !write && req.headers.authorization != null) && !validFor(token, write)) {
        throw new OciError('UNAUTHORIZED', 401, write ? 'push and delete need the gateway token' : 'authentication required', null, challenge(req))
      }
    })

    // A token endpoint for the Docker token flow, so clients can use the challenge: Basic
    // credentials whose password is a configured token get that token back; anonymous
    // clients get a token good for reads only (when reads are open).
    app.get(C.TOKEN_PATH, async (req, reply) => {
      const given = presentedToken(req.headers.authorization)
      let token: string | undefined
      if (given != null && validFor(given, false)) token = given
      else if (req.headers.authorization == null && readsOpen) token = 'anonymous'
      if (token == null) throw new OciError('UNAUTHORIZED', 401, 'invalid credentials', null, challenge(req))
      await reply.code(200).header('Content-Type', 'application/json').send(Buffer.from(JSON.stringify({ token, access_token: token, expires_in: 3600 })))
    })

    const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const r = route(req.url)
      if (r == null) {
        throw new OciError('UNSUPPORTED', 404, `no route for ${req.method} ${req.url.split('?')[0]}`)
      }
      await this.#dispatch(r, req, reply)
    }
    for (const method of ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'] as const) {
      app.route({ method, url: '/v2', handler })
      app.route({ method, url: '/v2/*', handler })
    }
    return app
  }

  async #dispatch (r: Route, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const m = req.method
    switch (r.kind) {
      case 'base':
        if (m !== 'GET' && m !== 'HEAD') break
        await reply.code(200).header('Content-Type', 'application/json').send(m === 'HEAD' ? undefined : {}); return
      case 'catalog':
        if (m !== 'GET') break
        await this.#catalog(req, reply); return
      case 'tags':
        if (m !== 'GET') break
        await this.#tagsList(r.name, req, reply); return
      case 'manifest':
        if (m === 'GET' || m === 'HEAD') { await this.#getManifest(r.name, r.reference, req, reply); return }
        if (m === 'PUT') { await this.#putManifest(r.name, r.reference, req, reply); return }
        if (m === 'DELETE') { await this.#deleteManifest(r.name, r.reference, reply); return }
        break
      case 'blob':
        if (m === 'GET' || m === 'HEAD') { await this.#getBlob(r.digest, req, reply); return }
        if (m === 'DELETE') { await this.#deleteBlob(r.digest, reply); return }
        break
      case 'uploads':
        if (m === 'POST') { await this.#startUpload(r.name, req, reply); return }
        break
      case 'upload':
        if (m === 'GET') { this.#uploadStatus(this.#uploads.get(r.name, r.id), reply, 204); return }
        if (m === 'PATCH') { await this.#patchUpload(this.#uploads.get(r.name, r.id), req, reply); return }
        if (m === 'PUT') { await this.#putUpload(this.#uploads.get(r.name, r.id), req, reply); return }
        if (m === 'DELETE') {
          await this.#uploads.remove(this.#uploads.get(r.name, r.id))
          await reply.code(204).send(); return
        }
        break
      case 'referrers':
        if (m !== 'GET') break
        await this.#referrers(r.digest, req, reply); return
    }
    throw new OciError('UNSUPPORTED', 405, `${m} is not supported here`)
  }

  // ---- listing ----

  async #catalog (req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const q = query(req)
    const n = parseN(q.n, C.MAX_PAGE_SIZE) ?? C.DEFAULT_PAGE_SIZE
    const { page, more } = paginate(this.#state.repos(), n, q.last)
    if (more && page.length > 0) reply.header('Link', `</v2/_catalog?n=${n}&last=${encodeURIComponent(page[page.length - 1])}>; rel="next"`)
    await reply.code(200).header('Content-Type', 'application/json').send({ repositories: page })
  }

  async #tagsList (name: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const tags = this.#state.tags(name)
    if (tags == null) throw new OciError('NAME_UNKNOWN', 404, `repository ${name} is not known to this gateway`, { name })
    const q = query(req)
    const n = parseN(q.n, C.MAX_PAGE_SIZE)
    const { page, more } = paginate(tags, n, q.last)
    if (more && page.length > 0 && n != null) {
      reply.header('Link', `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(page[page.length - 1])}>; rel="next"`)
    }
    await reply.code(200).header('Content-Type', 'application/json').send({ name, tags: page })
  }

  // ---- manifests ----

  /** A manifest held: from the gateway's table, or an image record (e.g. pulled). */
  async #findManifest (digest: string): Promise<{ mediaType: string, size: number, root: CID } | undefined> {
    const entry = this.#state.manifest(digest)
    if (entry != null) return { mediaType: entry.mediaType, size: entry.size, root: CID.parse(entry.root) }
    const record = await this.#images.get(digest)
    if (record != null) return { mediaType: record.mediaType, size: record.blobs[0].size, root: CID.parse(record.blobs[0].root) }
    return undefined
  }

  /**
   * A tag given to an image outside the gateway (an import from an OCI layout
   * or docker-archive): the image record's tags, as `<repo>:<tag>` (also with
   * the `docker.io/` and `docker.io/library/` prefixes docker-archive tags get),
   * for repository names the gateway has no entry of its own for.
   */
  async #imageTag (name: string, tag: string): Promise<Digest | undefined> {
    // the gateway's own repositories are authoritative (a deleted tag stays deleted)
    if (this.#state.hasRepo(name)) return undefined
    const wanted = new Set([`${name}:${tag}`, `docker.io/${name}:${tag}`, `docker.io/library/${name}:${tag}`])
    for await (const record of this.#images.ls()) {
      if (record.tags?.some(t => wanted.has(t)) === true) return record.manifestDigest
    }
    return undefined
  }

  /**
   * Pulls an image from the swarm once, however many requests ask for it at
   * once. The entry's `ready` resolves as soon as the manifest is in, its
   * statements fetched and the trust policy passed (before the blobs), so the
   * manifest can be answered and blobs streamed while they arrive; `done`
   * when the whole image is recorded.
   */
  #pull (digest: string, reference?: string, record?: ImageRecord): InflightPull {
    let entry = this.#pulls.get(digest)
    if (entry != null) return entry
    // two bounds: the whole pull, and finding the manifest (no provider answers for an unknown digest)
    const found = new AbortController()
    const timer = setTimeout(() => { found.abort(new OciError('MANIFEST_UNKNOWN', 404, `no provider delivered manifest ${digest} within ${this.#manifestPullTimeout} ms`, { digest })) }, this.#manifestPullTimeout)
    const signal = AbortSignal.any([AbortSignal.timeout(this.#pullTimeout), found.signal])
    const ready = Promise.withResolvers<PullReady | undefined>()
    ready.promise.catch(() => {})
    // each blob's digest check by the pull (resolving with the root that passed), which a blob
    // streamed meanwhile waits for
    const checked = new Map<string, PromiseWithResolvers<string | undefined>>()
    // the root each completed blob passed under
    const passed = new Map<string, string>()
    // how the pull ended, for a check asked for after that
    let ended: { ok: true } | { ok: false, err: unknown } | undefined
    const checkOf = (blob: string): PromiseWithResolvers<string | undefined> => {
      let check = checked.get(blob)
      if (check == null) {
        check = Promise.withResolvers<string | undefined>()
        check.promise.catch(() => {})
        checked.set(blob, check)
        if (passed.has(blob)) check.resolve(passed.get(blob))
        else if (ended?.ok === true) check.resolve(undefined)
        else if (ended != null) check.reject(ended.err)
      }
      return check
    }
    const pending: InflightPull = {
      ready: ready.promise,
      verified: async (blob, root) => {
        // undefined only for a blob the image does not have (the pull completed without it)
        const good = await checkOf(blob).promise
        if (good !== root.toString()) {
          throw new OciError('BLOB_UNKNOWN', 404, `blob ${blob} did not match its digest under root ${root.toString()}; the pull took another provider's root (ask again)`, { digest: blob })
        }
      },
      done: this.#node.pull(digest, {
        signal,
        // the client reads each blob in order while it arrives
        sequential: true,
        // the trust policy's rule is chosen by the repository name asked for
        ...(reference != null ? { reference } : {}),
        ...(record != null ? { record } : {}),
        onProgress: (event) => {
          if (event.type === 'pull:ready') {
            clearTimeout(timer)
            pending.info = event.detail
            ready.resolve(event.detail)
          } else if (event.type === 'pull:blob-complete') {
            passed.set(event.detail.digest, event.detail.root)
            checkOf(event.detail.digest).resolve(event.detail.root)
          }
        }
      }).then(() => {
        ready.resolve(undefined)
        // a pull completes only once every blob of the image has been checked
        ended = { ok: true }
        for (const check of checked.values()) check.resolve(undefined)
      }, (err: unknown) => {
        let out = err
        if (found.signal.aborted) {
          out = found.signal.reason
        } else if ((err as Error)?.name === 'UnsupportedMediaTypeError') {
          // node.pull fetches single-platform images: the index itself is fetched by #pullIndex
          out = new ImageIndexFound(`${digest} is an image index`)
        }
        ready.reject(out)
        ended = { ok: false, err: out }
        for (const check of checked.values()) check.reject(out)
        throw out
      }).finally(() => {
        clearTimeout(timer)
        this.#pulls.delete(digest)
      })
    }
    pending.done.catch(() => {})
    void this.#failFastWithoutProviders(digest, pending, found, signal)
    entry = pending
    this.#pulls.set(digest, entry)
    return entry
  }

  /**
   * Fetches an image index (multi-arch) from the swarm: its one block,
   * checked against the digest, then pinned, recorded and provided like a
   * pushed index. The images it lists are pulled (and checked against the
   * trust policy, under the repository asked for) when a client asks for
   * them by digest, as a client does after reading the index.
   */
  async #pullIndex (digest: string): Promise<void> {
    const cid = cidForDigest(digest)
    const release = this.#store.guard([cid])
    try {
      const signal = AbortSignal.timeout(this.#manifestPullTimeout)
      // the failed image pull fetched the block already, unless a gc() took it since
      if (!await this.#store.has(cid, { signal })) await this.#node.bitswap.want(cid, { signal })
      const bytes = await getBlockBytes(this.#store, cid, { signal, max: C.MAX_MANIFEST_SIZE })
      const parsed = parseManifest(bytes, { expectedDigest: digest })
      if (parsed.kind !== 'index') throw new OciError('MANIFEST_UNKNOWN', 404, `${digest} from the swarm is not an image index`, { digest })
      await this.#store.pins.pin([cid])
      const entry: ManifestEntry = { mediaType: parsed.mediaType, size: bytes.byteLength, root: cid.toString(), kind: 'index', blocks: [cid.toString()] }
      if (parsed.index.subject != null) entry.subject = parsed.index.subject.digest
      if (parsed.index.artifactType != null) entry.artifactType = parsed.index.artifactType
      if (parsed.index.annotations != null) entry.annotations = parsed.index.annotations
      await this.#state.update(state => { state.manifests[digest] = entry })
      this.#node.provide(cid)
    } finally {
      release()
    }
  }

  /**
   * An unknown digest should not hold a client for the whole manifest
   * timeout: when a DHT lookup of the manifest completes without naming any
   * provider (and the manifest is not already here), or when the node has no
   * DHT peers at all, the pull is stopped with MANIFEST_UNKNOWN. A lookup that runs out of time stops nothing.
   */
  async #failFastWithoutProviders (digest: string, pull: InflightPull, found: AbortController, signal: AbortSignal): Promise<void> {
    try {
      const cid = cidForDigest(digest)
      if (await this.#store.has(cid)) return
      if (this.#node.routingTableSize() === 0) {
        // kad-dht waits for peers that may never come: with none, nothing can be found
        found.abort(new OciError('MANIFEST_UNKNOWN', 404, `no provider of manifest ${digest} in the swarm (this node has no DHT peers)`, { digest }))
        return
      }
      const lookup = AbortSignal.any([signal, AbortSignal.timeout(this.#manifestPullTimeout)])
      for await (const _ of this.#node.findProviders(cid, { signal: lookup })) return
      // the pull may have the manifest by now (from a peer the lookup did not name)
      if (await this.#store.has(cid)) return
      if (pull.info == null && !found.signal.aborted && !lookup.aborted) {
        found.abort(new OciError('MANIFEST_UNKNOWN', 404, `no provider of manifest ${digest} in the swarm`, { digest }))
      }
    } catch {
      // the lookup failed or ran out of time: the pull's own bounds apply
    }
  }

  /**
   * A blob of an image being pulled whose DAG root is known: it can be
   * streamed while the swarm delivers it. Waits until the pulls in flight
   * are ready (their manifests in and checked).
   */
  async #inflightBlob (digest: string): Promise<BlobLocation | undefined> {
    for (const entry of [...this.#pulls.values()]) {
      const info = await entry.ready.catch(() => undefined)
      const blob = info?.blobs.find(b => b.digest === digest && b.root != null)
      if (blob == null) continue
      const root = CID.parse(blob.root!)
      const verified = entry.verified(digest, root)
      // awaited once the stream has sent all but its last chunk: a pull that
      // fails before then must not be an unhandled rejection meanwhile
      verified.catch(() => {})
      return { root, size: blob.size, verified }
    }
    return undefined
  }

  /**
   * A reader over the node's blockstore that asks bitswap for a block it does
   * not hold yet (bitswap checks it against its CID and stores it). The
   * exporter reads a blob's leaves in order, a few ahead, so a blob streams to
   * the client while it arrives, beside the pull fetching the same blocks.
   */
  #fetchingReader (signal: AbortSignal): BlobReader {
    const store = this.#store
    const bitswap = this.#node.bitswap
    return {
      get: (cid, options) => (async function * () {
        if (!await store.has(cid)) await bitswap.want(cid, { signal })
        yield * store.get(cid, { ...options, signal })
      })()
    }
  }

  /** A name resolved through naming, or undefined; naming's "not found" errors are MANIFEST_UNKNOWN */
  async #resolveName (name: string, tag: string): Promise<NamedImage | undefined> {
    if (this.#init.resolveName == null) return undefined
    try {
      return await this.#init.resolveName(name, tag, { signal: AbortSignal.timeout(this.#manifestPullTimeout) })
    } catch (err: any) {
      if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
        throw new OciError('MANIFEST_UNKNOWN', 404, `${name}:${tag} did not resolve within ${this.#manifestPullTimeout} ms`, { name, tag })
      }
      // any of naming's own errors (not found, a bad binding or record, a DNS failure) means this
      // name names nothing here; anything else is a bug and stays a 500
      if (err instanceof ProvenirError) {
        throw new OciError('MANIFEST_UNKNOWN', 404, `${name}:${tag}: ${err.message}`, { name, tag })
      }
      throw err
    }
  }

  async #getManifest (name: string, reference: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    let digest: string
    let named: NamedImage | undefined
    if (reference.includes(':')) {
      digest = checkDigest(reference)
    } else {
      if (!C.TAG_REGEX.test(reference)) throw new OciError('MANIFEST_INVALID', 400, `invalid tag ${JSON.stringify(reference)}`, { tag: reference })
      const d = this.#state.tag(name, reference) ?? await this.#imageTag(name, reference)
      if (d != null) {
        digest = d
      } else {
        // a tag this node never saw: ask naming (a signed repository document names the digest)
        named = await this.#resolveName(name, reference)
        if (named == null) throw new OciError('MANIFEST_UNKNOWN', 404, `no tag ${reference} in ${name} on this node`, { name, tag: reference })
        digest = checkDigest(named.manifestDigest)
      }
    }
    let found = await this.#findManifest(digest)
    if (found == null) {
      // nothing goes to the client while the swarm delivers the manifest: lift the idle timeout meanwhile
      const socket = req.raw.socket
      socket.setTimeout(0)
      let info: PullReady | undefined
      try {
        info = await this.#pull(digest, named?.reference ?? (reference.includes(':') ? `${name}@${digest}` : `${name}:${reference}`), named?.record).ready
      } catch (err) {
        if (!(err instanceof ImageIndexFound)) throw err
        // a multi-arch image: its index now, each platform's image when a client asks for it
        await this.#pullIndex(digest)
      } finally {
        socket.setTimeout(this.#init.idleTimeout ?? C.DEFAULT_IDLE_TIMEOUT)
      }
      // answered as soon as the manifest is checked; the blobs follow while the pull goes on
      found = await this.#findManifest(digest) ??
        (info != null ? { mediaType: info.mediaType, size: info.manifest.size, root: CID.parse(info.manifest.root) } : undefined)
      if (found == null) throw new OciError('MANIFEST_UNKNOWN', 404, undefined, { digest })
      // the repository is now known here (with no tags until naming resolves them)
      if (!this.#state.hasRepo(name)) await this.#state.update(state => { state.repos[name] ??= { tags: {} } })
    }
    const accept = String(req.headers.accept ?? '')
    if (accept !== '' && !acceptable(accept, found.mediaType)) {
      throw new OciError('MANIFEST_UNKNOWN', 404, `the manifest is ${found.mediaType}, which the Accept header does not list`, { digest, mediaType: found.mediaType })
    }
    reply.code(200).headers({
      'Content-Type': found.mediaType,
      'Docker-Content-Digest': digest,
      'Content-Length': String(found.size),
      ETag: `"${digest}"`
    })
    if (req.method === 'HEAD') { await reply.send(); return }
    const bytes = await readLimited(exportBlob(found.root, this.#store, { expectedDigest: digest }), C.MAX_MANIFEST_SIZE, () => new OciError('MANIFEST_INVALID', 500, 'stored manifest too large'))
    await reply.send(bytes)
  }

  async #putManifest (name: string, reference: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const byDigest = reference.includes(':')
    if (byDigest) checkDigest(reference)
    else if (!C.TAG_REGEX.test(reference)) throw new OciError('MANIFEST_INVALID', 400, `invalid tag ${JSON.stringify(reference)}`, { tag: reference })
    const tooLarge = (): OciError => new OciError('MANIFEST_INVALID', 413, `a manifest may be at most ${C.MAX_MANIFEST_SIZE} bytes`, { limit: C.MAX_MANIFEST_SIZE })
    const declared = Number(req.headers['content-length'] ?? NaN)
    if (declared > C.MAX_MANIFEST_SIZE) throw tooLarge()
    const bytes = await readLimited(body(req), C.MAX_MANIFEST_SIZE, tooLarge)
    const contentType = req.headers['content-type']?.split(';')[0].trim()
    if (contentType != null && contentType !== '' && !MANIFEST_TYPES.has(contentType)) {
      throw new OciError('MANIFEST_INVALID', 400, `unsupported manifest media type ${contentType}`, { mediaType: contentType })
    }
    const parsed = parseManifest(bytes, {
      ...(byDigest ? { expectedDigest: reference } : {}),
      ...(contentType != null && contentType !== '' ? { mediaType: contentType } : {})
    })
    const digest = byDigest ? reference as Digest : parsed.digest

    // every referenced blob (or manifest, for an index) must be here; nothing is stored otherwise
    const missing: string[] = []
    const blobs: ImageBlobRecord[] = []
    if (parsed.kind === 'manifest') {
      for (const d of [parsed.manifest.config, ...parsed.manifest.layers]) {
        const loc = await this.#findBlob(d.digest)
        if (loc == null) { missing.push(d.digest); continue }
        if (loc.size !== d.size) throw new OciError('SIZE_INVALID', 400, `blob ${d.digest} is ${loc.size} bytes, the manifest says ${d.size}`, { digest: d.digest })
        blobs.push({ digest: d.digest, size: d.size, root: loc.root.toString(), mediaType: d.mediaType })
      }
    } else {
      for (const d of parsed.index.manifests) {
        if (await this.#findManifest(d.digest) == null) missing.push(d.digest)
      }
    }
    if (missing.length > 0) {
      throw new OciError('MANIFEST_BLOB_UNKNOWN', 400, `the manifest references ${missing.length} unknown blob(s): ${missing.join(', ')}`, { digest: missing[0], digests: missing })
    }

    const doc = parsed.kind === 'manifest' ? parsed.manifest : parsed.index
    let pushedTag: string | undefined
    // the manifest's block is guarded from gc() until the record or its pin holds it
    const releases: Array<() => void> = []
    const imported = await importBlob([bytes], guardingWriter(this.#store, releases), { expectedDigest: digest, size: bytes.byteLength })
      .catch((err: Error) => { for (const release of releases) release(); throw err })
    const entry: ManifestEntry = { mediaType: parsed.mediaType, size: bytes.byteLength, root: imported.root.toString(), kind: parsed.kind }
    if (doc.subject != null) entry.subject = doc.subject.digest
    const artifactType = doc.artifactType ?? (parsed.kind === 'manifest' ? parsed.manifest.config.mediaType : undefined)
    if (artifactType != null) entry.artifactType = artifactType
    if (doc.annotations != null) entry.annotations = doc.annotations
    try {
      if (parsed.kind === 'manifest') {
        const blocks: CID[] = [...imported.blocks]
        for (const b of blobs) blocks.push(...await this.#blocksOf(b.digest, CID.parse(b.root)))
        const record: ImageRecord = {
          manifestDigest: digest,
          mediaType: parsed.mediaType,
          ...(byDigest ? {} : { tags: [`${name}:${reference}`] }),
          blobs: [{ digest, size: bytes.byteLength, root: imported.root.toString(), mediaType: parsed.mediaType }, ...blobs]
        }
        await this.#images.add(record, blocks)
        if (!byDigest && this.#init.signer != null) await this.#sign(name, digest, parsed.manifest.layers.map(l => l.digest))
        pushedTag = byDigest ? undefined : reference
      } else {
        await this.#store.pins.pin(imported.blocks)
        entry.blocks = imported.blocks.map(c => c.toString())
        // its images are provided as they are pushed; the index itself here
        this.#node.provide(imported.root)
      }
    } finally {
      for (const release of releases) release()
    }
    await this.#state.update(state => {
      state.manifests[digest] = entry
      const repo = state.repos[name] ?? (state.repos[name] = { tags: {} })
      if (!byDigest) repo.tags[reference] = digest
    })
    if (parsed.kind === 'manifest') {
      await this.#node.provideImage(digest).catch((err: Error) => { this.#init.log?.(`gateway: providing ${digest} failed: ${err.message}`) })
      if (pushedTag != null && this.#init.onPushed != null) {
        // in the background: a push does not wait on the DHT (publishing can take seconds, or
        // run out of time on a node without peers); close() stops and awaits it
        const tag = pushedTag
        const after = this.#init.onPushed(name, tag, digest, { signal: this.#closing.signal })
          .catch((err: Error) => { this.#init.log?.(`gateway: after the push of ${name}:${tag}: ${err.message}`) })
          .finally(() => { this.#afterPush.delete(after) })
        this.#afterPush.add(after)
      }
    }
    reply.code(201).headers({ Location: `/v2/${name}/manifests/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' })
    if (doc.subject != null) reply.header('OCI-Subject', doc.subject.digest)
    await reply.send()
  }

  /**
   * Sign a pushed image with the gateway's namespace key: an image signature
   * over the manifest and, when it has layers, a layer signature over all of
   * them, both naming the repository. Stored as the image's statements.
   */
  async #sign (name: string, digest: string, layers: string[]): Promise<void> {
    const signer = this.#init.signer!
    const statements = [await signStatement(imageSignatureStatement(digest, { repository: name }), signer)]
    if (layers.length > 0) statements.push(await signStatement(layerSignatureStatement([...new Set(layers)], { source: name }), signer))
    await this.#node.addStatements(digest, statements.map(encodeEnvelope))
  }

  async #deleteManifest (name: string, reference: string, reply: FastifyReply): Promise<void> {
    if (!reference.includes(':')) {
      // a tag: only the tag goes
      if (this.#state.tag(name, reference) == null) throw new OciError('MANIFEST_UNKNOWN', 404, `no tag ${reference} in ${name}`, { name, tag: reference })
      await this.#state.update(state => { delete state.repos[name].tags[reference] })
      await reply.code(202).send(); return
    }
    const digest = checkDigest(reference)
    const entry = this.#state.manifest(digest)
    const inImages = await this.#images.has(digest)
    if (entry == null && !inImages) throw new OciError('MANIFEST_UNKNOWN', 404, undefined, { digest })
    await this.#state.update(state => {
      delete state.manifests[digest]
      for (const repo of Object.values(state.repos)) {
        for (const [tag, d] of Object.entries(repo.tags)) if (d === digest) delete repo.tags[tag]
      }
    })
    if (inImages) await this.#images.remove(digest)
    if (entry?.blocks != null) await this.#unpinUnshared(entry.blocks.map(s => CID.parse(s)))
    await reply.code(202).send()
  }

  // ---- blobs ----

  /** A blob held: uploaded through the gateway, part of an image, or a manifest; its root must be in the store. */
  async #findBlob (digest: string): Promise<BlobLocation | undefined> {
    let loc: BlobLocation | undefined
    const uploaded = this.#state.blob(digest)
    if (uploaded != null) loc = { root: CID.parse(uploaded.root), size: uploaded.size }
    if (loc == null) {
      const rec = await this.#images.getBlob(digest)
      if (rec != null) loc = { root: CID.parse(rec.root), size: rec.size }
    }
    if (loc == null) {
      const m = this.#state.manifest(digest)
      if (m != null) loc = { root: CID.parse(m.root), size: m.size }
    }
    if (loc == null || !(await this.#store.has(loc.root))) return undefined
    return loc
  }

  /** Every block of a blob: one raw block, the list kept at upload, or (for an image's blob) the blocks of an image that holds it. */
  async #blocksOf (digest: string, root: CID): Promise<CID[]> {
    if (root.code === raw.code) return [root]
    const uploaded = this.#state.blob(digest)
    if (uploaded != null) return uploaded.blocks.map(s => CID.parse(s))
    for await (const record of this.#images.ls()) {
      if (record.blobs.some(b => b.digest === digest)) return (await this.#images.blocks(record.manifestDigest)) ?? [root]
    }
    return [root]
  }

  async #getBlob (digestParam: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const digest = checkDigest(digestParam)
    let loc = await this.#findBlob(digest)
    let streaming = false
    if (loc == null && this.#pulls.size > 0) {
      // an image being pulled may hold it: stream it as it arrives when its root is known,
      // else wait for the pulls in flight and look again
      loc = await this.#inflightBlob(digest)
      streaming = loc != null
      if (loc == null) {
        await Promise.allSettled([...this.#pulls.values()].map(async p => p.done))
        loc = await this.#findBlob(digest)
      }
    }
    if (loc == null) throw new OciError('BLOB_UNKNOWN', 404, undefined, { digest })
    const range = parseRange(req.headers.range, loc.size)
    reply.headers({
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': digest,
      'Accept-Ranges': 'bytes',
      ETag: `"${digest}"`,
      'Cache-Control': 'max-age=31536000'
    })
    const start = range?.start ?? 0
    const length = range != null ? range.end - range.start + 1 : loc.size
    reply.code(range != null ? 206 : 200).header('Content-Length', String(length))
    if (range != null) reply.header('Content-Range', `bytes ${range.start}-${range.end}/${loc.size}`)
    if (req.method === 'HEAD') { await reply.send(); return }
    let source: AsyncIterable<Uint8Array>
    if (streaming) {
      // fetched as it streams: every block is checked against its CID by bitswap as it arrives (so
      // it is not hashed again when read back), and the response's last bytes go only once the pull
      // has checked the whole blob against its digest (the same root, so the same bytes); a mismatch,
      // or a pull that fails first, breaks the response short
      const signal = AbortSignal.any([AbortSignal.timeout(this.#pullTimeout), closeSignal(reply)])
      // a check that fails before the first byte is sent answers 404, not the pull's own error
      const verified = loc.verified?.catch((err: Error) => {
        throw err instanceof OciError ? err : new OciError('BLOB_UNKNOWN', 404, `blob ${digest} from the swarm failed: ${err.message}`, { digest })
      })
      // the leaves straight from the store as they arrive, in order (not through the exporter,
      // which copies every block once more); a range skips the leaves before it
      source = verified != null
        ? withheldEnd(readBlob(loc.root, this.#fetchingReader(signal), { signal, verifyBlocks: false, offset: start, length }), verified)
        : slice(withheldEnd(exportBlob(loc.root, this.#fetchingReader(signal), { signal, verifyBlocks: false, expectedDigest: digest })), start, length)
    } else {
      // every block is verified against its CID as it is read (leaves straight from the store,
      // a range skipping the leaves before it; the store skips the hash of a file unchanged since
      // it was checked); the root <-> digest link was verified when the blob was imported or
      // pulled, so the whole blob is not hashed again. The leaves are read into reused buffers,
      // each back in the pool once the socket has taken it: serving makes no garbage, and so
      // sets off no full GCs (they were 40% of a serving daemon's CPU)
      const leaves = readBlob(loc.root, this.#store, { offset: start, length, buffers: this.#buffers })[Symbol.asyncIterator]()
      // a first leaf that fails its check is answered with an error status: nothing is sent yet
      const first = await leaves.next()
      reply.hijack()
      reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders)
      await writeReleasing(reply.raw, (async function * () {
        if (first.done !== true) yield first.value
        yield * { [Symbol.asyncIterator]: () => leaves }
      })(), this.#buffers)
      return
    }
    await reply.send(Readable.from(source, { objectMode: false }))
  }

  async #deleteBlob (digestParam: string, reply: FastifyReply): Promise<void> {
    const digest = checkDigest(digestParam)
    const uploaded = this.#state.blob(digest)
    if (uploaded == null) {
      if (await this.#images.getBlob(digest) != null) {
        throw new OciError('UNSUPPORTED', 405, `blob ${digest} belongs to an image; delete the image's manifest instead`, { digest })
      }
      throw new OciError('BLOB_UNKNOWN', 404, undefined, { digest })
    }
    await this.#state.update(state => { delete state.blobs[digest] })
    await this.#unpinUnshared(uploaded.blocks.map(s => CID.parse(s)))
    await reply.code(202).send()
  }

  /** Unpins blocks that no image record and no other gateway entry uses (pins are flat, not counted). */
  async #unpinUnshared (cids: CID[]): Promise<void> {
    const keep = new Set<string>()
    for await (const record of this.#images.ls()) {
      for (const c of (await this.#images.blocks(record.manifestDigest)) ?? []) keep.add(c.toString())
    }
    for (const [, m] of this.#state.manifests()) for (const c of m.blocks ?? []) keep.add(c)
    for (const [, b] of this.#state.blobs()) for (const c of b.blocks) keep.add(c)
    await this.#store.pins.unpin(cids.filter(c => !keep.has(c.toString())))
  }

  // ---- uploads ----

  #uploadStatus (session: UploadSession, reply: FastifyReply, code: number): void {
    void reply.code(code).headers({
      Location: uploadLocation(session),
      Range: `0-${Math.max(0, session.size - 1)}`,
      'Docker-Upload-UUID': session.id,
      'Blob-Upload-Session-ID': session.id,
      'Content-Length': '0'
    }).send()
  }

  async #startUpload (name: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const q = query(req)
    if (q.mount != null) {
      // cross-repository mount: blobs are global on a node, so any blob held mounts
      let mounted: BlobLocation | undefined
      try { mounted = await this.#findBlob(checkDigest(q.mount)) } catch { mounted = undefined }
      if (mounted != null) {
        await reply.code(201).headers({ Location: `/v2/${name}/blobs/${q.mount}`, 'Docker-Content-Digest': q.mount, 'Content-Length': '0' }).send()
        return
      }
    }
    if (q.digest != null) {
      // monolithic POST
      const digest = checkDigest(q.digest)
      const session = await this.#uploads.create(name)
      try {
        await this.#appendChecked(session, req)
        await this.#finish(session, digest, reply)
      } catch (err) {
        await this.#uploads.remove(session)
        throw err
      }
      return
    }
    const session = await this.#uploads.create(name)
    this.#uploadStatus(session, reply, 202)
  }

  /** Appends a request body, checking `Content-Range` (416) and `Content-Length` (SIZE_INVALID). */
  async #appendChecked (session: UploadSession, req: FastifyRequest): Promise<void> {
    const header = req.headers['content-range']
    let start: number | undefined
    const length = req.headers['content-length'] != null ? Number(req.headers['content-length']) : undefined
    if (header != null) {
      const range = parseContentRange(header)
      if (range == null) throw rangeError(session, `invalid Content-Range ${JSON.stringify(header)}`)
      if (range.start !== session.size) throw rangeError(session, `chunk starts at ${range.start}, the upload holds ${session.size} bytes`)
      if (length != null && length !== range.end - range.start + 1) throw rangeError(session, `Content-Range ${header} does not match Content-Length ${length}`)
      start = range.start
    }
    if (length != null && session.size + length > this.#maxUploadSize) {
      throw new OciError('SIZE_INVALID', 413, `an upload may hold at most ${this.#maxUploadSize} bytes`)
    }
    const received = await this.#uploads.append(session, body(req), start)
    if (length != null && received !== length) {
      throw new OciError('SIZE_INVALID', 400, `received ${received} bytes, Content-Length said ${length}`, { uuid: session.id })
    }
  }

  async #patchUpload (session: UploadSession, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    await this.#appendChecked(session, req)
    this.#uploadStatus(session, reply, 202)
  }

  async #putUpload (session: UploadSession, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const q = query(req)
    if (q.digest == null) throw new OciError('DIGEST_INVALID', 400, 'the closing PUT needs ?digest=', { uuid: session.id })
    const digest = checkDigest(q.digest)
    await this.#appendChecked(session, req)
    await this.#finish(session, digest, reply)
  }

  /**
   * Verifies the staged file (digest, and size against `maxUploadSize`), imports
   * it into the blockstore, pins and records it, and removes the staging file.
   * A failed check ends the session (the spec: a 4xx fails the upload).
   */
  async #finish (session: UploadSession, digest: Digest, reply: FastifyReply): Promise<void> {
    const actual = `sha256:${session.hash.copy().digest('hex')}`
    if (actual !== digest) {
      await this.#uploads.remove(session)
      throw new OciError('DIGEST_INVALID', 400, `the upload has digest ${actual}, not ${digest}`, { digest, actual })
    }
    await this.#uploads.close(session)
    const releases: Array<() => void> = []
    try {
      if (await this.#findBlob(digest) == null) {
        const imported = await this.#importUpload(session, digest, releases)
        await this.#store.pins.pin(imported.blocks)
        await this.#state.update(state => {
          state.blobs[digest] = { size: imported.size, root: imported.root.toString(), blocks: imported.blocks.map(c => c.toString()) }
        })
      }
    } finally {
      // after the pin (or a failure): the blocks' guards go, with the session
      for (const release of releases) release()
      await this.#uploads.remove(session)
    }
    await reply.code(201).headers({ Location: `/v2/${session.name}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' }).send()
  }

  /**
   * The DAG of an upload whose hash matched `digest`: the one its streaming
   * import built while the bytes arrived, or one imported now from its
   * staged file, which holds exactly the bytes hashed. Its blocks are guarded
   * from gc() until the caller has pinned them: a staged import's guards are
   * added to `releases`, a streaming import's are released when its session
   * is removed.
   */
  async #importUpload (session: UploadSession, digest: Digest, releases: Array<() => void>): Promise<{ root: CID, size: number, blocks: CID[] }> {
    if (session.import == null) {
      return importBlob(createReadStream(session.path, { highWaterMark: 1024 * 1024 }), guardingWriter(this.#store, releases), { expectedDigest: digest, size: session.size, digestChecked: true })
    }
    const streamed = await session.import.finish()
    // the importer was given exactly the bytes hashed; anything else is a bug
    if (streamed.size !== session.size) throw new Error(`the import of upload ${session.id} holds ${streamed.size} bytes, the upload ${session.size}`)
    return streamed
  }

  // ---- referrers ----

  /**
   * Make the image's statements visible to OCI 1.1 tools: each becomes an
   * artifact manifest (artifactType: the Sigstore bundle v0.3 media type, an
   * empty config, one layer holding the bundle, `subject`: the image) that
   * the referrers API lists and the manifest and blob routes serve. Done once
   * per statement; the artifacts' blocks are pinned like an index's.
   */
  async #statementArtifacts (digest: string): Promise<void> {
    const record = await this.#images.get(digest)
    if (record?.statements == null || record.statements.length === 0) return
    const done = new Set<string>()
    for (const [, e] of this.#state.manifests()) {
      if (e.subject === digest && e.annotations?.[C.ANNOTATION_STATEMENT] != null) done.add(e.annotations[C.ANNOTATION_STATEMENT])
    }
    if (record.statements.every(c => done.has(c))) return
    for (const s of await this.#node.statements(digest)) {
      const cid = s.cid.toString()
      if (done.has(cid)) continue
      const bundle = new TextEncoder().encode(JSON.stringify(toSigstoreBundle(parseEnvelope(s.bytes))))
      const config = new TextEncoder().encode('{}')
      const configDesc = { mediaType: C.MEDIA_TYPE_OCI_EMPTY, digest: computeDigest(config), size: config.byteLength }
      const bundleDesc = { mediaType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE, digest: computeDigest(bundle), size: bundle.byteLength }
      const annotations = {
        [C.ANNOTATION_BUNDLE_PREDICATE_TYPE]: s.predicateType,
        [C.ANNOTATION_STATEMENT]: cid,
        [C.ANNOTATION_SIGNERS]: s.signers.join(',')
      }
      const manifest = new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE_OCI_MANIFEST,
        artifactType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
        config: configDesc,
        layers: [bundleDesc],
        subject: { mediaType: record.mediaType, digest, size: record.blobs[0].size },
        annotations
      }))
      const manifestDigest = computeDigest(manifest)
      const blocks: CID[] = []
      const imported: Record<string, { root: CID, blocks: CID[], size: number }> = {}
      for (const [d, bytes] of [[configDesc.digest, config], [bundleDesc.digest, bundle], [manifestDigest, manifest]] as const) {
        const res = await importBlob([bytes], this.#store, { expectedDigest: d, size: bytes.byteLength })
        imported[d] = { root: res.root, blocks: res.blocks, size: bytes.byteLength }
        blocks.push(...res.blocks)
      }
      await this.#store.pins.pin(blocks)
      await this.#state.update(state => {
        for (const d of [configDesc.digest, bundleDesc.digest]) {
          state.blobs[d] ??= { size: imported[d].size, root: imported[d].root.toString(), blocks: imported[d].blocks.map(c => c.toString()) }
        }
        state.manifests[manifestDigest] = {
          mediaType: MEDIA_TYPE_OCI_MANIFEST,
          size: manifest.byteLength,
          root: imported[manifestDigest].root.toString(),
          blocks: blocks.map(c => c.toString()),
          kind: 'manifest',
          subject: digest as Digest,
          artifactType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
          annotations
        }
      })
    }
  }

  async #referrers (digestParam: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const digest = checkDigest(digestParam)
    await this.#statementArtifacts(digest)
    const q = query(req)
    const manifests: object[] = []
    for (const [d, e] of this.#state.manifests()) {
      if (e.subject !== digest) continue
      if (q.artifactType != null && e.artifactType !== q.artifactType) continue
      manifests.push({
        mediaType: e.mediaType,
        digest: d,
        size: e.size,
        ...(e.artifactType != null ? { artifactType: e.artifactType } : {}),
        ...(e.annotations != null ? { annotations: e.annotations } : {})
      })
    }
    if (q.artifactType != null) reply.header('OCI-Filters-Applied', 'artifactType')
    await reply.code(200).header('Content-Type', MEDIA_TYPE_OCI_INDEX).send(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests })))
  }
}

/** Whether an Accept header admits `mediaType` (absent, `*\/*`, or listed). */
function acceptable (accept: string, mediaType: string): boolean {
  for (const part of accept.split(',')) {
    const type = part.split(';')[0].trim()
    if (type === '*/*' || type === mediaType || type === 'application/*') return true
  }
  return false
}

