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
 * `test/dht-admission.spec.ts` fails if a kad-dht release renames the method.
 */

import { isPrivate } from '@libp2p/utils'
import type { KadDHT, KadDHTComponents } from '@libp2p/kad-dht'
import type { PeerInfo } from '@libp2p/interface'

interface PeerConnectHook {
  onPeerConnect?(peer: PeerInfo): Promise<void>
}

export interface AdmissionInit {
  /** Admit only peers reached over a private address when connected (the LAN DHT) */
  lan?: boolean
}

/** Wraps a kad-dht factory with the admission rules above */
export function admission (factory: (components: KadDHTComponents) => KadDHT, init: AdmissionInit = {}): (components: KadDHTComponents) => KadDHT {
  return (components) => {
    const dht = factory(components)
    const hooked = dht as unknown as PeerConnectHook
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
