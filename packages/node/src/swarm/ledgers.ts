/**
 * What the block exchange has moved with each peer, for readers outside the
 * swarm (the daemon's dashboard): the node's one window onto bitswap's
 * ledgers, so nothing outside the swarm reaches for bitswap itself.
 */

import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Bitswap } from './bitswap-transport.js'

/** Block bytes exchanged with one peer over bitswap */
export interface ExchangeLedger {
  peer: PeerId
  /** Block bytes this node sent the peer */
  bytesSent: number
  /** Verified block bytes the peer sent this node, duplicates included */
  bytesReceived: number
}

/** Every peer's ledger (peers with none are left out) */
export function exchangeLedgers (libp2p: Libp2p<{ bitswap: Bitswap }>): ExchangeLedger[] {
  return libp2p.services.bitswap.ledgers().map(l => ({ peer: l.peer, bytesSent: l.bytesSent, bytesReceived: l.bytesReceived }))
}

/** One peer's ledger, or undefined when the exchange has none for it */
export function exchangeLedger (libp2p: Libp2p<{ bitswap: Bitswap }>, peer: PeerId): ExchangeLedger | undefined {
  const l = libp2p.services.bitswap.ledger(peer)
  return l != null ? { peer: l.peer, bytesSent: l.bytesSent, bytesReceived: l.bytesReceived } : undefined
}
