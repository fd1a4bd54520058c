/**
 * @packageDocumentation
 *
 * Many provenir nodes in one process, for tests, benchmarks and simulations.
 * Each node has its own identity and a logger prefixed `node-<i>`, so
 * `DEBUG=node-3:*` shows one node's lines.
 *
 * @example
 *
 * ```ts
 * import { createSwarm } from '@provenir/testbed'
 *
 * const swarm = await createSwarm({ size: 10, transport: 'memory', difficulty: 4, topology: 'ring' })
 * await swarm.waitForRoutingTables(3)
 * // ... use swarm.nodes[i].dht ...
 * await swarm.stop()
 * ```
 */

import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import type { CreateNodeInit, NodeConfig, ProvenirNode } from '@provenir/node'

export { createSwarm, TESTBED_CONNECTION_MONITOR } from './swarm.js'
export { waitFor } from './wait.js'
export type { WaitOptions } from './wait.js'
export { makeIdentities, makeIdentityWithExactDifficulty } from './identities.js'

export type SwarmTransport = 'memory' | 'tcp'
export type Topology = 'none' | 'ring' | 'line' | 'star' | 'random'

export interface CreateSwarmInit {
  /** Number of nodes */
  size: number
  /** @default 'memory' */
  transport?: SwarmTransport
  /** The swarm's c1; every node's identity meets it. @default 4 */
  difficulty?: number
  /** A Kubo-format swarm.key shared by every node */
  psk?: Uint8Array
  /** How to connect the nodes after they start. @default 'none' */
  topology?: Topology
  /** Use these identities instead of making new ones */
  identities?: PrivateKey[]
  /** Extra node settings */
  config?: Partial<NodeConfig>
  /** Extra createNode options, the same for every node or per node index (e.g. each node's `naming`) */
  nodeInit?: Partial<Omit<CreateNodeInit, 'privateKey' | 'config'>> | ((i: number) => Partial<Omit<CreateNodeInit, 'privateKey' | 'config'>>)
  /**
   * Give every node a blockstore on disk, in a temporary directory that
   * `stop()` removes. @default false
   */
  blockstores?: boolean
  /** Logger prefix; node i logs as `<prefix>-<i>`. @default 'node' */
  logPrefix?: string
}

export interface Swarm {
  readonly nodes: ProvenirNode[]
  readonly size: number
  readonly transport: SwarmTransport
  /** The first listen address of node i */
  addrOf(i: number): Multiaddr
  /** Dial node b from node a */
  connect(a: number, b: number): Promise<void>
  ring(): Promise<void>
  line(): Promise<void>
  star(center?: number): Promise<void>
  /** A connected random graph: a line plus random chords, from a seed */
  random(degree?: number, seed?: number): Promise<void>
  /** Wait until every node's routing table holds at least `min` peers */
  waitForRoutingTables(min: number, options?: { timeout?: number }): Promise<void>
  /**
   * Wait until `node` finds every one of `providers` as a provider of `cid`
   * in the DHT (a provide is sent in the background, so a pull started at
   * once may find fewer). Throws TimeoutError when they are not all found.
   */
  waitForProviders(node: ProvenirNode, cid: CID, providers: ProvenirNode[], options?: { timeout?: number }): Promise<void>
  indexOf(peer: PeerId): number
  stop(): Promise<void>
}
