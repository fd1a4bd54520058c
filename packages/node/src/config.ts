import { InvalidConfigError } from '@provenir/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_CONNECTIONS_PER_PEER, DEFAULT_SEND_SLOTS, MAX_CONNECTIONS_PER_PEER, MAX_SEND_SLOTS } from './swarm/bulk/constants.js'
import { DEFAULT_DHT_ALPHA, DEFAULT_DHT_DISJOINT_PATHS, DEFAULT_DIFFICULTY, DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, DEFAULT_QUERY_SELF_INTERVAL } from './constants.js'

export type TransportName = 'tcp' | 'memory'
export type EncryptionName = 'tls' | 'noise'

export interface DHTConfig {
  /**
   * Run the DHT in client mode: query others but do not answer queries.
   *
   * @default false
   */
  clientMode: boolean
  /**
   * How often to look up our own closest peers once the routing table has
   * peers, in ms.
   *
   * @default 300000
   */
  querySelfInterval: number
  /**
   * Bucket size (k) of the routing table.
   *
   * @default 20
   */
  kBucketSize: number
  /**
   * Concurrency of each lookup path (Kademlia's alpha). kad-dht's default is
   * 10, with as many disjoint paths: up to 100 queries in flight for one
   * lookup, most of them to peers that need a new connection. The Kademlia
   * paper's 3 is enough here; see doc/ARCHITECTURE.md.
   *
   * @default 3
   */
  alpha: number
  /**
   * Disjoint lookup paths (S/Kademlia's d): a lookup succeeds if any one path
   * avoids adversarial peers.
   *
   * @default 3
   */
  disjointPaths: number
}

/** The bulk channel (`swarm/bulk`): block transfer between provenir peers beside bitswap */
export interface BulkConfig {
  /**
   * Serve and fetch over the bulk channel. A node without it trades blocks
   * over bitswap only.
   *
   * @default true
   */
  enabled: boolean
  /**
   * The bulk listener's TCP multiaddr. When absent, the host of the first
   * TCP `listen` address and the next port (4101 -> 4102; port 0 stays 0,
   * and a taken port falls back to one the OS picks); with no TCP listen
   * address, no listener (this node then fetches but does not serve).
   */
  listen?: string
  /**
   * Addresses to tell peers instead of the listener's (behind NAT or a
   * port mapping).
   *
   * @default []
   */
  announce: string[]
  /**
   * Bulk connections to or from one peer.
   *
   * @default 2
   */
  connectionsPerPeer: number
  /**
   * Blocks the bulk listener writes at once over all its connections; the
   * others wait their turn (doc/ARCHITECTURE.md, "Upload slots"). More
   * for an uplink one or two TCP connections cannot fill.
   *
   * @default 2
   */
  sendSlots: number
}

/**
 * Peers on the local network (doc/ARCHITECTURE.md, "LAN by default"): a
 * second DHT that keeps only private addresses, beside the main one that
 * drops them, and mDNS discovery. Kubo and Helia's dual DHT, under
 * provenir's own protocol prefix.
 */
export interface LanConfig {
  /**
   * Run the LAN DHT (`/provenir/lan/kad/1.0.0`): its routing table holds
   * peers by their private (loopback, RFC 1918, link-local) addresses only,
   * and nothing from it reaches the main DHT. Provides and lookups go to
   * both. It runs only while `allowPrivateAddresses` is false: with it true
   * the main DHT already keeps private addresses.
   *
   * @default true
   */
  enabled: boolean
  /**
   * Find peers on the local network with mDNS (service `_provenir._udp.local`)
   * and dial them. It runs only when a `listen` address reaches beyond
   * loopback (0.0.0.0, ::, or a host's address): a node that listens on
   * loopback alone sends no multicast.
   *
   * @default true
   */
  mdns: boolean
}

export interface NodeConfig {
  /**
   * The swarm's difficulty c1: a peer's sha256(NodeId) must have at least
   * this many leading zero bits, or it is refused.
   *
   * @default 16
   */
  difficulty: number
  /**
   * Multiaddrs to listen on.
   *
   * @default ['/ip4/0.0.0.0/tcp/4101']
   */
  listen: string[]
  /**
   * Multiaddrs to announce instead of the listen addresses.
   *
   * @default []
   */
  announce: string[]
  /**
   * Bootstrap peers: multiaddrs ending in /p2p/<NodeId>.
   *
   * @default []
   */
  bootstrap: string[]
  /**
   * Keep loopback and private (LAN) addresses in the DHT. kad-dht drops them
   * by default, so a swarm on 127.0.0.1 or a LAN would never fill its routing
   * tables.
   *
   * @default false
   */
  allowPrivateAddresses: boolean
  /**
   * Transports to enable.
   *
   * @default ['tcp']
   */
  transports: TransportName[]
  /**
   * Connection encryption, in order of preference when dialing. A listener
   * accepts any of them, so nodes with different orders still connect.
   *
   * TLS 1.3 (node's OpenSSL, AES-GCM) moves bulk data at about 1.7× noise's
   * rate on this class of machine, so a registry node prefers it; noise costs
   * half as much per handshake, so a test bed of many nodes in one process
   * prefers noise. See BENCHMARKS.md ("Issue 4, third pass").
   *
   * @default ['tls', 'noise']
   */
  encryption: EncryptionName[]
  /**
   * Most open connections.
   *
   * @default 300
   */
  maxConnections: number
  dht: DHTConfig
  bulk: BulkConfig
  lan: LanConfig
}

export const DEFAULT_CONFIG: NodeConfig = Object.freeze({
  difficulty: DEFAULT_DIFFICULTY,
  listen: DEFAULT_LISTEN,
  announce: [],
  bootstrap: [],
  allowPrivateAddresses: false,
  transports: ['tcp'],
  encryption: ['tls', 'noise'],
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  dht: Object.freeze({
    clientMode: false,
    querySelfInterval: DEFAULT_QUERY_SELF_INTERVAL,
    kBucketSize: 20,
    alpha: DEFAULT_DHT_ALPHA,
    disjointPaths: DEFAULT_DHT_DISJOINT_PATHS
  }),
  bulk: Object.freeze({
    enabled: true,
    announce: [],
    connectionsPerPeer: DEFAULT_CONNECTIONS_PER_PEER,
    sendSlots: DEFAULT_SEND_SLOTS
  }),
  lan: Object.freeze({
    enabled: true,
    mdns: true
  })
}) as NodeConfig

const TOP_KEYS = new Set(Object.keys(DEFAULT_CONFIG))
const DHT_KEYS = new Set(Object.keys(DEFAULT_CONFIG.dht))
const BULK_KEYS = new Set(['enabled', 'listen', 'announce', 'connectionsPerPeer', 'sendSlots'])
const LAN_KEYS = new Set(Object.keys(DEFAULT_CONFIG.lan))

/** Longest multiaddr accepted in config */
const MAX_MULTIADDR_LENGTH = 1024

function fail (where: string, field: string, why: string): never {
  throw new InvalidConfigError(`${where}: "${field}" ${why}`)
}

function checkMultiaddrs (where: string, field: string, value: unknown, needPeer = false): string[] {
  if (!Array.isArray(value)) fail(where, field, 'must be an array of multiaddr strings')
  if (value.length > 1024) fail(where, field, 'has more than 1024 entries')
  return value.map((v, i) => {
    if (typeof v !== 'string') fail(where, `${field}[${i}]`, 'must be a string')
    // checked before parsing: a /p2p/ component is base58, whose decoding is quadratic in its length
    if (v.length > MAX_MULTIADDR_LENGTH) fail(where, `${field}[${i}]`, `is over ${MAX_MULTIADDR_LENGTH} characters`)
    try {
      const ma = multiaddr(v)
      if (needPeer && ma.getComponents().find(c => c.name === 'p2p') == null) {
        fail(where, `${field}[${i}]`, `("${v}") must end in /p2p/<NodeId>`)
      }
    } catch (err: any) {
      if (err?.name === 'InvalidConfigError') throw err
      fail(where, `${field}[${i}]`, `("${v}") is not a valid multiaddr: ${err?.message ?? err}`)
    }
    return v
  })
}

function checkInt (where: string, field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(where, field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
  }
  return value
}

/**
 * Merge `input` over the defaults and validate every field. Unknown fields are
 * refused, so a typo never silently falls back to a default.
 *
 * @param where - names the source in errors, e.g. the config file's path
 */
export function validateConfig (input: unknown, where = 'config'): NodeConfig {
  if (input == null) input = {}
  if (typeof input !== 'object' || Array.isArray(input)) fail(where, '(root)', 'must be a JSON object')
  const obj = input as Record<string, unknown>
  for (const key of Object.keys(obj)) {
    if (!TOP_KEYS.has(key)) fail(where, key, 'is not a known node setting')
  }
  const dhtIn = obj.dht ?? {}
  if (typeof dhtIn !== 'object' || Array.isArray(dhtIn) || dhtIn == null) fail(where, 'dht', 'must be an object')
  for (const key of Object.keys(dhtIn)) {
    if (!DHT_KEYS.has(key)) fail(where, `dht.${key}`, 'is not a known DHT setting')
  }
  const d = dhtIn as Record<string, unknown>
  const transports = obj.transports ?? DEFAULT_CONFIG.transports
  if (!Array.isArray(transports) || transports.length === 0 || transports.some(t => t !== 'tcp' && t !== 'memory')) {
    fail(where, 'transports', 'must be a non-empty array of "tcp" and/or "memory"')
  }
  const encryption = obj.encryption ?? DEFAULT_CONFIG.encryption
  if (!Array.isArray(encryption) || encryption.length === 0 || encryption.some(e => e !== 'tls' && e !== 'noise')) {
    fail(where, 'encryption', 'must be a non-empty array of "tls" and/or "noise"')
  }
  const allow = obj.allowPrivateAddresses ?? DEFAULT_CONFIG.allowPrivateAddresses
  if (typeof allow !== 'boolean') fail(where, 'allowPrivateAddresses', 'must be true or false')
  const clientMode = d.clientMode ?? DEFAULT_CONFIG.dht.clientMode
  if (typeof clientMode !== 'boolean') fail(where, 'dht.clientMode', 'must be true or false')
  const bulk = checkBulk(where, obj.bulk ?? {})
  const lan = checkLan(where, obj.lan ?? {})

  return {
    difficulty: checkInt(where, 'difficulty', obj.difficulty ?? DEFAULT_CONFIG.difficulty, 0, 64),
    listen: checkMultiaddrs(where, 'listen', obj.listen ?? DEFAULT_CONFIG.listen),
    announce: checkMultiaddrs(where, 'announce', obj.announce ?? DEFAULT_CONFIG.announce),
    bootstrap: checkMultiaddrs(where, 'bootstrap', obj.bootstrap ?? DEFAULT_CONFIG.bootstrap, true),
    allowPrivateAddresses: allow,
    transports: [...new Set(transports as TransportName[])],
    encryption: [...new Set(encryption as EncryptionName[])],
    maxConnections: checkInt(where, 'maxConnections', obj.maxConnections ?? DEFAULT_CONFIG.maxConnections, 1, 100_000),
    dht: {
      clientMode,
      querySelfInterval: checkInt(where, 'dht.querySelfInterval', d.querySelfInterval ?? DEFAULT_CONFIG.dht.querySelfInterval, 1000, 7 * 24 * 3600_000),
      kBucketSize: checkInt(where, 'dht.kBucketSize', d.kBucketSize ?? DEFAULT_CONFIG.dht.kBucketSize, 2, 256),
      alpha: checkInt(where, 'dht.alpha', d.alpha ?? DEFAULT_CONFIG.dht.alpha, 1, 64),
      disjointPaths: checkInt(where, 'dht.disjointPaths', d.disjointPaths ?? DEFAULT_CONFIG.dht.disjointPaths, 1, 64)
    },
    bulk,
    lan
  }
}

function checkLan (where: string, input: unknown): LanConfig {
  if (typeof input !== 'object' || Array.isArray(input) || input == null) fail(where, 'lan', 'must be an object')
  const l = input as Record<string, unknown>
  for (const key of Object.keys(l)) {
    if (!LAN_KEYS.has(key)) fail(where, `lan.${key}`, 'is not a known LAN setting (enabled, mdns)')
  }
  const out = { ...DEFAULT_CONFIG.lan }
  for (const key of LAN_KEYS as Set<keyof LanConfig>) {
    const value = l[key] ?? DEFAULT_CONFIG.lan[key]
    if (typeof value !== 'boolean') fail(where, `lan.${key}`, 'must be true or false')
    out[key] = value
  }
  return out
}

function checkBulk (where: string, input: unknown): BulkConfig {
  if (typeof input !== 'object' || Array.isArray(input) || input == null) fail(where, 'bulk', 'must be an object')
  const b = input as Record<string, unknown>
  for (const key of Object.keys(b)) {
    if (!BULK_KEYS.has(key)) fail(where, `bulk.${key}`, 'is not a known bulk-channel setting')
  }
  const enabled = b.enabled ?? DEFAULT_CONFIG.bulk.enabled
  if (typeof enabled !== 'boolean') fail(where, 'bulk.enabled', 'must be true or false')
  const out: BulkConfig = {
    enabled,
    announce: checkTcpAddrs(where, 'bulk.announce', b.announce ?? DEFAULT_CONFIG.bulk.announce),
    connectionsPerPeer: checkInt(where, 'bulk.connectionsPerPeer', b.connectionsPerPeer ?? DEFAULT_CONFIG.bulk.connectionsPerPeer, 1, MAX_CONNECTIONS_PER_PEER),
    sendSlots: checkInt(where, 'bulk.sendSlots', b.sendSlots ?? DEFAULT_CONFIG.bulk.sendSlots, 1, MAX_SEND_SLOTS)
  }
  if (b.listen != null) {
    if (typeof b.listen !== 'string') fail(where, 'bulk.listen', 'must be a multiaddr string')
    out.listen = checkTcpAddrs(where, 'bulk.listen', [b.listen])[0]
  }
  return out
}

/** Multiaddrs of the form /ip4|ip6/<host>/tcp/<port>, as the bulk listener takes */
function checkTcpAddrs (where: string, field: string, value: unknown): string[] {
  const addrs = checkMultiaddrs(where, field, value)
  if (addrs.length > 64) fail(where, field, 'has more than 64 entries')
  for (const a of addrs) {
    const [host, tcp, ...rest] = multiaddr(a).getComponents()
    if ((host?.name !== 'ip4' && host?.name !== 'ip6') || tcp?.name !== 'tcp' || rest.length > 0) fail(where, field, `("${a}") must be /ip4|ip6/<host>/tcp/<port>`)
  }
  return addrs
}
