import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { prefixLogger } from '@libp2p/logger'
import { createNode } from '@provenir/node'
import { InvalidParametersError } from '@provenir/interface'
import { makeIdentities } from './identities.js'
import { waitFor } from './wait.js'
import type { CreateSwarmInit, Swarm, SwarmTransport } from './index.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import type { ProvenirNode } from '@provenir/node'

let swarmCounter = 0

function listenFor (transport: SwarmTransport, swarmId: number, i: number): string[] {
  if (transport === 'memory') return [`/memory/provenir-${process.pid}-${swarmId}-${i}`]
  return ['/ip4/127.0.0.1/tcp/0']
}

/**
 * The test bed turns off libp2p's connection monitor. It pings every open
 * connection on a timer, opening a stream and negotiating a protocol each
 * time; with many well-connected nodes in one process that was most of the
 * idle CPU (see doc/ARCHITECTURE.md, "Idle cost"). yamux keep-alive frames
 * still detect dead connections.
 */
export const TESTBED_CONNECTION_MONITOR = { enabled: false }

class TestSwarm implements Swarm {
  readonly nodes: ProvenirNode[]
  readonly transport: SwarmTransport
  private stopped = false
  private readonly dir?: string

  constructor (nodes: ProvenirNode[], transport: SwarmTransport, dir?: string) {
    this.nodes = nodes
    this.transport = transport
    this.dir = dir
  }

  get size (): number {
    return this.nodes.length
  }

  addrOf (i: number): Multiaddr {
    const addrs = this.nodes[i].getMultiaddrs()
    if (addrs.length === 0) throw new InvalidParametersError(`node ${i} has no listen address`)
    return addrs[0]
  }

  async connect (a: number, b: number): Promise<void> {
    await this.nodes[a].libp2p.dial(this.addrOf(b), { signal: AbortSignal.timeout(10_000) })
  }

  async ring (): Promise<void> {
    const n = this.nodes.length
    await this.connectPairs(Array.from({ length: n }, (_, i) => [i, (i + 1) % n] as [number, number]).filter(([a, b]) => a !== b))
  }

  async line (): Promise<void> {
    const n = this.nodes.length
    await this.connectPairs(Array.from({ length: n - 1 }, (_, i) => [i, i + 1] as [number, number]))
  }

  async star (center = 0): Promise<void> {
    await this.connectPairs(this.nodes.map((_, i) => [i, center] as [number, number]).filter(([a, b]) => a !== b))
  }

  async random (degree = 3, seed = 1): Promise<void> {
    // a small deterministic PRNG (mulberry32) so a topology can be reproduced
    let s = seed >>> 0
    const rand = (): number => {
      s = (s + 0x6D2B79F5) >>> 0
      let t = s
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
    const n = this.nodes.length
    const pairs = new Set<string>()
    // a ring keeps the graph connected; random chords add the rest
    for (let i = 0; i < n - 1; i++) pairs.add(`${i},${i + 1}`)
    for (let i = 0; i < n; i++) {
      for (let d = 1; d < degree; d++) {
        const j = Math.floor(rand() * n)
        if (j !== i) pairs.add(i < j ? `${i},${j}` : `${j},${i}`)
      }
    }
    await this.connectPairs([...pairs].map(p => p.split(',').map(Number) as [number, number]))
  }

  private async connectPairs (pairs: Array<[number, number]>): Promise<void> {
    // bounded parallelism: enough to be quick, not so much that dials time out
    const queue = [...pairs]
    const workers = Array.from({ length: Math.min(8, queue.length) }, async () => {
      while (queue.length > 0) {
        const [a, b] = queue.shift()!
        await this.connect(a, b)
      }
    })
    await Promise.all(workers)
  }

  async waitForRoutingTables (min: number, options: { timeout?: number } = {}): Promise<void> {
    // kad-dht looks up its own neighbourhood one second after start and then
    // every few minutes; nodes that started before the topology was wired
    // found nobody then. While the condition is unmet, nodes short of peers
    // run a self-query (a FIND_NODE walk towards their own key) — the same
    // walk kad-dht would run on its timer, only sooner.
    const selfQuery = async (node: ProvenirNode): Promise<void> => {
      const signal = AbortSignal.timeout(10_000)
      try {
        for await (const _ of node.dht.getClosestPeers(node.peerId.toMultihash().bytes, { signal })) { /* drain */ }
      } catch {}
    }
    let lastKick = Date.now()
    await waitFor(async () => {
      const short = this.nodes.filter(n => n.routingTableSize() < min)
      if (short.length === 0) return true
      if (Date.now() - lastKick > 1000) {
        const queue = [...short]
        await Promise.all(Array.from({ length: Math.min(8, queue.length) }, async () => {
          while (queue.length > 0) await selfQuery(queue.shift()!)
        }))
        lastKick = Date.now()
      }
      return this.nodes.every(n => n.routingTableSize() >= min)
    }, {
      timeout: options.timeout ?? 60_000,
      message: `every routing table to hold ${min} peers`
    })
  }

  async waitForProviders (node: ProvenirNode, cid: CID, providers: ProvenirNode[], options: { timeout?: number } = {}): Promise<void> {
    const missing = new Set(providers.map(p => p.peerId.toString()))
    await waitFor(async () => {
      for await (const p of node.findProviders(cid, { signal: AbortSignal.timeout(5_000) })) missing.delete(p.id.toString())
      return missing.size === 0
    }, {
      timeout: options.timeout ?? 60_000,
      message: `${node.peerId.toString()} to find all ${providers.length} providers of ${cid.toString()}`
    })
  }

  indexOf (peer: PeerId): number {
    return this.nodes.findIndex(n => n.peerId.equals(peer))
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await Promise.all(this.nodes.map(async n => { await n.stop() }))
    if (this.dir != null) await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * Start `size` provenir nodes in this process, each with its own identity of
 * at least `difficulty` bits and a logger prefixed `node-<i>`.
 */
export async function createSwarm (init: CreateSwarmInit): Promise<Swarm> {
  const size = init.size
  if (!Number.isInteger(size) || size < 1 || size > 1000) throw new InvalidParametersError('createSwarm: size must be an integer from 1 to 1000')
  const transport = init.transport ?? 'memory'
  const difficulty = init.difficulty ?? 4
  const swarmId = swarmCounter++
  const keys: PrivateKey[] = init.identities ?? await makeIdentities(size, difficulty)
  if (keys.length < size) throw new InvalidParametersError('createSwarm: fewer identities than nodes')
  const nodes: ProvenirNode[] = []
  const dir = init.blockstores === true ? await mkdtemp(join(tmpdir(), 'provenir-testbed-')) : undefined
  try {
    for (let i = 0; i < size; i++) {
      const prefix = `${init.logPrefix ?? 'node'}-${i}`
      nodes.push(await createNode({
        privateKey: keys[i],
        logger: prefixLogger(prefix),
        swarmKey: init.psk,
        blockstorePath: dir != null ? join(dir, `node-${i}`, 'blocks') : undefined,
        config: {
          ...init.config,
          difficulty,
          transports: [transport],
          // many nodes share one event loop: noise's handshake costs half
          // of TLS's, and bulk throughput matters less here
          encryption: init.config?.encryption ?? ['noise'],
          listen: listenFor(transport, swarmId, i),
          allowPrivateAddresses: true
        },
        connectionMonitor: TESTBED_CONNECTION_MONITOR,
        ...(typeof init.nodeInit === 'function' ? init.nodeInit(i) : init.nodeInit)
      }))
    }
  } catch (err) {
    await Promise.all(nodes.map(async n => { try { await n.stop() } catch {} }))
    if (dir != null) await rm(dir, { recursive: true, force: true })
    throw err
  }
  const swarm = new TestSwarm(nodes, transport, dir)
  try {
    switch (init.topology ?? 'none') {
      case 'ring': await swarm.ring(); break
      case 'line': await swarm.line(); break
      case 'star': await swarm.star(); break
      case 'random': await swarm.random(); break
      case 'none': break
    }
  } catch (err) {
    await swarm.stop()
    throw err
  }
  return swarm
}
