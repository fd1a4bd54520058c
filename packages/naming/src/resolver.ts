/**
 * Resolution: reference -> UserId -> pointer record -> repository document ->
 * manifest digest.
 *
 * A link name resolves through, in order: local pins (config), the
 * configured registries in priority order, then the default registry. The
 * first answer wins. In `explain` mode every source is asked and every answer
 * (or error) is returned, in priority order, with the winner marked.
 */

import { InvalidParametersError } from '@provenir/interface'
import { isUserId, type UserId } from '@provenir/trust'
import { verifyBinding, type NameBinding } from './binding.js'
import { parseCid } from './cid.js'
import { DHT_GET_TIMEOUT } from './constants.js'
import { lookupImage, verifyRepoDocument, type RepoDocument, type RepoImage } from './document.js'
import { NameNotFoundError, RepositoryNotFoundError, TagNotFoundError } from './errors.js'
import { repoKey, repoSelector, verifyRepoPointer, type RepoPointer } from './pointer.js'
import { parseReference, type ImageReference, type RegistryRef } from './reference.js'
import { isLinkName } from './signed.js'
import type { SeqStore } from './seq-store.js'
import type { AbortOptions } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { CID } from 'multiformats/cid'

/** A registry as the resolver sees it: something that answers lookups with signed bindings */
export interface RegistryClient {
  /** The registry's NodeId; its bindings must verify against it */
  readonly id: string
  /** The domain whose DNS TXT record named this registry, when it was found that way */
  readonly domain?: string
  /** The registry's binding for `name` (the envelope's bytes), or undefined when it has none */
  lookup(name: string, options?: AbortOptions): Promise<Uint8Array | undefined>
  /**
   * As `lookup`, and says where the binding came from: the registry itself,
   * or the DHT records it published (when it could not be reached). The
   * resolver prefers it, so that an answer is labelled with its real source.
   */
  lookupBinding?(name: string, options?: AbortOptions): Promise<BindingLookup>
}

/** A binding and where it was read */
export interface BindingLookup {
  binding?: Uint8Array
  from: BindingOrigin
}

/** Where a registry's binding was read: from the registry over `/provenir/names/1.0.0`, or from the DHT */
export type BindingOrigin = 'registry' | 'dht'

/** Where one answer came from; `domain` is set when DNS named the registry */
export type AnswerSource =
  | { kind: 'pin' }
  | { kind: 'registry', registry: string, priority: number, domain?: string }
  | { kind: 'default', registry: string, domain?: string }

export interface NameAnswer {
  source: AnswerSource
  /** where a registry's binding was read (registry answers only) */
  from?: BindingOrigin
  userId?: UserId
  /** the verified binding, for registry answers */
  binding?: NameBinding
  /** the binding's bytes, for offline re-validation */
  bindingBytes?: Uint8Array
  /** why this source gave no answer */
  error?: Error
}

export interface NameResolution {
  name: string
  userId: UserId
  /** the answer that won */
  answer: NameAnswer
  /** every answer, in priority order (explain mode only) */
  answers?: NameAnswer[]
}

export interface ResolveOptions extends AbortOptions {
  /** Ask every source and return every answer */
  explain?: boolean
}

/** Gives the candidate pointer records stored for (owner, repo) */
export type PointerSource = (owner: UserId, repo: string, options: AbortOptions) => Promise<Uint8Array[]>

/** Gives the bytes of a block (the repository document) */
export type DocumentSource = (cid: CID, options: AbortOptions) => Promise<Uint8Array>

/** Builds a client for a registry that a reference names explicitly */
export type RegistryConnector = (ref: RegistryRef, options: AbortOptions) => Promise<RegistryClient>

export interface ResolverInit {
  /** Local pins: link name -> UserId. They beat every registry. */
  pins?: Record<string, UserId> | Map<string, UserId>
  /** Registries in priority order */
  registries?: RegistryClient[]
  /** Asked after the configured registries */
  defaultRegistry?: RegistryClient
  /** For references that name a registry (`registry/namespace/repo`) */
  connect?: RegistryConnector
  /** Pointer records, e.g. {@link dhtPointerSource} */
  pointers?: PointerSource
  /** Repository document blocks, e.g. from the blockstore or a bitswap session */
  documents?: DocumentSource
  /** The highest seq seen; a lower pointer is refused as a rollback */
  seqStore?: SeqStore
  /** The clock, for tests */
  now?: () => Date | number
}

export interface Resolution {
  reference: ImageReference
  owner: UserId
  /** how a link name resolved (absent for a UserId namespace) */
  name?: NameResolution
  pointer: RepoPointer
  documentCid: CID
  document: RepoDocument
  manifestDigest: string
  image: RepoImage
}

export class Resolver {
  private readonly init: ResolverInit
  private readonly pins: Map<string, UserId>

  constructor (init: ResolverInit = {}) {
    this.init = init
    this.pins = init.pins instanceof Map ? new Map(init.pins) : new Map(Object.entries(init.pins ?? {}))
    for (const [name, userId] of this.pins) {
      if (!isLinkName(name) || !isUserId(userId)) throw new InvalidParametersError(`pin ${name} -> ${userId}: a pin maps a link name to a UserId`)
    }
  }

  /**
   * Resolves a link name to a UserId: pins, then registries in priority
   * order, then the default registry. A registry that fails or answers with a
   * binding that does not verify is skipped (and reported in explain mode).
   *
   * @throws NameNotFoundError when no source knows the name
   */
  async resolveName (name: string, options: ResolveOptions & { registry?: RegistryClient } = {}): Promise<NameResolution> {
    if (!isLinkName(name)) throw new InvalidParametersError(`${JSON.stringify(name)} is not a link name`)
    const sources: Array<{ source: AnswerSource, ask: () => Promise<NameAnswer> }> = []
    const add = (client: RegistryClient, source: AnswerSource): void => {
      if (client.domain != null && source.kind !== 'pin') source.domain = client.domain
      sources.push({ source, ask: async () => this.ask(client, name, source, options) })
    }
    if (options.registry != null) {
      add(options.registry, { kind: 'registry', registry: options.registry.id, priority: 0 })
    } else {
      const pinned = this.pins.get(name)
      if (pinned != null) sources.push({ source: { kind: 'pin' }, ask: async () => ({ source: { kind: 'pin' }, userId: pinned }) })
      ;(this.init.registries ?? []).forEach((client, priority) => { add(client, { kind: 'registry', registry: client.id, priority }) })
      const def = this.init.defaultRegistry
      if (def != null) add(def, { kind: 'default', registry: def.id })
    }
    if (options.explain === true) {
      const answers = await Promise.all(sources.map(async s => s.ask()))
      const answer = answers.find(a => a.userId != null)
      if (answer?.userId == null) throw notFound(name, answers)
      return { name, userId: answer.userId, answer, answers }
    }
    const tried: NameAnswer[] = []
    for (const s of sources) {
      options.signal?.throwIfAborted()
      const answer = await s.ask()
      if (answer.userId != null) return { name, userId: answer.userId, answer }
      tried.push(answer)
    }
    throw notFound(name, tried)
  }

  private async ask (client: RegistryClient, name: string, source: AnswerSource, options: AbortOptions): Promise<NameAnswer> {
    try {
      const { binding: bytes, from } = client.lookupBinding != null
        ? await client.lookupBinding(name, options)
        : { binding: await client.lookup(name, options), from: 'registry' as const }
      if (bytes == null) return { source, from }
      const binding = await verifyBinding(bytes, client.id, { name })
      return { source, from, userId: binding.userId, binding, bindingBytes: bytes }
    } catch (err: unknown) {
      return { source, error: err as Error }
    }
  }

  /**
   * The owner's current repository document: the best valid pointer record
   * (highest seq, not below the SeqStore's), then the document it names,
   * verified.
   *
   * @throws RepositoryNotFoundError when no valid pointer record is found
   * @throws RollbackError when the best record found is below a seq already seen
   */
  async fetchDocument (owner: UserId, repo: string, options: AbortOptions = {}): Promise<{ pointer: RepoPointer, documentCid: CID, document: RepoDocument }> {
    if (this.init.pointers == null || this.init.documents == null) throw new InvalidParametersError('this resolver has no pointer or document source')
    const key = repoKey(owner, repo)
    const now = this.init.now?.()
    const candidates = await this.init.pointers(owner, repo, options)
    const valid: Array<{ bytes: Uint8Array, pointer: RepoPointer }> = []
    const errors: Error[] = []
    for (const bytes of candidates) {
      try {
        valid.push({ bytes, pointer: await verifyRepoPointer(key, bytes, { now }) })
      } catch (err: unknown) {
        errors.push(err as Error)
      }
    }
    if (valid.length === 0) {
      const why = errors.length > 0 ? `; ${errors.length} record(s) refused: ${errors.map(e => `${e.name}: ${e.message}`).join('; ')}` : ''
      throw new RepositoryNotFoundError(`no valid pointer record for ${owner}/${repo}${why}`)
    }
    const best = valid[await repoSelector(key, valid.map(v => v.bytes))]
    await this.init.seqStore?.observe(owner, repo, best.pointer.seq, options)
    const documentCid = parseCid(best.pointer.doc)
    if (documentCid == null) throw new RepositoryNotFoundError(`pointer record for ${owner}/${repo} names no CID`)
    const bytes = await this.init.documents(documentCid, options)
    const document = await verifyRepoDocument(bytes, { owner, repo, now, cid: documentCid })
    if (document.seq !== best.pointer.seq) {
      throw new RepositoryNotFoundError(`pointer record seq ${best.pointer.seq} names a document with seq ${document.seq} for ${owner}/${repo}`)
    }
    return { pointer: best.pointer, documentCid, document }
  }

  /**
   * Resolves a reference to a manifest digest and its signed blob map.
   */
  async resolve (reference: string | ImageReference, options: ResolveOptions = {}): Promise<Resolution> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference
    let owner: UserId
    let name: NameResolution | undefined
    if (ref.namespaceKind === 'userId') {
      owner = ref.namespace
    } else {
      let registry: RegistryClient | undefined
      if (ref.registry != null) {
        if (this.init.connect == null) throw new InvalidParametersError('this resolver cannot reach a registry named in a reference (no connect function)')
        registry = await this.init.connect(ref.registry, options)
      }
      name = await this.resolveName(ref.namespace, { ...options, registry })
      owner = name.userId
    }
    const { pointer, documentCid, document } = await this.fetchDocument(owner, ref.repo, options)
    const { manifestDigest, image } = lookupImage(document, ref)
    if (ref.digest != null && ref.tag != null && document.tags[ref.tag] !== ref.digest) {
      throw new TagNotFoundError(`${owner}/${ref.repo}:${ref.tag} does not name ${ref.digest} (seq ${document.seq})`)
    }
    return { reference: ref, owner, name, pointer, documentCid, document, manifestDigest, image }
  }
}

function notFound (name: string, answers: NameAnswer[]): NameNotFoundError {
  const detail = answers.filter(a => a.error != null).map(a => `${describeSource(a.source)}: ${a.error?.message ?? ''}`)
  const err = new NameNotFoundError(`no pin or registry knows the name ${name}${detail.length > 0 ? ` (${detail.join('; ')})` : ''}`)
  err.answers = answers
  return err
}

/** A source as people read it: `local pin`, `registry <NodeId> (priority 0)`, `default registry <NodeId> found by DNS at <domain>` */
export function describeSource (source: AnswerSource): string {
  switch (source.kind) {
    case 'pin': return 'local pin'
    case 'registry': return `registry ${source.registry}${byDns(source.domain)} (priority ${source.priority})`
    case 'default': return `default registry ${source.registry}${byDns(source.domain)}`
  }
}

function byDns (domain: string | undefined): string {
  return domain != null ? ` found by DNS at ${domain}` : ''
}

/** An answer's real source: {@link describeSource}, read from the DHT when the registry could not be reached */
export function describeAnswer (answer: NameAnswer): string {
  return `${answer.from === 'dht' ? 'DHT record of ' : ''}${describeSource(answer.source)}`
}

/**
 * A PointerSource over kad-dht: every record that peers return for the key
 * (and the node's own), unverified — the resolver verifies and selects. A
 * failure after records were found (kad-dht's correction of stale peers can
 * throw) does not lose them.
 */
export function dhtPointerSource (dht: Pick<KadDHT, 'get'>, init: { timeout?: number } = {}): PointerSource {
  return async (owner, repo, options) => {
    const signal = AbortSignal.any([AbortSignal.timeout(init.timeout ?? DHT_GET_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
    const records: Uint8Array[] = []
    const seen = new Set<string>()
    const add = (value: Uint8Array): void => {
      const k = Buffer.from(value).toString('base64')
      if (seen.has(k) || records.length >= 64) return
      seen.add(k)
      records.push(value)
    }
    try {
      for await (const event of dht.get(repoKey(owner, repo), { signal })) {
        if (event.name === 'VALUE') add(event.value)
        else if (event.name === 'PEER_RESPONSE' && event.record != null) add(event.record.value)
      }
    } catch (err: unknown) {
      if (records.length === 0 && (err as Error).name !== 'NotFoundError') throw err
    }
    return records
  }
}

/** Resolves with a fresh Resolver; a convenience for one-off lookups. */
export async function resolveReference (reference: string, init: ResolverInit, options: ResolveOptions = {}): Promise<Resolution> {
  return new Resolver(init).resolve(reference, options)
}
