/**
 * Keeps a node out of its own DHT routing table.
 *
 * A peer's GET_PROVIDERS and GET_VALUE answers list the closest peers it
 * knows with the asker among them (kad-dht leaves the asker out of FIND_NODE
 * answers only), and kad-dht hands every peer of an answer to `onPeerConnect`,
 * which queues it for the routing table; the table pings a new contact before
 * adding it, and the ping of the node itself fails with "Can not dial self",
 * at every lookup. The peer-info mapper cannot drop the node: the same mapper
 * filters the provider lists the node sends, where it must stay (it provides
 * what it holds). So the instance's `onPeerConnect` skips the node's own id.
 * `test/dht-self.spec.ts` fails if a kad-dht release renames the method.
 */

import type { KadDHT, KadDHTComponents } from '@libp2p/kad-dht'
import type { PeerInfo } from '@libp2p/interface'

interface PeerConnectHook {
  onPeerConnect?(peer: PeerInfo): Promise<void>
}

/** Wraps a kad-dht factory so that the DHT never queues this node for its routing table */
export function withoutSelf (factory: (components: KadDHTComponents) => KadDHT): (components: KadDHTComponents) => KadDHT {
  return (components) => {
    const dht = factory(components)
    const hooked = dht as unknown as PeerConnectHook
    const onPeerConnect = hooked.onPeerConnect?.bind(dht)
    if (onPeerConnect != null) {
      hooked.onPeerConnect = async (peer) => {
        if (peer.id.equals(components.peerId)) return
        await onPeerConnect(peer)
      }
    }
    return dht
  }
}
