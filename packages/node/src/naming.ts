/**
 * The node's naming service: `@provenir/naming`'s `naming(init)` over this
 * node's libp2p, DHT, stores and content.
 */

import { getBlockBytes } from '@provenir/content'
import { RepositoryNotFoundError } from '@provenir/naming'
import { dhtProviders } from './pull.js'
import type { ProvenirNode } from './index.js'
import type { PrivateKey } from '@libp2p/interface'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import type { BlockGetter, DhtPeers, NamingComponents } from '@provenir/naming'

/**
 * The blocks naming reads (repository documents), verified against their
 * CID: from the local store, else from the swarm (providers from the DHT,
 * the block by bitswap, which checks it on receipt). The one place naming
 * gets bytes from the swarm.
 */
export function namingBlocks (node: ProvenirNode): BlockGetter {
  return {
    async get (cid, options = {}) {
      const store = node.blockstore
      if (store != null && await store.has(cid, options)) {
        return getBlockBytes({ get: (c, o) => store.get(c, { ...o, verify: true }) }, cid, options)
      }
      const session = node.bitswap.createSession({ providers: dhtProviders(node.dht, node.peerId) })
      try {
        for await (const block of session.want([cid], options)) return block.bytes
      } finally {
        session.close()
      }
      throw new RepositoryNotFoundError(`no peer sent the repository document ${cid.toString()}`)
    }
  }
}

/** The DHT routing table's size and its `peer:add` events (kad-dht's RoutingTable is an EventTarget) */
function dhtPeers (node: ProvenirNode): DhtPeers {
  const table = (): EventTarget | undefined => (node.dht as SingleKadDHT).routingTable as unknown as EventTarget | undefined
  return {
    get size () { return node.routingTableSize() },
    addEventListener: (type, listener) => { table()?.addEventListener(type, listener) },
    removeEventListener: (type, listener) => { table()?.removeEventListener(type, listener) }
  }
}

/** What `naming(init)` needs, from a node and its key */
export function namingComponents (node: ProvenirNode, privateKey: PrivateKey): NamingComponents {
  const components: NamingComponents = {
    privateKey,
    logger: node.libp2p.logger,
    registrar: node.libp2p,
    dialer: node.libp2p,
    dht: node.dht,
    dhtPeers: dhtPeers(node),
    seqStore: node.seqStore,
    blocks: namingBlocks(node),
    provide: (cid) => { node.provide(cid) }
  }
  if (node.datastore != null) components.datastore = node.datastore
  if (node.blockstore != null) components.blockstore = node.blockstore
  if (node.images != null) components.images = node.images
  if (node.upstreams != null) components.upstream = node.upstreams
  return components
}
