/**
 * From the node's config to the bulk service's options: where the listener
 * goes when the config does not say, and the hooks into bitswap's bad-peer
 * mechanism (a peer that lies over the bulk channel is penalised and
 * disconnected there too, and a peer bitswap bans is not served).
 */

import { multiaddr } from '@multiformats/multiaddr'
import type { NodeConfig } from '../config.js'
import type { BadPeerHooks } from './bitswap-transport.js'
import type { BulkBlockstore, BulkInit } from './bulk/index.js'

/**
 * The listener's multiaddr when the config names none: the first TCP
 * listen address's host at the next port (4101 -> 4102), port 0 staying 0.
 * Undefined when the node listens on no TCP address (a memory test bed).
 */
export function derivedBulkListen (listen: string[]): string | undefined {
  for (const addr of listen) {
    const [host, tcp, ...rest] = multiaddr(addr).getComponents()
    if ((host?.name !== 'ip4' && host?.name !== 'ip6') || tcp?.name !== 'tcp' || rest.length > 0) continue
    const port = Number(tcp.value)
    return `/${host.name}/${host.value ?? ''}/tcp/${port === 0 || port === 65535 ? 0 : port + 1}`
  }
  return undefined
}

/** The bulk service's options, or undefined when the node runs without a bulk channel */
export function bulkOptions (config: NodeConfig, blockstore: BulkBlockstore | undefined, badPeers: BadPeerHooks): BulkInit | undefined {
  if (!config.bulk.enabled || blockstore == null) return undefined
  const listen = config.bulk.listen ?? derivedBulkListen(config.listen)
  return {
    blockstore,
    ...(listen != null ? { listen } : {}),
    // a port the config did not name may be taken: the OS picks another then
    portFallback: config.bulk.listen == null,
    announce: config.bulk.announce,
    connectionsPerPeer: config.bulk.connectionsPerPeer,
    sendSlots: config.bulk.sendSlots,
    onBadPeer: (peer, reason) => { badPeers.onBadPeer(peer, `over the bulk channel: ${reason}`) },
    isBanned: (peer) => badPeers.isBanned(peer)
  }
}
