/**
 * Naming in the daemon: the resolver (pins, registries, default registry,
 * then the DHT pointer and the document), the publisher of this repo's
 * namespaces, and this node's own registry service.
 *
 * - A registry named by NodeId or multiaddr is asked over
 *   `/provenir/names/1.0.0`; when it cannot be reached, its bindings are read
 *   from the DHT (`/provenir-name/<NodeId>/<name>`). A registry named by
 *   domain is looked up in DNS (`_provenir.<domain>` TXT) at each resolution.
 * - Publishing signs with a namespace key from the keystore, read afresh at
 *   each publish (so `key gen` needs no restart). Before the first publish of
 *   a (UserId, repo) the seq is read from the DHT, so an owner whose datastore
 *   was lost never publishes below what the swarm holds.
 * - What was published is remembered in the datastore and republished on the
 *   publisher's timer, also after a restart.
 */

import { InvalidParametersError, isError, KeyNotFoundError } from '@provenir/interface'
import { Keystore } from '@provenir/identity'
import {
  DatastoreBindingStore, DhtRegistryClient, Registry, RemoteRegistry, RepoPublisher, Resolver, addrsFor, dhtPointerSource,
  dhtRecordPutter, isRepoName, isTag, nameKey, parseReference, repoKey, resolveRegistryDomain, signClaim, verifyBinding, verifyRepoPointer,
  DEFAULT_RECORD_LIFETIME, DEFAULT_REPUBLISH_INTERVAL, DHT_GET_TIMEOUT, MAX_TAGS, RepositoryNotFoundError
} from '@provenir/naming'
import { BlobNotFoundError } from '@provenir/node'
import { userIdFromKey, type UserId } from '@provenir/trust'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import { parseRegistrySpec } from './config.js'
import {
  NAMING_CACHE_MAX_ENTRIES, NAMING_DOCUMENT_TIMEOUT_MS, NAMING_LONELY_DHT_TIMEOUT_MS, NAMING_MAX_PUBLISHED, NAMING_SEQ_SYNC_TIMEOUT_MS, NAMING_STARTUP_REPUBLISH_WAIT_MS, SELF_KEY_NAME
} from './constants.js'
import type { NamingConfig, ParsedRegistrySpec } from './config.js'
import type { AbortOptions, ComponentLogger, Logger, PrivateKey } from '@libp2p/interface'
import type { ImageRecord } from '@provenir/content'
import type { NameAnswer, PublishResult, RegistryClient, RepoContent, Resolution, ResolveOptions } from '@provenir/naming'
import type { ProvenirNode } from '@provenir/node'

const PUBLISHED_PREFIX = '/provenir-naming/published'

/** What the daemon remembers of a publish, to republish it after a restart */
interface PublishedRecord {
  key: string
  repo: string
  content: { images: Record<string, { mediaType: string, blobs: Array<{ digest: string, size: number, root: string }> }>, tags: Record<string, string>, statements?: Record<string, string[]> }
  documentCid: string
}

export interface PublishRequest {
  repo: string
  /** Keystore name of the namespace key; default: the only namespace key */
  key?: string
  /** tag -> manifest digest; overrides the tags found in the image index */
  tags?: Record<string, string>
  /** Allow `key: "self"` (the gateway's default signer); never from the RPC API */
  allowNodeKey?: boolean
}

export interface PublishSummary {
  key: string
  owner: UserId
  repo: string
  seq: number
  documentCid: string
  tags: Record<string, string>
  images: number
  expires: string
  /** DHT peers that stored the pointer */
  peers: number
}

/** One answer of `resolve --explain`, as JSON */
export interface AnswerSummary {
  source: string
  kind: 'pin' | 'registry' | 'default'
  registry?: string
  priority?: number
  userId?: string
  bindingSeq?: number
  error?: { name: string, message: string }
  winner: boolean
}

export interface ResolveSummary {
  reference: string
  owner: UserId
  repo: string
  tag?: string
  manifestDigest: string
  mediaType: string
  seq: number
  expires: string
  documentCid: string
  /** How a link name resolved: the source that answered */
  name?: { name: string, userId: string, source: string }
  /** Every answer in priority order (explain only) */
  answers?: AnswerSummary[]
  /** True when the answer came from the daemon's cache */
  cached: boolean
}

export interface ClaimSummary {
  name: string
  userId: UserId
  registry: string
  seq: number
  issued: string
  /** The binding: the DSSE envelope, as the registry signed it */
  binding: unknown
}

/** A registry client that asks the registry and, when it cannot be reached, reads its bindings from the DHT */
class FallbackRegistryClient implements RegistryClient {
  readonly id: string
  constructor (private readonly remote: RegistryClient, private readonly dht: RegistryClient, private readonly log: Logger, private readonly lonely: () => boolean) {
    this.id = remote.id
  }

  async lookup (name: string, options?: AbortOptions): Promise<Uint8Array | undefined> {
    try {
      return await this.remote.lookup(name, options)
    } catch (err) {
      if (options?.signal?.aborted === true) throw err
      // a registry that answers with an error of its own is authoritative; one that cannot be reached is not
      if (isError(err, 'RegistryError') || isError(err, 'BindingInvalidError')) throw err
      if (this.lonely()) throw err
      this.log('registry %s unreachable (%s); reading its bindings from the DHT', this.id, (err as Error).message)
      return this.dht.lookup(name, options)
    }
  }
}

/** A registry named by a domain whose TXT lookup failed: every lookup fails with that error */
class FailedRegistryClient implements RegistryClient {
  constructor (readonly id: string, private readonly error: Error) {}
  async lookup (): Promise<Uint8Array | undefined> { throw this.error }
}

/** Resolutions kept for a short while: name -> manifest digest without the network */
export class ResolutionCache {
  private readonly entries = new Map<string, { at: number, resolution: Resolution }>()
  constructor (private readonly ttl: number, private readonly max = NAMING_CACHE_MAX_ENTRIES, private readonly now = Date.now) {}

  get (reference: string): Resolution | undefined {
    const hit = this.entries.get(reference)
    if (hit == null) return undefined
    const t = this.now()
    if (t - hit.at >= this.ttl || Date.parse(hit.resolution.document.expires) <= t) {
      this.entries.delete(reference)
      return undefined
    }
    return hit.resolution
  }

  set (reference: string, resolution: Resolution): void {
    if (this.ttl <= 0) return
    this.entries.delete(reference)
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string)
    this.entries.set(reference, { at: this.now(), resolution })
  }

  clear (): void { this.entries.clear() }
}

export interface DaemonNamingInit {
  node: ProvenirNode
  config: NamingConfig
  /** The keystore file: namespace keys are read from it at each publish or claim */
  keystorePath: string
  /** The node key: a registry signs its bindings with it */
  privateKey: PrivateKey
  /** Serve as a registry even when the config does not say so (`daemon --registry`) */
  serveRegistry?: boolean
  logger: ComponentLogger
  /** @default DEFAULT_REPUBLISH_INTERVAL */
  republishInterval?: number
  /** @default DEFAULT_RECORD_LIFETIME */
  lifetime?: number
}

/** Naming as the daemon runs it; see the module comment */
export class DaemonNaming {
  readonly registry?: Registry
  readonly cache: ResolutionCache
  private readonly node: ProvenirNode
  private readonly config: NamingConfig
  private readonly keystorePath: string
  private readonly log: Logger
  private readonly init: DaemonNamingInit
  private readonly publishers = new Map<string, RepoPublisher>()
  private readonly synced = new Set<string>()
  private readonly parsedRegistries: ParsedRegistrySpec[]
  private readonly parsedDefault?: ParsedRegistrySpec
  private readonly background = new AbortController()
  /** What this daemon publishes, by `<UserId>/<repo>`, for the republish timer */
  private readonly published = new Map<string, { record: PublishedRecord, key: PrivateKey }>()
  private startup?: Promise<void>
  private timer?: ReturnType<typeof setInterval>
  private republishing?: Promise<void>

  constructor (init: DaemonNamingInit) {
    this.init = init
    this.node = init.node
    this.config = init.config
    this.keystorePath = init.keystorePath
    this.log = init.logger.forComponent('provenir:daemon:naming')
    this.cache = new ResolutionCache(init.config.cacheTtlMs)
    this.parsedRegistries = init.config.registries.map((r, i) => parseRegistrySpec(r, 'config', `naming.registries.${i}`))
    if (init.config.defaultRegistry != null) this.parsedDefault = parseRegistrySpec(init.config.defaultRegistry, 'config', 'naming.defaultRegistry')
    if (init.serveRegistry === true || init.config.registry.serve) {
      const libp2p = this.node.libp2p
      const putter = dhtRecordPutter(this.node.dht)
      const registryInit: ConstructorParameters<typeof Registry>[1] = {
        allowClaims: init.config.registry.allowClaims,
        bindings: init.config.registry.bindings as Record<string, UserId>,
        // each binding also goes into the DHT, so names resolve while this registry is offline
        onBinding: (name, binding) => {
          void putter(nameKey(libp2p.peerId, name), binding, { signal: AbortSignal.timeout(NAMING_DOCUMENT_TIMEOUT_MS) })
            .then(peers => { this.log('binding %s stored on %d DHT peers', name, peers) })
            .catch(err => { this.log('putting binding %s in the DHT failed - %e', name, err) })
        }
      }
      if (this.node.datastore != null) registryInit.store = new DatastoreBindingStore(this.node.datastore)
      this.registry = new Registry({ registrar: libp2p, logger: init.logger, privateKey: init.privateKey }, registryInit)
    }
  }

  /**
   * Start the registry service (if any); in the background, republish what
   * this repo published before a restart, then every republish interval
   */
  async start (): Promise<void> {
    await this.registry?.start()
    const signal = this.background.signal
    this.startup = this.republishRemembered(signal).catch(err => { this.log('republishing remembered repositories failed - %e', err) })
    this.timer = setInterval(() => {
      if (this.republishing != null || signal.aborted) return
      this.republishing = this.republishAll(signal).finally(() => { this.republishing = undefined })
    }, this.init.republishInterval ?? DEFAULT_REPUBLISH_INTERVAL)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    this.background.abort()
    clearInterval(this.timer)
    await this.startup
    await this.republishing
    await this.registry?.stop()
  }

  /** Republish every repository this daemon publishes: a new seq and expiry, the same content */
  private async republishAll (signal: AbortSignal): Promise<void> {
    for (const { record, key } of [...this.published.values()]) {
      if (signal.aborted) return
      try {
        await this.publishRecord(record, key, signal)
      } catch (err) {
        this.log('republishing %s (key %s) failed - %e', record.repo, record.key, err)
      }
    }
  }

  /** Publish remembered content again, and remember the new document */
  private async publishRecord (record: PublishedRecord, key: PrivateKey, signal: AbortSignal): Promise<PublishResult> {
    const owner = userIdFromKey(key)
    await this.syncSeq(owner, record.repo, { signal })
    const result = await this.publisherFor(key).publish(record.repo, record.content as RepoContent, { signal })
    await this.remember({ ...record, documentCid: result.documentCid.toString() }, key, { signal })
    this.log('republished %s/%s at seq %d', owner, record.repo, result.seq)
    return result
  }

  private clientFor (spec: ParsedRegistrySpec & { kind: 'node' }): RegistryClient {
    if (this.registry != null && spec.nodeId === this.registry.nodeId) return this.registry
    const addrs = addrsFor(spec.nodeId, spec.addrs.map(a => multiaddr(a)))
    const remote = new RemoteRegistry(this.node.libp2p, addrs.length > 0 ? { id: spec.nodeId, addrs } : { id: spec.nodeId })
    return new FallbackRegistryClient(remote, new DhtRegistryClient(this.node.dht, spec.nodeId), this.log, () => this.node.routingTableSize() === 0)
  }

  private async clientOf (spec: ParsedRegistrySpec, options: AbortOptions): Promise<RegistryClient> {
    if (spec.kind === 'node') return this.clientFor(spec)
    try {
      const found = await resolveRegistryDomain(spec.domain, { servers: this.config.dns.servers, timeout: this.config.dns.timeoutMs, ...(options.signal != null ? { signal: options.signal } : {}) })
      const nodeId = found.nodeIds[0]
      return this.clientFor({ kind: 'node', nodeId, addrs: addrsFor(nodeId, found.addrs).map(a => a.toString()) })
    } catch (err) {
      return new FailedRegistryClient(spec.domain, err as Error)
    }
  }

  /** A resolver over the configured sources (domains looked up in DNS now) */
  async resolver (options: AbortOptions = {}): Promise<Resolver> {
    const registries = await Promise.all(this.parsedRegistries.map(async s => this.clientOf(s, options)))
    const node = this.node
    return new Resolver({
      pins: this.config.pins as Record<string, UserId>,
      registries,
      ...(this.parsedDefault != null
        ? { defaultRegistry: await this.clientOf(this.parsedDefault, options) }
        : this.registry != null ? { defaultRegistry: this.registry } : {}),
      connect: async (ref, opts) => this.clientOf(ref.kind === 'node' ? { kind: 'node', nodeId: ref.nodeId, addrs: [] } : ref, opts),
      // with no DHT peers only this node's own record can answer: do not wait out the whole lookup
      pointers: async (owner, repo, opts) => dhtPointerSource(node.dht, { timeout: node.routingTableSize() === 0 ? NAMING_LONELY_DHT_TIMEOUT_MS : DHT_GET_TIMEOUT })(owner, repo, opts),
      documents: async (cid, opts) => this.fetchDocument(cid, opts),
      seqStore: node.seqStore
    })
  }

  /** A repository document: a verified block from the node's content service (the local store, else the swarm) */
  private async fetchDocument (cid: CID, options: AbortOptions): Promise<Uint8Array> {
    const signal = AbortSignal.any([AbortSignal.timeout(NAMING_DOCUMENT_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
    if (this.node.content == null) throw new InvalidParametersError('this node has no blockstore to hold repository documents')
    try {
      return await this.node.content.get(cid, { signal })
    } catch (err) {
      if (err instanceof BlobNotFoundError) throw new RepositoryNotFoundError(`no peer sent the repository document ${cid.toString()}`, { cause: err })
      throw err
    }
  }

  /**
   * Resolve a reference. Without `explain` a recent resolution of the same
   * reference is served from the cache.
   */
  async resolve (reference: string, options: ResolveOptions = {}): Promise<{ resolution: Resolution, cached: boolean }> {
    const ref = parseReference(reference)
    if (options.explain !== true) {
      const hit = this.cache.get(reference)
      if (hit != null) return { resolution: hit, cached: true }
    }
    const resolver = await this.resolver(options)
    const resolution = await resolver.resolve(ref, options)
    this.cache.set(reference, resolution)
    return { resolution, cached: false }
  }

  /**
   * The namespace key to sign with: `name`, or the keystore's only namespace
   * key. The node key is refused unless `allowNodeKey` (the gateway publishes
   * pushes under the key that signed them, the node key by default).
   */
  async namespaceKey (name?: string, allowNodeKey = false): Promise<{ name: string, key: PrivateKey }> {
    const keystore = await Keystore.load(this.keystorePath)
    if (name != null) {
      if (name === SELF_KEY_NAME && !allowNodeKey) throw new InvalidParametersError(`"${SELF_KEY_NAME}" is the node key, not a namespace key; name a key made by "provenir key gen"`)
      return { name, key: keystore.get(name) }
    }
    const names = keystore.list().filter(n => n !== SELF_KEY_NAME)
    if (names.length === 0) throw new KeyNotFoundError(`the keystore ${this.keystorePath} holds no namespace key; make one with "provenir key gen <name>"`)
    if (names.length > 1) throw new InvalidParametersError(`the keystore holds ${names.length} namespace keys (${names.join(', ')}); choose one with --key`)
    return { name: names[0], key: keystore.get(names[0]) }
  }

  private publisherFor (key: PrivateKey): RepoPublisher {
    const owner = userIdFromKey(key)
    let publisher = this.publishers.get(owner)
    if (publisher == null) {
      const node = this.node
      publisher = new RepoPublisher({
        key,
        seqStore: node.seqStore,
        putBlock: async (cid, bytes, options) => {
          if (node.blockstore == null) throw new InvalidParametersError('this node has no blockstore to hold repository documents')
          await node.blockstore.put(cid, bytes, options)
          await node.blockstore.pins.pin(cid, options)
          node.provide(cid)
        },
        putRecord: dhtRecordPutter(node.dht),
        // the daemon runs the republish timer itself (start()), so that each republish is remembered
        republishInterval: this.init.republishInterval ?? DEFAULT_REPUBLISH_INTERVAL,
        lifetime: this.init.lifetime ?? DEFAULT_RECORD_LIFETIME,
        logger: this.init.logger
      })
      this.publishers.set(owner, publisher)
    }
    return publisher
  }

  /**
   * Raise the local seq of (owner, repo) to the highest valid pointer record
   * the DHT holds, once per daemon run: a publish then goes above it even
   * when this node's datastore never saw it.
   */
  private async syncSeq (owner: UserId, repo: string, options: AbortOptions): Promise<void> {
    const id = `${owner}/${repo}`
    if (this.synced.has(id)) return
    const timeout = this.node.routingTableSize() === 0 ? NAMING_LONELY_DHT_TIMEOUT_MS : NAMING_SEQ_SYNC_TIMEOUT_MS
    const signal = AbortSignal.any([AbortSignal.timeout(timeout), ...(options.signal != null ? [options.signal] : [])])
    let records: Uint8Array[] = []
    try {
      records = await dhtPointerSource(this.node.dht, { timeout })(owner, repo, { signal })
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
    if (highest > 0) await this.node.seqStore.observe(owner, repo, highest, { signal })
    // a node without peers learnt nothing from the swarm: ask again next time
    if (timeout !== NAMING_LONELY_DHT_TIMEOUT_MS) this.synced.add(id)
  }

  /** Build the repository document from the image index and publish it */
  async publish (request: PublishRequest, options: AbortOptions = {}): Promise<PublishSummary> {
    if (!isRepoName(request.repo)) throw new InvalidParametersError(`"repo" ${JSON.stringify(request.repo)} is not a repository name (lowercase letters, digits, and . _ __ - between them)`)
    const images = this.node.images
    if (images == null) throw new InvalidParametersError('this node has no image index')
    const { name: keyName, key } = await this.namespaceKey(request.key, request.allowNodeKey === true)
    const owner = userIdFromKey(key)

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
    const content: PublishedRecord['content'] = { images: {}, tags }
    for (const [digest, record] of records) {
      content.images[digest] = { mediaType: record.mediaType, blobs: record.blobs.map(b => ({ digest: b.digest, size: b.size, root: b.root.toString() })) }
      if (record.statements != null && record.statements.length > 0) {
        content.statements ??= {}
        content.statements[digest] = [...record.statements]
      }
    }

    if (!this.published.has(`${owner}/${request.repo}`) && this.published.size >= NAMING_MAX_PUBLISHED) {
      throw new InvalidParametersError(`this daemon already publishes ${NAMING_MAX_PUBLISHED} repositories, the most it republishes`)
    }
    await this.syncSeq(owner, request.repo, options)
    const publisher = this.publisherFor(key)
    const result: PublishResult = await publisher.publish(request.repo, content as RepoContent, options)
    await this.remember({ key: keyName, repo: request.repo, content, documentCid: result.documentCid.toString() }, key, options)
    this.cache.clear()
    const pointer = await verifyRepoPointer(repoKey(owner, request.repo), result.pointer)
    return {
      key: keyName,
      owner,
      repo: request.repo,
      seq: result.seq,
      documentCid: result.documentCid.toString(),
      tags,
      images: records.size,
      expires: pointer.expires,
      peers: result.peers
    }
  }

  /** Remember what was published (in memory and in the datastore), and unpin the document it replaces */
  private async remember (record: PublishedRecord, key: PrivateKey, options: AbortOptions): Promise<void> {
    const owner = userIdFromKey(key)
    const id = `${owner}/${record.repo}`
    const held = this.published.get(id)?.record.documentCid
    this.published.set(id, { record, key })
    const ds = this.node.datastore
    if (ds == null) {
      if (held != null && held !== record.documentCid) await this.node.blockstore?.pins.unpin(CID.parse(held), options).catch(() => {})
      return
    }
    const dsKey = new Key(`${PUBLISHED_PREFIX}/${owner}/${record.repo}`)
    let previous: PublishedRecord | undefined
    try {
      if (await ds.has(dsKey, options)) previous = JSON.parse(new TextDecoder().decode(await ds.get(dsKey, options)))
    } catch {}
    await ds.put(dsKey, new TextEncoder().encode(JSON.stringify(record)), options)
    if (previous != null && previous.documentCid !== record.documentCid) {
      await this.node.blockstore?.pins.unpin(CID.parse(previous.documentCid), options).catch(() => {})
    }
  }

  /** After a restart: republish every repository this repo published, once the node has peers */
  private async republishRemembered (signal: AbortSignal): Promise<void> {
    const ds = this.node.datastore
    if (ds == null) return
    const remembered: PublishedRecord[] = []
    for await (const { value } of ds.query({ prefix: PUBLISHED_PREFIX }, { signal })) {
      if (remembered.length >= NAMING_MAX_PUBLISHED) break
      try {
        remembered.push(JSON.parse(new TextDecoder().decode(value)))
      } catch {}
    }
    if (remembered.length === 0) return
    const deadline = Date.now() + NAMING_STARTUP_REPUBLISH_WAIT_MS
    while (this.node.routingTableSize() === 0 && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 500))
      if (signal.aborted) return
    }
    for (const r of remembered) {
      if (signal.aborted) return
      try {
        // a record under the node key was published by the gateway, which allows it
        const { key } = await this.namespaceKey(r.key, r.key === SELF_KEY_NAME)
        await this.publishRecord(r, key, signal)
      } catch (err) {
        this.log('republishing %s (key %s) failed - %e', r.repo, r.key, err)
      }
    }
  }

  /**
   * After a push through the gateway by tag: publish `<UserId of keyName>/<repo>`
   * (repo: the last segment of the pushed name) with every tag of that repo
   * the image index holds, the pushed one included.
   */
  async publishPushed (name: string, keyName: string, options: AbortOptions = {}): Promise<PublishSummary | undefined> {
    const repo = name.slice(name.lastIndexOf('/') + 1)
    if (!isRepoName(repo)) return undefined
    return this.publish({ repo, key: keyName, allowNodeKey: true }, options)
  }

  /** Claim `name` at a registry (this node's own, or a remote one) with a namespace key; returns the verified binding */
  async claim (name: string, registry: string, keyName: string | undefined, options: AbortOptions = {}): Promise<ClaimSummary> {
    const spec = parseRegistrySpec(registry, 'request', 'registry')
    const { key } = await this.namespaceKey(keyName)
    let bytes: Uint8Array
    let nodeId: string
    let addrs: Multiaddr[]
    if (spec.kind === 'domain') {
      const found = await resolveRegistryDomain(spec.domain, { servers: this.config.dns.servers, timeout: this.config.dns.timeoutMs, ...(options.signal != null ? { signal: options.signal } : {}) })
      nodeId = found.nodeIds[0]
      addrs = addrsFor(nodeId, found.addrs)
    } else {
      nodeId = spec.nodeId
      addrs = addrsFor(nodeId, spec.addrs.map(a => multiaddr(a)))
    }
    if (this.registry != null && nodeId === this.registry.nodeId) {
      // this node is the registry: the same checks as a claim over the wire
      bytes = await this.registry.claim(await signClaim(name, nodeId, key), options)
    } else {
      const remote = new RemoteRegistry(this.node.libp2p, addrs.length > 0 ? { id: nodeId, addrs } : { id: nodeId })
      bytes = await remote.claim(name, key, options)
    }
    const binding = await verifyBinding(bytes, nodeId, { name })
    this.cache.clear()
    return { name: binding.name, userId: binding.userId, registry: binding.registry, seq: binding.seq, issued: binding.issued, binding: JSON.parse(new TextDecoder().decode(bytes)) }
  }
}

/**
 * The tag of `repo` in an image's recorded name, or undefined: `small:v1`,
 * `provenir/small:v1` and `localhost:5000/provenir/small:v1` name tag `v1`
 * of repo `small`; a bare OCI ref name (`v1`) names no repo.
 */
export function tagFor (recorded: string, repo: string): string | undefined {
  const colon = recorded.lastIndexOf(':')
  if (colon <= 0) return undefined
  const name = recorded.slice(0, colon)
  const tag = recorded.slice(colon + 1)
  if (tag.includes('/')) return undefined
  const last = name.slice(name.lastIndexOf('/') + 1)
  return last === repo ? tag : undefined
}

/** An answer as `resolve --explain` shows it */
export function summariseAnswer (answer: NameAnswer, winner: NameAnswer | undefined): AnswerSummary {
  const s = answer.source
  const out: AnswerSummary = {
    source: s.kind === 'pin' ? 'local pin' : s.kind === 'registry' ? `registry ${s.registry} (priority ${s.priority})` : `default registry ${s.registry}`,
    kind: s.kind,
    winner: answer === winner
  }
  if (s.kind !== 'pin') out.registry = s.registry
  if (s.kind === 'registry') out.priority = s.priority
  if (answer.userId != null) out.userId = answer.userId
  if (answer.binding != null) out.bindingSeq = answer.binding.seq
  if (answer.error != null) out.error = { name: answer.error.name, message: answer.error.message }
  return out
}

/** A resolution as the RPC answers it */
export function summariseResolution (reference: string, resolution: Resolution, cached: boolean): ResolveSummary {
  const out: ResolveSummary = {
    reference,
    owner: resolution.owner,
    repo: resolution.reference.repo,
    manifestDigest: resolution.manifestDigest,
    mediaType: resolution.image.mediaType,
    seq: resolution.document.seq,
    expires: resolution.document.expires,
    documentCid: resolution.documentCid.toString(),
    cached
  }
  if (resolution.reference.tag != null) out.tag = resolution.reference.tag
  if (resolution.name != null) {
    const winner = resolution.name.answer
    out.name = { name: resolution.name.name, userId: resolution.name.userId, source: summariseAnswer(winner, winner).source }
    if (resolution.name.answers != null) out.answers = resolution.name.answers.map(a => summariseAnswer(a, winner))
  }
  return out
}

/**
 * The trusted image record a resolution gives `node.pull`: the signed
 * document's blob roots and statement CIDs for the manifest it names. The
 * document carries no per-blob media types; the pull takes them from the
 * manifest it verifies.
 */
export function recordFromResolution (resolution: Resolution): ImageRecord {
  const statements = resolution.document.statements?.[resolution.manifestDigest]
  return {
    manifestDigest: resolution.manifestDigest as ImageRecord['manifestDigest'],
    mediaType: resolution.image.mediaType,
    blobs: resolution.image.blobs.map(b => ({
      digest: b.digest as ImageRecord['manifestDigest'],
      size: b.size,
      root: b.root,
      mediaType: b.digest === resolution.manifestDigest ? resolution.image.mediaType : ''
    })),
    ...(statements != null && statements.length > 0 ? { statements: [...statements] } : {})
  }
}

/**
 * The name the trust policy sees for a pull by name: `namespace/repo:tag`
 * (or `@digest`) as the reference wrote it, without a registry part.
 */
export function policyReferenceOf (resolution: Resolution): string {
  const ref = resolution.reference
  return `${ref.namespace}/${ref.repo}${ref.tag != null ? `:${ref.tag}` : ''}${ref.digest != null ? `@${ref.digest}` : ''}`
}
