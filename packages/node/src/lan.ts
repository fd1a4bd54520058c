/**
 * Peers on the local network without configuration (doc/ARCHITECTURE.md,
 * "LAN by default"):
 *
 * - the LAN DHT's address rule, the mirror of the main DHT's: a peer enters
 *   its routing table, and its answers, by private addresses only;
 * - the main DHT's own addresses with the private ones taken out, so its
 *   provider records never carry a LAN or loopback address to the public
 *   swarm (kad-dht sends the address manager's addresses as they are);
 * - mDNS discovery that dials the peers it finds, since libp2p only records
 *   discovered peers.
 */

import { isPrivate } from '@libp2p/utils'
import { mdns } from '@libp2p/mdns'
import { multiaddr } from '@multiformats/multiaddr'
import { kadDHT } from '@libp2p/kad-dht'
import { verifyNodeId } from '@provenir/identity'
import { createPeerInfoMapper } from './address-filter.js'
import { admission } from './dht-admission.js'
import { withMembers } from './with-members.js'
import { DHT_PROTOCOL, LAN_DHT_PROTOCOL, DEFAULT_DIAL_TIMEOUT, MDNS_MAX_DIALS, MDNS_MAX_REMEMBERED, MDNS_QUERY_INTERVAL, MDNS_REDIAL_AFTER, MDNS_SERVICE_TAG } from './constants.js'
import type { Connection, Logger, PeerDiscovery, PeerId, PeerInfo, PeerStore, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { KadDHT, KadDHTComponents, KadDHTInit } from '@libp2p/kad-dht'
import type { NodeConfig } from './config.js'
import type { MulticastDNSComponents } from '@libp2p/mdns'

/**
 * The node's DHT services: `dht`, the main one under DHT_PROTOCOL, and
 * `lanDHT` under LAN_DHT_PROTOCOL when `lan.enabled` and private addresses
 * are kept out of the main one (with `allowPrivateAddresses` the main DHT
 * already holds LAN peers, and a second would double every query).
 *
 * @param overrides - a test bed's kad-dht settings (the LAN DHT keeps its own
 * protocol, prefixes, mode and address rule)
 */
export function dhtServices (config: NodeConfig, init: KadDHTInit, overrides: Partial<KadDHTInit> = {}): { dht: (c: KadDHTComponents) => KadDHT, lanDHT?: (c: KadDHTComponents) => KadDHT } {
  const main = admission(kadDHT({
    ...init,
    protocol: DHT_PROTOCOL,
    peerInfoMapper: createPeerInfoMapper({ allowPrivateAddresses: config.allowPrivateAddresses, difficulty: config.difficulty }),
    logPrefix: 'provenir:dht',
    datastorePrefix: '/provenir-dht',
    metricsPrefix: 'provenir_dht',
    ...overrides
  }))
  if (config.allowPrivateAddresses) return { dht: main }
  const services: { dht: (c: KadDHTComponents) => KadDHT, lanDHT?: (c: KadDHTComponents) => KadDHT } = {
    dht: (components) => main(withPublicAddressesOnly(components))
  }
  if (config.lan.enabled) {
    services.lanDHT = admission(kadDHT({
      ...init,
      ...overrides,
      // the LAN DHT's own identity and address rule, whatever a test bed overrides
      protocol: LAN_DHT_PROTOCOL,
      // LAN peers are few and near: the DHT answers them whatever the main one's mode
      clientMode: false,
      peerInfoMapper: createLanPeerInfoMapper(config.difficulty),
      logPrefix: 'provenir:dht-lan',
      datastorePrefix: '/provenir-dht-lan',
      metricsPrefix: 'provenir_dht_lan'
    }), { lan: true })
  }
  return services
}

/**
 * The LAN DHT's `peerInfoMapper`: private addresses only, and none at all for
 * a peer below the swarm's difficulty (as the main DHT's mapper)
 */
export function createLanPeerInfoMapper (difficulty: number): (peer: PeerInfo) => PeerInfo {
  return (peer: PeerInfo): PeerInfo => {
    if (!verifyNodeId(peer.id, difficulty)) return { ...peer, multiaddrs: [] }
    return { ...peer, multiaddrs: peer.multiaddrs.filter(ma => isPrivate(ma)) }
  }
}

/**
 * `components` with an address manager whose `getAddresses()` leaves out
 * private addresses: what the main DHT announces as this node's addresses in
 * the provider records it sends (a provide, a reprovide) and in its answers
 * about itself.
 */
export function withPublicAddressesOnly<C extends { addressManager: { getAddresses(): Multiaddr[] } }> (components: C): C {
  const manager = components.addressManager
  const publicOnly = withMembers(manager, { getAddresses: () => manager.getAddresses().filter(ma => !isPrivate(ma)) })
  return withMembers(components, { addressManager: publicOnly } as Partial<Record<keyof C, unknown>>)
}

/**
 * Whether mDNS has anything to offer: a listen address beyond loopback. A
 * node that listens on loopback alone could not be dialled by what mDNS
 * finds, so it sends no multicast (which also keeps test beds on 127.0.0.1
 * off the host's network).
 */
export function listensBeyondLoopback (listen: string[]): boolean {
  return listen.some(a => {
    const ma = multiaddr(a)
    const host = ma.getComponents()[0]
    if (host?.name === 'ip4') return host.value?.startsWith('127.') !== true
    if (host?.name === 'ip6') return host.value !== '::1'
    return false
  })
}

export interface LanDiscoveryComponents extends MulticastDNSComponents {
  peerStore: PeerStore
  connectionManager: {
    openConnection(peer: PeerId, options?: { signal?: AbortSignal }): Promise<Connection>
    getConnections(peer?: PeerId): Connection[]
  }
}

export interface LanDiscoveryInit {
  /**
   * mDNS query interval in ms
   *
   * @default MDNS_QUERY_INTERVAL
   */
  interval?: number
}

/**
 * mDNS discovery (@libp2p/mdns under provenir's service name) that dials
 * every peer it finds and is not connected to, at most MDNS_MAX_DIALS at once
 * (a peer skipped is found again at the next answer). A peer whose dial
 * failed (the gater, the swarm key) is tried again only after
 * MDNS_REDIAL_AFTER.
 */
export class LanDiscovery implements Startable {
  private readonly components: LanDiscoveryComponents
  private readonly mdns: PeerDiscovery & Startable
  private readonly log: Logger
  private readonly failed = new Map<string, number>()
  private readonly dialling = new Set<string>()
  private running?: AbortController

  constructor (components: LanDiscoveryComponents, init: LanDiscoveryInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('provenir:lan:mdns')
    this.mdns = mdns({ serviceTag: MDNS_SERVICE_TAG, interval: init.interval ?? MDNS_QUERY_INTERVAL })(components) as PeerDiscovery & Startable
    this.mdns.addEventListener('peer', (evt) => { void this.#found(evt.detail) })
  }

  readonly [Symbol.toStringTag] = 'provenir:lan-discovery'

  async start (): Promise<void> {
    this.running = new AbortController()
    await this.mdns.start()
  }

  async stop (): Promise<void> {
    this.running?.abort()
    await this.mdns.stop()
  }

  async #found (peer: PeerInfo): Promise<void> {
    const key = peer.id.toString()
    const failedAt = this.failed.get(key)
    if (this.running == null || this.running.signal.aborted) return
    if (this.dialling.has(key) || this.dialling.size >= MDNS_MAX_DIALS || this.components.connectionManager.getConnections(peer.id).length > 0) return
    if (failedAt != null && Date.now() - failedAt < MDNS_REDIAL_AFTER) return
    this.dialling.add(key)
    try {
      await this.components.peerStore.merge(peer.id, { multiaddrs: peer.multiaddrs })
      await this.components.connectionManager.openConnection(peer.id, { signal: AbortSignal.any([this.running.signal, AbortSignal.timeout(DEFAULT_DIAL_TIMEOUT)]) })
      this.failed.delete(key)
      this.log('connected to %p, found by mDNS', peer.id)
    } catch (err) {
      this.failed.delete(key)
      if (this.failed.size >= MDNS_MAX_REMEMBERED) this.failed.delete(this.failed.keys().next().value as string)
      this.failed.set(key, Date.now())
      if (!this.running.signal.aborted) this.log('could not dial %p, found by mDNS at %s - %e', peer.id, peer.multiaddrs.map(String).join(', '), err)
    } finally {
      this.dialling.delete(key)
    }
  }
}

/** The LAN discovery service, for libp2p's `services` */
export function lanDiscovery (init: LanDiscoveryInit = {}): (components: LanDiscoveryComponents) => LanDiscovery {
  return (components) => new LanDiscovery(components, init)
}
