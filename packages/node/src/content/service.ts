/**
 * The content service (`node.content`): the node's one way to get a
 * manifest, an index, a blob or a block, and to change what repositories
 * hold. It asks its sources in order (the local store, then the swarm) and
 * checks what a source returns before anything is answered or recorded:
 * a manifest against its digest, a blob's blocks against their CIDs and the
 * whole blob against its digest, the last chunk of a stream held back until
 * it matched. Concurrent requests for one digest share one fetch. What the
 * node holds, links, pins and has deleted is in one index (the image records
 * and the registry's `RepositoryIndex`), so a delete sticks.
 *
 * Modelled on distribution's proxy blob store (a source is a decorator of
 * the store's lookups, not a branch in a handler) and on Spegel's router (only
 * the swarm source knows how peers are found and blocks moved).
 */

import { AccessLog, BufferPool, cidForDigest, isDigest, parseManifest, readBlob } from '@provenir/content'
import { InvalidParametersError } from '@provenir/interface'
import { CID } from 'multiformats/cid'
import { BlobNotFoundError, BlocksUnavailableError, ImageRecordNotFoundError, ManifestNotFoundError } from '../errors.js'
import { DEFAULT_PULL_TIMEOUT, MAX_PENDING_UPSTREAM_IMAGES, SERVE_BUFFERS } from '../constants.js'
import { pullResult } from './events.js'
import { ingest } from './ingest.js'
import { LocalSource } from './local-source.js'
import { listReferrers } from './referrers.js'
import { Registry } from './registry.js'
import { raceSignal, SingleFlight, slice, withheldEnd } from './streams.js'
import { migrateGatewayState } from './migrate.js'
import { StorageService } from './storage.js'
import { DEFAULT_STORAGE_CONFIG } from '../storage-config.js'
import type { ContentServiceComponents } from './components.js'
import type { PullDetail, PullResult, PushDetail, TransferDetail } from './events.js'
import type { MigrationResult } from './migrate.js'
import type { BlobHandle, BlobRequest, BlockGetter, ByteRange, ContentRequest, ContentSource, ManifestRequest, ManifestResult, PutManifestRequest, PutManifestResult, ReferrerDescriptor, SourceBlob, SourceManifest, TagResolution, UploadedBlob } from './types.js'
import type { PulledImage, PullOptions } from '../swarm/pull.js'
import type { AbortOptions, Logger, PrivateKey } from '@libp2p/interface'
import type { Digest, ParsedManifest } from '@provenir/content'

/** The blobs an image manifest names: its config and layers (an index names none) */
function blobsOf (parsed: ParsedManifest): string[] {
  return parsed.kind === 'manifest' ? [parsed.manifest.config.digest, ...parsed.manifest.layers.map(l => l.digest)] : []
}

/** A source's errors that mean it does not have the content, not that the content is bad */
function isMiss (err: unknown): boolean {
  return err instanceof ManifestNotFoundError || err instanceof BlocksUnavailableError || err instanceof ImageRecordNotFoundError
}

export class ContentService extends EventTarget implements BlockGetter {
  /** The store's size against its limits: stat, eviction, gc, image removal (see `storage.ts`) */
  readonly storage: StorageService
  readonly #c: ContentServiceComponents
  readonly #local: LocalSource
  readonly #sources: ContentSource[]
  readonly #registry: Registry
  readonly #log: Logger
  readonly #manifests = new SingleFlight<{ bytes: Uint8Array, parsed: ParsedManifest, source: string }>()
  readonly #ingests = new Map<string, Promise<void>>()
  /** Image manifests fetched from a source, waiting for their blobs (see #pendImage) */
  readonly #pending = new Map<Digest, ParsedManifest>()
  /** The leaf buffers held blobs are served from, shared by every request */
  readonly #buffers = new BufferPool(undefined, SERVE_BUFFERS)

  constructor (components: ContentServiceComponents, sources: ContentSource[] = [components.swarm]) {
    super()
    this.#c = components
    this.#local = new LocalSource(components)
    this.#sources = [this.#local, ...sources]
    this.#registry = new Registry(components, this.#local)
    this.#log = components.logger.forComponent('provenir:content')
    this.storage = new StorageService({
      blockstore: components.blockstore,
      images: components.images,
      access: new AccessLog({ db: components.images.sublevel('access') }),
      logger: components.logger,
      unprovide: components.unprovide
    }, components.storage ?? DEFAULT_STORAGE_CONFIG)
  }

  /** The sources, in the order they are asked (`local` first) */
  get sources (): readonly ContentSource[] {
    return this.#sources
  }

  // ---- reads ----

  /** The digest a tag names in a repository, asked of each source in order; undefined when none knows it */
  async resolveTag (request: ContentRequest & { tag: string }): Promise<TagResolution | undefined> {
    // a mirror request's namespace names the registry the tag lives in: the node's own repositories
    // of the same path (pushed, or named by provenir) are another registry's, so only the sources
    // that fetch from that registry answer
    const namespaced = request.namespace != null ? this.#sources.filter(s => s.namespaced === true) : []
    for (const source of namespaced.length > 0 ? namespaced : this.#sources) {
      const found = await source.resolveTag?.(request)
      if (found != null) return found
    }
    return undefined
  }

  /**
   * A manifest or index, by tag or digest, checked against its digest. By
   * digest, one the repository does not hold is fetched from the sources into
   * it: the local store (content held for another repository), then the
   * swarm (a pull, checked against the trust policy under the repository's
   * name). A digest deleted on purpose is not fetched again.
   *
   * @throws ManifestNotFoundError, PolicyViolationError
   */
  async manifest (request: ManifestRequest): Promise<ManifestResult> {
    let digest = request.reference
    let named = request.named
    let tag: string | undefined
    if (!isDigest(digest)) {
      tag = request.reference
      const resolved = await this.resolveTag({ ...request, tag })
      if (resolved == null) throw new ManifestNotFoundError(`no tag ${tag} in ${request.repository} on this node`)
      digest = resolved.digest
      named ??= resolved.named
    }
    // the fetch is shared: it runs under its own bounds (the pull's), and each caller waits under its own signal
    const { signal, ...shared } = request
    const release = this.storage.hold(digest)
    let fetched: { bytes: Uint8Array, parsed: ParsedManifest, source: string }
    try {
      const fetching = this.#manifests.run(digest, async () => this.#fetchManifest({ ...shared, digest: digest as Digest, ...(tag != null ? { tag } : {}), ...(named != null ? { named } : {}) }))
      fetched = await raceSignal(fetching, signal, () => new ManifestNotFoundError(`no source delivered manifest ${digest} in time`))
    } finally {
      release()
    }
    this.storage.touch(digest)
    this.#transferred(fetched.source, fetched.bytes.byteLength)
    if (fetched.source !== 'local' || !await this.#c.registry.isLinked(request.repository, digest)) {
      // the repository now holds it and the blobs it names (with no tag: tags name what was pushed,
      // or resolve by name); an index's manifests join when they are fetched through it
      await this.#c.registry.link({ repository: request.repository, manifests: [digest], blobs: blobsOf(fetched.parsed) })
    }
    return { digest: digest as Digest, mediaType: fetched.parsed.mediaType, size: fetched.bytes.byteLength, bytes: fetched.bytes, kind: fetched.parsed.kind }
  }

  async #fetchManifest (request: ManifestRequest & { digest: Digest, tag?: string }): Promise<{ bytes: Uint8Array, parsed: ParsedManifest, source: string }> {
    const digest = request.digest
    const local = await this.#local.manifest(request)
    if (local != null) return { bytes: local.bytes, parsed: parseManifest(local.bytes, { expectedDigest: digest }), source: 'local' }
    if (await this.#c.registry.isDeleted(digest)) throw new ManifestNotFoundError(`manifest ${digest} was deleted from this node`)
    // a source stores the manifest's block before the service records (and pins) it: gc keeps it meanwhile
    const release = this.#c.blockstore.guard([cidForDigest(digest)])
    // why each source that was asked did not have it, for the error when none had it
    const misses: Error[] = []
    try {
      const sources = this.#sources.slice(1)
      for (const [i, source] of sources.entries()) {
        let found: SourceManifest | undefined
        try {
          found = await source.manifest(request)
        } catch (err) {
          // a source that does not have it (the swarm: no provider in time) gives way to the next
          // (an upstream registry); any other failure (a policy refusal, a bad record) is the answer
          if (i === sources.length - 1 || !isMiss(err)) throw err
          misses.push(err as Error)
          this.#log('manifest %s: %s; asking %s', digest, (err as Error).message, sources[i + 1].name)
        }
        if (found == null) continue
        // nothing a source returns is answered or recorded before it matched its digest
        const parsed = parseManifest(found.bytes, { expectedDigest: digest })
        await this.#registry.recordFetchedManifest(digest, parsed, found, source.name)
        // recorded once its blobs are in, whichever source they come from: a manifest a peer
        // answered while that peer was still fetching the image from an upstream has no image
        // record yet, so the swarm pull fails and the blobs come from the upstream
        await this.#pendImage(digest, parsed)
        return { bytes: found.bytes, parsed, source: source.name }
      }
    } finally {
      release()
    }
    const why = misses.map(e => e.message).join('; ')
    throw new ManifestNotFoundError(`no source has manifest ${digest}${why !== '' ? `: ${why}` : ''}`, misses.length > 0 ? { cause: misses[misses.length - 1] } : undefined)
  }

  /**
   * A blob the repository holds (pushed, mounted, or named by one of its
   * manifests), opened for reading: from the store, or streamed while a
   * source fetches it.
   *
   * @throws BlobNotFoundError
   */
  async blob (request: BlobRequest): Promise<BlobHandle> {
    const digest = request.digest
    if (!isDigest(digest)) throw new InvalidParametersError(`not a digest: ${digest}`)
    if (!await this.#c.registry.isLinked(request.repository, digest)) {
      throw new BlobNotFoundError(`blob ${digest} is not in repository ${request.repository}`)
    }
    // eviction leaves the blob alone from its lookup here to the end of each read
    const release = this.storage.hold(digest)
    try {
      for (const source of this.#sources) {
        const found = await source.blob({ ...request, digest })
        if (found != null) return this.#held(this.#handle(digest, found, source.name))
      }
    } finally {
      release()
    }
    throw new BlobNotFoundError(`no source has blob ${digest}`)
  }

  /** The handle with each read holding its digest from eviction and recording its use */
  #held (handle: BlobHandle): BlobHandle {
    const storage = this.storage
    const transferred = (bytes: number): void => { this.#transferred(handle.source, bytes) }
    return {
      ...handle,
      read: (range, options) => (async function * () {
        const release = storage.hold(handle.digest)
        let bytes = 0
        try {
          storage.touch(handle.digest)
          for await (const chunk of handle.read(range, options)) {
            bytes += chunk.byteLength
            yield chunk
          }
        } finally {
          release()
          transferred(bytes)
        }
      })()
    }
  }

  #transferred (source: string, bytes: number): void {
    if (bytes > 0) this.dispatchEvent(new CustomEvent<TransferDetail>('transfer', { detail: { source, bytes } }))
  }

  #handle (digest: Digest, found: SourceBlob, source: string): BlobHandle {
    const store = this.#c.blockstore
    const buffers = this.#buffers
    const base = { digest, size: found.size, source, release: (chunk: Uint8Array) => { buffers.release(chunk) } }
    const bounds = (range?: ByteRange): { offset: number, length: number } =>
      ({ offset: range?.start ?? 0, length: range != null ? range.end - range.start + 1 : found.size })
    switch (found.kind) {
      case 'stored':
        // every block checked against its CID as it is read (the store skips the hash of a file
        // unchanged since it was checked); the digest was checked when the blob was stored
        return { ...base, read: (range, options) => readBlob(found.root, store, { ...bounds(range), signal: options?.signal, buffers }) }
      case 'arriving':
        return {
          ...base,
          read: (range, options) => {
            const signal = options?.signal ?? AbortSignal.timeout(DEFAULT_PULL_TIMEOUT)
            return withheldEnd(readBlob(found.root, found.reader(signal), { ...bounds(range), signal, verifyBlocks: false, buffers }), found.verified)
          }
        }
      case 'stream':
        return {
          ...base,
          read: (range, options) => {
            const { offset, length } = bounds(range)
            return slice(this.#ingest(digest, found, options ?? {}), offset, length)
          }
        }
    }
  }

  /**
   * The bytes of a source that returns a stream, checked against the digest
   * while they pass and stored as blocks: the first reader's stream does the
   * fetch, holding back its last chunk until the digest matched; a reader
   * that comes while it runs waits for it and reads the store.
   */
  async * #ingest (digest: Digest, found: Extract<SourceBlob, { kind: 'stream' }>, options: AbortOptions): AsyncGenerator<Uint8Array> {
    const running = this.#ingests.get(digest)
    if (running != null) {
      await running
      const stored = await this.#local.locateBlob(digest)
      if (stored == null) throw new BlobNotFoundError(`blob ${digest} failed its check`)
      yield * readBlob(stored.root, this.#c.blockstore, { signal: options.signal })
      return
    }
    const done = Promise.withResolvers<void>()
    done.promise.catch(() => {})
    this.#ingests.set(digest, done.promise)
    try {
      // a reader whose source answered before an ingest of the same blob ended finds it stored
      const stored = await this.#local.locateBlob(digest)
      if (stored != null) {
        done.resolve()
        yield * readBlob(stored.root, this.#c.blockstore, { signal: options.signal })
        return
      }
      yield * ingest(found.open(options), digest, found.size, {
        store: this.#c.blockstore,
        signal: options.signal,
        onStored: async (blob) => {
          await this.#c.registry.putBlob(digest, { size: blob.size, root: blob.root.toString(), blocks: blob.blocks.map(c => c.toString()) })
          this.#c.provide(blob.root)
          await this.#completeImages(digest)
        }
      })
      done.resolve()
    } catch (err) {
      done.reject(err)
      throw err
    } finally {
      this.#ingests.delete(digest)
    }
  }

  /**
   * An image manifest a stream source fetched waits here until its blobs are
   * all stored (clients fetch them after the manifest); then it is recorded
   * as a whole image, so peers can pull it from this node over the swarm.
   */
  async #pendImage (digest: Digest, parsed: ParsedManifest): Promise<void> {
    if (parsed.kind !== 'manifest' || await this.#registry.completeImage(digest, parsed)) return
    if (this.#pending.size >= MAX_PENDING_UPSTREAM_IMAGES) this.#pending.delete(this.#pending.keys().next().value as Digest)
    this.#pending.set(digest, parsed)
  }

  /** Records each pending image whose last missing blob `blob` was */
  async #completeImages (blob: Digest): Promise<void> {
    for (const [digest, parsed] of [...this.#pending]) {
      if (!blobsOf(parsed).includes(blob)) continue
      try {
        if (await this.#registry.completeImage(digest, parsed)) this.#pending.delete(digest)
      } catch (err) {
        this.#log.error('recording image %s failed - %e', digest, err)
      }
    }
  }

  /** A verified block by CID: the store, else the sources that fetch blocks (naming's repository documents) */
  async get (cid: CID, options: AbortOptions = {}): Promise<Uint8Array> {
    for (const source of this.#sources) {
      const bytes = await source.block?.(cid, options)
      if (bytes != null) return bytes
    }
    throw new BlobNotFoundError(`no source has block ${cid.toString()}`)
  }

  /** The repository's tags, sorted; undefined for a repository the node has never held a manifest in */
  async tags (repository: string, options?: AbortOptions): Promise<string[] | undefined> {
    return this.#c.registry.tags(repository, options)
  }

  /** Every repository with a manifest, sorted */
  async repositories (options?: AbortOptions): Promise<string[]> {
    return this.#c.registry.repositories(options)
  }

  /**
   * Settles once a swarm pull of `digest` in flight, if any, has ended (a
   * client's manifest request that the swarm answered starts one, and it
   * records the image when its blobs are in).
   */
  async settled (digest: string): Promise<void> {
    await this.#c.swarm.settled(digest)
  }

  /**
   * The referrers of `digest` in a repository: manifests pushed with it as
   * their subject, and its statements as Sigstore bundle artifacts. An image
   * being pulled is waited for, so its statements are listed once it is in.
   */
  async referrers (request: ContentRequest & { digest: string, artifactType?: string }): Promise<ReferrerDescriptor[]> {
    await this.#c.swarm.settled(request.digest)
    return listReferrers(this.#c, request)
  }

  // ---- writes ----

  /** Stores a manifest or index pushed through a repository (see `Registry.putManifest`) */
  async putManifest (request: PutManifestRequest, options: { signer?: PrivateKey } = {}): Promise<PutManifestResult> {
    const result = await this.#registry.putManifest(request, options)
    this.dispatchEvent(new CustomEvent<PushDetail>('push', { detail: { kind: 'manifest', bytes: request.bytes.byteLength } }))
    return result
  }

  /**
   * Records a blob an upload built, once its digest is checked, and links
   * it to the repository; without `blob`, links a blob the node holds
   * already (see `Registry.commitBlob`)
   */
  async commitBlob (request: BlobRequest, blob?: UploadedBlob): Promise<void> {
    await this.#registry.commitBlob(request, blob)
    if (blob != null) this.dispatchEvent(new CustomEvent<PushDetail>('push', { detail: { kind: 'blob', bytes: blob.size } }))
  }

  /** Links a blob `from` holds into the repository; false when `from` does not hold it */
  async mountBlob (request: BlobRequest & { from?: string }): Promise<boolean> {
    return this.#registry.mountBlob(request)
  }

  /** Whether the node holds a blob (for any repository): an upload of it stores nothing new */
  async holdsBlob (digest: string): Promise<boolean> {
    return await this.#local.locateBlob(digest) != null
  }

  /** Deletes a tag, or a manifest from the node (see `Registry.deleteManifest`) */
  async deleteManifest (request: ManifestRequest): Promise<void> {
    await this.#registry.deleteManifest(request)
  }

  /** Deletes an uploaded blob (see `Registry.deleteBlob`) */
  async deleteBlob (request: BlobRequest): Promise<void> {
    await this.#registry.deleteBlob(request)
  }

  /** Pulls a whole image from the swarm on purpose (the CLI's pull): a digest deleted before may come back */
  async pull (manifestDigest: string, options: PullOptions = {}): Promise<PulledImage> {
    const started = performance.now()
    const ended = (result: PullResult): void => {
      this.dispatchEvent(new CustomEvent<PullDetail>('pull', { detail: { manifestDigest, result, seconds: (performance.now() - started) / 1000 } }))
    }
    try {
      // an image held already is answered from the store, with its own record (checked when it was
      // stored) rather than one asked of peers; the bytes are counted by where they came from
      const stored = await this.#c.images.get(manifestDigest, options)
      const held = stored != null
      const record = options.record ?? stored
      const pulled = await this.#c.swarm.pull(manifestDigest, record != null ? { ...options, record } : options)
      this.storage.touch(...pulled.record.blobs.map(b => b.digest))
      await this.#c.registry.undelete(manifestDigest)
      if (pulled.index != null) await this.#c.registry.undelete(pulled.index.digest)
      this.#transferred(held ? this.#local.name : this.#c.swarm.name, pulled.record.blobs.reduce((n, b) => n + b.size, 0))
      ended('ok')
      return pulled
    } catch (err) {
      ended(pullResult(err, options.signal))
      throw err
    }
  }

  /** Migrates a gateway `state.json` of an earlier release into the index, once (see `migrate.ts`) */
  async migrateGatewayState (file: string, options?: AbortOptions): Promise<MigrationResult> {
    return migrateGatewayState(this.#c, file, options)
  }

  /** Advertises the indexes and artifacts the registry holds (image records are provided by their owner) */
  async provideHeld (options?: AbortOptions): Promise<number> {
    let count = 0
    for await (const [, entry] of this.#c.registry.manifests(options)) {
      if (entry.blocks == null) continue
      this.#c.provide(CID.parse(entry.root))
      count++
    }
    this.#log('providing %d index(es) and artifact(s) the registry holds', count)
    return count
  }
}

export type { SourceManifest }
