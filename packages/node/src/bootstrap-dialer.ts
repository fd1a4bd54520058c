/**
 * Dials the bootstrap peers whenever the node has no connection: at start,
 * and again each time it loses its last one. Rounds repeat with a doubling
 * wait (BOOTSTRAP_REDIAL_MIN_DELAY up to BOOTSTRAP_REDIAL_MAX_DELAY) until a
 * connection is open. @libp2p/bootstrap dials its list once, so a node whose
 * bootstrap peers were down at that moment, or that later lost every peer,
 * stayed alone until restarted.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { BOOTSTRAP_REDIAL_MAX_DELAY, BOOTSTRAP_REDIAL_MIN_DELAY, DEFAULT_DIAL_TIMEOUT } from './constants.js'
import type { ComponentLogger, Connection, Libp2pEvents, Logger, PeerId, PeerStore, Startable, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The peer store tag that keeps bootstrap peers' connections from being pruned first (@libp2p/bootstrap's) */
const BOOTSTRAP_TAG = 'bootstrap'
const BOOTSTRAP_TAG_VALUE = 50

export interface BootstrapDialerComponents {
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  connectionManager: {
    openConnection(peer: PeerId, options?: { signal?: AbortSignal }): Promise<Connection>
    getConnections(peer?: PeerId): Connection[]
  }
}

export interface BootstrapDialerInit {
  /** Multiaddrs ending in /p2p/<NodeId> (validated with the node's config) */
  list: string[]
  /** @default BOOTSTRAP_REDIAL_MIN_DELAY */
  minDelay?: number
  /** @default BOOTSTRAP_REDIAL_MAX_DELAY */
  maxDelay?: number
}

export class BootstrapDialer implements Startable {
  private readonly components: BootstrapDialerComponents
  private readonly peers: Array<{ id: PeerId, addrs: Multiaddr[] }>
  private readonly minDelay: number
  private readonly maxDelay: number
  private readonly log: Logger
  private delay: number
  private timer?: ReturnType<typeof setTimeout>
  private dialling = false
  private running?: AbortController
  private readonly onDisconnect = (): void => {
    if (this.components.connectionManager.getConnections().length === 0) this.#schedule(true)
  }

  constructor (components: BootstrapDialerComponents, init: BootstrapDialerInit) {
    this.components = components
    this.log = components.logger.forComponent('provenir:bootstrap')
    this.minDelay = init.minDelay ?? BOOTSTRAP_REDIAL_MIN_DELAY
    this.maxDelay = Math.max(this.minDelay, init.maxDelay ?? BOOTSTRAP_REDIAL_MAX_DELAY)
    this.delay = this.minDelay
    const byPeer = new Map<string, { id: PeerId, addrs: Multiaddr[] }>()
    for (const a of init.list) {
      const ma = multiaddr(a)
      const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
      if (id == null) continue
      const entry = byPeer.get(id) ?? { id: peerIdFromString(id), addrs: [] }
      entry.addrs.push(ma)
      byPeer.set(id, entry)
    }
    this.peers = [...byPeer.values()]
  }

  readonly [Symbol.toStringTag] = 'provenir:bootstrap-dialer'

  async start (): Promise<void> {
    this.running = new AbortController()
    for (const p of this.peers) {
      await this.components.peerStore.merge(p.id, { multiaddrs: p.addrs, tags: { [BOOTSTRAP_TAG]: { value: BOOTSTRAP_TAG_VALUE } } })
    }
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
  }

  /** Dial once libp2p has started (its transports listen and the gater is in place) */
  afterStart (): void {
    this.#schedule(true, 0)
  }

  async stop (): Promise<void> {
    this.running?.abort()
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
    clearTimeout(this.timer)
    this.timer = undefined
  }

  #schedule (reset: boolean, after?: number): void {
    if (this.running == null || this.running.signal.aborted || this.timer != null || this.dialling || this.peers.length === 0) return
    if (reset) this.delay = this.minDelay
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.#round()
    }, after ?? this.delay)
    this.timer.unref?.()
  }

  async #round (): Promise<void> {
    const signal = this.running?.signal
    if (signal == null || signal.aborted) return
    this.dialling = true
    try {
      await Promise.all(this.peers.map(async p => {
        if (this.components.connectionManager.getConnections(p.id).length > 0) return
        try {
          await this.components.connectionManager.openConnection(p.id, { signal: AbortSignal.any([signal, AbortSignal.timeout(DEFAULT_DIAL_TIMEOUT)]) })
          this.log('connected to bootstrap peer %p', p.id)
        } catch (err) {
          if (!signal.aborted) this.log('could not dial bootstrap peer %p - %e', p.id, err)
        }
      }))
    } finally {
      this.dialling = false
    }
    if (signal.aborted || this.components.connectionManager.getConnections().length > 0) return
    this.log('no connection after dialling %d bootstrap peers; trying again in %d ms', this.peers.length, this.delay)
    this.#schedule(false)
    this.delay = Math.min(this.delay * 2, this.maxDelay)
  }
}

/** The bootstrap dialer, for libp2p's `services` */
export function bootstrapDialer (init: BootstrapDialerInit): (components: BootstrapDialerComponents) => BootstrapDialer {
  return (components) => new BootstrapDialer(components, init)
}
