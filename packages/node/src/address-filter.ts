import { isPrivate } from '@libp2p/utils'
import { verifyNodeId } from '@provenir/identity'
import type { PeerInfo } from '@libp2p/interface'

export interface PeerInfoMapperInit {
  /** Keep loopback and private addresses */
  allowPrivateAddresses: boolean
  /** Swarm difficulty: peers below it are dropped from every DHT answer */
  difficulty: number
}

/**
 * A kad-dht `peerInfoMapper`. It is applied to peers before they enter the
 * routing table and to every peer returned in a DHT answer. It:
 *
 * - drops every address of a peer whose NodeId is below the swarm's c1, so such
 *   a peer is never added to the routing table nor handed to other peers;
 * - drops loopback and private addresses unless the operator allowed them
 *   (kad-dht's default mapper always drops them, which leaves a swarm on
 *   127.0.0.1 or a LAN with empty routing tables).
 */
export function createPeerInfoMapper (init: PeerInfoMapperInit): (peer: PeerInfo) => PeerInfo {
  return (peer: PeerInfo): PeerInfo => {
    if (!verifyNodeId(peer.id, init.difficulty)) {
      return { ...peer, multiaddrs: [] }
    }
    if (init.allowPrivateAddresses) {
      return peer
    }
    return { ...peer, multiaddrs: peer.multiaddrs.filter(ma => !isPrivate(ma)) }
  }
}
