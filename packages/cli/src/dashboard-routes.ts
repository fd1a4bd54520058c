/**
 * The RPC routes the dashboard reads that no other command needed before;
 * plain JSON, bounded and timed like every route, so the CLI can use them:
 *
 * - `GET /api/v0/node/status` NodeId, difficulty, addresses, private swarm, uptime, version
 * - `GET /api/v0/peers/detail` each connected peer: addresses, direction, age, latency, bitswap ledger, difficulty
 * - `GET /api/v0/transfers` pulls in progress and the latest finished: progress, rate, sources
 *
 * The event stream (`GET /api/v0/events`, with the bandwidth history) and the
 * page itself are in `dashboard-server.ts`.
 */
import { readFileSync } from 'node:fs'
import { nodeIdDifficulty } from '@provenir/identity'
import { exchangeLedger, exchangeLedgers } from '@provenir/node'
import { MAX_PEERS_DETAILED } from './constants.js'
import { transfersOf } from './transfers.js'
import type { RpcRoute } from './rpc-server.js'
import type { TransfersResponse } from './transfers.js'
import type { ProvenirNode } from '@provenir/node'

/** `GET /api/v0/node/status` */
export interface NodeStatusResponse {
  peerId: string
  /** Leading zero bits of sha256(NodeId) */
  difficulty: number
  /** The swarm difficulty c1 the node enforces */
  swarmDifficulty: number
  addresses: string[]
  /** The swarm runs with a pre-shared key (swarm.key) */
  privateSwarm: boolean
  /** ms since the RPC server started */
  uptimeMs: number
  /** The provenir version */
  version: string
  /** Open connections */
  connections: number
  /** The daemon checks images against a trust policy (policy.json): `POST /api/v0/image/verify` works without one in the request */
  trustPolicy: boolean
}

/** One peer of `GET /api/v0/peers/detail` */
export interface PeerDetail {
  peerId: string
  addrs: string[]
  /** The direction of its oldest open connection */
  direction: 'inbound' | 'outbound'
  /** When its oldest open connection opened, ms since the epoch */
  connectedAt: number
  /** Round-trip time libp2p last measured on a connection, in ms, when it has */
  latencyMs?: number
  /** The bitswap ledger: block bytes we sent it and it sent us */
  bytesSent: number
  bytesReceived: number
  /** Block bytes this node's pulls received from it over the bulk channel (which keeps no ledger) */
  bulkBytesReceived: number
  /** Its NodeId's difficulty, and whether it meets the swarm's */
  difficulty: number
  passedDifficulty: boolean
}

/** `GET /api/v0/peers/detail` */
export interface PeersDetailResponse {
  peers: PeerDetail[]
  /** More peers than MAX_PEERS_DETAILED were connected */
  truncated: boolean
}

/** A bandwidth sample: totals so far, as the dashboard charts their differences */
export interface BandwidthSample {
  /** ms since the epoch */
  t: number
  /** Block bytes received: bitswap's ledgers and the bulk channel's pulls */
  bytesIn: number
  /** Block bytes sent: bitswap's ledgers */
  bytesOut: number
}

let cachedVersion: string | undefined
function version (): string {
  cachedVersion ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
  return cachedVersion
}

const startedAt = new WeakMap<ProvenirNode, number>()

/** Note when the node's API started, for its uptime (the first call counts) */
export function markStarted (node: ProvenirNode): void {
  if (!startedAt.has(node)) startedAt.set(node, Date.now())
}

/** The node's bandwidth totals now */
export function bandwidthSample (node: ProvenirNode): BandwidthSample {
  let bytesIn = transfersOf(node).bulkBytesIn
  let bytesOut = 0
  for (const ledger of exchangeLedgers(node.libp2p)) {
    bytesIn += ledger.bytesReceived
    bytesOut += ledger.bytesSent
  }
  return { t: Date.now(), bytesIn, bytesOut }
}

function peersDetail (node: ProvenirNode): PeersDetailResponse {
  const byPeer = new Map<string, PeerDetail>()
  const bulk = transfersOf(node).bulkByPeer
  const swarmDifficulty = node.config.difficulty
  for (const conn of node.libp2p.getConnections()) {
    const id = conn.remotePeer.toString()
    let peer = byPeer.get(id)
    if (peer == null) {
      if (byPeer.size >= MAX_PEERS_DETAILED) continue
      const ledger = exchangeLedger(node.libp2p, conn.remotePeer)
      const difficulty = nodeIdDifficulty(conn.remotePeer)
      peer = {
        peerId: id,
        addrs: [],
        direction: conn.direction,
        connectedAt: conn.timeline.open,
        bytesSent: ledger?.bytesSent ?? 0,
        bytesReceived: ledger?.bytesReceived ?? 0,
        bulkBytesReceived: bulk.get(id) ?? 0,
        difficulty,
        passedDifficulty: difficulty >= swarmDifficulty
      }
      byPeer.set(id, peer)
    }
    if (conn.timeline.open < peer.connectedAt) {
      peer.connectedAt = conn.timeline.open
      peer.direction = conn.direction
    }
    if (typeof conn.rtt === 'number') peer.latencyMs = Math.round(conn.rtt)
    const addr = conn.remoteAddr.toString()
    if (!peer.addrs.includes(addr)) peer.addrs.push(addr)
  }
  const peers = [...byPeer.values()].sort((a, b) => a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
  return { peers, truncated: byPeer.size >= MAX_PEERS_DETAILED && node.libp2p.getConnections().length > byPeer.size }
}

/**
 * The dashboard's JSON routes; part of DEFAULT_ROUTES. `privateSwarm` is
 * what the daemon was started with (the node does not keep its swarm key).
 */
export const DASHBOARD_ROUTES: readonly RpcRoute[] = Object.freeze([
  {
    method: 'GET',
    url: '/api/v0/node/status',
    timeout: 5_000,
    async handler ({ node, privateSwarm }): Promise<NodeStatusResponse> {
      markStarted(node)
      return {
        peerId: node.peerId.toString(),
        difficulty: nodeIdDifficulty(node.peerId),
        swarmDifficulty: node.config.difficulty,
        addresses: node.getMultiaddrs().map(ma => ma.toString()),
        privateSwarm: privateSwarm === true,
        uptimeMs: Date.now() - (startedAt.get(node) ?? Date.now()),
        version: version(),
        connections: node.libp2p.getConnections().length,
        trustPolicy: node.trustPolicy != null
      }
    }
  },
  {
    method: 'GET',
    url: '/api/v0/peers/detail',
    timeout: 5_000,
    async handler ({ node }): Promise<PeersDetailResponse> {
      return peersDetail(node)
    }
  },
  {
    method: 'GET',
    url: '/api/v0/transfers',
    timeout: 5_000,
    async handler ({ node }): Promise<TransfersResponse> {
      return { transfers: transfersOf(node).list() }
    }
  }
])
