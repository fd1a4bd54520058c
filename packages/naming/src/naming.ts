/**
 * The naming service (`naming(init)`): the resolver, the publisher of this
 * node's namespaces (`publishing.ts`), and this node's own registry.
 *
 * - Resolution asks pins, the configured registries in priority order, then
 *   the default registry (`registries.ts`), then reads the pointer record:
 *   this node's own first (what it publishes answers here without the
 *   network, unless a higher seq has been seen), else the DHT; then the
 *   document, through the BlockGetter. Resolutions are cached briefly.
 * - Namespace keys are read from `init.keys` at each publish or claim, so a
 *   key added while the service runs needs no restart.
 * - A registry's bindings are kept in the datastore and put in the DHT, so a
 *   name resolves while the registry is offline; a binding made while the
 *   node has no peer is put there when one appears.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { InvalidConfigError, InvalidParametersError, KeyNotFoundError } from '@provenir/interface'
import { signClaim, verifyBinding, nameKey } from './binding.js'
import { ResolutionCache } from './cache.js'
import { parseRegistrySpec, validateNamingConfig } from './config.js'
import {
  DEFAULT_RECORD_LIFETIME, DEFAULT_REPUBLISH_INTERVAL, DHT_GET_TIMEOUT, MAX_UNSENT_BINDINGS, NAMING_DOCUMENT_TIMEOUT_MS, NAMING_LONELY_DHT_TIMEOUT_MS, NODE_KEY_NAME
} from './constants.js'
import { addrsFor } from './dns.js'
import { AmbiguousKeyError } from './errors.js'
import { Publishing } from './publishing.js'
import { dhtRecordPutter } from './publisher.js'
import { parseReference } from './reference.js'
import { DatastoreBindingStore, Registry, RemoteRegistry } from './registry.js'
import { RegistryClients } from './registries.js'
import { Resolver, dhtPointerSource } from './resolver.js'
import { isRepoName } from './signed.js'
import type { NamingConfig, ParsedRegistrySpec } from './config.js'
import { isNotKnown, planResolution } from './upstream.js'
import type { ImageResolution, Naming, NamingComponents, NamingInit, NamingResolution, PublishRequest } from './index.js'
import type { UpstreamNames } from './upstream.js'
import type { RegistryInit } from './registry.js'
import type { ResolveOptions } from './resolver.js'
import type { ClaimSummary, PublishSummary } from './summary.js'
import type { AbortOptions, Logger, PrivateKey } from '@libp2p/interface'
import type { UserId } from '@provenir/trust'
import type { CID } from 'multiformats/cid'

/** Errors that mean the name, its owner or its document is not there (a resolution `not-found`) */
const NOT_FOUND_ERRORS = new Set(['RepositoryNotFoundError', 'NameNotFoundError', 'TagNotFoundError'])

function isNotFound (err: unknown): boolean {
  return NOT_FOUND_ERRORS.has((err as Error | undefined)?.name ?? '')
}

export class NamingService implements Naming {
  readonly registry?: Registry
  private readonly components: NamingComponents
  private readonly init: NamingInit
  private readonly config: NamingConfig
  private readonly log: Logger
  private readonly cache: ResolutionCache
  private readonly clients: RegistryClients
  private readonly publishing: Publishing
  private readonly parsedRegistries: ParsedRegistrySpec[]
  private readonly parsedDefault?: ParsedRegistrySpec
  /** Bindings this node's registry made that no DHT peer holds yet */
  private readonly unsentBindings = new Map<string, Uint8Array>()
  private readonly onPeer = (): void => { this.sendBindings() }
  private started = false

  constructor (components: NamingComponents, init: NamingInit = {}) {
    const { keys: _keys, nodeKeyName: _node, republishInterval, lifetime, onPublish: _onPublish, onResolve: _onResolve, ...settings } = init
    this.config = validateNamingConfig(settings, 'naming')
    const interval = republishInterval ?? DEFAULT_REPUBLISH_INTERVAL
    const life = lifetime ?? DEFAULT_RECORD_LIFETIME
    if (!(interval > 0) || !(life > interval)) throw new InvalidConfigError('naming: "republishInterval" must be positive and shorter than "lifetime"')
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('provenir:naming')
    this.cache = new ResolutionCache(this.config.cacheTtlMs)
    this.parsedRegistries = this.config.registries.map((r, i) => parseRegistrySpec(r, 'naming', `naming.registries.${i}`))
    if (this.config.defaultRegistry != null) this.parsedDefault = parseRegistrySpec(this.config.defaultRegistry, 'naming', 'naming.defaultRegistry')
    if (this.config.registry.serve) this.registry = this.createRegistry()
    this.clients = new RegistryClients({
      dialer: components.dialer,
      dht: components.dht,
      ...(this.registry != null ? { local: this.registry } : {}),
      dns: this.config.dns,
      lonely: () => this.lonely(),
      log: this.log
    })
    this.publishing = new Publishing({
      components,
      keyFor: async (name, allowNodeKey) => this.namespaceKey(name, allowNodeKey),
      nodeKeyName: init.nodeKeyName ?? NODE_KEY_NAME,
      republishInterval: interval,
      lifetime: life,
      onChange: () => { this.cache.clear() },
      log: this.log
    })
  }

  private createRegistry (): Registry {
    const { components, config } = this
    const registryInit: RegistryInit = {
      allowClaims: config.registry.allowClaims,
      bindings: config.registry.bindings as Record<string, UserId>,
      // each binding also goes into the DHT, so names resolve while this registry is offline
      onBinding: (name, binding) => {
        this.keepUnsent(name, binding)
        this.sendBindings()
      }
    }
    if (components.datastore != null) registryInit.store = new DatastoreBindingStore(components.datastore)
    return new Registry({ registrar: components.registrar, logger: components.logger, privateKey: components.privateKey }, registryInit)
  }

  isStarted (): boolean { return this.started }

  async start (): Promise<void> {
    if (this.started) return
    await this.registry?.start()
    this.components.dhtPeers.addEventListener('peer:add', this.onPeer)
    await this.publishing.start()
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.components.dhtPeers.removeEventListener('peer:add', this.onPeer)
    await this.publishing.stop()
    await this.registry?.stop()
    this.started = false
  }

  private lonely (): boolean {
    return this.components.dhtPeers.size === 0
  }

  private keepUnsent (name: string, binding: Uint8Array): void {
    this.unsentBindings.delete(name)
    if (this.unsentBindings.size >= MAX_UNSENT_BINDINGS) this.unsentBindings.delete(this.unsentBindings.keys().next().value as string)
    this.unsentBindings.set(name, binding)
  }

  /** Put the bindings no DHT peer holds yet into the DHT, when the node has peers */
  private sendBindings (): void {
    if (this.registry == null || this.lonely()) return
    const put = dhtRecordPutter(this.components.dht)
    for (const [name, binding] of this.unsentBindings) {
      this.unsentBindings.delete(name)
      void put(nameKey(this.registry.nodeId, name), binding, { signal: AbortSignal.timeout(NAMING_DOCUMENT_TIMEOUT_MS) })
        .then(peers => {
          if (peers === 0 && !this.unsentBindings.has(name)) this.keepUnsent(name, binding)
          this.log('binding %s stored on %d DHT peers', name, peers)
        })
        .catch(err => {
          if (!this.unsentBindings.has(name)) this.keepUnsent(name, binding)
          this.log('putting binding %s in the DHT failed; trying again when a peer appears - %e', name, err)
        })
    }
  }

  /** A resolver over the configured sources (domains looked up in DNS now) */
  private async resolver (options: AbortOptions): Promise<Resolver> {
    const registries = await Promise.all(this.parsedRegistries.map(async s => this.clients.forSpec(s, options)))
    return new Resolver({
      pins: this.config.pins as Record<string, UserId>,
      registries,
      ...(this.parsedDefault != null
        ? { defaultRegistry: await this.clients.forSpec(this.parsedDefault, options) }
        : this.registry != null ? { defaultRegistry: this.registry } : {}),
      connect: async (ref, opts) => this.clients.forSpec(ref.kind === 'node' ? { kind: 'node', nodeId: ref.nodeId, addrs: [] } : ref, opts),
      pointers: async (owner, repo, opts) => this.pointers(owner, repo, opts),
      documents: async (cid, opts) => this.fetchDocument(cid, opts),
      seqStore: this.components.seqStore
    })
  }

  /**
   * Pointer records for (owner, repo): this node's own when it publishes the
   * repository and no higher seq has been seen, else the DHT's (with no DHT
   * peers only this node's records can answer: do not wait out the lookup)
   */
  private async pointers (owner: UserId, repo: string, options: AbortOptions): Promise<Uint8Array[]> {
    const local = this.publishing.localPointer(owner, repo)
    if (local != null && local.seq >= (await this.components.seqStore.get(owner, repo, options) ?? 0)) return [local.bytes]
    const timeout = this.lonely() ? NAMING_LONELY_DHT_TIMEOUT_MS : DHT_GET_TIMEOUT
    let found: Uint8Array[]
    try {
      found = await dhtPointerSource(this.components.dht, { timeout })(owner, repo, options)
    } catch (err) {
      if (local == null) throw err
      found = []
    }
    return local != null ? [local.bytes, ...found] : found
  }

  /** A repository document, verified against its CID by the BlockGetter (and again, signed, by the resolver) */
  private async fetchDocument (cid: CID, options: AbortOptions): Promise<Uint8Array> {
    const signal = AbortSignal.any([AbortSignal.timeout(NAMING_DOCUMENT_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
    return this.components.blocks.get(cid, { signal })
  }

  async resolve (reference: string, options: ResolveOptions = {}): Promise<NamingResolution> {
    try {
      const resolved = await this.resolveUncounted(reference, options)
      this.init.onResolve?.({ result: 'ok', cached: resolved.cached })
      return resolved
    } catch (err) {
      this.init.onResolve?.({ result: isNotFound(err) ? 'not-found' : 'error', cached: false })
      throw err
    }
  }

  private async resolveUncounted (reference: string, options: ResolveOptions): Promise<NamingResolution> {
    let resolution = options.explain === true ? undefined : this.cache.get(reference)
    const cached = resolution != null
    if (resolution == null) {
      const ref = parseReference(reference)
      resolution = await (await this.resolver(options)).resolve(ref, options)
      this.cache.set(reference, resolution)
    }
    const local = this.publishing.localPointer(resolution.owner, resolution.reference.repo)
    const record = local != null && local.seq === resolution.pointer.seq && local.documentCid === resolution.documentCid.toString() ? 'local' : 'dht'
    return { resolution, cached, record }
  }

  async resolveImage (reference: string, options: ResolveOptions = {}): Promise<ImageResolution> {
    const plan = planResolution(reference, this.components.upstream)
    const out: ImageResolution = { reference }
    let provenirError: Error | undefined
    if (plan.provenir != null) {
      try {
        out.provenir = await this.resolve(reference, options)
        if (options.explain === true && plan.upstream != null) out.upstreamAnswers = await this.upstreams().explain(plan.upstream.name, plan.upstream.reference, options)
        return out
      } catch (err) {
        if (plan.upstream == null || !isNotKnown(err)) throw err
        provenirError = err as Error
        const answers = (err as { answers?: unknown }).answers
        if (options.explain === true && Array.isArray(answers)) out.nameAnswers = answers
      }
    }
    const target = plan.upstream
    if (target == null) throw plan.parseError ?? new InvalidParametersError(`${reference} names nothing to resolve`)
    try {
      if (options.explain === true) {
        out.upstreamAnswers = await this.upstreams().explain(target.name, target.reference, options)
        const answered = out.upstreamAnswers.find(a => a.resolved != null)?.resolved
        if (answered == null) throw out.upstreamAnswers.find(a => a.error != null)?.error ?? new InvalidParametersError(`no upstream registry is asked for ${reference}`)
        out.upstream = answered
      } else {
        out.upstream = await this.upstreams().resolve(target.name, target.reference, options)
      }
    } catch (err) {
      if (provenirError == null) throw err
      // both kinds of source failed: say what each said, as the provenir
      // error when no upstream has the image either (a name nobody knows is
      // NameNotFoundError, as on a node without upstreams), else as the
      // upstream's (unreachable, refused), which is what an operator must fix
      const e = err as Error
      const first = e.name === 'UpstreamNotFoundError' ? provenirError : e
      const Ctor = first.constructor as new (message: string, options?: ErrorOptions) => Error
      const both = new Ctor(`${provenirError.message}; then ${e.message}`, { cause: e })
      both.name = first.name
      throw both
    }
    if (provenirError != null) {
      out.provenirError = provenirError
      this.log('%s: %s; answered by upstream %s', reference, provenirError.message, out.upstream.host)
    }
    return out
  }

  private upstreams (): UpstreamNames {
    const upstream = this.components.upstream
    if (upstream == null) throw new InvalidParametersError('this node has no upstream registries')
    return upstream
  }

  async tags (name: string, options: AbortOptions = {}): Promise<string[] | undefined> {
    let ref: ReturnType<typeof parseReference>
    try {
      ref = parseReference(`${name}:latest`)
    } catch {
      return undefined
    }
    if (ref.registry != null) return undefined
    const resolver = await this.resolver(options)
    const owner = ref.namespaceKind === 'userId' ? ref.namespace as UserId : (await resolver.resolveName(ref.namespace, options)).userId
    const { document } = await resolver.fetchDocument(owner, ref.repo, options)
    return Object.keys(document.tags)
  }

  async publish (request: PublishRequest, options: AbortOptions = {}): Promise<PublishSummary> {
    try {
      const published = await this.publishing.publish(request, options)
      this.init.onPublish?.({ result: published.peers > 0 ? 'dht' : 'local' })
      return published
    } catch (err) {
      this.init.onPublish?.({ result: 'error' })
      throw err
    }
  }

  async publishPushed (name: string, keyName: string, options: AbortOptions = {}): Promise<PublishSummary | undefined> {
    const repo = name.slice(name.lastIndexOf('/') + 1)
    if (!isRepoName(repo)) return undefined
    return this.publish({ repo, key: keyName, allowNodeKey: true }, options)
  }

  /**
   * The namespace key to sign with: `name`, or the only namespace key. The
   * node key is refused unless `allowNodeKey`.
   *
   * @throws KeyNotFoundError when there is no such key, or none at all
   * @throws AmbiguousKeyError when no name is given and several keys could sign
   */
  async namespaceKey (name?: string, allowNodeKey = false): Promise<{ name: string, key: PrivateKey }> {
    const keys = this.init.keys
    const nodeKey = this.init.nodeKeyName ?? NODE_KEY_NAME
    if (keys == null) throw new KeyNotFoundError('this naming service has no namespace keys (NamingInit.keys)')
    if (name != null) {
      if (name === nodeKey && !allowNodeKey) throw new InvalidParametersError(`"${nodeKey}" is the node key, not a namespace key; name a key made by "provenir key gen"`)
      return { name, key: await keys.get(name) }
    }
    const names = (await keys.list()).filter(n => n !== nodeKey)
    const where = keys.location != null ? ` ${keys.location}` : ''
    if (names.length === 0) throw new KeyNotFoundError(`the keystore${where} holds no namespace key; make one with "provenir key gen <name>"`)
    if (names.length > 1) throw new AmbiguousKeyError(`the keystore holds ${names.length} namespace keys (${names.join(', ')}); choose one with --key`)
    return { name: names[0], key: await keys.get(names[0]) }
  }

  async claim (name: string, registry: string, keyName?: string, options: AbortOptions = {}): Promise<ClaimSummary> {
    const spec = parseRegistrySpec(registry, 'request', 'registry')
    const { key } = await this.namespaceKey(keyName)
    const target = spec.kind === 'domain' ? await this.clients.lookupDomain(spec.domain, options) : spec
    let bytes: Uint8Array
    if (this.registry != null && target.nodeId === this.registry.nodeId) {
      // this node is the registry: the same checks as a claim over the wire
      bytes = await this.registry.claim(await signClaim(name, target.nodeId, key), options)
    } else {
      const addrs = addrsFor(target.nodeId, target.addrs.map(a => multiaddr(a)))
      const remote = new RemoteRegistry(this.components.dialer, addrs.length > 0 ? { id: target.nodeId, addrs } : { id: target.nodeId })
      bytes = await remote.claim(name, key, options)
    }
    const binding = await verifyBinding(bytes, target.nodeId, { name })
    this.cache.clear()
    return { name: binding.name, userId: binding.userId, registry: binding.registry, seq: binding.seq, issued: binding.issued, binding: JSON.parse(new TextDecoder().decode(bytes)) }
  }
}
