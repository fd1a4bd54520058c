/**
 * The upstream source: content from upstream OCI registries (Docker Hub by
 * default, any registry the config lists), asked after the local store and
 * the swarm, so a rollout costs the upstream one copy.
 *
 * - A tag is resolved with a HEAD on the upstream the request names (a
 *   mirror request's `namespace`) and remembered for the config's TTL by
 *   `Upstreams`; past it, with the registry down, the remembered digest is
 *   served and logged. Requests without a namespace resolve through naming
 *   (pins, provenir registries, then the upstreams), not here.
 * - A manifest is fetched by digest, checked against the upstream trust
 *   rules (cosign signatures when a rule requires them) before the service
 *   sees it; the service checks its bytes against the digest.
 * - A blob is a `stream`: the service hashes it while it passes (the last
 *   chunk held back), stores it as blocks and provides it.
 *
 * Where a digest lives upstream is learnt from the manifests fetched here
 * (every blob they name), so a client's blob request, which names no
 * registry, goes to the registry its manifest came from.
 */

import { parseManifest } from '@provenir/content'
import { fetchCosignSignatures } from '@provenir/registry-client'
import { assertPolicy, checkUpstreamImage } from '@provenir/trust'
import { MAX_UPSTREAM_LOCATIONS, TAG_RESOLVE_TIMEOUT } from '../constants.js'
import { ManifestNotFoundError } from '../errors.js'
import { raceSignal, SingleFlight } from './streams.js'
import type { ContentRequest, ContentSource, SourceBlob, SourceBlobRequest, SourceManifest, SourceManifestRequest, TagResolution } from './types.js'
import type { ComponentLogger, Logger } from '@libp2p/interface'
import type { BlobDownload, UpstreamTag, UpstreamTarget, Upstreams } from '@provenir/registry-client'
import type { TrustPolicy } from '@provenir/trust'

export interface UpstreamSourceComponents {
  upstreams: Upstreams
  logger: ComponentLogger
  /** The policy upstream images are checked against, read at each fetch */
  trustPolicy(): TrustPolicy | undefined
}

/** Where a digest was named upstream, and its size there */
interface Location {
  target: UpstreamTarget
  size?: number
}

/** Names whose errors mean "this registry does not have it", not a failure worth reporting */
const NOT_FOUND = new Set(['UpstreamNotFoundError'])

export class UpstreamSource implements ContentSource {
  readonly name = 'upstream'
  /** A request with a namespace names its upstream: the service asks only this source for its tags */
  readonly namespaced = true
  readonly #c: UpstreamSourceComponents
  readonly #log: Logger
  readonly #locations = new Map<string, Location>()
  /** Downloads opened to learn a blob's size, handed to the first reader */
  readonly #opened = new Map<string, Promise<BlobDownload>>()
  readonly #tags = new SingleFlight<UpstreamTag>()

  constructor (components: UpstreamSourceComponents) {
    this.#c = components
    this.#log = components.logger.forComponent('provenir:upstream')
  }

  /** The registries a request goes to, in order: its namespace's, else the unqualified ones */
  #targets (request: ContentRequest): UpstreamTarget[] {
    return this.#c.upstreams.route({ ...(request.namespace != null ? { host: request.namespace } : {}), path: request.repository })
  }

  async resolveTag (request: ContentRequest & { tag: string }): Promise<TagResolution | undefined> {
    if (request.namespace == null) return undefined
    const name = { host: request.namespace, path: request.repository }
    try {
      // concurrent requests for one tag share one HEAD (a rollout's pulls arrive together); each waits under its own signal
      const key = `${request.namespace}/${request.repository}:${request.tag}`
      const asking = this.#tags.run(key, async () => this.#c.upstreams.resolve(name, request.tag, { signal: AbortSignal.timeout(TAG_RESOLVE_TIMEOUT) }))
      const found = await raceSignal(asking, request.signal, () => new ManifestNotFoundError(`${key} did not resolve in time`))
      this.#remember(found.digest, { target: this.#targets(request)[0], ...(found.size != null ? { size: found.size } : {}) })
      return { digest: found.digest, named: { reference: `${found.host}/${found.repository}:${request.tag}` } }
    } catch (err) {
      if (NOT_FOUND.has((err as Error).name)) return undefined
      throw err
    }
  }

  async manifest (request: SourceManifestRequest): Promise<SourceManifest | undefined> {
    const known = this.#locations.get(request.digest)
    const targets = known != null ? [known.target] : this.#targets(request)
    let notFound: Error | undefined
    for (const target of targets) {
      const { client } = target.registry
      let bytes: Uint8Array
      try {
        bytes = (await client.manifest(target.repository, request.digest, { signal: request.signal })).bytes
      } catch (err) {
        if (!NOT_FOUND.has((err as Error).name)) throw err
        notFound = err as Error
        continue
      }
      await this.#checkPolicy(target, request.digest, request.signal)
      this.#learn(target, bytes, request.digest)
      this.#log('manifest %s from %s/%s', request.digest, target.registry.host, target.repository)
      return { bytes }
    }
    if (notFound != null) this.#log('manifest %s: %s', request.digest, notFound.message)
    return undefined
  }

  /** Refuses an image the upstream rules do not accept (a required cosign signature missing) */
  async #checkPolicy (target: UpstreamTarget, digest: string, signal?: AbortSignal): Promise<void> {
    const policy = this.#c.trustPolicy()
    if (policy == null) return
    const report = await checkUpstreamImage({
      policy,
      name: `${target.registry.host}/${target.repository}`,
      manifestDigest: digest,
      signatures: async () => fetchCosignSignatures(target.registry.client, target.repository, digest, { signal })
    })
    assertPolicy(report)
  }

  /** Remembers where the blobs (or, for an index, the manifests) a manifest names live */
  #learn (target: UpstreamTarget, bytes: Uint8Array, digest: string): void {
    const parsed = parseManifest(bytes, { expectedDigest: digest })
    const named = parsed.kind === 'manifest' ? [parsed.manifest.config, ...parsed.manifest.layers] : parsed.index.manifests
    for (const d of named) this.#remember(d.digest, { target, size: d.size })
  }

  #remember (digest: string, location: Location): void {
    this.#locations.delete(digest)
    if (this.#locations.size >= MAX_UPSTREAM_LOCATIONS) this.#locations.delete(this.#locations.keys().next().value as string)
    this.#locations.set(digest, location)
  }

  async blob (request: SourceBlobRequest): Promise<SourceBlob | undefined> {
    const known = this.#locations.get(request.digest)
    const target = known?.target ?? this.#targets(request)[0]
    if (target == null) return undefined
    const { client } = target.registry
    const download = async (signal?: AbortSignal): Promise<BlobDownload> =>
      client.blob(target.repository, request.digest, { signal, verify: false, ...(known?.size != null ? { expectedSize: known.size } : {}) })
    if (known?.size != null) {
      return { kind: 'stream', size: known.size, open: (options) => streamOf(download(options.signal)) }
    }
    // no manifest fetched here named it (e.g. one fetched before a restart): the first response says its size
    let opening = this.#opened.get(request.digest)
    if (opening == null) {
      opening = download(request.signal)
      this.#opened.set(request.digest, opening)
      opening.catch(() => {}).finally(() => { if (this.#opened.get(request.digest) === opening) this.#opened.delete(request.digest) })
    }
    let opened: BlobDownload
    try {
      opened = await opening
    } catch (err) {
      if (NOT_FOUND.has((err as Error).name)) return undefined
      throw err
    }
    this.#remember(request.digest, { target, size: opened.size })
    let first: BlobDownload | undefined = opened
    return {
      kind: 'stream',
      size: opened.size,
      open: (options) => {
        const taken = first
        first = undefined
        return streamOf(taken != null ? Promise.resolve(taken) : download(options.signal))
      }
    }
  }
}

async function * streamOf (download: Promise<BlobDownload>): AsyncGenerator<Uint8Array> {
  yield * (await download).stream
}
