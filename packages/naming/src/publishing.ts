/**
 * Publishing in the naming service.
 *
 * - A publish builds the document from the image index, signs it with a
 *   namespace key, stores and pins it, and stores the signed pointer record
 *   on this node (PublishedRecords) before it goes to the DHT. Only then is
 *   the seq taken, so a publish that fails uses none. With no DHT peer, or
 *   none that takes the record, the publish stands locally: this node
 *   answers for it, and it goes into the DHT when a peer enters the routing
 *   table (and at each republish).
 * - Before the first publish of a (UserId, repo) with peers, the seq is read
 *   from the DHT, so an owner whose datastore was lost publishes above what
 *   the swarm holds.
 * - Everything published is republished (a new seq and expiry) every
 *   republish interval, and once after a restart when the node has peers.
 */

import { InvalidParametersError } from '@provenir/interface'
import { userIdFromKey, type UserId } from '@provenir/trust'
import { CID } from 'multiformats/cid'
import {
  MAX_TAGS, NAMING_MAX_PUBLISHED, NAMING_SEQ_SYNC_TIMEOUT_MS, NAMING_STARTUP_REPUBLISH_WAIT_MS, PUBLISH_TIMEOUT
} from './constants.js'
import { repoKey, verifyRepoPointer } from './pointer.js'
import { encodePointer, PublishedRecords } from './published.js'
import { RepoPublisher, dhtRecordPutter } from './publisher.js'
import { dhtPointerSource } from './resolver.js'
import { isRepoName, isTag } from './signed.js'
import { tagFor } from './summary.js'
import type { NamingComponents, PublishRequest } from './index.js'
import type { PublishedContent, PublishedEntry, PublishedRecord } from './published.js'
import type { PublishResult, RepoContent } from './publisher.js'
import type { PublishSummary } from './summary.js'
import type { AbortOptions, Logger, PrivateKey } from '@libp2p/interface'
import type { ImageRecord } from '@provenir/content'

export interface PublishingInit {
  components: NamingComponents
  /** The namespace key of that name (the only one when undefined); the node key only when allowed */
  keyFor(name: string | undefined, allowNodeKey: boolean): Promise<{ name: string, key: PrivateKey }>
  nodeKeyName: string
  republishInterval: number
  lifetime: number
  /** Called when what resolves here has changed (a resolution cache goes stale) */
  onChange(): void
  log: Logger
}

const LONELY_WARNING = 'this node has no DHT peers: the record is stored here, which answers for it, and goes into the DHT when peers connect'
const UNTAKEN_WARNING = 'no DHT peer took the record: it is stored here, which answers for it, and is put in the DHT again when peers connect and at each republish'

export class Publishing {
  readonly records: PublishedRecords
  private readonly init: PublishingInit
  private readonly components: NamingComponents
  private readonly log: Logger
  private readonly publishers = new Map<string, RepoPublisher>()
  /** (UserId, repo) whose seq was read from the DHT in this run */
  private readonly synced = new Set<string>()
  /** (UserId, repo) whose current record no DHT peer holds yet */
  private readonly pending = new Set<string>()
  private background = new AbortController()
  private readonly onPeer = (): void => { this.flushSoon() }
  private timer?: ReturnType<typeof setInterval>
  private startup?: Promise<void>
  private republishing?: Promise<void>
  private flushing?: Promise<void>
  private flushAgain = false

  constructor (init: PublishingInit) {
    this.init = init
    this.components = init.components
    this.log = init.log
    this.records = new PublishedRecords(init.components.datastore)
  }

  /** Loads what this node published; in the background, republishes it once the node has peers, then on the timer */
  async start (): Promise<void> {
    this.background = new AbortController()
    const signal = this.background.signal
    await this.records.load({ signal })
    this.components.dhtPeers.addEventListener('peer:add', this.onPeer)
    this.startup = this.republishRemembered(signal).catch(err => { this.log.error('republishing remembered repositories failed - %e', err) })
    this.timer = setInterval(() => {
      if (this.republishing != null || signal.aborted) return
      this.republishing = this.republishAll(signal).finally(() => { this.republishing = undefined })
    }, this.init.republishInterval)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    this.background.abort()
    clearInterval(this.timer)
    this.components.dhtPeers.removeEventListener('peer:add', this.onPeer)
    await this.startup
    await this.republishing
    await this.flushing
  }

  /** This node's own pointer record for (owner, repo), if it publishes one */
  localPointer (owner: string, repo: string): { bytes: Uint8Array, seq: number, documentCid: string } | undefined {
    const entry = this.records.get(owner, repo)
    if (entry?.pointer == null || entry.record.seq == null) return undefined
    return { bytes: entry.pointer, seq: entry.record.seq, documentCid: entry.record.documentCid }
  }

  /** Build the repository document from the image index and publish it; see the module comment */
  async publish (request: PublishRequest, options: AbortOptions = {}): Promise<PublishSummary> {
    checkRepoName(request.repo)
    const { name: keyName, key } = await this.init.keyFor(request.key, request.allowNodeKey === true)
    const owner = userIdFromKey(key)
    const { content, images } = await this.contentOf(request, options)
    if (this.records.get(owner, request.repo) == null && this.records.size >= NAMING_MAX_PUBLISHED) {
      throw new InvalidParametersError(`this node already publishes ${NAMING_MAX_PUBLISHED} repositories, the most it republishes`)
    }
    const result = await this.publishContent({ key: keyName, repo: request.repo, content }, key, options)
    const pointer = await verifyRepoPointer(repoKey(owner, request.repo), result.pointer)
    const summary: PublishSummary = {
      key: keyName,
      owner,
      repo: request.repo,
      seq: result.seq,
      documentCid: result.documentCid.toString(),
      tags: content.tags,
      images,
      expires: pointer.expires,
      peers: result.peers
    }
    if (result.peers === 0) summary.warning = this.lonely() ? LONELY_WARNING : UNTAKEN_WARNING
    return summary
  }

  /** The document's content: the tags asked for, else every image held under `<...>/<repo>:<tag>` */
  private async contentOf (request: PublishRequest, options: AbortOptions): Promise<{ content: PublishedContent, images: number }> {
    const images = this.components.images
    if (images == null) throw new InvalidParametersError('this node has no image index')
    const tags: Record<string, string> = {}
    const records = new Map<string, ImageRecord>()
    if (request.tags == null || Object.keys(request.tags).length === 0) {
      for await (const record of images.ls(options)) {
        for (const t of record.tags ?? []) {
          const tag = tagFor(t, request.repo)
          if (tag != null && isTag(tag)) {
            tags[tag] = record.manifestDigest
            records.set(record.manifestDigest, record)
          }
        }
        if (Object.keys(tags).length > MAX_TAGS) throw new InvalidParametersError(`more than ${MAX_TAGS} tags for ${request.repo}`)
      }
      if (Object.keys(tags).length === 0) {
        throw new InvalidParametersError(`no image this node holds is tagged ${request.repo}:<tag> (import one under that name, or pass --tag <tag>=<digest>)`)
      }
    } else {
      for (const [tag, digest] of Object.entries(request.tags)) {
        const record = await images.get(digest, options)
        if (record == null) throw new InvalidParametersError(`--tag ${tag}=${digest}: this node holds no image ${digest}; import or pull it first`)
        tags[tag] = digest
        records.set(digest, record)
      }
    }
    const content: PublishedContent = { images: {}, tags }
    for (const [digest, record] of records) {
      content.images[digest] = { mediaType: record.mediaType, blobs: record.blobs.map(b => ({ digest: b.digest, size: b.size, root: b.root.toString() })) }
      if (record.statements != null && record.statements.length > 0) {
        content.statements ??= {}
        content.statements[digest] = [...record.statements]
      }
    }
    return { content, images: records.size }
  }

  /**
   * Publish content under a new seq: the document, then the pointer stored
   * here (the commit), then the DHT. Unpins the document it replaces.
   */
  private async publishContent (record: Pick<PublishedRecord, 'key' | 'repo' | 'content'>, key: PrivateKey, options: AbortOptions): Promise<PublishResult> {
    const owner = userIdFromKey(key)
    const id = `${owner}/${record.repo}`
    await this.syncSeq(owner, record.repo, options)
    let replaced: string | undefined
    const result = await this.publisherFor(key).publish(record.repo, record.content as RepoContent, {
      ...(options.signal != null ? { signal: options.signal } : {}),
      commit: async (signed, opts) => {
        const stored: PublishedRecord = { key: record.key, repo: record.repo, content: record.content, documentCid: signed.documentCid.toString(), pointer: encodePointer(signed.pointer), seq: signed.seq }
        try {
          replaced = await this.records.put(owner, stored, key, opts)
        } catch (err) {
          await this.components.blockstore?.pins.unpin(signed.documentCid).catch(() => {})
          throw err
        }
        this.pending.add(id)
        this.init.onChange()
      }
    })
    if (result.peers > 0) this.pending.delete(id)
    if (replaced != null) {
      await this.components.blockstore?.pins.unpin(CID.parse(replaced), options).catch(err => { this.log('unpinning the replaced document %s failed - %e', replaced, err) })
    }
    return result
  }

  private publisherFor (key: PrivateKey): RepoPublisher {
    const owner = userIdFromKey(key)
    let publisher = this.publishers.get(owner)
    if (publisher == null) {
      const { blockstore, provide } = this.components
      publisher = new RepoPublisher({
        key,
        seqStore: this.components.seqStore,
        putBlock: async (cid, bytes, options) => {
          if (blockstore == null) throw new InvalidParametersError('this node has no blockstore to hold repository documents')
          await blockstore.put(cid, bytes, options)
          await blockstore.pins.pin(cid, options)
          provide?.(cid)
        },
        putRecord: async (k, value, options) => this.putInDht(k, value, options),
        // this service runs the republish timer itself (start()), so that each republish is stored
        republishInterval: this.init.republishInterval,
        lifetime: this.init.lifetime,
        logger: this.components.logger
      })
      this.publishers.set(owner, publisher)
    }
    return publisher
  }

  private lonely (): boolean {
    return this.components.dhtPeers.size === 0
  }

  /** Put a pointer in the DHT: how many peers took it; 0 without peers or when the put fails (logged) */
  private async putInDht (key: Uint8Array, value: Uint8Array, options: AbortOptions): Promise<number> {
    if (this.lonely()) return 0
    try {
      return await dhtRecordPutter(this.components.dht)(key, value, options)
    } catch (err) {
      this.log('putting %s in the DHT failed; it stays stored here - %e', new TextDecoder().decode(key), err)
      return 0
    }
  }

  /**
   * Raise the local seq of (owner, repo) to the highest valid pointer record
   * the DHT holds, once per run: a publish then goes above it even when this
   * node's datastore never saw it. A node without peers learns nothing (its
   * validator has already recorded every record it holds) and asks again
   * once it has some.
   */
  private async syncSeq (owner: UserId, repo: string, options: AbortOptions): Promise<void> {
    const id = `${owner}/${repo}`
    if (this.synced.has(id) || this.lonely()) return
    const signal = AbortSignal.any([AbortSignal.timeout(NAMING_SEQ_SYNC_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
    let records: Uint8Array[] = []
    try {
      records = await dhtPointerSource(this.components.dht, { timeout: NAMING_SEQ_SYNC_TIMEOUT_MS })(owner, repo, { signal })
    } catch (err) {
      options.signal?.throwIfAborted()
      this.log('reading the seq of %s from the DHT failed (publishing from the local seq) - %e', id, err)
    }
    let highest = 0
    for (const bytes of records) {
      try {
        highest = Math.max(highest, (await verifyRepoPointer(repoKey(owner, repo), bytes)).seq)
      } catch {}
    }
    if (highest > 0) await this.components.seqStore.observe(owner, repo, highest, { signal })
    this.synced.add(id)
  }

  /** Republish every repository this node publishes: a new seq and expiry, the same content */
  private async republishAll (signal: AbortSignal): Promise<void> {
    for (const entry of this.records.all()) {
      if (signal.aborted) return
      await this.republish(entry, signal)
    }
  }

  private async republish (entry: PublishedEntry, signal: AbortSignal): Promise<void> {
    const { record } = entry
    try {
      const key = entry.key ?? (await this.init.keyFor(record.key, record.key === this.init.nodeKeyName)).key
      const result = await this.publishContent(record, key, { signal })
      this.log('republished %s/%s at seq %d to %d DHT peers', entry.owner, record.repo, result.seq, result.peers)
    } catch (err) {
      if (!signal.aborted) this.log.error('republishing %s (key %s) failed - %e', record.repo, record.key, err)
    }
  }

  /** After a restart: republish everything this node published, once it has DHT peers (or has waited for them) */
  private async republishRemembered (signal: AbortSignal): Promise<void> {
    if (this.records.size === 0) return
    await waitForPeers(this.components.dhtPeers, NAMING_STARTUP_REPUBLISH_WAIT_MS, signal)
    await this.republishAll(signal)
  }

  /** A peer entered the routing table: put what no peer holds yet into the DHT, one flush at a time */
  private flushSoon (): void {
    const signal = this.background.signal
    if (this.pending.size === 0 || signal.aborted) return
    if (this.flushing != null) {
      this.flushAgain = true
      return
    }
    this.flushing = (async () => {
      do {
        this.flushAgain = false
        for (const id of [...this.pending]) await this.deliver(id, signal)
      } while (this.flushAgain && this.pending.size > 0 && !signal.aborted)
    })().finally(() => { this.flushing = undefined })
  }

  /**
   * Put one pending record into the DHT: the stored pointer while it is
   * still the newest seq known and not near its expiry, else a republish
   * (above whatever seq the DHT turned out to hold).
   */
  private async deliver (id: string, signal: AbortSignal): Promise<void> {
    const slash = id.indexOf('/')
    const entry = this.records.get(id.slice(0, slash), id.slice(slash + 1))
    if (entry == null) {
      this.pending.delete(id)
      return
    }
    try {
      const { owner, record } = entry
      await this.syncSeq(owner, record.repo, { signal })
      const highest = await this.components.seqStore.get(owner, record.repo, { signal }) ?? 0
      const expires = entry.pointer != null ? Date.parse((await verifyRepoPointer(repoKey(owner, record.repo), entry.pointer)).expires) : 0
      if (entry.pointer == null || (record.seq ?? 0) < highest || expires - Date.now() < this.init.republishInterval) {
        await this.republish(entry, signal)
        return
      }
      const peers = await this.putInDht(repoKey(owner, record.repo), entry.pointer, { signal: AbortSignal.any([signal, AbortSignal.timeout(PUBLISH_TIMEOUT)]) })
      this.components.provide?.(CID.parse(record.documentCid))
      if (peers > 0) {
        this.pending.delete(id)
        this.log('put %s/%s (seq %d), published without peers, on %d DHT peers', owner, record.repo, record.seq, peers)
      }
    } catch (err) {
      if (!signal.aborted) this.log.error('putting %s in the DHT failed - %e', id, err)
    }
  }
}

/** Resolves once the routing table has a peer, after `ms`, or on abort */
async function waitForPeers (peers: NamingComponents['dhtPeers'], ms: number, signal: AbortSignal): Promise<void> {
  if (peers.size > 0 || signal.aborted) return
  await new Promise<void>(resolve => {
    const done = (): void => {
      clearTimeout(timer)
      peers.removeEventListener('peer:add', done)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    peers.addEventListener('peer:add', done)
    signal.addEventListener('abort', done)
  })
}

/**
 * Checks a repository name for `publish`. A full image name
 * (`docker.io/provenir/small`) is refused with the one component it most
 * likely meant.
 *
 * @throws InvalidParametersError
 */
export function checkRepoName (repo: unknown): string {
  if (isRepoName(repo)) return repo
  let why = `"repo" must be a repository name (lowercase letters, digits, and . _ __ - between them); got ${JSON.stringify(repo)}`
  if (typeof repo === 'string' && repo.includes('/')) {
    const last = repo.slice(repo.lastIndexOf('/') + 1).replace(/:[^:]*$/, '')
    why += `. A repository is one path component, published as <UserId>/<repo>${isRepoName(last) ? `: give "${last}" (the images held as .../${last}:<tag> are its tags)` : ''}`
  }
  throw new InvalidParametersError(why)
}
