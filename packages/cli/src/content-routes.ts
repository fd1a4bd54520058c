/**
 * The daemon's content routes: image import, listing, export and pull, the
 * providers of an image, and garbage collection. Long work (import, export,
 * pull) answers as NDJSON: `{"event":"progress",...}` lines, then one
 * `{"event":"done",...}` or `{"event":"error","error":{name,message}}`.
 * Closing the request cancels the work.
 */
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import {
  cidForDigest, exportDockerArchive, exportOciLayout, getBlockBytes, ImageNotFoundError, importDockerArchive, importOciLayout, isDigest, parseManifest
} from '@provenir/content'
import { InvalidConfigError, InvalidParametersError, parsePlatform } from '@provenir/interface'
import { policyReferenceOf, recordFromResolution, summariseResolution } from '@provenir/naming'
import {
  MAX_IMAGES_LISTED, MAX_PROVIDERS_LISTED, MAX_RPC_PATH_LENGTH, MAX_RPC_TAG_LENGTH, PROVIDERS_LONELY_TIMEOUT_MS, PROVIDERS_TIMEOUT_MS,
  RPC_CONTENT_BODY_LIMIT, RPC_GC_TIMEOUT_MS, RPC_IMAGE_TIMEOUT_MS, RPC_PROGRESS_INTERVAL_MS
} from './constants.js'
import { PathNotFoundError } from './errors.js'
import { errorCode } from './fs-util.js'
import { NamingUnavailableError } from './errors.js'
import { isExpectedError } from './known-errors.js'
import { bodyObject, optionalReferenceParam } from './rpc-params.js'
import { pullResult } from '@provenir/node'
import { pullUpstreamImage } from './upstream-pull.js'
import { policyParam, statementInfo } from './trust-routes.js'
import { transfersOf } from './transfers.js'
import { countImport, countPull } from './work-metrics.js'
import type { RpcContext, RpcRoute } from './rpc-server.js'
import type { StatementInfo } from './trust-routes.js'
import type { VerificationReport } from '@provenir/trust'
import type { ContentBlockstore, ImageIndex, ImageRecord } from '@provenir/content'
import type { ResolveSummary } from '@provenir/naming'
import type { ProvenirNode } from '@provenir/node'

/** Formats of an image on disk */
export type ImageFormat = 'oci' | 'docker-archive'

/** One image as `GET /api/v0/image/ls` and the other image routes describe it */
export interface ImageSummary {
  /** The manifest digest: the image's identity */
  digest: string
  mediaType: string
  tags: string[]
  /** Bytes of every blob: manifest, config and layers */
  size: number
  /** Blobs: manifest, config and layers */
  blobs: number
}

/** `GET /api/v0/image/ls` */
export interface ImageLsResponse {
  images: ImageSummary[]
  /** True when there were more than MAX_IMAGES_LISTED */
  truncated: boolean
}

/** A progress line of a streamed answer */
export interface ProgressLine {
  event: 'progress'
  /** What is being done */
  phase: 'import' | 'export' | 'pull'
  /** Bytes done so far */
  bytes: number
  /** Bytes to do, once known (pull: from the manifest; import: the blobs seen so far) */
  total?: number
  /** The blob being worked on, when there is one */
  blob?: string
}

/** The result of `POST /api/v0/image/import` (the `done` line) */
export interface ImageImportResult {
  format: ImageFormat
  images: ImageSummary[]
}

/** The result of `POST /api/v0/image/export` (the `done` line) */
export interface ImageExportResult {
  image: ImageSummary
  path: string
  format: ImageFormat
}

/** The result of `POST /api/v0/image/pull` (the `done` line) */
export interface ImagePullResult {
  image: ImageSummary
  /** The statements that came with the image and verified */
  statements: StatementInfo[]
  /** The trust policy's verdict, when the daemon or the request had a policy */
  report?: VerificationReport
  /** How a pull by name resolved: owner, seq, document */
  resolved?: ResolveSummary
  /** When the digest named an image index: it, and the platform whose image was pulled */
  index?: { digest: string, platform: string }
  /** When an upstream registry named the image: where, and how its tag was resolved */
  upstream?: { host: string, repository: string, tag?: string, digest: string, from: string }
}

/** `GET /api/v0/providers/:digest` */
export interface ProvidersResponse {
  digest: string
  /** The manifest's CID, as looked up in the DHT */
  cid: string
  providers: Array<{ peerId: string, addrs: string[] }>
  /** False when the lookup was cut short by its time limit or the provider cap */
  complete: boolean
}

/** `POST /api/v0/gc` */
export interface GcResponse {
  /** Blocks removed */
  removed: number
  /** Their total size */
  bytes: number
  /** Block files without an index entry (crash leftovers) removed */
  strays: number
}

/** A summary of an image record */
export function summarise (record: ImageRecord): ImageSummary {
  return {
    digest: record.manifestDigest,
    mediaType: record.mediaType,
    tags: record.tags ?? [],
    size: record.blobs.reduce((n, b) => n + b.size, 0),
    blobs: record.blobs.length
  }
}

/**
 * Imports, pulls and exports share the store; gc must not run beside them:
 * it deletes every unpinned block, and an import's blocks are pinned only
 * when the image is complete. Many shared holders, or one exclusive.
 */
export class ContentLock {
  #shared = 0
  #exclusive: Promise<void> | undefined
  #idle: PromiseWithResolvers<void> | undefined

  async shared<T> (fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive != null) await this.#exclusive
    this.#shared++
    try {
      return await fn()
    } finally {
      this.#shared--
      if (this.#shared === 0) this.#idle?.resolve()
    }
  }

  async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive != null) await this.#exclusive
    const { promise, resolve } = Promise.withResolvers<void>()
    this.#exclusive = promise
    try {
      while (this.#shared > 0) {
        this.#idle = Promise.withResolvers<void>()
        await this.#idle.promise
      }
      return await fn()
    } finally {
      this.#exclusive = undefined
      this.#idle = undefined
      resolve()
    }
  }
}

const locks = new WeakMap<ProvenirNode, ContentLock>()

/** The content lock of a node (one per node, shared by every route) */
export function contentLock (node: ProvenirNode): ContentLock {
  let lock = locks.get(node)
  if (lock == null) {
    lock = new ContentLock()
    locks.set(node, lock)
  }
  return lock
}

function stores (node: ProvenirNode): { blockstore: ContentBlockstore, images: ImageIndex } {
  if (node.blockstore == null || node.images == null) {
    throw new InvalidConfigError('this daemon\'s node has no blockstore, so it holds no images')
  }
  return { blockstore: node.blockstore, images: node.images }
}

/** A manifest digest: `sha256:` and 64 lowercase hex characters (or sha512) */
export function digestParam (value: unknown, field = 'digest'): string {
  if (!isDigest(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 160)) : typeof value
    throw new InvalidParametersError(`"${field}" must be an image manifest digest like sha256:<64 lowercase hex characters>; got ${shown}`)
  }
  return value
}

/** An absolute path on the daemon's host, normalised */
export function absolutePathParam (value: unknown, field = 'path'): string {
  if (typeof value !== 'string' || value === '') throw new InvalidParametersError(`"${field}" must be a non-empty string`)
  if (value.length > MAX_RPC_PATH_LENGTH) throw new InvalidParametersError(`"${field}" is over ${MAX_RPC_PATH_LENGTH} characters`)
  if (value.includes('\0')) throw new InvalidParametersError(`"${field}" contains a NUL character`)
  if (!path.isAbsolute(value)) {
    throw new InvalidParametersError(`"${field}" must be an absolute path on the daemon's host; got ${JSON.stringify(value)} (the daemon does not know the client's working directory)`)
  }
  return path.normalize(value)
}

function formatParam (value: unknown): ImageFormat | undefined {
  if (value === undefined) return undefined
  if (value !== 'oci' && value !== 'docker-archive') throw new InvalidParametersError(`"format" must be "oci" or "docker-archive"; got ${JSON.stringify(value)}`)
  return value
}

/** Which format the thing at `file` is: a directory is an OCI layout, a file a docker-archive */
async function detectFormat (file: string): Promise<ImageFormat> {
  try {
    const st = await stat(file)
    if (st.isDirectory()) return 'oci'
    if (st.isFile()) return 'docker-archive'
    throw new InvalidParametersError(`${file} is neither a directory (an OCI layout) nor a file (a docker-archive)`)
  } catch (err) {
    const code = errorCode(err)
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new PathNotFoundError(`${file} does not exist on the daemon's host`)
    if (code === 'EACCES') throw new InvalidParametersError(`the daemon may not read ${file} (EACCES)`)
    throw err
  }
}

interface StreamSink {
  /** Aborted when the client goes away or the route's time runs out */
  signal: AbortSignal
  /** Report progress; lines are sent at most every RPC_PROGRESS_INTERVAL_MS */
  progress(line: Omit<ProgressLine, 'event'>): void
}

/**
 * Answer with NDJSON: progress lines while `work` runs, then its result as
 * the `done` line, or its error as the `error` line. The answer's status is
 * 200 once streaming began, so errors found before it (bad parameters) must
 * be thrown before calling this.
 */
function ndjson (ctx: RpcContext, work: (sink: StreamSink) => Promise<object>): PassThrough {
  const { reply, request } = ctx
  const out = new PassThrough()
  // aborted when the client closes the request before the answer is complete, on timeout, or at shutdown
  const signal = ctx.signal
  const write = (value: object): void => {
    if (!out.writableEnded && !out.destroyed) out.write(JSON.stringify(value) + '\n')
  }
  let last = 0
  let pending: Omit<ProgressLine, 'event'> | undefined
  const sink: StreamSink = {
    signal,
    progress (line) {
      const now = Date.now()
      if (now - last < RPC_PROGRESS_INTERVAL_MS) {
        pending = line
        return
      }
      last = now
      pending = undefined
      write({ event: 'progress', ...line })
    }
  }
  void (async () => {
    try {
      const result = await work(sink)
      if (pending != null) write({ event: 'progress', ...pending })
      write({ event: 'done', ...result })
    } catch (err: any) {
      let name: string
      let message: string
      if (signal.aborted && !isExpectedError(err)) {
        name = signal.reason?.name === 'TimeoutError' ? 'TimeoutError' : 'AbortError'
        message = String(signal.reason?.message ?? err?.message)
      } else if (isExpectedError(err)) {
        name = err.name
        message = err.message
      } else if (signal.aborted || err?.name === 'AbortError') {
        name = 'AbortError'
        message = String(err?.message ?? 'aborted')
      } else {
        name = 'InternalError'
        message = 'the daemon failed to handle the request; see its log'
        ctx.log?.error('%s %s failed: %e', request.method, request.url, err)
      }
      // a failed import, export or pull is the operator's business too (once, with its cause); a client
      // that went away, or a shutdown, is not a failure of the work
      if (name === 'AbortError') ctx.log?.('%s %s: %s - %e', request.method, request.url, name, err)
      else if (name !== 'InternalError') ctx.log?.error('%s %s failed: %s - %e', request.method, request.url, name, err)
      write({ event: 'error', error: { name, message } })
    } finally {
      out.end()
    }
  })()
  reply.type('application/x-ndjson')
  return out
}

/** Turns pull progress events into byte counts, with the total from the manifest once it is stored */
function pullProgress (node: ProvenirNode, digest: string, sink: StreamSink): (evt: any) => void {
  let bytes = 0
  let total: number | undefined
  let reading = false
  return (evt) => {
    if (evt.type === 'pull:blob' && total == null && !reading) {
      reading = true
      // the manifest is stored before the first blob starts: read its sizes
      void (async () => {
        const block = await getBlockBytes(node.blockstore!, cidForDigest(digest), { signal: sink.signal })
        const parsed = parseManifest(block)
        if (parsed.kind === 'manifest') {
          total = block.byteLength + parsed.manifest.config.size + parsed.manifest.layers.reduce((n, l) => n + l.size, 0)
        }
      })().catch(() => {})
      return
    }
    // each transport reports its blocks as `<name>:block`: bitswap's, and the bulk channel's
    if ((evt.type === 'bitswap:block' || evt.type === 'bulk:block') && typeof evt.detail?.bytes === 'number') {
      bytes += evt.detail.bytes
      // a DAG's inner nodes add a little over the blob sizes
      sink.progress({ phase: 'pull', bytes: total != null ? Math.min(bytes, total) : bytes, ...(total != null ? { total } : {}) })
    }
  }
}

/** The content routes; part of DEFAULT_ROUTES */
export const CONTENT_ROUTES: readonly RpcRoute[] = Object.freeze([
  {
    method: 'POST',
    url: '/api/v0/image/import',
    timeout: RPC_IMAGE_TIMEOUT_MS,
    bodyLimit: RPC_CONTENT_BODY_LIMIT,
    async handler (ctx) {
      const body = bodyObject(ctx, ['path', 'format'])
      const file = absolutePathParam(body.path)
      const { blockstore, images } = stores(ctx.node)
      const format = formatParam(body.format) ?? await detectFormat(file)
      const { node } = ctx
      return ndjson(ctx, async ({ signal, progress }) => contentLock(node).shared(async () => {
        const done = new Map<string, number>()
        let total = 0
        const onProgress = (evt: any): void => {
          if (evt.type === 'content:import:blob') {
            total += evt.detail.size
            done.set(evt.detail.digest, 0)
          } else if (evt.type === 'content:import:bytes') {
            done.set(evt.detail.digest, evt.detail.bytes)
            let bytes = 0
            for (const n of done.values()) bytes += n
            progress({ phase: 'import', bytes, total, blob: evt.detail.digest })
          }
        }
        let records: Awaited<ReturnType<typeof importOciLayout>>
        try {
          records = format === 'oci'
            ? await importOciLayout(file, blockstore, images, { signal, onProgress })
            : await importDockerArchive(file, blockstore, images, { signal, onProgress })
        } catch (err) {
          countImport('error', 0)
          throw err
        }
        countImport('ok', records.reduce((n, r) => n + summarise(r).size, 0))
        progress({ phase: 'import', bytes: total, total })
        for (const record of records) await node.provideImage(record.manifestDigest)
        return { format, images: records.map(summarise) } satisfies ImageImportResult
      }))
    }
  },
  {
    method: 'GET',
    url: '/api/v0/image/ls',
    async handler ({ node, signal }): Promise<ImageLsResponse> {
      const { images } = stores(node)
      const out: ImageSummary[] = []
      let truncated = false
      for await (const record of images.ls({ signal })) {
        if (out.length === MAX_IMAGES_LISTED) {
          truncated = true
          break
        }
        out.push(summarise(record))
      }
      return { images: out, truncated }
    }
  },
  {
    method: 'POST',
    url: '/api/v0/image/export',
    timeout: RPC_IMAGE_TIMEOUT_MS,
    bodyLimit: RPC_CONTENT_BODY_LIMIT,
    async handler (ctx) {
      const body = bodyObject(ctx, ['digest', 'path', 'format', 'tag'])
      const digest = digestParam(body.digest)
      const file = absolutePathParam(body.path)
      const format = formatParam(body.format) ?? 'oci'
      if (body.tag !== undefined && (typeof body.tag !== 'string' || body.tag === '' || body.tag.length > MAX_RPC_TAG_LENGTH)) {
        throw new InvalidParametersError(`"tag" must be a non-empty string of at most ${MAX_RPC_TAG_LENGTH} characters`)
      }
      const tag = body.tag as string | undefined
      const { blockstore, images } = stores(ctx.node)
      // unknown image: a plain 404 rather than a stream that ends in an error
      const held = await images.get(digest)
      if (held == null) throw new ImageNotFoundError(`this node holds no image ${digest}`)
      const total = summarise(held).size
      return ndjson(ctx, async ({ signal, progress }) => {
        // export reports each blob as it starts: count the ones before it as done
        let bytes = 0
        let current = 0
        const onProgress = (evt: any): void => {
          bytes += current
          current = evt.detail.size
          progress({ phase: 'export', bytes, total, blob: evt.detail.digest })
        }
        const options = { signal, onProgress, ...(tag != null ? { tag } : {}) }
        const record = format === 'oci'
          ? await exportOciLayout(digest, blockstore, images, file, options)
          : await exportDockerArchive(digest, blockstore, images, file, options)
        progress({ phase: 'export', bytes: total, total })
        return { image: summarise(record), path: file, format } satisfies ImageExportResult
      })
    }
  },
  {
    method: 'POST',
    url: '/api/v0/image/pull',
    timeout: RPC_IMAGE_TIMEOUT_MS,
    bodyLimit: RPC_CONTENT_BODY_LIMIT,
    async handler (ctx) {
      const body = bodyObject(ctx, ['digest', 'policy', 'reference', 'platform', 'pin'])
      if (body.pin !== undefined && typeof body.pin !== 'boolean') throw new InvalidParametersError('"pin" must be true (keep the image) or false (keep it as cache, which eviction may remove)')
      // by digest (a reference, if given, only chooses the policy rule), or by name: resolved to its signed document
      if (body.digest === undefined && body.reference === undefined) throw new InvalidParametersError('give "digest" (sha256:...) or "reference" ([registry/]namespace/repo[:tag|@digest])')
      const digest = body.digest !== undefined ? digestParam(body.digest) : undefined
      const policy = policyParam(body.policy)
      const reference = optionalReferenceParam(body.reference)
      if (body.platform !== undefined && typeof body.platform !== 'string') throw new InvalidParametersError('"platform" must be a string, os/architecture[/variant]')
      const platform = body.platform !== undefined ? parsePlatform(body.platform as string) : undefined
      if (digest == null && ctx.naming == null) throw new NamingUnavailableError('this daemon runs without naming, so it cannot pull by name')
      stores(ctx.node)
      const { node, naming } = ctx
      return ndjson(ctx, async (sink) => contentLock(node).shared(async () => {
        let target = digest
        let resolved: ResolveSummary | undefined
        let record: ImageRecord | undefined
        let policyReference = reference
        if (target == null && reference != null && naming != null) {
          // pins, provenir registries and the signed document first; an upstream registry when none knows the name
          const image = await naming.resolveImage(reference, { signal: sink.signal })
          if (image.provenir == null && image.upstream != null) {
            const upstream = image.upstream
            // counted here: this pull reads through the content service (its bytes count there, by source) rather than node.pull
            const started = performance.now()
            let pulled: Awaited<ReturnType<typeof pullUpstreamImage>>
            try {
              pulled = await pullUpstreamImage(node, upstream, { signal: sink.signal, progress: sink.progress, ...(platform != null ? { platform } : {}), ...(body.pin === false ? { pin: false } : {}) })
            } catch (err) {
              countPull(pullResult(err, sink.signal), (performance.now() - started) / 1000)
              throw err
            }
            countPull('ok', (performance.now() - started) / 1000)
            return {
              image: summarise(pulled.record),
              statements: [],
              upstream: { host: upstream.host, repository: upstream.repository, ...(upstream.tag != null ? { tag: upstream.tag } : {}), digest: upstream.digest, from: upstream.from },
              ...(pulled.index != null ? { index: pulled.index } : {})
            } satisfies ImagePullResult
          }
          if (image.provenir == null) throw new InvalidParametersError(`${reference} resolved to nothing`)
          const { resolution, cached, record: from } = image.provenir
          resolved = summariseResolution(reference, resolution, cached, from)
          target = resolution.manifestDigest
          // the signed document is the trusted record: blob roots and statements
          record = recordFromResolution(resolution)
          policyReference = policyReferenceOf(resolution)
        }
        if (target == null) throw new InvalidParametersError('nothing to pull')
        // the dashboard's transfers view follows the same events the CLI's progress lines count
        const transfer = transfersOf(node).start(target, reference)
        const progress = pullProgress(node, target, sink)
        const pulled = await node.pull(target, {
          signal: sink.signal,
          onProgress: (evt) => { transfer.observe(evt); progress(evt) },
          ...(policy != null ? { policy } : {}),
          ...(policyReference != null ? { reference: policyReference } : {}),
          ...(record != null ? { record } : {}),
          ...(platform != null ? { platform } : {}),
          ...(body.pin === false ? { pin: false } : {})
        }).then(result => { transfer.finish(); return result }, (err: unknown) => { transfer.finish(err); throw err })
        const size = summarise(pulled.record).size
        sink.progress({ phase: 'pull', bytes: size, total: size })
        return {
          image: summarise(pulled.record),
          statements: pulled.statements.map(statementInfo),
          ...(pulled.report != null ? { report: pulled.report } : {}),
          ...(resolved != null ? { resolved } : {}),
          ...(pulled.index != null ? { index: pulled.index } : {})
        } satisfies ImagePullResult
      }))
    }
  },
  {
    method: 'GET',
    url: '/api/v0/providers/:digest',
    timeout: PROVIDERS_TIMEOUT_MS + 5_000,
    async handler ({ node, request, signal }): Promise<ProvidersResponse> {
      const digest = digestParam((request.params as { digest?: string }).digest)
      const cid = cidForDigest(digest)
      const lonely = node.libp2p.getConnections().length === 0
      const limit = AbortSignal.timeout(lonely ? PROVIDERS_LONELY_TIMEOUT_MS : PROVIDERS_TIMEOUT_MS)
      const providers: ProvidersResponse['providers'] = []
      let complete = true
      try {
        for await (const peer of node.findProviders(cid, { signal: AbortSignal.any([signal, limit]) })) {
          providers.push({ peerId: peer.id.toString(), addrs: peer.multiaddrs.map(ma => ma.toString()).sort() })
          if (providers.length >= MAX_PROVIDERS_LISTED) {
            complete = false
            break
          }
        }
      } catch (err) {
        // out of time: answer with what was found
        if (!limit.aborted || signal.aborted) throw err
        complete = false
      }
      return { digest, cid: cid.toString(), providers, complete }
    }
  },
  {
    method: 'POST',
    url: '/api/v0/gc',
    timeout: RPC_GC_TIMEOUT_MS,
    bodyLimit: RPC_CONTENT_BODY_LIMIT,
    async handler ({ node, signal }): Promise<GcResponse> {
      const { blockstore } = stores(node)
      // through the storage service (present with a blockstore), so the gc metrics count it
      const storage = node.content?.storage
      const result = await contentLock(node).exclusive(async () => storage != null ? storage.gc('request', { signal }) : blockstore.gc({ signal }))
      return { removed: result.removed.length, bytes: result.bytes, strays: result.strays }
    }
  }
])
