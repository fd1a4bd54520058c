/**
 * The swarm source: content from other peers, found through the DHT and
 * moved by a block transport. It owns the pulls in flight, so that:
 *
 * - a manifest asked by digest starts one pull of the image (however many
 *   requests ask), answered as soon as the manifest is in, its statements
 *   fetched and the trust policy passed (`pull:ready`), before the blobs;
 * - a blob of a pull in flight is served while it arrives: its leaves read in
 *   order, each one not held yet asked of the transport (checked against its
 *   CID on receipt), the end held back until the pull has checked the whole
 *   blob against its digest;
 * - an image index (multi-arch) is fetched as its one block, for the client
 *   to choose a platform; each platform is then pulled when asked for.
 *
 * `pull()` is the whole-image pull of the CLI (`node.pull`), over the same
 * transport seam.
 */

import { cidForDigest, getBlockBytes, MAX_MANIFEST_SIZE, parseManifest } from '@provenir/content'
import { CID } from 'multiformats/cid'
import { raceSignal } from '../content/streams.js'
import { BLOCK_FETCH_TIMEOUT, DEFAULT_PULL_TIMEOUT } from '../constants.js'
import { BlobNotFoundError, ImageIndexFoundError, ManifestNotFoundError } from '../errors.js'
import { dhtProviders, pullImage } from './pull.js'
import type { ContentSource, FetchObserver, SourceBlob, SourceBlobRequest, SourceManifest, SourceManifestRequest } from '../content/types.js'
import type { ImageRecords } from '../image-records.js'
import type { PullContext, PulledImage, PullOptions, PullReady } from './pull.js'
import type { BlockTransport } from './transport.js'
import type { AbortOptions, ComponentLogger, Logger, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { BlobReader, ContentBlockstore, ImageIndex, ImageRecord } from '@provenir/content'
import type { TrustPolicy } from '@provenir/trust'

export interface SwarmSourceComponents {
  blockstore: ContentBlockstore
  images: ImageIndex
  transport: BlockTransport
  dht: KadDHT
  records: ImageRecords
  peerId: PeerId
  logger: ComponentLogger
  /** Advertise a CID in the DHT in the background */
  provide(cid: CID): void
  routingTableSize(): number
  /** Whether DHT peers are on their way (open connections, or bootstrap peers to dial) */
  expectsPeers(): boolean
  /** The policy every pull is checked against, read at each pull (a caller may change it) */
  trustPolicy(): TrustPolicy | undefined
}

/** An image being pulled for the clients of the content service */
interface InflightPull {
  /** The manifest is in and checked (undefined: the pull finished without saying so) */
  ready: Promise<PullReady | undefined>
  /** The image is recorded */
  done: Promise<void>
  /**
   * Resolves once the pull has checked blob `digest` against its digest
   * under `root`; rejects if the pull fails first, or if the bytes that
   * matched were another root's (the pull fell back to a root another
   * provider named, so what was streamed from `root` is not the blob).
   */
  verified(digest: string, root: CID): Promise<void>
}

export class SwarmSource implements ContentSource {
  readonly name = 'swarm'
  readonly #components: SwarmSourceComponents
  readonly #log: Logger
  readonly #pulls = new Map<string, InflightPull>()
  #observer?: FetchObserver

  constructor (components: SwarmSourceComponents) {
    this.#components = components
    this.#log = components.logger.forComponent('provenir:swarm')
  }

  get #context (): PullContext {
    const c = this.#components
    return {
      blockstore: c.blockstore,
      images: c.images,
      transport: c.transport,
      dht: c.dht,
      records: c.records,
      self: c.peerId,
      log: this.#log,
      provide: (cid) => { c.provide(cid) },
      routingTableSize: () => c.routingTableSize(),
      expectsPeers: () => c.expectsPeers()
    }
  }

  /** Pulls a whole image (see `pullImage`), checked against the node's trust policy unless the caller gives one */
  async pull (manifestDigest: string, options: PullOptions = {}): Promise<PulledImage> {
    const policy = options.policy ?? this.#components.trustPolicy()
    return pullImage(this.#context, manifestDigest, policy != null ? { ...options, policy } : options)
  }

  observeFetches (observer: FetchObserver | undefined): void {
    this.#observer = observer
  }

  /** Pulls in flight for clients */
  get inflight (): number {
    return this.#pulls.size
  }

  /** Settles once the pull in flight of `digest`, if any, has ended */
  async settled (digest: string): Promise<void> {
    await this.#pulls.get(digest)?.done.catch(() => {})
  }

  async manifest (request: SourceManifestRequest): Promise<SourceManifest | undefined> {
    const digest = request.digest
    const reference = request.named?.reference ?? (request.tag != null ? `${request.repository}:${request.tag}` : `${request.repository}@${digest}`)
    const pull = this.#pull(digest, reference, request.named?.record, request.pullTimeout)
    let info: PullReady | undefined
    try {
      info = await raceSignal(pull.ready, request.signal, () => new ManifestNotFoundError(`no provider delivered manifest ${digest} in time`))
    } catch (err) {
      // a multi-arch image: its index now, each platform's image when a client asks for it
      if (err instanceof ImageIndexFoundError) return this.#index(digest, request)
      throw err
    }
    if (info != null) {
      const root = CID.parse(info.manifest.root)
      return { bytes: await getBlockBytes(this.#components.blockstore, root, { signal: request.signal, max: MAX_MANIFEST_SIZE }), root }
    }
    const record = await this.#components.images.get(digest)
    if (record == null) return undefined
    const root = CID.parse(record.blobs[0].root)
    return { bytes: await getBlockBytes(this.#components.blockstore, root, { signal: request.signal, max: MAX_MANIFEST_SIZE }), root }
  }

  /**
   * An image index's one block, from the swarm (the failed image pull
   * fetched it already, unless a gc took it since). The service checks it
   * against the digest, pins and records it.
   */
  async #index (digest: string, options: AbortOptions): Promise<SourceManifest> {
    options = { signal: options.signal ?? AbortSignal.timeout(BLOCK_FETCH_TIMEOUT) }
    const cid = cidForDigest(digest)
    const store = this.#components.blockstore
    if (!await store.has(cid, options)) await this.#components.transport.hold(cid, options)
    const bytes = await getBlockBytes(store, cid, { signal: options.signal, max: MAX_MANIFEST_SIZE })
    if (parseManifest(bytes, { expectedDigest: digest }).kind !== 'index') throw new ManifestNotFoundError(`${digest} from the swarm is not an image index`)
    return { bytes, root: cid }
  }

  async blob (request: SourceBlobRequest): Promise<SourceBlob | undefined> {
    // an image being pulled may hold it: stream it as it arrives when its root is known
    for (const entry of [...this.#pulls.values()]) {
      const info = await entry.ready.catch(() => undefined)
      const blob = info?.blobs.find(b => b.digest === request.digest && b.root != null)
      if (blob == null) continue
      const root = CID.parse(blob.root as string)
      const verified = entry.verified(request.digest, root).catch((err: Error) => {
        throw err instanceof BlobNotFoundError ? err : new BlobNotFoundError(`blob ${request.digest} from the swarm failed: ${err.message}`, { cause: err })
      })
      // awaited once the stream has sent all but its last chunk: a pull that
      // fails before then must not be an unhandled rejection meanwhile
      verified.catch(() => {})
      return { kind: 'arriving', root, size: blob.size, reader: (signal) => this.#fetchingReader(signal), verified }
    }
    // wait for the pulls in flight, and look for it among what they recorded: also with none
    // left, since one may have ended (recorded, and gone from the map) after the local source
    // looked and before this did
    await Promise.allSettled([...this.#pulls.values()].map(async p => p.done))
    const record = await this.#components.images.getBlob(request.digest)
    if (record == null) return undefined
    const root = CID.parse(record.root)
    return await this.#components.blockstore.has(root) ? { kind: 'stored', root, size: record.size } : undefined
  }

  /** One block from the peers the DHT names as its providers */
  async block (cid: CID, options: AbortOptions): Promise<Uint8Array | undefined> {
    const c = this.#components
    const session = c.transport.createSession({ providers: dhtProviders(c.dht, c.peerId) })
    try {
      for await (const block of session.want([cid], { signal: options.signal ?? AbortSignal.timeout(BLOCK_FETCH_TIMEOUT) })) return block.bytes
    } finally {
      session.close()
    }
    return undefined
  }

  /**
   * A reader over the store that asks the transport for a block not held yet
   * (checked against its CID and stored on receipt). A blob's leaves are read
   * in order, a few ahead, so the blob streams while it arrives, beside the
   * pull fetching the same blocks.
   */
  #fetchingReader (signal: AbortSignal): BlobReader & Pick<ContentBlockstore, 'readInto'> {
    const store = this.#components.blockstore
    const transport = this.#components.transport
    const held = async (cid: CID): Promise<void> => {
      if (!await store.has(cid)) await transport.hold(cid, { signal })
    }
    return {
      get: (cid, options) => (async function * () {
        await held(cid)
        yield * store.get(cid, { ...options, signal })
      })(),
      // the store looks the block up anyway: ask the transport only when it says it has none
      readInto: async (cid, target, options) => {
        try {
          return await store.readInto(cid, target, { ...options, signal })
        } catch (err: any) {
          if (err?.name !== 'NotFoundError') throw err
        }
        await transport.hold(cid, { signal })
        return store.readInto(cid, target, { ...options, signal })
      }
    }
  }

  /**
   * Pulls an image from the swarm once, however many requests ask for it at
   * once. `ready` resolves as soon as the manifest is in, its statements
   * fetched and the trust policy passed (before the blobs); `done` when the
   * whole image is recorded.
   */
  #pull (digest: string, reference: string, record: ImageRecord | undefined, timeout = DEFAULT_PULL_TIMEOUT): InflightPull {
    const existing = this.#pulls.get(digest)
    if (existing != null) return existing
    const ready = Promise.withResolvers<PullReady | undefined>()
    ready.promise.catch(() => {})
    const checks = new BlobChecks()
    // an observer's failure must not fail the pull it watches
    let watch: ReturnType<FetchObserver> | undefined
    try {
      watch = this.#observer?.(digest, reference)
    } catch (err) {
      this.#log.error('the fetch observer failed - %e', err)
    }
    const pending: InflightPull = {
      ready: ready.promise,
      verified: async (blob, root) => checks.verified(blob, root),
      done: this.pull(digest, {
        signal: AbortSignal.timeout(timeout),
        // the client reads each blob in order while it arrives
        sequential: true,
        // the trust policy's rule is chosen by the repository name asked for
        reference,
        acceptIndex: true,
        // fetched for a client: cache, which eviction may take back
        pin: false,
        ...(record != null ? { record } : {}),
        onProgress: (event) => {
          watch?.observe(event)
          if (event.type === 'pull:ready') ready.resolve(event.detail)
          else if (event.type === 'pull:blob-complete') checks.passed(event.detail.digest, event.detail.root)
        }
      }).then(() => {
        watch?.finish()
        ready.resolve(undefined)
        checks.end()
      }, (err: unknown) => {
        watch?.finish(err)
        ready.reject(err)
        checks.end(err)
        throw err
      }).finally(() => {
        this.#pulls.delete(digest)
      })
    }
    pending.done.catch((err: Error) => { this.#log('pull of %s for a client failed - %e', digest, err) })
    this.#pulls.set(digest, pending)
    return pending
  }
}

/** Each blob's digest check by a pull (with the root that passed), which a blob streamed meanwhile waits for */
class BlobChecks {
  readonly #checks = new Map<string, PromiseWithResolvers<string | undefined>>()
  readonly #passed = new Map<string, string>()
  #ended: { ok: true } | { ok: false, err: unknown } | undefined

  #check (blob: string): PromiseWithResolvers<string | undefined> {
    let check = this.#checks.get(blob)
    if (check == null) {
      check = Promise.withResolvers<string | undefined>()
      check.promise.catch(() => {})
      this.#checks.set(blob, check)
      if (this.#passed.has(blob)) check.resolve(this.#passed.get(blob))
      else if (this.#ended?.ok === true) check.resolve(undefined)
      else if (this.#ended != null) check.reject(this.#ended.err)
    }
    return check
  }

  passed (blob: string, root: string): void {
    this.#passed.set(blob, root)
    this.#check(blob).resolve(root)
  }

  /** The pull ended: a blob not checked by then is not in the image (or the pull failed) */
  end (err?: unknown): void {
    this.#ended = err == null ? { ok: true } : { ok: false, err }
    for (const check of this.#checks.values()) {
      if (err == null) check.resolve(undefined)
      else check.reject(err)
    }
  }

  async verified (blob: string, root: CID): Promise<void> {
    // undefined only for a blob the image does not have (the pull completed without it)
    const good = await this.#check(blob).promise
    if (good !== root.toString()) {
      throw new BlobNotFoundError(`blob ${blob} did not match its digest under root ${root.toString()}; the pull took another provider's root (ask again)`)
    }
  }
}
