import { BlobSizeMismatchError, cidForDigest, DigestMismatchError, getBlockBytes, MAX_IMAGE_STATEMENTS, NotABlobError, parseManifest, platformsOf, selectPlatform, UnsupportedMediaTypeError, warmHashWorker } from '@provenir/content'
import { CID } from 'multiformats/cid'
import { AbortError, formatPlatform, parsePlatform } from '@provenir/interface'
import { assertPolicy, verifyImage } from '@provenir/trust'
import { CustomProgressEvent } from 'progress-events'
import { DISCOVERY_PEER_WAIT, MANIFEST_DISCOVERY_TIMEOUT } from '../constants.js'
import { BlobDagInvalidError, BlocksUnavailableError, ImageIndexFoundError, ImageRecordNotFoundError, ManifestNotFoundError, NoHonestProviderError, PlatformNotFoundError } from '../errors.js'
import { findRecords, mergeRecords } from '../record-quorum.js'
import { checkImageStatement } from '../statements.js'
import { providerKey } from './dht-key.js'
import { fetchBlob } from './fetch.js'
import { HeldProvides } from './held-provides.js'
import { ProviderLookups } from './provider-lookups.js'
import type { ImageStatement } from '../statements.js'
import type { ImageRecords } from '../image-records.js'
import type { MergedRecord } from '../record-quorum.js'
import type { BlockTransport, ProvidersFunction, TransportProgressEvents, TransportSession } from './transport.js'
import type { AbortOptions, Logger, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { ContentBlockstore, Descriptor, ImageIndex, ImageRecord, ImageBlobRecord, ParsedImageManifest, Platform } from '@provenir/content'
import type { PlatformSpec } from '@provenir/interface'
import type { TrustPolicy, VerificationReport } from '@provenir/trust'
import type { ProgressEvent, ProgressOptions } from 'progress-events'

/**
 * Blobs fetched at once within one image (each is itself a parallel transport
 * fetch). The transfer is CPU-bound well before two 1 MiB-block windows are
 * full, and each more blob in flight adds its window and its garbage to the
 * puller's peak RSS: 4 at once peaked at 243-256 MiB for the 315 MB image,
 * 2 at 228-236 MiB (goal 250 MB).
 */
export const BLOB_CONCURRENCY = 2

/**
 * Blobs fetched at once by a `sequential` pull, which serves registry
 * clients streaming the blobs while they arrive: the clients download
 * several layers at once (skopeo, containerd and docker 3 or more), and a
 * blob the pull has not started yet streams block by block through single
 * wants. Through the gateway (315 MB, 3 layers) 4 at once read 650 MB at B
 * against 750 MB with 2, and B used 0.1-0.3 s less CPU.
 */
export const CLIENT_BLOB_CONCURRENCY = 4

/**
 * Blocks in flight per blob fetch. The window is per `session.want()` call,
 * so a pull holds at most BLOB_CONCURRENCY x SESSION_WINDOW blocks (1 MiB
 * each) in flight: this bounds the puller's memory.
 */
export const SESSION_WINDOW = 8

/**
 * Blocks in flight per blob fetch of a `sequential` pull (a registry
 * client's, through the gateway) over the bulk channel. Its blocks are
 * asked for in order, so in a rollout every puller wants the same few
 * blocks at once, and each one reaches the swarm through a chain of pullers
 * that relay it as it lands: more blocks in flight keep more chains going.
 * In the lab's gateway rollout (16 hosts, 64 MiB at 10 Mbit/s) 24 took a
 * median 130 s against 159 s with 8 (BENCHMARKS.md, "The gateway's stream
 * waits for its session; a shared window"). With more than one bulk peer
 * the session keeps 4 of them in order and fetches the others ahead, at
 * random (`PREFETCH_BLOCKS` in bulk/constants.ts). The blobs of the pull
 * share CLIENT_PULL_IN_FLIGHT. Bitswap, whose session cannot share one cap
 * among its wants, keeps SESSION_WINDOW.
 */
export const CLIENT_SESSION_WINDOW = 24

/**
 * Blocks in flight across the blobs of a `sequential` pull, those fetched
 * ahead counted: the memory of CLIENT_BLOB_CONCURRENCY blobs of
 * SESSION_WINDOW blocks. A single large layer takes CLIENT_SESSION_WINDOW
 * of them (in a swarm, 4 in order and up to 24 ahead); four layers at once
 * share them. With 24 per blob and no cap the gateway's peak RSS in a cold pull
 * of the 315 MB image rose from 224-249 MiB to 273-278 MiB.
 */
export const CLIENT_PULL_IN_FLIGHT = CLIENT_BLOB_CONCURRENCY * SESSION_WINDOW

/**
 * Blocks in flight when a blob fetch starts; one more per block delivered,
 * up to SESSION_WINDOW (the transport session's slow start). In a rollout each puller
 * knows only the origin at first: a small first window leaves the rest of
 * the blob to the pullers the DHT names next.
 */
export const SESSION_INITIAL_WINDOW = 2

/** Time to find an image record among the providers, in ms */
export const RECORD_LOOKUP_TIMEOUT = 30_000

export { ImageRecordNotFoundError, PlatformNotFoundError }

/**
 * The reference a trust policy sees for an image named by digest alone:
 * `sha256/<hex>@sha256:<hex>`, so its repository is `sha256/<hex>`.
 */
export function digestReference (digest: string): string {
  return `${digest.replace(':', '/')}@${digest}`
}

/** Time to fetch the image's statement blocks, in ms */
export const STATEMENTS_TIMEOUT = 60_000

/**
 * The statement fetch stops waiting for the rest when no statement block has
 * arrived for this long, in ms: a statement listed in a record but held by
 * no one (a forged record's padding) must not hold a pull for the whole
 * STATEMENTS_TIMEOUT. Statements are small, and come from the image's own
 * providers.
 */
export const STATEMENT_IDLE_TIMEOUT = 5_000

export type PullProgressEvents =
  TransportProgressEvents |
  ProgressEvent<'pull:manifest', { digest: string }> |
  ProgressEvent<'pull:verified', VerificationReport> |
  ProgressEvent<'pull:ready', PullReady> |
  ProgressEvent<'pull:blob', { digest: string, size: number }> |
  /** `root`: the DAG root whose bytes matched the digest (another provider's root may have been tried first) */
  ProgressEvent<'pull:blob-complete', { digest: string, size: number, root: string }>

/**
 * Sent once the manifest is in, its statements fetched and the policy
 * passed, before the blobs are fetched: what a server needs to answer the
 * manifest and stream blobs while they arrive. A `root` from a provider's
 * record is a hint until the blob's digest is checked; a blob without a
 * root needs the record, which the pull found none of.
 */
export interface PullReady {
  manifestDigest: string
  mediaType: string
  /** CID of the manifest's block (raw) and its size */
  manifest: { root: string, size: number }
  blobs: Array<{ digest: string, size: number, mediaType: string, root?: string }>
}

export interface PullOptions extends AbortOptions, ProgressOptions<PullProgressEvents> {
  /**
   * A record of the image the caller already holds from a trusted source,
   * such as a signed repository document: its blob roots and statements are
   * used instead of asking the providers for theirs.
   */
  record?: ImageRecord
  /**
   * The trust policy checked once the manifest and the statements are in,
   * before any blob is fetched. Under `enforce` a failing image throws
   * `PolicyViolationError` and nothing is recorded; under `audit` the failures
   * are warnings in the report.
   */
  policy?: TrustPolicy
  /**
   * The name the image is pulled under (`namespace/repo[:tag]`); the policy
   * rule is chosen by it. A pull by digest alone is checked under
   * {@link digestReference}: repository `sha256/<hex>`, which rules such as
   * `sha256/**` or `**` match.
   */
  reference?: string
  /**
   * Fetch each blob's blocks in order, as a client that streams the blob
   * while it arrives (the gateway) reads them. By default the order is
   * shuffled, so that pullers in a rollout soon hold different blocks to
   * trade.
   *
   * @default false
   */
  sequential?: boolean
  /**
   * For a digest that names an image index (multi-arch): pull the manifest
   * it lists for this platform (`os/architecture[/variant]`), as `docker
   * pull` does. Without it an index is refused with
   * `UnsupportedMediaTypeError`, which names the platforms it has.
   */
  platform?: PlatformSpec | string
  /**
   * For a digest that names an image index and no `platform`: throw
   * `ImageIndexFoundError` (the index's block is then held, checked against
   * the digest) instead of refusing the index, for a caller that serves the
   * index itself and lets its client choose a platform.
   *
   * @internal
   */
  acceptIndex?: boolean
  /**
   * Keep the image on purpose (its record pins it, and eviction never takes
   * it). `false` lists it as cache, which eviction may remove, least recently
   * used first, once the store passes its high watermark: what the content
   * service fetches for a client is cache.
   *
   * @default true
   */
  pin?: boolean
}

export interface PulledImage {
  /** The image's record as stored in the index: manifest, config and layers, each verified */
  record: ImageRecord
  manifest: ParsedImageManifest
  /** Every block of the image, pinned */
  blocks: CID[]
  /** The statements that verified and name this image (signatures, attestations) */
  statements: ImageStatement[]
  /** The trust policy's verdict, when the pull had a policy */
  report?: VerificationReport
  /** When the digest pulled was an image index: it, and the platform whose image was pulled */
  index?: { digest: string, platform: string }
}

export interface PullContext {
  blockstore: ContentBlockstore
  images: ImageIndex
  /** How blocks come from other peers */
  transport: BlockTransport
  dht: KadDHT
  /** Peers in the DHT routing table: with none, no provider can be found */
  routingTableSize(): number
  /** Whether DHT peers are on their way (open connections, or bootstrap peers to dial) */
  expectsPeers?(): boolean
  records: ImageRecords
  self: PeerId
  log: Logger
  /** Advertise a CID in the DHT without waiting (deduplicated by the caller) */
  provide(cid: CID): void
}

/** Providers of `cid` from the DHT, other than ourselves */
export function dhtProviders (dht: KadDHT, self: PeerId): (cid: CID, options: { signal: AbortSignal }) => AsyncIterable<PeerId> {
  return async function * (cid, { signal }) {
    for await (const evt of dht.findProviders(providerKey(cid), { signal })) {
      if (evt.name !== 'PROVIDER') continue
      for (const p of evt.providers) {
        if (!p.id.equals(self)) yield p.id
      }
    }
  }
}

async function fetchManifest (ctx: PullContext, session: TransportSession, providers: ProvidersFunction, digest: string, options: PullOptions): Promise<{ bytes: Uint8Array, cid: CID }> {
  const cid = cidForDigest(digest)
  if (!await ctx.blockstore.has(cid, options)) {
    // aborted with ManifestNotFoundError once the swarm is known to hold no provider of the manifest
    const notFound = new AbortController()
    const stop = new AbortController()
    const signal = AbortSignal.any([notFound.signal, ...(options.signal != null ? [options.signal] : [])])
    void discoverManifest(ctx, providers, cid, digest, notFound, stop.signal)
    try {
      for await (const _ of session.want([cid], { ...options, signal })) { /* stored by the transport */ }
    } catch (err: any) {
      if (notFound.signal.aborted) throw notFound.signal.reason
      if (options.signal?.aborted === true) {
        throw new AbortError(`pull of ${digest} stopped before any provider delivered the manifest (${options.signal.reason?.name ?? 'aborted'})`)
      }
      throw err
    } finally {
      stop.abort()
    }
  }
  return { bytes: await getBlockBytes(ctx.blockstore, cid, { signal: options.signal }), cid }
}

/**
 * A manifest nobody holds must not hold a pull for the transport's whole
 * stall timeout: when a provider lookup of the manifest ends, or runs out of
 * MANIFEST_DISCOVERY_TIMEOUT, without naming a provider (and the manifest
 * has not arrived meanwhile), `notFound` is aborted with
 * ManifestNotFoundError. A node with no DHT peers yet (one that just
 * started) waits for one, since kad-dht's lookup would wait for peers that
 * may never come: within the same bound when peers are on their way, else
 * DISCOVERY_PEER_WAIT.
 */
async function discoverManifest (ctx: PullContext, providers: ProvidersFunction, cid: CID, digest: string, notFound: AbortController, stop: AbortSignal): Promise<void> {
  const deadline = AbortSignal.any([stop, AbortSignal.timeout(MANIFEST_DISCOVERY_TIMEOUT)])
  // a node that has connections, or bootstrap peers to dial, will have DHT peers soon: it waits the
  // whole bound for one; a node that has neither, only DISCOVERY_PEER_WAIT
  const peerWait = ctx.expectsPeers?.() === true ? deadline : AbortSignal.any([deadline, AbortSignal.timeout(DISCOVERY_PEER_WAIT)])
  while (ctx.routingTableSize() === 0) {
    if (peerWait.aborted) {
      if (!stop.aborted) notFound.abort(new ManifestNotFoundError(`no provider of manifest ${digest} in the swarm (this node has no DHT peers)`))
      return
    }
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        peerWait.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, DISCOVERY_PEER_POLL)
      peerWait.addEventListener('abort', done, { once: true })
    })
  }
  let found = false
  try {
    // read on past the first provider, until the manifest is in (`stop`): the session's lookup of
    // the manifest shares this query (`ProviderLookups`), which stops when its last reader does
    for await (const _ of providers(cid, { signal: deadline })) found = true
  } catch {
    // the lookup failed or ran out of its time
  }
  if (found) return
  try {
    if (stop.aborted || await ctx.blockstore.has(cid)) return
  } catch {
    return
  }
  notFound.abort(new ManifestNotFoundError(`no provider of manifest ${digest} in the swarm`))
}

/** How often a pull without DHT peers looks whether one has come, in ms */
const DISCOVERY_PEER_POLL = 100

/**
 * Ask the providers of the manifest for the image record: up to
 * RECORD_QUORUM of them, whose answers are merged (`record-quorum.ts`).
 * Needed for blobs larger than one chunk (their roots) and for the
 * statements.
 */
async function findRecord (ctx: PullContext, providers: ProvidersFunction, manifestCid: CID, digest: string, session: TransportSession, options: PullOptions): Promise<MergedRecord> {
  const signal = AbortSignal.any([AbortSignal.timeout(RECORD_LOOKUP_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
  const candidates = async function * (lookup: AbortSignal): AsyncGenerator<PeerId> {
    yield * session.peers()
    yield * providers(manifestCid, { signal: lookup })
  }
  const { records, peers, asked } = await findRecords(candidates, async (peer, asking) => {
    try {
      return await ctx.records.fetch(peer, digest, { signal: asking })
    } catch (err) {
      ctx.log('image record from %p failed - %e', peer, err)
      throw err
    }
  }, { signal })
  if (records.length === 0) throw new ImageRecordNotFoundError(`no provider of ${digest} answered with its image record (asked ${asked})`)
  // a peer with a record holds the image: fetch from it too (a DHT lookup may not have named it
  // to the session yet, and it may be the one whose root is right)
  for (const peer of peers) session.addPeer(peer)
  return mergeRecords(records)
}

/**
 * Errors of a blob fetched under a wrong root: another provider's root may
 * be the right one. A root whose blocks nobody delivers (a forged root no
 * one holds) stalls the session, or only liars answer for it, and gives way
 * too. Decided by our own
 * classes' names: any other error (a bug, a full disk) is not retried.
 */
const WRONG_ROOT = new Set([DigestMismatchError.name, BlobSizeMismatchError.name, NotABlobError.name, BlobDagInvalidError.name, BlocksUnavailableError.name, NoHonestProviderError.name])

/** When each step of a pull ended, in ms from its start */
interface PullTimings {
  manifest?: number
  record?: number
  statements?: number
  /** the first block of a blob larger than one chunk below its root */
  firstLeaf?: number
  blobs?: number
}

async function pullBlobs (ctx: PullContext, session: TransportSession, digest: string, manifest: ParsedImageManifest, record: MergedRecord | undefined, recordError: Error | undefined, guard: (cids: CID[]) => void, provides: HeldProvides, options: PullOptions, onLeaf?: () => void): Promise<{ blobs: ImageBlobRecord[], blocks: CID[] }> {
  const descriptors: Descriptor[] = [manifest.manifest.config, ...manifest.manifest.layers]
  const rootsOf = async (d: Descriptor): Promise<CID[]> => {
    const single = cidForDigest(d.digest)
    if (d.size <= ONE_CHUNK || await ctx.blockstore.has(single, options)) return [single]
    if (record == null) throw recordError ?? new ImageRecordNotFoundError(`no image record of ${digest}, which names the root of blob ${d.digest}`)
    const roots = record.roots.get(d.digest)
    if (roots == null) throw new ImageRecordNotFoundError(`the image record of ${digest} has no root for blob ${d.digest}`)
    return roots
  }
  const blobs: ImageBlobRecord[] = new Array(descriptors.length)
  const blocks: CID[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < descriptors.length) {
      const i = next++
      const d = descriptors[i]
      const roots = await rootsOf(d)
      options.onProgress?.(new CustomProgressEvent('pull:blob', { digest: d.digest, size: d.size }))
      // the roots the providers named, most named first: one that fails the
      // blob's digest (a stale or forged record) gives way to the next
      let root: CID | undefined
      for (let r = 0; r < roots.length && root == null; r++) {
        try {
          blocks.push(...await fetchBlob(session, ctx.blockstore, roots[r], d.digest, d.size, {
            signal: options.signal,
            onProgress: options.onProgress,
            // provide while downloading: peers pulling the same image find us as
            // soon as we hold part of it
            onFirstBlock: (cid) => { provides.add(cid) },
            onFirstLeaf: onLeaf,
            findProviders: dhtProviders(ctx.dht, ctx.self),
            sequential: options.sequential,
            guard
          }))
          root = roots[r]
        } catch (err: any) {
          options.signal?.throwIfAborted()
          if (r === roots.length - 1 || !WRONG_ROOT.has(err?.name)) throw err
          ctx.log('blob %s under root %c failed (%s), trying the root another provider named', d.digest, roots[r], err.message)
        }
      }
      if (root == null) throw new ImageRecordNotFoundError(`no root of blob ${d.digest} held its bytes`)
      blobs[i] = { digest: d.digest as ImageBlobRecord['digest'], size: d.size, root: root.toString(), mediaType: d.mediaType }
      options.onProgress?.(new CustomProgressEvent('pull:blob-complete', { digest: d.digest, size: d.size, root: root.toString() }))
    }
  }
  const concurrency = options.sequential === true ? CLIENT_BLOB_CONCURRENCY : BLOB_CONCURRENCY
  await Promise.all(Array.from({ length: Math.min(concurrency, descriptors.length) }, worker))
  return { blobs, blocks }
}

/** One chunk: a blob this size or smaller is a single raw block */
const ONE_CHUNK = 1024 * 1024

/**
 * Fetch the statement blocks a record lists (through the pull's session, so
 * from whoever provides them) and keep those that verify and name this
 * image. A statement that fails is logged and left out: it counts for
 * nothing, and the policy decides whether what is left is enough.
 */
async function fetchStatements (ctx: PullContext, session: TransportSession, image: Pick<ImageRecord, 'manifestDigest' | 'blobs'>, cids: string[], guard: (cids: CID[]) => void, options: PullOptions): Promise<ImageStatement[]> {
  if (cids.length === 0) return []
  const wanted = [...new Set(cids)].slice(0, MAX_IMAGE_STATEMENTS).map(c => CID.parse(c))
  guard(wanted)
  const signal = AbortSignal.any([AbortSignal.timeout(STATEMENTS_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
  const missing: CID[] = []
  for (const cid of wanted) {
    if (!await ctx.blockstore.has(cid, { signal })) missing.push(cid)
  }
  if (missing.length > 0) {
    const idle = new AbortController()
    let timer = setTimeout(() => { idle.abort() }, STATEMENT_IDLE_TIMEOUT)
    try {
      for await (const _ of session.want(missing, { signal: AbortSignal.any([signal, idle.signal]) })) {
        // stored by the transport, checked against its CID
        clearTimeout(timer)
        timer = setTimeout(() => { idle.abort() }, STATEMENT_IDLE_TIMEOUT)
      }
    } catch (err: any) {
      options.signal?.throwIfAborted()
      ctx.log('fetching the statements of %s stopped - %e', image.manifestDigest, err)
    } finally {
      clearTimeout(timer)
    }
  }
  const out: ImageStatement[] = []
  for (const cid of wanted) {
    try {
      if (!await ctx.blockstore.has(cid, { signal })) continue
      out.push(await checkImageStatement(await getBlockBytes(ctx.blockstore, cid, { signal }), image))
    } catch (err) {
      options.signal?.throwIfAborted()
      ctx.log('statement %c of %s refused - %e', cid, image.manifestDigest, err)
    }
  }
  return out
}

/**
 * Pull an image by its manifest digest: find providers of the manifest in the
 * DHT, fetch the manifest, config and layers through one transport session that
 * spreads wants over every provider, check each blob against its digest, then
 * record the image in the index, which pins every block. The record is
 * written only after every blob is complete. Blocks already held are not
 * fetched again, so an interrupted pull resumes.
 *
 * The image's statements (signatures and attestations listed in its record)
 * are fetched right after the manifest. With a trust policy, the image is
 * checked then, before any layer is fetched: under `enforce` a failure throws
 * `PolicyViolationError` naming the object and the rule, and nothing is
 * recorded, so nothing unverified is exported or served.
 *
 * @throws UnsupportedMediaTypeError for an image index (multi-arch): pull each platform's manifest
 */
export async function pullImage (ctx: PullContext, manifestDigest: string, options: PullOptions = {}): Promise<PulledImage> {
  // the layers' leaves are hashed and written on the hash worker: it starts (~60 ms) while the
  // manifest and the record come, not when the first leaf is waiting for it
  warmHashWorker()
  // the manifest's providers are looked up for the session, for the manifest's discovery and for
  // the record's candidates, mostly at once: one DHT query serves the lookups that overlap
  const manifestProviders = new ProviderLookups(dhtProviders(ctx.dht, ctx.self)).find
  const session = ctx.transport.createSession({
    providers: manifestProviders,
    window: SESSION_WINDOW,
    initialWindow: SESSION_INITIAL_WINDOW,
    ...(options.sequential === true ? { sharedWindow: { perWant: CLIENT_SESSION_WINDOW, total: CLIENT_PULL_IN_FLIGHT } } : {})
  })
  // every block is guarded from gc() before it is fetched, until the image
  // record (which pins them) is written or the pull fails
  const guards: Array<() => void> = []
  const guarded: CID[] = []
  const guard = (cids: CID[]): void => {
    guarded.push(...cids)
    guards.push(ctx.blockstore.guard(cids))
  }
  let refused = false
  // the manifest and each blob's root are advertised while the pull runs, but not at its busy start
  const provides = new HeldProvides(cid => { ctx.provide(cid) })
  // when each step of the pull ended, for its log line (a rollout's slow start is read from these)
  const started = Date.now()
  const timings: PullTimings = {}
  try {
    guard([cidForDigest(manifestDigest)])
    options.onProgress?.(new CustomProgressEvent('pull:manifest', { digest: manifestDigest }))
    const { bytes, cid } = await fetchManifest(ctx, session, manifestProviders, manifestDigest, options)
    provides.add(cid)
    timings.manifest = Date.now() - started
    const manifest = parseManifest(bytes, { expectedDigest: manifestDigest })
    if (manifest.kind === 'index') {
      if (options.platform == null) {
        if (options.acceptIndex === true) throw new ImageIndexFoundError(`${manifestDigest} is an image index (${manifest.mediaType})`)
        throw new UnsupportedMediaTypeError(`${manifestDigest} is an image index (${manifest.mediaType}) for ${platformsOf(manifest.index)}; pull it for a platform, or one of its manifests by digest`)
      }
      const wanted = typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform
      const entry = selectPlatform(manifest.index, wanted)
      if (entry == null) throw new PlatformNotFoundError(`image index ${manifestDigest} has no manifest for ${formatPlatform(wanted)} (it has ${platformsOf(manifest.index)})`)
      // the image itself; an index inside an index is refused there
      const { platform: _, ...rest } = options
      const child = await pullImage(ctx, entry.digest, { ...rest, ...(options.record?.manifestDigest === entry.digest ? {} : { record: undefined }) })
      provides.flush()
      return { ...child, index: { digest: manifestDigest, platform: formatPlatform(entry.platform as Platform) } }
    }
    const image: Pick<ImageRecord, 'manifestDigest' | 'blobs'> = {
      manifestDigest: manifestDigest as ImageRecord['manifestDigest'],
      blobs: [manifest.manifest.config, ...manifest.manifest.layers].map(d => ({ digest: d.digest as ImageBlobRecord['digest'], size: d.size, root: '', mediaType: d.mediaType }))
    }

    // the record: given by the caller (e.g. from a signed document), or asked of the providers
    let source: MergedRecord | undefined
    let recordError: Error | undefined
    if (options.record != null) {
      if (options.record.manifestDigest !== manifestDigest) {
        throw new ImageRecordNotFoundError(`the record given for ${manifestDigest} is the record of ${options.record.manifestDigest}`)
      }
      source = mergeRecords([options.record])
    } else {
      source = await findRecord(ctx, manifestProviders, cid, manifestDigest, session, options).catch((err: Error) => {
        options.signal?.throwIfAborted()
        recordError = err
        return undefined
      })
    }

    timings.record = Date.now() - started
    const statements = await fetchStatements(ctx, session, image, source?.statements ?? [], guard, options)
    timings.statements = Date.now() - started
    let report: VerificationReport | undefined
    if (options.policy != null) {
      report = await verifyImage({
        manifest: manifest.manifest,
        manifestDigest,
        statements: statements.map(s => s.bytes),
        policy: options.policy,
        reference: options.reference ?? digestReference(manifestDigest)
      })
      options.onProgress?.(new CustomProgressEvent('pull:verified', report))
      refused = !report.allowed
      assertPolicy(report)
    }

    options.onProgress?.(new CustomProgressEvent<PullReady>('pull:ready', {
      manifestDigest,
      mediaType: manifest.mediaType,
      manifest: { root: cid.toString(), size: bytes.byteLength },
      blobs: [manifest.manifest.config, ...manifest.manifest.layers].map(d => {
        const root = d.size <= ONE_CHUNK ? cidForDigest(d.digest).toString() : source?.roots.get(d.digest)?.[0]?.toString()
        return { digest: d.digest, size: d.size, mediaType: d.mediaType, ...(root != null ? { root } : {}) }
      })
    }))
    const { blobs, blocks } = await pullBlobs(ctx, session, manifestDigest, manifest, source, recordError, guard, provides, options, () => { timings.firstLeaf ??= Date.now() - started })
    timings.blobs = Date.now() - started
    const record: ImageRecord = {
      manifestDigest: manifestDigest as ImageRecord['manifestDigest'],
      mediaType: manifest.mediaType,
      blobs: [{ digest: manifestDigest as ImageBlobRecord['digest'], size: bytes.byteLength, root: cid.toString(), mediaType: manifest.mediaType }, ...blobs],
      ...(statements.length > 0 ? { statements: statements.map(s => s.cid.toString()) } : {})
    }
    const stored = await ctx.images.add(record, [cid, ...blocks], { signal: options.signal, cache: options.pin === false })
    for (const s of statements) ctx.provide(s.cid)
    provides.flush()
    ctx.log('pulled %s in %d ms with %d peers in its session: manifest at %d ms, record %d, statements %d, first leaf %s, blobs %d', manifestDigest, Date.now() - started, session.peers().length, timings.manifest, timings.record, timings.statements, timings.firstLeaf ?? '-', timings.blobs)
    return { record: stored, manifest, blocks: [cid, ...blocks], statements, ...(report != null ? { report } : {}) }
  } finally {
    // flushed above when the pull succeeded
    provides.cancel()
    session.close()
    for (const release of guards) release()
    // a refused image is never recorded: what its pull wrote (the manifest, its statements) goes
    // now rather than at the next gc; blocks something else pins or guards stay (collect's rule)
    if (refused) await discardRefused(ctx, guarded)
  }
}

/** Deletes the blocks a refused pull wrote that nothing pins or guards; a failure is logged, not thrown over the refusal */
async function discardRefused (ctx: PullContext, cids: CID[]): Promise<void> {
  try {
    await ctx.blockstore.collect(cids)
  } catch (err) {
    ctx.log.error('removing the blocks of a refused pull failed (gc removes them) - %e', err)
  }
}
