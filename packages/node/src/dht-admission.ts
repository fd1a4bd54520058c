/**
 * Which peers a DHT instance queues for its routing table, decided in
 * kad-dht's `onPeerConnect` (called for a peer that connected with the DHT's
 * protocol and for every peer named in an answer). Two rules:
 *
 * - **Never the node itself.** A peer's GET_PROVIDERS and GET_VALUE answers
 *   list the closest peers it knows with the asker among them (kad-dht leaves
 *   the asker out of FIND_NODE answers only), and the routing table pings a
 *   new contact before adding it: "Can not dial self" at every lookup. The
 *   peer-info mapper cannot drop the node: the same mapper filters the
 *   provider lists the node sends, where it must name itself.
 * - **The LAN DHT: only peers reached over a private address.** A peer this
 *   node is connected to only over public addresses is not on its network,
 *   whatever private addresses it announces (a cloud host's VPC address):
 *   go-libp2p-kad-dht's `PrivateRoutingTableFilter`. A peer named in an
 *   answer, not connected yet, is judged by the mapper's private addresses
 *   and the routing table's ping.
 *
 * And one economy: **a peer an answer names again, with the same addresses,
 * within PEER_REPEAT_WINDOW, is not handed on again.** kad-dht turns every
 * peer of every answer into a `peer` event: a routing-table update and, as a
 * peer discovery, a peer-store merge (a lock, a record decoded and compared).
 * In a swarm of a few dozen nodes each answer names nearly all of them, so a
 * lookup or a provide (about one query per node) costs a merge per node per
 * node. In the lab's 16-host rollout this was about a tenth of the daemons'
 * CPU while the pulls started (BENCHMARKS.md). What is dropped changes
 * nothing: the peer store already holds those addresses, and the routing
 * table was offered the peer moments ago.
 *
 * And a second: **the DHT reuses a peer record it read from the peer store
 * for up to PEER_RECORD_REUSE**, until the peer changes (`peer:update`).
 * Answering a query, kad-dht reads the record of every peer it names (a
 * lock, a read and a protobuf decode each): the largest single cost of the
 * rollout's start once the repeats above were gone.
 *
 * `test/dht-admission.spec.ts` fails if a kad-dht release renames what these
 * hooks replace.
 */

import { isPrivate } from '@libp2p/utils'
import { withMembers } from './with-members.js'
import type { KadDHT, KadDHTComponents } from '@libp2p/kad-dht'
import type { AbortOptions, Peer, PeerId, PeerInfo } from '@libp2p/interface'

interface PeerConnectHook {
  onPeerConnect?(peer: PeerInfo): Promise<void>
  /** kad-dht's network, which dispatches a `peer` event for each peer of each answer */
  network?: { safeDispatchEvent?(type: string, detail?: { detail?: unknown }): boolean }
}

/** How long a peer named again with the same addresses is not handed on again (ms) */
export const PEER_REPEAT_WINDOW = 30_000

/** Peers remembered for that; the oldest are forgotten first */
export const MAX_RECENT_PEERS = 4_096

/**
 * Peers named lately and the addresses they were named with: `fresh` is
 * true for a peer not named with these addresses within PEER_REPEAT_WINDOW.
 */
export class RecentPeers {
  readonly #seen = new Map<string, { addrs: string, at: number }>()

  fresh (peer: PeerInfo, now = Date.now()): boolean {
    const id = peer.id.toString()
    const addrs = peer.multiaddrs.map(ma => ma.toString()).sort().join(' ')
    const last = this.#seen.get(id)
    if (last != null && last.addrs === addrs && now - last.at < PEER_REPEAT_WINDOW) return false
    this.#seen.delete(id)
    this.#seen.set(id, { addrs, at: now })
    if (this.#seen.size > MAX_RECENT_PEERS) {
      const oldest = this.#seen.keys().next()
      if (oldest.done !== true) this.#seen.delete(oldest.value)
    }
    return true
  }
}

export interface AdmissionInit {
  /** Admit only peers reached over a private address when connected (the LAN DHT) */
  lan?: boolean
}

/** How long the DHT reuses a peer record read from the peer store (ms); a change to the peer drops it at once */
export const PEER_RECORD_REUSE = 2_000

/** Peer records the DHT keeps for that; the oldest are dropped first */
export const MAX_REUSED_RECORDS = 1_024

/**
 * `components` with a peer store whose `get` and `getInfo` reuse a record
 * read within PEER_RECORD_REUSE, dropped when the peer store reports the peer
 * changed or the peer is deleted through it. Everything else goes to the
 * peer store as it is.
 */
export function withPeerRecordReuse<C extends Pick<KadDHTComponents, 'peerStore' | 'events'>> (components: C): C {
  const store = components.peerStore
  const records = new Map<string, { peer: Promise<Peer>, at: number }>()
  const drop = (id: PeerId): void => { records.delete(id.toString()) }
  components.events.addEventListener('peer:update', (evt) => { drop(evt.detail.peer.id) })
  const get = async (id: PeerId, options?: AbortOptions): Promise<Peer> => {
    const key = id.toString()
    const now = Date.now()
    const known = records.get(key)
    if (known != null && now - known.at < PEER_RECORD_REUSE) return known.peer
    const peer = store.get(id, options)
    records.delete(key)
    records.set(key, { peer, at: now })
    if (records.size > MAX_REUSED_RECORDS) {
      const oldest = records.keys().next()
      if (oldest.done !== true) records.delete(oldest.value)
    }
    // a failed read (not found, aborted) is not reused
    peer.catch(() => { if (records.get(key)?.peer === peer) records.delete(key) })
    return peer
  }
  const reusing = withMembers(store, {
    get,
    getInfo: async (id: PeerId, options?: AbortOptions): Promise<PeerInfo> => {
      const peer = await get(id, options)
      return { id: peer.id, multiaddrs: peer.addresses.map(({ multiaddr }) => multiaddr) }
    },
    delete: async (id: PeerId, options?: AbortOptions): Promise<void> => {
      drop(id)
      await store.delete(id, options)
    }
  })
  return withMembers(components, { peerStore: reusing } as Partial<Record<keyof C, unknown>>)
}

/** Wraps a kad-dht factory with the admission rules above */
export function admission (factory: (components: KadDHTComponents) => KadDHT, init: AdmissionInit = {}): (components: KadDHTComponents) => KadDHT {
  return (outer) => {
    const components = withPeerRecordReuse(outer)
    const dht = factory(components)
    const hooked = dht as unknown as PeerConnectHook
    const network = hooked.network
    const dispatch = network?.safeDispatchEvent?.bind(network)
    if (network != null && dispatch != null) {
      const recent = new RecentPeers()
      network.safeDispatchEvent = (type, detail) => {
        const peer = detail?.detail as PeerInfo | undefined
        if (type === 'peer' && peer?.id != null && Array.isArray(peer.multiaddrs) && !recent.fresh(peer)) return true
        return dispatch(type, detail)
      }
    }
    const onPeerConnect = hooked.onPeerConnect?.bind(dht)
    if (onPeerConnect == null) return dht
    hooked.onPeerConnect = async (peer) => {
      if (peer.id.equals(components.peerId)) return
      if (init.lan === true) {
        const connections = components.connectionManager.getConnections(peer.id)
        if (connections.length > 0 && !connections.some(c => isPrivate(c.remoteAddr))) return
      }
      await onPeerConnect(peer)
    }
    return dht
  }
}
