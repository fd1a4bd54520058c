/**
 * The content path's public shapes: what a caller asks the content service
 * (`node.content`), what it gets back, and the one interface every source
 * implements. See `service.ts` for how the service uses its sources and
 * `doc/ARCHITECTURE.md` ("Content path") for how the next sources plug in.
 */

import type { AbortOptions } from '@libp2p/interface'
import type { BlobReader, ContentBlockstore, Digest, ImageRecord } from '@provenir/content'
import type { CID } from 'multiformats/cid'

/** What every request is about, beyond the object itself */
export interface ContentRequest extends AbortOptions {
  /**
   * The repository the request comes through (`namespace/repo`). It scopes
   * tags, links and deletes; it names the trust-policy rule of a pull; an
   * upstream source fetches from the repository of that name.
   */
  repository: string
  /**
   * Where the request says the content lives upstream: containerd's
   * `?ns=<registry host>` on a mirror request, or the registry a mirror
   * serves. Sources that fetch from upstream registries read it; the
   * others ignore it.
   */
  namespace?: string
}

/** A manifest or image index, by tag or by digest */
export interface ManifestRequest extends ContentRequest {
  /** A tag, or a digest (`sha256:` or `sha512:`) */
  reference: string
  /**
   * What a name resolution outside the service found for this digest (a
   * signed repository document): a trusted record of the image (blob roots,
   * statements) for the fetch, and the name the trust policy judges it by.
   */
  named?: NamedContent
  /** How long a fetch this request starts may run in all, in ms. @default DEFAULT_PULL_TIMEOUT */
  pullTimeout?: number
}

export interface NamedContent {
  record?: ImageRecord
  /** `namespace/repo:tag`, for the trust policy */
  reference: string
}

/** A manifest or index the service holds or fetched, checked against its digest */
export interface ManifestResult {
  digest: Digest
  mediaType: string
  size: number
  bytes: Uint8Array
  kind: 'manifest' | 'index'
}

/** A blob by digest */
export interface BlobRequest extends ContentRequest {
  digest: string
}

/** Inclusive byte range of a blob */
export interface ByteRange {
  start: number
  end: number
}

/**
 * A blob found for a request, opened: its size is known, its bytes are read
 * with {@link BlobHandle.read}. Every chunk read is verified: each block
 * against its CID, and a blob still arriving holds back its last chunk
 * until the whole blob has matched its digest (a mismatch breaks the stream
 * short, so no reader ever holds all of a bad blob).
 */
export interface BlobHandle {
  digest: Digest
  size: number
  /** Where the bytes come from: `local`, or the source still fetching them */
  source: string
  /**
   * The bytes, or a range of them. The first chunk is read before the
   * iterator yields it, so a block that fails its check there fails the
   * read before anything is sent.
   */
  read(range?: ByteRange, options?: AbortOptions): AsyncIterable<Uint8Array>
  /**
   * Hands a chunk yielded by `read` back once its bytes are no longer
   * needed (written to a socket): held blobs are read into a shared pool of
   * buffers, so serving makes no garbage.
   */
  release(chunk: Uint8Array): void
}

/** What a source knows of a tag */
export interface TagResolution {
  digest: Digest
  named?: NamedContent
}

/** A manifest asked of a source, always by digest */
export interface SourceManifestRequest extends ContentRequest {
  digest: Digest
  /** The tag the client asked for, when it asked by tag */
  tag?: string
  named?: NamedContent
  pullTimeout?: number
}

/**
 * A manifest or index a source found. The service checks `bytes` against
 * the digest before it answers or records anything.
 */
export interface SourceManifest {
  bytes: Uint8Array
  /** Where the source stored the bytes already (the local store, the swarm); absent when the service must store them */
  root?: CID
}

/** A blob asked of a source */
export interface SourceBlobRequest extends ContentRequest {
  digest: Digest
}

/**
 * A blob a source found:
 * - `stored`: held in the node's store, checked against its digest when it
 *   was stored; the service reads its blocks (each checked by CID);
 * - `arriving`: a DAG the source is filling block by block (each block
 *   checked against its CID on receipt), which `reader` reads while it
 *   arrives (into the service's pooled buffers: no garbage per block);
 *   `verified` settles once the source has checked the whole blob against
 *   its digest;
 * - `stream`: bytes the service must check against the digest itself while
 *   it streams them (an upstream registry's), storing them as blocks.
 */
export type SourceBlob =
  { kind: 'stored', root: CID, size: number } |
  { kind: 'arriving', root: CID, size: number, reader(signal: AbortSignal): BlobReader & Pick<ContentBlockstore, 'readInto'>, verified: Promise<void> } |
  { kind: 'stream', size: number, open(options: AbortOptions): AsyncIterable<Uint8Array> }

/**
 * Where content comes from. The service asks its sources in order (the
 * local store, then the swarm; next, upstream registries) and takes the
 * first answer; a source answers undefined for what it does not have, and
 * throws only for a failure worth reporting (a policy refusal, a bad blob).
 */
export interface ContentSource {
  /** `local`, `swarm`, `upstream`: in logs and in {@link BlobHandle.source} */
  readonly name: string
  /**
   * Whether a request's `namespace` names this source's content (an upstream
   * registry): a tag asked with a namespace is asked of such sources only
   */
  readonly namespaced?: boolean
  /** The digest a tag names in a repository, or undefined when this source knows no such tag */
  resolveTag?(request: ContentRequest & { tag: string }): Promise<TagResolution | undefined>
  /** A manifest or index by digest */
  manifest(request: SourceManifestRequest): Promise<SourceManifest | undefined>
  /** A blob by digest */
  blob(request: SourceBlobRequest): Promise<SourceBlob | undefined>
  /** One block by CID, checked against it (repository documents, statements) */
  block?(cid: CID, options: AbortOptions): Promise<Uint8Array | undefined>
  /**
   * Follow the whole-image fetches this source runs for clients (the swarm's
   * pulls for the gateway): `observer` is called as each starts, and what it
   * returns gets the fetch's progress events and its end. One observer; a
   * second call replaces the first. The daemon's dashboard uses it.
   */
  observeFetches?(observer: FetchObserver | undefined): void
}

/** Told of each whole-image fetch a source runs for clients */
export type FetchObserver = (digest: string, reference: string) => {
  /** Each progress event of the fetch (`pull:ready`, `bitswap:block`, `bulk:block`, ...) */
  observe(event: { type: string, detail?: unknown }): void
  /** The fetch ended: with its error, or without one */
  finish(err?: unknown): void
}

/** Something that hands out verified blocks by CID: what naming fetches repository documents through */
export interface BlockGetter {
  get(cid: CID, options?: AbortOptions): Promise<Uint8Array>
}

/** A manifest push */
export interface PutManifestRequest extends ContentRequest {
  /** A tag, or the digest the bytes must have */
  reference: string
  bytes: Uint8Array
  /** The media type the client sent, if any */
  mediaType?: string
}

export interface PutManifestResult {
  digest: Digest
  kind: 'manifest' | 'index'
  /** The digest of the manifest's `subject`, for the `OCI-Subject` header */
  subject?: Digest
}

/** A blob an upload built in the store: its DAG, unpinned, bound to no digest yet */
export interface UploadedBlob {
  root: CID
  size: number
  blocks: CID[]
  /** The upload's bytes were hashed with this algorithm and matched the digest already */
  checked?: 'sha256'
}

/** A descriptor in a referrers index */
export interface ReferrerDescriptor {
  mediaType: string
  digest: Digest
  size: number
  artifactType?: string
  annotations?: Record<string, string>
}
