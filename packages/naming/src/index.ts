/**
 * @packageDocumentation
 *
 * Key-owned namespaces for provenir: signed repository documents, the DHT
 * pointer records that name them, link names bound by registries, and
 * registries found through DNS TXT.
 */

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
export { Resolver, resolveReference, dhtPointerSource, describeSource } from './resolver.js'
export type {
  RegistryClient, AnswerSource, NameAnswer, NameResolution, ResolveOptions, PointerSource, DocumentSource,
  RegistryConnector, ResolverInit, Resolution
} from './resolver.js'
export { Registry, registry, RemoteRegistry, MemoryBindingStore, DatastoreBindingStore } from './registry.js'
export type { BindingStore, RegistryComponents, RegistryInit, RegistryDialer, RemoteRegistryInit } from './registry.js'
export { resolveRegistryDomain, registryConnector, addrsFor } from './dns.js'
export type { DnsInit, DnsRegistry } from './dns.js'
export { RepoPublisher, dhtRecordPutter } from './publisher.js'
export type { BlockPutter, RecordPutter, RepoContent, PublishResult, RepoPublisherInit } from './publisher.js'
export { DhtRegistryClient } from './dht-registry.js'
