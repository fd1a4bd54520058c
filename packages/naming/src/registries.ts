/**
 * The registries a naming service asks, built from their specs (NodeId,
 * multiaddr or domain) at each resolution:
 *
 * - a registry named by NodeId or multiaddr is asked over
 *   `/provenir/names/1.0.0`; when it cannot be reached, its bindings are read
 *   from the DHT (`/provenir-name/<NodeId>/<name>`), and the answer says so;
 * - a registry named by domain is looked up in DNS (`_provenir.<domain>` TXT)
 *   each time, and its answers name the domain; a failed lookup is that
 *   source's error;
 * - this node's own registry answers from its store.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { isError } from '@provenir/interface'
import { DhtRegistryClient } from './dht-registry.js'
import { addrsFor, resolveRegistryDomain } from './dns.js'
import { RemoteRegistry } from './registry.js'
import type { ParsedRegistrySpec } from './config.js'
import type { Registry, RegistryDialer } from './registry.js'
import type { BindingLookup, RegistryClient } from './resolver.js'
import type { AbortOptions, Logger } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'

/** A registry client that asks the registry and, when it cannot be reached, reads its bindings from the DHT */
export class FallbackRegistryClient implements RegistryClient {
  readonly id: string
  readonly domain?: string

  constructor (private readonly remote: RegistryClient, private readonly dht: RegistryClient, private readonly log: Logger, private readonly lonely: () => boolean, domain?: string) {
    this.id = remote.id
    if (domain != null) this.domain = domain
  }

  async lookup (name: string, options?: AbortOptions): Promise<Uint8Array | undefined> {
    return (await this.lookupBinding(name, options)).binding
  }

  async lookupBinding (name: string, options?: AbortOptions): Promise<BindingLookup> {
    try {
      const binding = await this.remote.lookup(name, options)
      return binding != null ? { binding, from: 'registry' } : { from: 'registry' }
    } catch (err) {
      if (options?.signal?.aborted === true) throw err
      // a registry that answers with an error of its own is authoritative; one that cannot be reached is not
      if (isError(err, 'RegistryError') || isError(err, 'BindingInvalidError')) throw err
      if (this.lonely()) throw err
      this.log('registry %s unreachable (%s); reading its bindings from the DHT', this.id, (err as Error).message)
      const binding = await this.dht.lookup(name, options)
      return binding != null ? { binding, from: 'dht' } : { from: 'dht' }
    }
  }
}

/** A registry named by a domain whose TXT lookup failed: every lookup fails with that error */
export class FailedRegistryClient implements RegistryClient {
  constructor (readonly id: string, private readonly error: Error) {}
  async lookup (): Promise<Uint8Array | undefined> { throw this.error }
}

export interface RegistryClientsInit {
  dialer: RegistryDialer
  dht: Pick<KadDHT, 'get'>
  /** This node's own registry, which answers without the network */
  local?: Registry
  dns: { servers: string[], timeoutMs: number }
  /** True while the DHT routing table is empty: no DHT fallback is worth waiting for */
  lonely(): boolean
  log: Logger
}

/** Builds the client for each registry spec; see the module comment */
export class RegistryClients {
  constructor (private readonly init: RegistryClientsInit) {}

  /** A client for a registry named by NodeId (with addresses, if known) */
  forNode (spec: ParsedRegistrySpec & { kind: 'node' }, domain?: string): RegistryClient {
    const { local, dialer, dht, log, lonely } = this.init
    if (local != null && spec.nodeId === local.nodeId) return local
    const addrs = addrsFor(spec.nodeId, spec.addrs.map(a => multiaddr(a)))
    const remote = new RemoteRegistry(dialer, addrs.length > 0 ? { id: spec.nodeId, addrs } : { id: spec.nodeId })
    return new FallbackRegistryClient(remote, new DhtRegistryClient(dht, spec.nodeId), log, lonely, domain)
  }

  /** A client for any spec: a domain is looked up in DNS now, and a failed lookup becomes that client's error */
  async forSpec (spec: ParsedRegistrySpec, options: AbortOptions): Promise<RegistryClient> {
    if (spec.kind === 'node') return this.forNode(spec)
    try {
      const found = await this.lookupDomain(spec.domain, options)
      return this.forNode({ kind: 'node', nodeId: found.nodeId, addrs: found.addrs }, spec.domain)
    } catch (err) {
      return new FailedRegistryClient(spec.domain, err as Error)
    }
  }

  /** The first NodeId `_provenir.<domain>` names, with its addresses */
  async lookupDomain (domain: string, options: AbortOptions): Promise<{ nodeId: string, addrs: string[] }> {
    const { servers, timeoutMs } = this.init.dns
    const found = await resolveRegistryDomain(domain, { servers, timeout: timeoutMs, ...(options.signal != null ? { signal: options.signal } : {}) })
    const nodeId = found.nodeIds[0]
    return { nodeId, addrs: addrsFor(nodeId, found.addrs).map(a => a.toString()) }
  }
}
