import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { defaultLogger } from '@libp2p/logger'
import { memory } from '@libp2p/memory'
import { preSharedKey } from './pnet.js'
import { ping } from '@libp2p/ping'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { FsBlockstore, getBlockBytes, ImageIndex, ImageNotFoundError, MAX_IMAGE_STATEMENTS, RepositoryIndex } from '@provenir/content'
import { difficultyGater } from '@provenir/identity'
import { DatastoreSeqStore, MemorySeqStore, createRepoValidator, nameSelector, nameValidator, naming, repoSelector } from '@provenir/naming'
import { InvalidConfigError, InvalidParametersError } from '@provenir/interface'
import { verifyImage } from '@provenir/trust'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { LevelDatastore } from 'datastore-level'
import { PeerCacheDatastore } from './peer-cache-datastore.js'
import { createLibp2p } from 'libp2p'
import { validateConfig } from './config.js'
import { DEFAULT_CONNECTION_PING_INTERVAL, DEFAULT_CONNECTION_PING_TIMEOUT, DEFAULT_DIAL_TIMEOUT, FIND_PROVIDERS_TIMEOUT, MAX_PROVIDED_MEMORY, PROVIDE_TIMEOUT } from './constants.js'
import { bootstrapDialer } from './bootstrap-dialer.js'
import { dhtServices, lanDiscovery, listensBeyondLoopback } from './lan.js'
import { DualDHT } from './swarm/dual-dht.js'
import { imageRecords } from './image-records.js'
import { ContentService } from './content/service.js'
import { validateStorageConfig } from './storage-config.js'
import type { StorageConfig } from './storage-config.js'
import { UpstreamSource } from './content/upstream-source.js'
import { namingComponents } from './naming.js'
import { Upstreams } from '@provenir/registry-client'
import { checkImageStatement } from './statements.js'
import { bitswapBadPeers, bitswapService, bitswapTransport } from './swarm/bitswap-transport.js'
import { providerKey } from './swarm/dht-key.js'
import { digestReference } from './swarm/pull.js'
import { SwarmSource } from './swarm/source.js'
import { parseSwarmKey } from './swarm-key.js'
import { bulkOptions } from './swarm/bulk-config.js'
import { bulk } from './swarm/bulk/index.js'
import type { NodeConfig } from './config.js'
import type { CreateNodeInit, ProvenirNode, ProvenirServices, VerifyOptions } from './index.js'
import type { ImageStatement } from './statements.js'
import type { TrustPolicy, VerificationReport } from '@provenir/trust'
import type { PullOptions, PulledImage } from './swarm/pull.js'
import type { BlockTransport } from './swarm/transport.js'
import type { AbortOptions, Libp2p, Logger, PeerId, PeerInfo } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import type { KadDHT, KadDHTInit, SingleKadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ContentBlockstore } from '@provenir/content'
import type { DifficultyGater } from '@provenir/identity'
import type { Naming, SeqStore } from '@provenir/naming'
import type { Datastore } from 'interface-datastore'

class Node implements ProvenirNode {
  readonly libp2p: Libp2p<ProvenirServices>
  readonly config: NodeConfig
  readonly gater: DifficultyGater
  readonly seqStore: SeqStore
  readonly blockstore?: ContentBlockstore
  readonly images?: ImageIndex
  readonly content?: ContentService
  readonly datastore?: LevelDatastore
  readonly naming: Naming
  readonly upstreams?: Upstreams
  trustPolicy?: TrustPolicy
  private readonly storage?: StorageConfig
  private readonly provided = new Set<string>()
  /** Provides still running (a DHT query waits for peers it may not have yet): an unprovide stops them */
  private readonly providing = new Map<string, AbortController>()
  private readonly log: Logger
  #dual?: DualDHT
  readonly #peerCache?: PeerCacheDatastore

  constructor (libp2p: Libp2p<ProvenirServices>, config: NodeConfig, gater: DifficultyGater, seqStore: SeqStore, createNaming: (node: ProvenirNode) => Naming, datastore?: LevelDatastore, blockstore?: ContentBlockstore, images?: ImageIndex, storage?: StorageConfig, upstreams?: Upstreams, peerCache?: PeerCacheDatastore) {
    this.libp2p = libp2p
    this.#peerCache = peerCache
    this.storage = storage
    this.upstreams = upstreams
    this.config = config
    this.gater = gater
    this.seqStore = seqStore
    this.datastore = datastore
    this.blockstore = blockstore
    this.images = images
    this.log = libp2p.logger.forComponent('provenir:node')
    this.naming = createNaming(this)
    const records = libp2p.services.imageRecords
    if (images != null && records.lookup == null) {
      records.lookup = async (digest) => images.get(digest)
    }
    if (blockstore != null && images != null) this.content = this.#contentService(blockstore, images)
  }

  /**
   * How the swarm source moves blocks: the bulk channel where this node runs
   * one, falling back to bitswap per peer and per block (a peer without a
   * bulk channel, a Helia node); else bitswap alone
   */
  #transport (): BlockTransport {
    const fallback = bitswapTransport(this.libp2p.services.bitswap)
    return this.libp2p.services.bulk?.transport(fallback) ?? fallback
  }

  /** The content service over the store, with the swarm (DHT + a block transport through the seam) as its source */
  #contentService (blockstore: ContentBlockstore, images: ImageIndex): ContentService {
    const logger = this.libp2p.logger
    const swarm = new SwarmSource({
      blockstore,
      images,
      transport: this.#transport(),
      dht: this.dht,
      records: this.libp2p.services.imageRecords,
      peerId: this.peerId,
      logger,
      provide: (cid) => { this.provide(cid) },
      routingTableSize: () => this.routingTableSize(),
      expectsPeers: () => this.config.bootstrap.length > 0 || this.libp2p.getConnections().length > 0,
      trustPolicy: () => this.trustPolicy
    })
    // upstream registries come last: a digest is asked of the swarm first, so a rollout costs the upstream one copy
    const sources = [swarm, ...(this.upstreams != null ? [new UpstreamSource({ upstreams: this.upstreams, logger, trustPolicy: () => this.trustPolicy })] : [])]
    return new ContentService({
      blockstore,
      images,
      registry: new RepositoryIndex(images, blockstore),
      swarm,
      logger,
      provide: (cid) => { this.provide(cid) },
      unprovide: async (cid) => { await this.unprovide(cid) },
      provideImage: async (digest) => { await this.provideImage(digest) },
      statements: async (digest, options) => this.statements(digest, options),
      addStatements: async (digest, envelopes, options) => this.addStatements(digest, envelopes, options),
      storage: this.storage
    }, sources)
  }

  /**
   * Advertise `cid` in the DHT in the background. Each CID is provided once
   * per run; kad-dht's reprovider renews the records before they expire.
   */
  provide (cid: CID): void {
    const key = cid.toString()
    if (this.provided.has(key)) return
    if (this.provided.size >= MAX_PROVIDED_MEMORY) this.provided.clear()
    this.provided.add(key)
    const running = new AbortController()
    this.providing.set(key, running)
    void (async () => {
      for await (const _ of this.dht.provide(providerKey(cid), { signal: AbortSignal.any([running.signal, AbortSignal.timeout(PROVIDE_TIMEOUT)]) })) { /* drain */ }
    })().catch(err => {
      this.provided.delete(key)
      if (!running.signal.aborted) this.log('providing %c failed - %e', cid, err)
    }).finally(() => {
      if (this.providing.get(key) === running) this.providing.delete(key)
    })
  }

  /**
   * Stop advertising `cid`: a provide still running stops (before it sends
   * the record to peers that come later), the DHT's reprovider no longer
   * renews the record, and a later `provide` advertises it again.
   */
  async unprovide (cid: CID, options: AbortOptions = {}): Promise<void> {
    const key = cid.toString()
    this.providing.get(key)?.abort()
    this.provided.delete(key)
    await this.dht.cancelReprovide(providerKey(cid), { signal: options.signal ?? AbortSignal.timeout(PROVIDE_TIMEOUT) })
  }

  async * findProviders (cid: CID, options: AbortOptions = {}): AsyncGenerator<PeerInfo> {
    const signal = options.signal ?? AbortSignal.timeout(FIND_PROVIDERS_TIMEOUT)
    const seen = new Set<string>()
    for await (const evt of this.dht.findProviders(providerKey(cid), { signal })) {
      if (evt.name !== 'PROVIDER') continue
      for (const p of evt.providers) {
        if (seen.has(p.id.toString())) continue
        seen.add(p.id.toString())
        yield p
      }
    }
  }

  async provideImage (manifestDigest: string): Promise<void> {
    const record = await this.images?.get(manifestDigest)
    if (record == null) throw new ImageNotFoundError(`this node holds no image ${manifestDigest}`)
    for (const blob of record.blobs) this.provide(CID.parse(blob.root))
    for (const s of record.statements ?? []) this.provide(CID.parse(s))
  }

  async pull (manifestDigest: string, options: PullOptions = {}): Promise<PulledImage> {
    if (this.content == null) throw new InvalidConfigError('this node has no blockstore (createNode without blockstorePath), so it cannot pull')
    return this.content.pull(manifestDigest, options)
  }

  async addStatements (manifestDigest: string, envelopes: Uint8Array[], options: AbortOptions = {}): Promise<ImageStatement[]> {
    const { blockstore, images } = this.#content('attach statements')
    if (envelopes.length === 0) throw new InvalidParametersError('no statements given')
    if (envelopes.length > MAX_IMAGE_STATEMENTS) throw new InvalidParametersError(`at most ${MAX_IMAGE_STATEMENTS} statements at once`)
    const record = await images.get(manifestDigest, options)
    if (record == null) throw new ImageNotFoundError(`this node holds no image ${manifestDigest}`)
    const checked: ImageStatement[] = []
    for (const [i, bytes] of envelopes.entries()) {
      try {
        checked.push(await checkImageStatement(bytes, record))
      } catch (err: any) {
        err.message = `statement ${i + 1} of ${envelopes.length}: ${err.message}`
        throw err
      }
    }
    for (const s of checked) await blockstore.put(s.cid, s.bytes, options)
    await images.add({ ...record, statements: checked.map(s => s.cid.toString()) }, [], options)
    for (const s of checked) this.provide(s.cid)
    return checked
  }

  async statements (manifestDigest: string, options: AbortOptions = {}): Promise<ImageStatement[]> {
    const { blockstore, images } = this.#content('read statements')
    const record = await images.get(manifestDigest, options)
    if (record == null) throw new ImageNotFoundError(`this node holds no image ${manifestDigest}`)
    const out: ImageStatement[] = []
    for (const c of record.statements ?? []) {
      const bytes = await getBlockBytes(blockstore, CID.parse(c), options)
      out.push(await checkImageStatement(bytes, record))
    }
    return out
  }

  async verify (manifestDigest: string, options: VerifyOptions = {}): Promise<{ report: VerificationReport, statements: ImageStatement[] }> {
    const { blockstore, images } = this.#content('verify images')
    const policy = options.policy ?? this.trustPolicy
    if (policy == null) throw new InvalidParametersError('no trust policy: give one, or set the node\'s')
    const record = await images.get(manifestDigest, options)
    if (record == null) throw new ImageNotFoundError(`this node holds no image ${manifestDigest}`)
    const manifest = await getBlockBytes(blockstore, CID.parse(record.blobs[0].root), options)
    const statements = await this.statements(manifestDigest, options)
    const report = await verifyImage({
      manifest,
      manifestDigest,
      statements: statements.map(s => s.bytes),
      policy,
      reference: options.reference ?? record.tags?.[0] ?? digestReference(manifestDigest)
    })
    return { report, statements }
  }

  #content (what: string): { blockstore: ContentBlockstore, images: ImageIndex } {
    if (this.blockstore == null || this.images == null) throw new InvalidConfigError(`this node has no blockstore (createNode without blockstorePath), so it cannot ${what}`)
    return { blockstore: this.blockstore, images: this.images }
  }

  get peerId (): PeerId {
    return this.libp2p.peerId
  }

  /** The main DHT, or the main and the LAN DHT as one when the LAN DHT runs */
  get dht (): KadDHT {
    const lan = this.libp2p.services.lanDHT
    if (lan == null) return this.libp2p.services.dht
    this.#dual ??= new DualDHT(this.libp2p.services.dht, lan)
    return this.#dual
  }

  routingTableSize (): number {
    const dht = this.dht
    return dht instanceof DualDHT ? dht.size : (dht as SingleKadDHT).routingTable?.size ?? 0
  }

  getMultiaddrs (): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  isStarted (): boolean {
    return this.libp2p.status === 'started'
  }

  async start (): Promise<void> {
    try {
      await this.libp2p.start()
    } catch (err) {
      // a service that cannot start (a bulk port taken) leaves the others listening otherwise
      try { await this.libp2p.stop() } catch {}
      throw err
    }
    try {
      await this.naming.start()
    } catch (err) {
      try { await this.libp2p.stop() } catch {}
      throw err
    }
    this.content?.storage.start()
  }

  async stop (): Promise<void> {
    await this.naming.stop()
    await this.content?.storage.stop()
    await this.libp2p.stop()
    await this.images?.close()
    await this.blockstore?.close()
    await this.#peerCache?.close()
    await this.datastore?.close()
    await this.upstreams?.close()
  }
}

export async function createNode (init: CreateNodeInit): Promise<ProvenirNode> {
  if (init.privateKey == null) throw new InvalidConfigError('createNode: privateKey is required')
  const config = validateConfig(init.config ?? {}, init.configSource ?? 'config')
  const storage = validateStorageConfig(init.storage, init.configSource ?? 'config')
  const logger = init.logger ?? defaultLogger()

  const gater = difficultyGater({
    difficulty: config.difficulty,
    logger,
    onRefuse: init.onRefuse
  })

  let datastore: LevelDatastore | undefined
  let peerCache: PeerCacheDatastore | undefined
  let blockstore: FsBlockstore | undefined
  let images: ImageIndex | undefined
  let upstreams: Upstreams | undefined
  const closeStores = async (): Promise<void> => {
    await images?.close().catch(() => {})
    await blockstore?.close().catch(() => {})
    await peerCache?.close().catch(() => {})
    await datastore?.close().catch(() => {})
    await upstreams?.close().catch(() => {})
  }
  try {
    if (init.upstream != null) upstreams = await Upstreams.create(init.upstream, { logger, ...init.upstreamInit }, init.upstreamBaseDir)
    if (init.datastorePath != null) {
      datastore = new LevelDatastore(init.datastorePath)
      await datastore.open()
      const log = logger.forComponent('provenir:peer-cache')
      peerCache = new PeerCacheDatastore(datastore, { onError: (err) => { log.error('writing peer records to the datastore failed (tried again) - %e', err) } })
    }
    if (init.blockstorePath != null) {
      blockstore = new FsBlockstore({ path: init.blockstorePath })
      await blockstore.open()
      images = new ImageIndex({ path: join(init.blockstorePath, 'images'), blockstore })
      await images.open()
    }
  } catch (err) {
    await closeStores()
    throw err
  }

  const seqStore: SeqStore = datastore != null ? new DatastoreSeqStore(datastore) : new MemorySeqStore()

  const transports: any[] = []
  if (config.transports.includes('tcp')) transports.push(tcp())
  if (config.transports.includes('memory')) transports.push(memory())

  const bulkInit = bulkOptions(config, blockstore, bitswapBadPeers(() => services.bitswap))

  const dhtInit: KadDHTInit = {
    clientMode: config.dht.clientMode,
    kBucketSize: config.dht.kBucketSize,
    alpha: config.dht.alpha,
    disjointPaths: config.dht.disjointPaths,
    querySelfInterval: config.dht.querySelfInterval,
    // naming: signed repository pointers and registry bindings. The
    // repo validator refuses a seq lower than the highest this node has
    // seen (kad-dht's PUT_VALUE consults only the validator, never the
    // selector, so rollback protection has to live here)
    validators: {
      'provenir-repo': createRepoValidator({ seqStore }),
      'provenir-name': nameValidator
    },
    selectors: {
      'provenir-repo': repoSelector,
      'provenir-name': nameSelector
    }
  }

  // the bulk channel reports bad peers to bitswap, a sibling service that
  // exists only once libp2p is built
  let services!: ProvenirServices
  try {
    const libp2p = await createLibp2p<ProvenirServices>({
      privateKey: init.privateKey,
      start: false,
      logger,
      // the peer store's records in memory, written behind (peer-cache-datastore.ts)
      datastore: peerCache as Datastore | undefined,
      addresses: {
        listen: config.listen,
        announce: config.announce
      },
      transports,
      connectionEncrypters: config.encryption.map(name => name === 'tls' ? tls() : noise()),
      streamMuxers: [yamux()],
      connectionProtector: init.swarmKey != null ? preSharedKey({ psk: parseSwarmKey(init.swarmKey) }) : undefined,
      connectionGater: gater,
      connectionManager: {
        maxConnections: config.maxConnections,
        dialTimeout: DEFAULT_DIAL_TIMEOUT,
        // loopback and LAN peers are trusted for the connection-rate limits
        // when the operator allowed them: a test bed opens many at once
        allow: config.allowPrivateAddresses ? ['/ip4/127.0.0.1', '/ip6/::1'] : [],
        ...init.connectionManager
      },
      connectionMonitor: { pingInterval: DEFAULT_CONNECTION_PING_INTERVAL, pingTimeout: { minTimeout: DEFAULT_CONNECTION_PING_TIMEOUT, maxTimeout: DEFAULT_CONNECTION_PING_TIMEOUT }, ...init.connectionMonitor },
      metrics: init.metrics === true ? prometheusMetrics({ preserveExistingMetrics: true }) : undefined,
      services: {
        identify: identify(),
        ping: ping(),
        // a node without a blockstore still answers want-have with DontHave
        bitswap: bitswapService({ blockstore: blockstore ?? new MemoryBlockstore() }),
        imageRecords: imageRecords(),
        ...(bulkInit != null ? { bulk: bulk(bulkInit) } : {}),
        ...(config.bootstrap.length > 0 ? { bootstrapDialer: bootstrapDialer({ list: config.bootstrap }) } : {}),
        ...(config.lan.mdns && listensBeyondLoopback(config.listen) ? { lanDiscovery: lanDiscovery() } : {}),
        ...dhtServices(config, dhtInit, init.dht)
      }
    })
    services = libp2p.services
    const node = new Node(libp2p, config, gater, seqStore, (n) => naming(init.naming)(namingComponents(n, init.privateKey)), datastore, blockstore, images, storage, upstreams, peerCache)
    if (init.trustPolicy != null) node.trustPolicy = init.trustPolicy
    if (init.start !== false) {
      await node.start()
    }
    return node
  } catch (err) {
    await closeStores()
    throw err
  }
}
