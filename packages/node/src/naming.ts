/**
 * The node's naming service: `@provenir/naming`'s `naming(init)` over this
 * node's libp2p, DHT, stores and content.
 */

import { RepositoryNotFoundError } from '@provenir/naming'
import { BlobNotFoundError } from './errors.js'
import type { ProvenirNode } from './index.js'
import type { PrivateKey } from '@libp2p/interface'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import type { BlockGetter, DhtPeers, NamingComponents } from '@provenir/naming'

/**
 * The blocks naming reads (repository documents), verified against their
 * CID: the node's content service (the local store, else the swarm through
 * the transport seam). A node without a store cannot hold documents.
 */
export function namingBlocks (node: ProvenirNode): BlockGetter {
  return {
    async get (cid, options = {}) {
      const content = node.content
      if (content == null) throw new RepositoryNotFoundError(`this node has no blockstore to hold the repository document ${cid.toString()}`)
      try {
        return await content.get(cid, options)
      } catch (err) {
        if (err instanceof BlobNotFoundError) throw new RepositoryNotFoundError(`no peer sent the repository document ${cid.toString()}`, { cause: err })
        throw err
      }
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
