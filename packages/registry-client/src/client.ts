/**
 * An OCI distribution client for one upstream registry (one host, one or
 * more endpoints tried in order): tags by HEAD, manifests and indexes with
 * every `Accept` a runtime sends, blobs streamed with range resume, and
 * referrers. Every answer is checked against the digest it was asked by;
 * every call has a timeout; nothing here ever logs a credential.
 */

import { createHash } from 'node:crypto'
import { isDigest, isRepositoryPath, isTag, parseDigest, type AbortOptions, type ComponentLogger, type Digest, type Logger } from '@provenir/interface'
import { Authenticator } from './auth.js'
import { downloadBlob, type BlobDownload, type BlobDownloadOptions } from './blob.js'
import { parseChallenges } from './challenge.js'
import { DEFAULT_BLOB_RESUMES, DEFAULT_CALL_TIMEOUT_MS, MANIFEST_ACCEPT, MAX_ERROR_BODY_BYTES, MAX_MANIFEST_BYTES, MAX_SMALL_BLOB_BYTES } from './constants.js'
import { AuthFileCredentials } from './credentials.js'
import { UpstreamDigestMismatchError, UpstreamNotFoundError, UpstreamResponseError, UpstreamUnavailableError } from './errors.js'
import { Transport, readBounded, silentLogger, type HttpResponse, type TransportInit } from './http.js'
import type { CredentialSource } from './credentials.js'

export interface RegistryClientInit extends Omit<TransportInit, 'log'> {
  /** The registry's host as names write it (`docker.io`, `quay.io`, `127.0.0.1:5590`) */
  host: string
  /** Base URLs (`https://registry-1.docker.io`), tried in order */
  endpoints: string[]
  /** @default AuthFileCredentials over the files containers/image and docker read */
  credentials?: CredentialSource
  logger?: ComponentLogger
  /** A whole call that moves no blob, retries included. @default DEFAULT_CALL_TIMEOUT_MS */
  callTimeoutMs?: number
  /** @default DEFAULT_BLOB_RESUMES */
  blobResumes?: number
  /** The clock, for the token cache in tests */
  now?: () => number
}

/** What a HEAD of a manifest says */
export interface ManifestHead {
  digest: Digest
  mediaType?: string
  size?: number
  /** The endpoint that answered */
  endpoint: string
}

/** A manifest or index, checked against its digest */
export interface FetchedManifest {
  digest: Digest
  mediaType: string
  bytes: Uint8Array
  endpoint: string
}

/** One entry of a referrers list */
export interface Referrer {
  mediaType: string
  digest: Digest
  size: number
  artifactType?: string
  annotations?: Record<string, string>
}

export interface ClientCallOptions extends AbortOptions {
  /** Overrides the client's call timeout */
  timeoutMs?: number
}

export class RegistryClient {
  readonly host: string
  readonly endpoints: URL[]
  private readonly transport: Transport
  private readonly auth: Authenticator
  private readonly log: Logger
  private readonly callTimeout: number
  private readonly resumes: number

  constructor (init: RegistryClientInit) {
    if (init.endpoints.length === 0) throw new UpstreamResponseError(`${init.host}: no endpoint`)
    this.host = init.host
    this.endpoints = init.endpoints.map(e => new URL(e.endsWith('/') ? e : `${e}/`))
    this.log = init.logger?.forComponent('provenir:registry-client') ?? silentLogger
    this.transport = new Transport({ ...init, log: this.log })
    this.auth = new Authenticator({ transport: this.transport, credentials: init.credentials ?? new AuthFileCredentials(), log: this.log, now: init.now })
    this.callTimeout = init.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS
    this.resumes = init.blobResumes ?? DEFAULT_BLOB_RESUMES
  }

  async close (): Promise<void> {
    await this.transport.close()
  }

  /** `docker.io (https://registry-1.docker.io)` */
  label (endpoint: URL): string {
    return `registry ${this.host} (${endpoint.origin}${endpoint.pathname === '/' ? '' : endpoint.pathname.replace(/\/$/, '')})`
  }

  private signal (options: ClientCallOptions): AbortSignal {
    return AbortSignal.any([AbortSignal.timeout(options.timeoutMs ?? this.callTimeout), ...(options.signal != null ? [options.signal] : [])])
  }

  /**
   * The digest a tag names, by HEAD (which Docker Hub does not count against
   * its pull limit); by GET when the registry's HEAD gives no digest. With a
   * digest, the HEAD says the registry holds that manifest.
   *
   * @throws UpstreamNotFoundError, UpstreamAuthError, UpstreamUnavailableError, UpstreamTlsError
   */
  async resolveTag (repository: string, tag: string, options: ClientCallOptions = {}): Promise<ManifestHead> {
    checkName(repository, this.host)
    if (!isTag(tag) && !isDigest(tag)) throw new UpstreamResponseError(`${JSON.stringify(tag)} is neither a tag nor a digest`)
    const signal = this.signal(options)
    return this.eachEndpoint(async endpoint => {
      const res = await this.call(endpoint, repository, 'HEAD', `manifests/${tag}`, { accept: MANIFEST_ACCEPT }, signal)
      await res.body.dump().catch(() => {})
      await this.expectOk(res, endpoint, repository, `manifest ${repository}${isDigest(tag) ? '@' : ':'}${tag}`)
      const digest = header(res, 'docker-content-digest')
      if (isDigest(tag) && digest != null && digest !== tag) throw new UpstreamDigestMismatchError(`${this.label(endpoint)}: a HEAD of ${repository}@${tag} answered digest ${digest}`)
      if (digest != null && isDigest(digest)) {
        const size = Number(header(res, 'content-length'))
        return { digest, endpoint: endpoint.href, ...mediaTypeOf(res), ...(Number.isSafeInteger(size) && size > 0 ? { size } : {}) }
      }
      const fetched = await this.fetchManifest(endpoint, repository, tag, signal)
      return { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.bytes.byteLength, endpoint: endpoint.href }
    })
  }

  /**
   * A manifest or index by tag or digest, at most MAX_MANIFEST_BYTES, checked
   * against the digest asked for (or, by tag, against the registry's
   * `Docker-Content-Digest`).
   *
   * @throws UpstreamDigestMismatchError when the bytes do not match
   */
  async manifest (repository: string, reference: string, options: ClientCallOptions = {}): Promise<FetchedManifest> {
    checkName(repository, this.host)
    if (!isTag(reference) && !isDigest(reference)) throw new UpstreamResponseError(`${JSON.stringify(reference)} is neither a tag nor a digest`)
    const signal = this.signal(options)
    return this.eachEndpoint(async endpoint => this.fetchManifest(endpoint, repository, reference, signal))
  }

  private async fetchManifest (endpoint: URL, repository: string, reference: string, signal: AbortSignal): Promise<FetchedManifest> {
    const label = this.label(endpoint)
    const res = await this.call(endpoint, repository, 'GET', `manifests/${reference}`, { accept: MANIFEST_ACCEPT }, signal)
    await this.expectOk(res, endpoint, repository, `manifest ${repository}${isDigest(reference) ? '@' : ':'}${reference}`)
    const bytes = await readBounded(res, MAX_MANIFEST_BYTES, `manifest ${repository}:${reference}`, label)
    const expected = isDigest(reference) ? reference : header(res, 'docker-content-digest')
    const algorithm = expected != null && isDigest(expected) ? parseDigest(expected).algorithm : 'sha256'
    const digest = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest
    if (expected != null && isDigest(expected) && expected !== digest) {
      throw new UpstreamDigestMismatchError(`${label}: manifest ${repository}@${reference} has digest ${digest}, not ${expected}`)
    }
    const mediaType = mediaTypeOf(res).mediaType ?? mediaTypeInside(bytes)
    if (mediaType == null) throw new UpstreamResponseError(`${label}: manifest ${repository}@${digest} has no media type`)
    return { digest, mediaType, bytes, endpoint: endpoint.href }
  }

  /**
   * A blob, streamed: a broken connection resumes with `Range` where it
   * stopped (at most `blobResumes` times). With `verify` (the default) the
   * stream holds its last chunk back until the whole blob has matched its
   * digest, and fails instead when it does not.
   */
  async blob (repository: string, digest: string, options: BlobDownloadOptions = {}): Promise<BlobDownload> {
    checkName(repository, this.host)
    if (!isDigest(digest)) throw new UpstreamResponseError(`${JSON.stringify(digest)} is not a digest`)
    return this.eachEndpoint(async endpoint => downloadBlob({
      digest,
      label: this.label(endpoint),
      resumes: options.resumes ?? this.resumes,
      open: async (range, signal) => {
        const res = await this.call(endpoint, repository, 'GET', `blobs/${digest}`, range != null ? { range } : {}, signal)
        if (res.status !== 200 && res.status !== 206) await this.expectOk(res, endpoint, repository, `blob ${repository}@${digest}`)
        return res
      }
    }, { ...options, endpoint: endpoint.href }))
  }

  /** A small blob read whole (a config, a cosign payload), checked against its digest */
  async blobBytes (repository: string, digest: string, max = MAX_SMALL_BLOB_BYTES, options: ClientCallOptions = {}): Promise<Uint8Array> {
    const signal = this.signal(options)
    const download = await this.blob(repository, digest, { signal, maxSize: max })
    const chunks: Uint8Array[] = []
    for await (const chunk of download.stream) chunks.push(chunk)
    return new Uint8Array(Buffer.concat(chunks))
  }

  /**
   * The referrers of a manifest (OCI 1.1): the referrers API, else the
   * referrers tag schema (`sha256-<hex>`); an empty list when neither has any.
   */
  async referrers (repository: string, digest: string, options: ClientCallOptions & { artifactType?: string } = {}): Promise<Referrer[]> {
    checkName(repository, this.host)
    const { algorithm, encoded } = parseDigest(digest)
    const signal = this.signal(options)
    return this.eachEndpoint(async endpoint => {
      const query = options.artifactType != null ? `?artifactType=${encodeURIComponent(options.artifactType)}` : ''
      const res = await this.call(endpoint, repository, 'GET', `referrers/${digest}${query}`, { accept: 'application/vnd.oci.image.index.v1+json' }, signal)
      if (res.status === 200 && /application\/vnd\.oci\.image\.index\.v1\+json/.test(header(res, 'content-type') ?? '')) {
        const list = parseReferrers(await readBounded(res, MAX_MANIFEST_BYTES, 'a referrers list', this.label(endpoint)), this.label(endpoint))
        return options.artifactType != null ? list.filter(r => r.artifactType === options.artifactType) : list
      }
      await res.body.dump().catch(() => {})
      if (res.status !== 404 && res.status !== 200) await this.expectOk(res, endpoint, repository, `referrers of ${repository}@${digest}`)
      // no referrers API: the tag schema
      try {
        const index = await this.fetchManifest(endpoint, repository, `${algorithm}-${encoded}`, signal)
        const list = parseReferrers(index.bytes, this.label(endpoint))
        return options.artifactType != null ? list.filter(r => r.artifactType === options.artifactType) : list
      } catch (err: unknown) {
        if ((err as Error).name === 'UpstreamNotFoundError') return []
        throw err
      }
    })
  }

  /** Runs `fn` on each endpoint in order until one answers; the errors of all when none does */
  private async eachEndpoint<T> (fn: (endpoint: URL) => Promise<T>): Promise<T> {
    const errors: Error[] = []
    for (const endpoint of this.endpoints) {
      try {
        return await fn(endpoint)
      } catch (err: unknown) {
        const e = err as Error
        if (e.name === 'AbortError' || e.name === 'UpstreamDigestMismatchError') throw e
        errors.push(e)
        if (this.endpoints.length > 1) this.log('%s failed, %s: %s', this.label(endpoint), errors.length < this.endpoints.length ? 'trying the next endpoint' : 'no endpoint left', e.message)
      }
    }
    if (errors.length === 1) throw errors[0]
    const chosen = errors.find(e => e.name !== 'UpstreamUnavailableError') ?? errors[0]
    const Ctor = chosen.constructor as new (message: string, options?: ErrorOptions) => Error
    throw new Ctor(errors.map(e => e.message).join('; '), { cause: chosen })
  }

  /** A request with authentication: a cached token first, a challenge answered once */
  private async call (endpoint: URL, repository: string, method: 'GET' | 'HEAD', resource: string, headers: Record<string, string>, signal: AbortSignal): Promise<HttpResponse> {
    const url = new URL(`v2/${repository}/${resource}`, endpoint)
    const ctx = { host: this.host, repository, endpoint, registry: this.label(endpoint), signal }
    const prepared = await this.auth.prepared(ctx)
    let res = await this.transport.request({ method, url, headers: { ...headers, ...(prepared != null ? { authorization: prepared } : {}) }, signal, registry: ctx.registry })
    if (res.status !== 401) return res
    await res.body.dump().catch(() => {})
    if (prepared != null) await this.auth.forget(ctx)
    const authorization = await this.auth.answer(parseChallenges(res.headers['www-authenticate']), ctx)
    res = await this.transport.request({ method, url, headers: { ...headers, authorization }, signal, registry: ctx.registry })
    if (res.status === 401) {
      await res.body.dump().catch(() => {})
      await this.auth.forget(ctx)
      throw await this.auth.refusal(ctx, res.status)
    }
    return res
  }

  /** Turns a non-2xx answer into its named error (the body's OCI code in the message) */
  private async expectOk (res: HttpResponse, endpoint: URL, repository: string, what: string): Promise<void> {
    if (res.status >= 200 && res.status < 300) return
    const label = this.label(endpoint)
    const detail = await errorDetail(res, label)
    const ctx = { host: this.host, repository, endpoint, registry: label, signal: AbortSignal.timeout(this.callTimeout) }
    if (res.status === 403) throw await this.auth.refusal(ctx, 403)
    if (res.status === 404) throw new UpstreamNotFoundError(`${label} has no ${what}${detail}`)
    if (res.status >= 500) throw new UpstreamUnavailableError(`${label} answered ${res.status} for ${what}${detail}`)
    throw new UpstreamResponseError(`${label} answered ${res.status} for ${what}${detail}`)
  }
}

function checkName (repository: string, host: string): void {
  if (!isRepositoryPath(repository)) throw new UpstreamResponseError(`${JSON.stringify(repository)} is not a repository path on ${host}`)
}

function header (res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

function mediaTypeOf (res: HttpResponse): { mediaType?: string } {
  const type = header(res, 'content-type')?.split(';')[0].trim()
  return type != null && type !== '' && type !== 'application/json' && type !== 'application/octet-stream' ? { mediaType: type } : {}
}

function mediaTypeInside (bytes: Uint8Array): string | undefined {
  try {
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as { mediaType?: unknown, manifests?: unknown, layers?: unknown }
    if (typeof doc.mediaType === 'string') return doc.mediaType
    if (Array.isArray(doc.manifests)) return 'application/vnd.oci.image.index.v1+json'
    if (Array.isArray(doc.layers)) return 'application/vnd.oci.image.manifest.v1+json'
  } catch {}
  return undefined
}

/** `: MANIFEST_UNKNOWN manifest unknown` from an OCI error body, or nothing */
async function errorDetail (res: HttpResponse, label: string): Promise<string> {
  try {
    const bytes = await readBounded(res, MAX_ERROR_BODY_BYTES, 'an error body', label)
    const body = JSON.parse(new TextDecoder().decode(bytes)) as { errors?: Array<{ code?: unknown, message?: unknown }> }
    const first = body.errors?.[0]
    if (first == null) return ''
    return ` (${String(first.code ?? '')}${first.message != null ? ` ${String(first.message).slice(0, 200)}` : ''})`
  } catch {
    await res.body.dump().catch(() => {})
    return ''
  }
}

/** The `manifests` of an OCI image index, each checked */
export function parseReferrers (bytes: Uint8Array, label: string): Referrer[] {
  let doc: { manifests?: unknown }
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw new UpstreamResponseError(`${label}: a referrers list is not JSON`)
  }
  if (!Array.isArray(doc.manifests)) throw new UpstreamResponseError(`${label}: a referrers list has no manifests array`)
  return doc.manifests.flatMap((m: any): Referrer[] => {
    if (m == null || typeof m.mediaType !== 'string' || !isDigest(m.digest) || !Number.isSafeInteger(m.size) || m.size < 0) return []
    return [{
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.size,
      ...(typeof m.artifactType === 'string' ? { artifactType: m.artifactType } : {}),
      ...(m.annotations != null && typeof m.annotations === 'object' ? { annotations: m.annotations } : {})
    }]
  })
}
