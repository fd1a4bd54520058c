/**
 * @packageDocumentation
 *
 * Key-owned namespaces for provenir: signed repository documents, the DHT
 * pointer records that name them, link names bound by registries, and
 * registries found through DNS TXT.
 *
 * The formats and their checks are plain functions and classes
 * (`signRepoDocument`, `verifyRepoPointer`, `Resolver`, `Registry`, ...). The
 * naming service, `naming(init)`, runs them in a node: it resolves references
 * (pins, registries, the default registry, then the pointer record and the
 * signed document), publishes repositories from the images the node holds and
 * republishes them, and serves a registry. It works without peers: a publish
 * is stored on the node, which answers for it at once, and goes into the DHT
 * when peers appear. `@provenir/node` builds one for every node
 * (`node.naming`, from `CreateNodeInit.naming`).
 *
 * @example
 *
 * ```ts
 * import { keystoreKeys } from '@provenir/naming'
 * import { createNode } from '@provenir/node'
 *
 * const node = await createNode({ privateKey, blockstorePath, datastorePath, naming: { keys: keystoreKeys(keystoreFile) } })
 * await node.naming.publish({ repo: 'myapp', tags: { v1: manifestDigest } })
 * const { resolution } = await node.naming.resolve(`${userId}/myapp:v1`)
 * ```
 */

import { NamingService } from './naming.js'
import type { NamingConfig, NamingDnsConfig, RegistryServeConfig } from './config.js'
import type { NamespaceKeys } from './keys.js'
import type { Registry, RegistryComponents, RegistryDialer } from './registry.js'
import type { NameAnswer, Resolution, ResolveOptions } from './resolver.js'
import type { UpstreamNameAnswer, UpstreamNames, UpstreamResolved } from './upstream.js'
import type { SeqStore } from './seq-store.js'
import type { ClaimSummary, PublishSummary } from './summary.js'
import type { AbortOptions, ComponentLogger, PrivateKey, Startable } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { ContentBlockstore, ImageIndex, PinStore } from '@provenir/content'
import type { Datastore } from 'interface-datastore'
import type { CID } from 'multiformats/cid'

export * from './constants.js'
export * from './errors.js'
export { createRepoDocument, checkRepoDocument, signRepoDocument, verifyRepoDocument, lookupImage } from './document.js'
export type { RepoDocument, RepoImage, RepoBlob, ImageLike, CreateRepoDocumentInit, SignedRepoDocument, VerifyRepoDocumentOptions } from './document.js'
export { repoKey, parseRepoKey, signRepoPointer, verifyRepoPointer, createRepoValidator, repoValidator, repoSelector } from './pointer.js'
export type { RepoPointer, CreateRepoPointerInit, VerifyRepoPointerOptions, RepoValidatorInit, RepoValidateFn } from './pointer.js'
export { MemorySeqStore, DatastoreSeqStore } from './seq-store.js'
export type { SeqStore } from './seq-store.js'
export { isRepoName, isTag, isLinkName } from './signed.js'
export { signClaim, verifyClaim, signBinding, verifyBinding, registryKeyId, nameKey, nameValidator, nameSelector } from './binding.js'
export type { NameClaim, NameBinding, VerifyBindingOptions, VerifyClaimOptions } from './binding.js'
export { parseReference, parseRegistryRef, formatReference } from './reference.js'
export type { ImageReference, RegistryRef } from './reference.js'
export { Resolver, resolveReference, dhtPointerSource, describeSource, describeAnswer } from './resolver.js'
export type {
  RegistryClient, AnswerSource, NameAnswer, NameResolution, ResolveOptions, PointerSource, DocumentSource,
  RegistryConnector, ResolverInit, Resolution, BindingLookup, BindingOrigin
} from './resolver.js'
export { Registry, registry, RemoteRegistry, MemoryBindingStore, DatastoreBindingStore } from './registry.js'
export type { BindingStore, RegistryComponents, RegistryInit, RegistryDialer, RemoteRegistryInit } from './registry.js'
export { resolveRegistryDomain, registryConnector, addrsFor } from './dns.js'
export type { DnsInit, DnsRegistry } from './dns.js'
export { RepoPublisher, dhtRecordPutter } from './publisher.js'
export type { BlockPutter, RecordPutter, RepoContent, PublishResult, RepoPublisherInit, PublishOptions, SignedRepoRecord } from './publisher.js'
export { DhtRegistryClient } from './dht-registry.js'
export { validateNamingConfig, parseRegistrySpec } from './config.js'
export type { NamingConfig, NamingDnsConfig, RegistryServeConfig, RegistrySpec, ParsedRegistrySpec } from './config.js'
export { ResolutionCache } from './cache.js'
export { keystoreKeys } from './keys.js'
export type { NamespaceKeys } from './keys.js'
export { checkRepoName } from './publishing.js'
export { planResolution, isNotKnown } from './upstream.js'
export type { UpstreamNames, UpstreamResolved, UpstreamNameAnswer, ResolutionPlan } from './upstream.js'
export { tagFor, summariseAnswer, summariseResolution, summariseUpstreamAnswer, summariseImageResolution, recordFromResolution, policyReferenceOf } from './summary.js'
export type { PublishSummary, ResolveSummary, AnswerSummary, ClaimSummary, UpstreamResolveSummary, ImageResolveSummary } from './summary.js'

/**
 * Gives a block's bytes, verified against its CID: the repository documents
 * the service resolves. A node answers from its store, else the swarm.
 */
export interface BlockGetter {
  /** @throws when no source holds the block, or `options.signal` aborts */
  get(cid: CID, options?: AbortOptions): Promise<Uint8Array>
}

/** The DHT's routing table, as naming watches it: with no peer it works from local records */
export interface DhtPeers {
  /** Peers in the routing table now */
  readonly size: number
  addEventListener(type: 'peer:add', listener: () => void): void
  removeEventListener(type: 'peer:add', listener: () => void): void
}

/** Where the documents this node publishes are kept: stored, pinned while current, unpinned once replaced */
export interface DocumentStore extends Pick<ContentBlockstore, 'put'> {
  readonly pins: Pick<PinStore, 'pin' | 'unpin'>
}

/** What the naming service uses; `@provenir/node` gives it a node's (`namingComponents`) */
export interface NamingComponents {
  /** The node key: a registry signs its bindings with it */
  privateKey: PrivateKey
  logger: ComponentLogger
  /** Handles the registry protocol (a libp2p node) */
  registrar: RegistryComponents['registrar']
  /** Dials registries (a libp2p node) */
  dialer: RegistryDialer
  /** Pointer records and registry bindings */
  dht: Pick<KadDHT, 'get' | 'put'>
  dhtPeers: DhtPeers
  /** The highest seq seen per repository, shared with the node's DHT validator */
  seqStore: SeqStore
  /** Keeps what this node publishes and a registry's bindings across restarts; in memory without it */
  datastore?: Datastore
  /** Fetches repository documents */
  blocks: BlockGetter
  /** Holds the documents this node publishes; without it nothing is published */
  blockstore?: DocumentStore
  /** The images this node holds, from which `publish` builds a document */
  images?: Pick<ImageIndex, 'ls' | 'get'>
  /** Advertises a CID (a published document) in the DHT */
  provide?(cid: CID): void
  /**
   * The upstream OCI registries, asked after every provenir source for a
   * link name none knows, and for names with a registry host they list
   * (`@provenir/registry-client`'s `Upstreams`); without it only provenir
   * names resolve
   */
  upstream?: UpstreamNames
}

/** The service's settings: a naming config (every field optional, with its default) and the rest */
export interface NamingInit extends Partial<Omit<NamingConfig, 'dns' | 'registry'>> {
  dns?: Partial<NamingDnsConfig>
  registry?: Partial<RegistryServeConfig>
  /** Namespace keys that sign what this node publishes and claims; none: publish and claim fail with KeyNotFoundError */
  keys?: NamespaceKeys
  /**
   * The name of the node key among `keys`: not a namespace key unless a
   * caller allows it (`PublishRequest.allowNodeKey`)
   *
   * @default NODE_KEY_NAME ("self")
   */
  nodeKeyName?: string
  /** @default DEFAULT_REPUBLISH_INTERVAL (4 h) */
  republishInterval?: number
  /** @default DEFAULT_RECORD_LIFETIME (48 h) */
  lifetime?: number
  /** Called after each publish with how it ended (the daemon's metrics); it must not throw */
  onPublish?(event: NamingPublishEvent): void
  /** Called after each resolution with how it ended (the daemon's metrics); it must not throw */
  onResolve?(event: NamingResolveEvent): void
}

/**
 * How a publish ended: `dht` (DHT peers stored the pointer), `local` (stored
 * here only, put in the DHT when peers appear), or `error`
 */
export interface NamingPublishEvent {
  result: 'dht' | 'local' | 'error'
}

/** How a resolution ended: `ok` or the name of the error that ended it; `cached` when the cache answered */
export interface NamingResolveEvent {
  result: 'ok' | 'not-found' | 'error'
  cached: boolean
}

export interface PublishRequest {
  /** The repository name: one lowercase path component, published as `<UserId>/<repo>` */
  repo: string
  /** Name of the namespace key; default: the only namespace key */
  key?: string
  /** tag -> manifest digest; default: the images held under a recorded name `<...>/<repo>:<tag>` */
  tags?: Record<string, string>
  /** Allow the node key (the gateway publishes pushes under the key that signed them) */
  allowNodeKey?: boolean
}

/** A resolution, and how it was answered */
export interface NamingResolution {
  resolution: Resolution
  /** From the resolution cache */
  cached: boolean
  /** The pointer record was this node's own (published here), or the DHT's */
  record: 'local' | 'dht'
}

/**
 * A reference resolved by whichever source knew it: provenir's (pins,
 * registries, the signed document) or an upstream registry's. Exactly one of
 * `provenir` and `upstream` is set.
 */
export interface ImageResolution {
  reference: string
  provenir?: NamingResolution
  upstream?: UpstreamResolved
  /** Why provenir's sources gave no answer, when an upstream's did */
  provenirError?: Error
  /** Explain: provenir's name sources, when they all failed (a winning resolution carries its own) */
  nameAnswers?: NameAnswer[]
  /** Explain: every upstream registry's answer, in order */
  upstreamAnswers?: UpstreamNameAnswer[]
}

/** Naming as a node runs it; see the package comment */
export interface Naming extends Startable {
  /** This node's registry, when it serves one */
  readonly registry?: Registry
  /** Resolves a provenir reference; without `explain` a recent resolution is served from the cache */
  resolve(reference: string, options?: ResolveOptions): Promise<NamingResolution>
  /**
   * Resolves any image reference: pins, provenir registries and the signed
   * document, then the upstream registries (Docker Hub last by default); a
   * reference whose host is a configured upstream goes there alone.
   */
  resolveImage(reference: string, options?: ResolveOptions): Promise<ImageResolution>
  /**
   * Builds the repository document from the images the node holds and
   * publishes it: stored here first (it resolves here at once), then put in
   * the DHT; with no peer to take it the result says so (`peers: 0`,
   * `warning`) and it goes into the DHT when peers appear. A publish that
   * fails uses no seq.
   */
  publish(request: PublishRequest, options?: AbortOptions): Promise<PublishSummary>
  /**
   * After a push by tag through a gateway: publish `<UserId of keyName>/<repo>`
   * (repo: the last segment of the pushed name), node key allowed.
   * Undefined when that segment is no repository name.
   */
  publishPushed(name: string, keyName: string, options?: AbortOptions): Promise<PublishSummary | undefined>
  /**
   * The tags of the signed repository document a gateway repository name
   * (`<link name or UserId>/<repo>`) resolves to, or undefined for a name
   * naming cannot hold (one with a registry part, or not a reference)
   */
  tags(name: string, options?: AbortOptions): Promise<string[] | undefined>
  /** Claims a link name at a registry (NodeId, multiaddr or domain; this node's own too) */
  claim(name: string, registry: string, keyName?: string, options?: AbortOptions): Promise<ClaimSummary>
}

/** The naming service as a component: `naming(init)(components)` */
export function naming (init: NamingInit = {}): (components: NamingComponents) => Naming {
  return (components) => new NamingService(components, init)
}
