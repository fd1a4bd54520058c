/**
 * @packageDocumentation
 *
 * `createNode()` builds a provenir swarm node: libp2p with TCP (and the
 * in-process memory transport for test beds), noise, yamux, identify and
 * ping; @libp2p/kad-dht under `/provenir/kad/1.0.0` in server mode; a
 * connection gater that refuses peers below the swarm's difficulty; an
 * optional private-network pre-shared key; and a persistent `level`
 * datastore, so the peer store and DHT records survive a restart.
 *
 * @example
 *
 * ```ts
 * import { generateIdentity } from '@provenir/identity'
 * import { createNode } from '@provenir/node'
 *
 * const privateKey = await generateIdentity({ difficulty: 8 })
 * const node = await createNode({
 *   privateKey,
 *   config: { difficulty: 8, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true }
 * })
 * console.info(node.peerId.toString(), node.getMultiaddrs())
 * await node.stop()
 * ```
 */

import type { NodeConfig } from './config.js'
import type { ImageRecords } from './image-records.js'
import type { ContentService } from './content/service.js'
import type { StorageConfig } from './storage-config.js'
import type { PullOptions, PulledImage } from './swarm/pull.js'
import type { Bitswap } from './swarm/bitswap-transport.js'
import type { AbortOptions, Libp2p, PeerId, PeerInfo, PrivateKey, ComponentLogger, Startable } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { Identify } from '@libp2p/identify'
import type { KadDHT, KadDHTInit } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Bulk } from './swarm/bulk/index.js'
import type { LanDiscovery } from './lan.js'
import type { BootstrapDialer } from './bootstrap-dialer.js'
import type { ContentBlockstore, ImageIndex } from '@provenir/content'
import type { DifficultyGater } from '@provenir/identity'
import type { Naming, NamingInit, SeqStore } from '@provenir/naming'
import type { UpstreamConfig, Upstreams, UpstreamsInit } from '@provenir/registry-client'
import type { Datastore } from 'interface-datastore'
import type { ImageStatement } from './statements.js'
import type { TrustPolicy, VerificationReport } from '@provenir/trust'
import type { ConnectionManagerInit, ConnectionMonitorInit } from 'libp2p'

export { createNode } from './node.js'
export { validateConfig, DEFAULT_CONFIG } from './config.js'
export type { NodeConfig, DHTConfig, BulkConfig, LanConfig, TransportName, EncryptionName } from './config.js'
export { bulk } from './swarm/bulk/index.js'
export type { Bulk, BulkInit, BulkComponents, BulkBlockstore, BulkProgressEvents } from './swarm/bulk/index.js'
/** @internal the bulk channel's frame parser, for the fuzz tests of what a peer can send */
export { DEFAULT_REQUESTS_PER_CONNECTION as DEFAULT_BULK_REQUESTS_PER_CONNECTION } from './swarm/bulk/constants.js'
export { BulkProtocolError } from './swarm/bulk/errors.js'
export { ClientFrameRules as BulkClientFrameRules, FrameReader as BulkFrameReader, encodeFrame as encodeBulkFrame, wantedCid as bulkWantedCid, Frame as BulkFrame } from './swarm/bulk/frames.js'
export { parseSwarmKey, generateSwarmKey } from './swarm-key.js'
export { createPeerInfoMapper } from './address-filter.js'
export { createLanPeerInfoMapper, withPublicAddressesOnly, listensBeyondLoopback, lanDiscovery, LanDiscovery } from './lan.js'
export type { LanDiscoveryInit, LanDiscoveryComponents } from './lan.js'
export { bootstrapDialer, BootstrapDialer } from './bootstrap-dialer.js'
export type { BootstrapDialerInit, BootstrapDialerComponents } from './bootstrap-dialer.js'
export { DualDHT } from './swarm/dual-dht.js'
export * from './constants.js'
export { pullImage, digestReference, dhtProviders, STATEMENTS_TIMEOUT, STATEMENT_IDLE_TIMEOUT } from './swarm/pull.js'
export type { PullOptions, PulledImage, PullProgressEvents, PullContext, PullReady } from './swarm/pull.js'
export * from './errors.js'
export { ContentService } from './content/service.js'
export { pullResult } from './content/events.js'
export type { ContentEvents, PullDetail, PullResult, PushDetail, TransferDetail } from './content/events.js'
export { StorageService } from './content/storage.js'
export type { StorageComponents, StorageEvents, StorageStat, EvictionDetail, GcDetail } from './content/storage.js'
export { validateStorageConfig, parseSize, DEFAULT_STORAGE_CONFIG } from './storage-config.js'
export type { StorageConfig } from './storage-config.js'
export { LocalSource } from './content/local-source.js'
export { withheldEnd } from './content/streams.js'
export { ANNOTATION_BUNDLE_PREDICATE_TYPE, ANNOTATION_STATEMENT, ANNOTATION_SIGNERS } from './content/referrers.js'
export type { ContentServiceComponents } from './content/components.js'
export type { MigrationResult } from './content/migrate.js'
export type {
  ContentRequest, ManifestRequest, ManifestResult, NamedContent, BlobRequest, ByteRange, BlobHandle, TagResolution,
  ContentSource, FetchObserver, SourceManifestRequest, SourceManifest, SourceBlobRequest, SourceBlob, BlockGetter,
  PutManifestRequest, PutManifestResult, UploadedBlob, ReferrerDescriptor
} from './content/types.js'
export { SwarmSource } from './swarm/source.js'
export { bitswapTransport } from './swarm/bitswap-transport.js'
export { exchangeLedgers, exchangeLedger } from './swarm/ledgers.js'
export type { ExchangeLedger } from './swarm/ledgers.js'
export type { SwarmSourceComponents } from './swarm/source.js'
export type { BlockTransport, TransportSession, TransportSessionInit, TransportWantOptions, TransportBlock, TransportProgressEvents, ProvidersFunction } from './swarm/transport.js'
export { imageRecords, ImageRecords, IMAGE_RECORD_PROTOCOL, ImageRecordInvalidError, encodeImageRecord, decodeImageRecord } from './image-records.js'
export { fetchBlob } from './swarm/fetch.js'
export { checkImageStatement, statementCid } from './statements.js'
export { namingComponents, namingBlocks } from './naming.js'
export type { ImageStatement } from './statements.js'

export interface ProvenirServices extends Record<string, unknown> {
  bitswap: Bitswap
  /** The bulk channel; absent when `config.bulk.enabled` is false or the node has no blockstore */
  bulk?: Bulk
  imageRecords: ImageRecords
  identify: Identify
  ping: Ping
  /** The main DHT (`/provenir/kad/1.0.0`); `ProvenirNode.dht` asks it and the LAN DHT as one */
  dht: KadDHT
  /** The LAN DHT (`/provenir/lan/kad/1.0.0`), when `lan.enabled` and `allowPrivateAddresses` is false */
  lanDHT?: KadDHT
  /** mDNS discovery, when `lan.mdns` and a listen address reaches beyond loopback */
  lanDiscovery?: LanDiscovery
  /** Dials the bootstrap peers whenever the node has no connection */
  bootstrapDialer?: BootstrapDialer
}

export interface CreateNodeInit {
  /** The node's Ed25519 key; its PeerId is the NodeId */
  privateKey: PrivateKey
  /** Settings, merged over DEFAULT_CONFIG and validated */
  config?: Partial<NodeConfig>
  /** Names the config's source (e.g. its file path) in validation errors */
  configSource?: string
  /** A `level` directory for the datastore; in memory when omitted */
  datastorePath?: string
  /**
   * A directory for content: block files and their `level` index, and the
   * image index in `<blockstorePath>/images`. A node without one serves no
   * content and cannot pull.
   */
  blockstorePath?: string
  /**
   * The store's limits: `maxSize` and the watermarks between which content no
   * pin protects is evicted, least recently used first (see `StorageConfig`).
   *
   * @default DEFAULT_STORAGE_CONFIG (no limit)
   */
  storage?: Partial<StorageConfig> | Record<string, unknown>
  /** The contents of a Kubo-format swarm.key: only peers holding it can connect */
  swarmKey?: Uint8Array
  /** A logger, e.g. `prefixLogger('node-3')` so that nodes in one process can be told apart */
  logger?: ComponentLogger
  /**
   * Collect Prometheus metrics in the process-wide registry
   *
   * @default false
   */
  metrics?: boolean
  /**
   * Start the node before returning
   *
   * @default true
   */
  start?: boolean
  /** Called each time the gater refuses a peer below the difficulty */
  onRefuse?(peer: PeerId, direction: 'inbound' | 'outbound'): void
  /** @internal Overrides for the connection manager, for test beds */
  connectionManager?: Partial<ConnectionManagerInit>
  /** @internal Connection monitor settings, for test beds */
  connectionMonitor?: ConnectionMonitorInit
  /** @internal Overrides for kad-dht, for test beds */
  dht?: Partial<KadDHTInit>
  /** The trust policy every pull is checked against (see {@link ProvenirNode.trustPolicy}) */
  trustPolicy?: TrustPolicy
  /**
   * The naming service's settings: pins, registries, DNS, a registry to
   * serve, the namespace keys that sign what the node publishes (see
   * `NamingInit` in @provenir/naming). Without keys the node resolves but
   * cannot publish or claim.
   */
  naming?: NamingInit
  /**
   * Upstream OCI registries the node resolves names on (and, with the content
   * path, fetches from): a config validated by `validateUpstreamConfig`
   * (`@provenir/registry-client`; Docker Hub is in it unless turned off).
   * Without it the node knows provenir names only. The daemon passes its
   * config's `upstream` section.
   */
  upstream?: UpstreamConfig
  /** Settings of the upstreams' clients (credentials, timeouts), for tests and embedders */
  upstreamInit?: UpstreamsInit
  /** Where relative CA paths in `upstream` start from. @default process.cwd() */
  upstreamBaseDir?: string
}

export interface VerifyOptions extends AbortOptions {
  /** The policy to check against; the node's own by default */
  policy?: TrustPolicy
  /** The name that chooses the policy rule; the image's first tag by default */
  reference?: string
}

export interface ProvenirNode extends Startable {
  readonly libp2p: Libp2p<ProvenirServices>
  readonly peerId: PeerId
  readonly dht: KadDHT
  readonly config: NodeConfig
  readonly gater: DifficultyGater
  /**
   * The highest seq this node has seen per repository pointer (persisted
   * with the datastore); the DHT validator refuses anything lower
   */
  readonly seqStore: SeqStore
  /**
   * The level datastore (peer store, DHT records, seqs), present when the
   * node was created with a `datastorePath`; other services of the daemon
   * (a registry's bindings) keep their records here under their own prefix
   */
  readonly datastore?: Datastore
  /** Present when the node was created with a `blockstorePath` */
  readonly blockstore?: ContentBlockstore
  /**
   * Names: resolve references, publish and republish this node's
   * repositories (offline too), serve a registry; started and stopped with
   * the node (see {@link CreateNodeInit.naming})
   */
  readonly naming: Naming
  /** The images this node holds (present with a blockstore) */
  readonly images?: ImageIndex
  /**
   * The content service (present with a blockstore): every manifest, index,
   * blob and block the node serves or fetches, from its sources in order
   * (the local store, then the swarm), verified; and what its repositories
   * hold. See `ContentService`.
   */
  readonly content?: ContentService
  /**
   * Advertise an image the node holds: its manifest and every blob root.
   * Pulled images are provided as they arrive; call this after an import.
   */
  provideImage(manifestDigest: string): Promise<void>
  getMultiaddrs(): Multiaddr[]
  /** Advertise a CID in the DHT in the background (once per run) */
  provide(cid: CID): void
  /** Stop advertising a CID: the DHT's reprovider drops it */
  unprovide(cid: CID, options?: AbortOptions): Promise<void>
  /** Providers of a CID, from the DHT */
  findProviders(cid: CID, options?: AbortOptions): AsyncGenerator<PeerInfo>
  /**
   * The trust policy checked on every pull that does not bring its own
   * (`PullOptions.policy`). Undefined: pulls check nothing, but still fetch
   * and keep the image's statements.
   */
  trustPolicy?: TrustPolicy
  /** Pull an image by manifest digest from the swarm; see {@link pullImage} */
  pull(manifestDigest: string, options?: PullOptions): Promise<PulledImage>
  /**
   * Attach signed statements (DSSE envelope JSON) to an image this node
   * holds: each must verify and name the image's manifest or one of its
   * blobs. They are stored as blocks, listed in the image record (pinned with
   * the image, sent to pullers) and provided.
   */
  addStatements(manifestDigest: string, envelopes: Uint8Array[], options?: AbortOptions): Promise<ImageStatement[]>
  /** The statements attached to a held image, each read back and checked again */
  statements(manifestDigest: string, options?: AbortOptions): Promise<ImageStatement[]>
  /** Check a held image and its statements against a trust policy */
  verify(manifestDigest: string, options?: VerifyOptions): Promise<{ report: VerificationReport, statements: ImageStatement[] }>
  /** Peers in the DHT routing table */
  routingTableSize(): number
  /** The upstream registries (see {@link CreateNodeInit.upstream}), closed with the node */
  readonly upstreams?: Upstreams
}
