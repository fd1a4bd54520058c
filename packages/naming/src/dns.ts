/**
 * Registries named by domain. The TXT record `_provenir.<domain>` holds
 * `provenir=<NodeId>` (one or more) and `dnsaddr=<multiaddr>` entries for the
 * registry's addresses, e.g.
 *
 * ```
 * _provenir.registry.example.org. TXT "provenir=12D3KooW..."
 * _provenir.registry.example.org. TXT "dnsaddr=/ip4/192.0.2.1/tcp/4001/p2p/12D3KooW..."
 * ```
 *
 * Lookups use node's `dns.promises.Resolver`, with configurable servers
 * (`['127.0.0.1:5353']`) and a timeout. The NodeId read from DNS is only a
 * pointer: every binding is still verified against it, and DNS cannot make a
 * registry sign anything.
 */

import { Resolver as DnsResolver } from 'node:dns/promises'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { DNS_TIMEOUT, MAX_TXT_RECORDS } from './constants.js'
import { DnsLookupError } from './errors.js'
import { parseNodeId } from './node-id.js'
import { RemoteRegistry, type RegistryDialer } from './registry.js'
import type { RegistryConnector } from './resolver.js'
import type { AbortOptions } from '@libp2p/interface'

export interface DnsInit {
  /** DNS servers, as `dns.setServers` takes them (`'127.0.0.1:5353'`); the system's when omitted */
  servers?: string[]
  /**
   * Time for the whole lookup, in ms
   *
   * @default DNS_TIMEOUT (5 s)
   */
  timeout?: number
}

export interface DnsRegistry {
  domain: string
  /** NodeIds from `provenir=` entries, canonical, in the order found */
  nodeIds: string[]
  /** Addresses from `dnsaddr=` entries */
  addrs: Multiaddr[]
}

/**
 * Reads `_provenir.<domain>` TXT.
 *
 * @throws DnsLookupError when the lookup fails or times out, or no valid `provenir=` entry is found
 */
export async function resolveRegistryDomain (domain: string, init: DnsInit & AbortOptions = {}): Promise<DnsRegistry> {
  const timeout = init.timeout ?? DNS_TIMEOUT
  const resolver = new DnsResolver({ timeout, tries: 1 })
  if (init.servers != null && init.servers.length > 0) resolver.setServers(init.servers)
  const name = `_provenir.${domain}`
  const signal = AbortSignal.any([AbortSignal.timeout(timeout), ...(init.signal != null ? [init.signal] : [])])
  const onAbort = (): void => { resolver.cancel() }
  signal.addEventListener('abort', onAbort, { once: true })
  let records: string[][]
  try {
    records = await resolver.resolveTxt(name)
  } catch (err: unknown) {
    const why = signal.aborted ? `timed out after ${timeout} ms` : `${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`.trim()
    throw new DnsLookupError(`TXT ${name}: ${why}`, { cause: err })
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
  const nodeIds: string[] = []
  const addrs: Multiaddr[] = []
  for (const chunks of records.slice(0, MAX_TXT_RECORDS)) {
    const text = chunks.join('')
    if (text.startsWith('provenir=')) {
      try {
        const peer = parseNodeId(text.slice('provenir='.length).trim())
        if (peer.type === 'Ed25519' && !nodeIds.includes(peer.toString())) nodeIds.push(peer.toString())
      } catch {}
    } else if (text.startsWith('dnsaddr=') && text.length <= 1024 + 'dnsaddr='.length) {
      try {
        addrs.push(multiaddr(text.slice('dnsaddr='.length).trim()))
      } catch {}
    }
  }
  if (nodeIds.length === 0) throw new DnsLookupError(`TXT ${name} holds no valid provenir=<NodeId> entry`)
  return { domain, nodeIds, addrs }
}

/** The addresses of `addrs` that belong to `nodeId`: those ending in its `/p2p/`, and those with no `/p2p/` (given one) */
export function addrsFor (nodeId: string, addrs: Multiaddr[]): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const addr of addrs) {
    const text = addr.toString()
    if (text.endsWith(`/p2p/${nodeId}`)) out.push(addr)
    else if (!text.includes('/p2p/')) out.push(addr.encapsulate(`/p2p/${nodeId}`))
  }
  return out
}

/**
 * A RegistryConnector for the Resolver: a NodeId is dialled through the peer
 * store, a domain is looked up in DNS first (its first `provenir=` NodeId,
 * at the `dnsaddr=` addresses that belong to it).
 */
export function registryConnector (dialer: RegistryDialer, dns: DnsInit = {}): RegistryConnector {
  return async (ref, options) => {
    if (ref.kind === 'node') return new RemoteRegistry(dialer, { id: ref.nodeId })
    const found = await resolveRegistryDomain(ref.domain, { ...dns, signal: options.signal })
    const id = found.nodeIds[0]
    return new RemoteRegistry(dialer, { id, addrs: addrsFor(id, found.addrs) })
  }
}
