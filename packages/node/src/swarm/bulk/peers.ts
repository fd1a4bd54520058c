/**
 * What this node knows of other peers' bulk channels, and its outbound
 * connections to them:
 *
 * - where a peer's bulk listener is, asked over `/provenir/bulk/1.0.0` on
 *   the libp2p connection and remembered for `infoTtl` (a peer without the
 *   protocol has no bulk channel and is left to bitswap);
 * - up to `connectionsPerPeer` connections to each, opened as requests need
 *   them, each with at most `requestsPerConnection` wants in flight; a
 *   request waits for a free slot;
 * - a peer whose bulk dial or connection failed is left alone for
 *   `failureBackoff`, unless the failure came with the end of its libp2p
 *   connection and that connection is back (`reconnected`); one that sent
 *   a bad block is banned for
 *   `badPeerBackoff` and reported through `onBadPeer` (bitswap's bad-peer
 *   mechanism: penalised, disconnected on every channel).
 */

import { pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { blockKey, setNewest } from './blocks.js'
import { BULK_INFO_PROTOCOL, INFO_TIMEOUT, LOST_CONNECTION_GRACE, MAX_FAILURE_BACKOFF, MAX_HAVE_PEERS, MAX_INFO_ADDRS, MAX_INFO_SIZE, MAX_PEER_STATES, MAX_REDIRECT_BLOCKS } from './constants.js'
import { BulkConnection } from './client.js'
import { BulkUnavailableError } from './errors.js'
import { Info } from './pb/bulk.js'
import type { BlockHasher, BulkAnswer, BulkRequestOptions, ReceiveBuffers } from './client.js'
import type { BulkCredentials, VerifiedCertificates } from './tls.js'
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'

/** Where a peer's bulk listener is: hosts and ports to try in order */
export interface BulkEndpoint {
  host: string
  port: number
}

/** The host and TCP port of a multiaddr (`/ip4|ip6|dns4|dns6|dns/<host>/tcp/<port>`), or undefined for any other */
export function tcpAddress (ma: Multiaddr): BulkEndpoint | undefined {
  const [host, tcp] = ma.getComponents()
  if (host == null || tcp?.name !== 'tcp' || host.value == null || tcp.value == null) return undefined
  if (!['ip4', 'ip6', 'dns4', 'dns6', 'dns'].includes(host.name)) return undefined
  const port = Number(tcp.value)
  return Number.isInteger(port) && port > 0 && port <= 65535 ? { host: host.value, port } : undefined
}

export interface BulkPeersComponents {
  connectionManager: {
    openStream(peer: PeerId, protocol: string, options?: { signal?: AbortSignal }): Promise<Stream>
    getConnections(peer?: PeerId): Connection[]
  }
  log: Logger
  /** This node's certificate (made at the first need) */
  credentials(): Promise<BulkCredentials>
  /** Bitswap's bad-peer mechanism: penalise and disconnect `peer` */
  onBadPeer?(peer: PeerId, reason: string): void
  /** Buffers received blocks go into */
  buffers?: ReceiveBuffers
  /** Certificates checked already */
  verified?: VerifiedCertificates
  /** Hashes blocks received into pooled buffers (the hash worker unless given) */
  hashBlock?: BlockHasher
}

export interface BulkPeersInit {
  connectionsPerPeer: number
  requestsPerConnection: number
  maxBlockSize: number
  connectTimeout: number
  stallTimeout: number
  queuedTimeout: number
  idleTimeout: number
  infoTtl: number
  failureBackoff: number
  badPeerBackoff: number
}

interface PeerState {
  peer: PeerId
  /** the peer's bulk endpoints; [] when it has none */
  endpoints?: BulkEndpoint[]
  endpointsAt: number
  probing?: Promise<BulkEndpoint[]>
  conns: BulkConnection[]
  opening: number
  /** requests waiting for a free slot */
  waiting: Array<() => void>
  failedUntil: number
  /** failures in a row: each doubles the backoff, up to MAX_FAILURE_BACKOFF */
  failures: number
  /** when the last failure was, and whether the peer held no live libp2p connection then */
  failedAt: number
  failedOffline: boolean
  /** when its libp2p connection last ended (`closePeer`) */
  lostAt: number
  /** an extra connection failed (the peer may hold fewer per peer than we would): no more extras until then */
  extrasUntil: number
  bannedUntil: number
  lastUsed: number
}

export class BulkPeers {
  readonly #components: BulkPeersComponents
  readonly #init: BulkPeersInit
  readonly #states = new Map<string, PeerState>()
  /** per block, the peers that said they stored it (HAVE frames), the latest MAX_HAVE_PEERS */
  readonly #haves = new Map<string, PeerId[]>()

  constructor (components: BulkPeersComponents, init: BulkPeersInit) {
    this.#components = components
    this.#init = init
  }

  #state (peer: PeerId): PeerState {
    const key = peer.toString()
    let state = this.#states.get(key)
    if (state == null) {
      if (this.#states.size >= MAX_PEER_STATES) this.#forgetIdle()
      state = { peer, endpointsAt: 0, conns: [], opening: 0, waiting: [], failedUntil: 0, failures: 0, failedAt: 0, failedOffline: false, lostAt: 0, extrasUntil: 0, bannedUntil: 0, lastUsed: Date.now() }
      this.#states.set(key, state)
    }
    return state
  }

  /** Drops the state of the longest-unused peers that hold no connection and are not banned */
  #forgetIdle (): void {
    const idle = [...this.#states.entries()]
      .filter(([, s]) => s.conns.length === 0 && s.opening === 0 && s.bannedUntil < Date.now())
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed)
    for (const [key] of idle.slice(0, Math.max(1, idle.length >> 2))) this.#states.delete(key)
  }

  /** True while `peer` is banned for a bad block sent over the bulk channel */
  isBanned (peer: PeerId): boolean {
    return (this.#states.get(peer.toString())?.bannedUntil ?? 0) > Date.now()
  }

  /**
   * Whether `peer` can be asked over the bulk channel now: true or false when
   * known, undefined when its bulk address has not been asked yet (or lately).
   */
  usable (peer: PeerId): boolean | undefined {
    const state = this.#states.get(peer.toString())
    if (state == null) return undefined
    const now = Date.now()
    if (state.bannedUntil > now || state.failedUntil > now) return false
    // an open connection proves the address still good
    if (state.conns.length > 0) return true
    if (state.endpoints == null || now - state.endpointsAt > this.#init.infoTtl) return undefined
    return state.endpoints.length > 0
  }

  /**
   * When `peer`'s failure backoff ends, while it backs off after a failure
   * (not banned); undefined otherwise
   */
  retryAt (peer: PeerId): number | undefined {
    const state = this.#states.get(peer.toString())
    const now = Date.now()
    if (state == null || state.bannedUntil > now || state.failedUntil <= now) return undefined
    return state.failedUntil
  }

  /** Asks `peer` for its bulk address if not known lately; resolves with whether it can be asked now */
  async probe (peer: PeerId): Promise<boolean> {
    const known = this.usable(peer)
    if (known != null) return known
    const state = this.#state(peer)
    // one exchange however many sessions ask, bounded by INFO_TIMEOUT alone
    // (one session closing must not leave a peer marked as channel-less)
    state.probing ??= this.#ask(state.peer).finally(() => { state.probing = undefined })
    state.endpoints = await state.probing
    state.endpointsAt = Date.now()
    return this.usable(peer) === true
  }

  /** The peer's answer on `/provenir/bulk/1.0.0`; [] when it has no bulk channel or does not answer */
  async #ask (peer: PeerId): Promise<BulkEndpoint[]> {
    const options = { signal: AbortSignal.timeout(INFO_TIMEOUT) }
    let stream: Stream | undefined
    try {
      stream = await this.#components.connectionManager.openStream(peer, BULK_INFO_PROTOCOL, options)
      const info = await pbStream(stream, { maxDataLength: MAX_INFO_SIZE }).read(Info, { ...options, limits: { addrs: MAX_INFO_ADDRS } })
      await stream.close(options)
      return this.#endpoints(peer, info)
    } catch (err: any) {
      stream?.abort(err)
      this.#components.log.trace('%p has no bulk channel we can use - %e', peer, err)
      return []
    }
  }

  /**
   * Where to dial: the hosts we reach the peer at over libp2p, at the port it
   * announced, or at an address it announced on one of those hosts (a port
   * mapping). An announced address on any other host is ignored: a peer
   * must not make this node dial wherever it likes.
   */
  #endpoints (peer: PeerId, info: Info): BulkEndpoint[] {
    const hosts = new Set<string>()
    for (const conn of this.#components.connectionManager.getConnections(peer)) {
      const remote = tcpAddress(conn.remoteAddr)
      if (remote != null) hosts.add(remote.host)
    }
    const out: BulkEndpoint[] = []
    for (const bytes of info.addrs) {
      try {
        const endpoint = tcpAddress(multiaddr(bytes))
        if (endpoint != null && hosts.has(endpoint.host)) out.push(endpoint)
      } catch {}
    }
    if (info.port === 0 || info.port > 65535) return out
    for (const host of hosts) {
      if (!out.some(e => e.host === host && e.port === info.port)) out.push({ host, port: info.port })
    }
    return out
  }

  /** Peers that told this node they stored `cid` (HAVE frames), the latest last */
  holdersOf (cid: CID): PeerId[] {
    return this.#haves.get(blockKey(cid)) ?? []
  }

  #had (peer: PeerId, cid: CID): void {
    const key = blockKey(cid)
    const peers = (this.#haves.get(key) ?? []).filter(p => !p.equals(peer))
    peers.push(peer)
    if (peers.length > MAX_HAVE_PEERS) peers.shift()
    setNewest(this.#haves, key, peers, MAX_REDIRECT_BLOCKS)
  }

  /** Requests in flight and waiting for `peer` (the scheduler's measure of how busy a peer is) */
  load (peer: PeerId): number {
    const state = this.#states.get(peer.toString())
    if (state == null) return 0
    return state.conns.reduce((n, c) => n + c.inflight, 0) + state.waiting.length
  }

  /**
   * Asks `peer` for `cid` over one of its bulk connections. With
   * `redirectOk` the peer may answer with the holders it sent the block to
   * instead of the block; with `earlyDontHave` it may answer DONT_HAVE ahead
   * of older wants' answers.
   *
   * @throws BulkUnavailableError when the peer cannot be asked (no channel, backing off, banned, dial failed)
   * @throws BulkBadBlockError when it sent bytes that do not hash to `cid` (it is banned and reported by then)
   */
  async request (peer: PeerId, cid: CID, signal: AbortSignal, options: Omit<BulkRequestOptions, 'signal'> = {}): Promise<BulkAnswer> {
    const state = this.#state(peer)
    state.lastUsed = Date.now()
    const conn = await this.#slot(state, signal)
    try {
      return await conn.request(cid, { ...options, signal })
    } catch (err: any) {
      if (err?.name === 'BulkBadBlockError') this.#bad(state, err.message)
      // this node's own failure (its hash worker) is no reason to stop asking the peer
      else if (!signal.aborted && state.bannedUntil <= Date.now() && err?.name !== 'BulkLocalError') this.#failed(state, err)
      throw err
    } finally {
      state.waiting.shift()?.()
    }
  }

  /** A connection with a free request slot: the least busy open one, or a new one while under the bound */
  async #slot (state: PeerState, signal: AbortSignal): Promise<BulkConnection> {
    const { connectionsPerPeer, requestsPerConnection } = this.#init
    while (true) {
      signal.throwIfAborted()
      if (!(this.usable(state.peer) ?? await this.probe(state.peer))) throw new BulkUnavailableError(`peer ${state.peer.toString()} has no usable bulk channel`)
      const open = state.conns.filter(c => !c.closed).sort((a, b) => a.inflight - b.inflight)
      const best = open[0]
      const room = open.length + state.opening < connectionsPerPeer && (open.length === 0 || state.extrasUntil <= Date.now())
      // another connection as soon as there is concurrency to spread
      if (room && (best == null || best.inflight > 0)) {
        // an extra connection that fails (say the server holds fewer per
        // peer than we would) leaves the peer usable over the ones it has
        const opened = this.#open(state, signal, best != null)
        if (best == null) return await opened
        opened.catch(() => {})
      }
      if (best != null && best.inflight < requestsPerConnection) return best
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => { reject(signal.reason) }
        signal.addEventListener('abort', onAbort, { once: true })
        state.waiting.push(() => { signal.removeEventListener('abort', onAbort); resolve() })
      })
    }
  }

  async #open (state: PeerState, signal: AbortSignal, extra: boolean): Promise<BulkConnection> {
    state.opening++
    try {
      const conn = await this.#dial(state, signal)
      state.failures = 0
      state.conns.push(conn)
      conn.onClose = (err, hadRequests) => {
        state.conns = state.conns.filter(c => c !== conn)
        // an idle connection closed by either end is no failure
        if (err != null && hadRequests && err.name !== 'BulkBadBlockError') this.#failed(state, err)
        for (const wake of state.waiting.splice(0)) wake()
      }
      return conn
    } catch (err: any) {
      if (!signal.aborted && !extra) {
        this.#failed(state, err)
      } else if (extra) {
        state.extrasUntil = Date.now() + this.#init.failureBackoff
        this.#components.log.trace('extra bulk connection to %p failed - %e', state.peer, err)
      }
      throw err
    } finally {
      state.opening--
      for (const wake of state.waiting.splice(0)) wake()
    }
  }

  async #dial (state: PeerState, signal: AbortSignal): Promise<BulkConnection> {
    const endpoints = state.endpoints ?? []
    let last: Error = new BulkUnavailableError(`peer ${state.peer.toString()} announced no bulk address`)
    const credentials = await this.#components.credentials()
    for (const endpoint of endpoints) {
      try {
        return await BulkConnection.open({
          peer: state.peer,
          ...endpoint,
          credentials,
          ...(this.#components.buffers != null ? { buffers: this.#components.buffers } : {}),
          ...(this.#components.verified != null ? { verified: this.#components.verified } : {}),
          ...(this.#components.hashBlock != null ? { hashBlock: this.#components.hashBlock } : {}),
          maxBlockSize: this.#init.maxBlockSize,
          stallTimeout: this.#init.stallTimeout,
          queuedTimeout: this.#init.queuedTimeout,
          idleTimeout: this.#init.idleTimeout,
          onHave: (cid) => { this.#had(state.peer, cid) },
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.#init.connectTimeout)]),
          log: this.#components.log
        })
      } catch (err: any) {
        if (signal.aborted) throw err
        last = err
      }
    }
    throw last
  }

  /**
   * A dial or a connection failed: bitswap serves this peer until the
   * backoff ends. It doubles with each failure in a row, so a listener a
   * firewall hides costs one connect timeout now and then, not every time.
   */
  #failed (state: PeerState, err: Error): void {
    if (state.failedUntil > Date.now()) return
    const backoff = Math.min(this.#init.failureBackoff * 2 ** Math.min(state.failures, 16), MAX_FAILURE_BACKOFF)
    state.failures++
    state.failedAt = Date.now()
    state.failedUntil = state.failedAt + backoff
    state.failedOffline = !this.#components.connectionManager.getConnections(state.peer).some(c => c.status === 'open')
    this.#components.log('bulk channel to %p failed, using bitswap for it for %d ms - %e', state.peer, backoff, err)
  }

  /** The peer sent a block that does not hash to its CID: cut it off here and on bitswap */
  #bad (state: PeerState, reason: string): void {
    const first = state.bannedUntil <= Date.now()
    state.bannedUntil = Date.now() + this.#init.badPeerBackoff
    for (const conn of [...state.conns]) conn.close()
    if (!first) return
    this.#components.log.error('bad block from %p over the bulk channel (%s): banned', state.peer, reason)
    this.#components.onBadPeer?.(state.peer, reason)
  }

  /** Closes our connections to `peer` (its libp2p connection ended) */
  closePeer (peer: PeerId): void {
    const state = this.#states.get(peer.toString())
    if (state == null) return
    state.lostAt = Date.now()
    for (const conn of [...state.conns]) conn.close()
  }

  /**
   * `peer` holds a libp2p connection again. A backoff that began with the
   * loss of its last one (the listener closes a peer's bulk connections
   * when its libp2p connection ends, and refuses it until one is back) ends
   * now: the channel was not at fault, and bitswap would otherwise carry the
   * peer's blocks for `failureBackoff`. Any other failure keeps its backoff.
   */
  reconnected (peer: PeerId): void {
    const state = this.#states.get(peer.toString())
    const now = Date.now()
    if (state == null || state.failedUntil <= now || state.bannedUntil > now) return
    const withLoss = state.failedOffline || Math.abs(state.failedAt - state.lostAt) <= LOST_CONNECTION_GRACE
    if (!withLoss) return
    state.failedUntil = 0
    state.failures = Math.max(0, state.failures - 1)
    this.#components.log('%p is connected again: its bulk channel is used again', peer)
  }

  closeAll (): void {
    for (const state of this.#states.values()) {
      for (const conn of [...state.conns]) conn.close()
    }
  }

  /** Peers whose bulk channel is known and usable now */
  known (): PeerId[] {
    return [...this.#states.values()].filter(s => this.usable(s.peer) === true).map(s => s.peer)
  }

  /** Open connections to `peer` (for tests and metrics) */
  connections (peer: PeerId): number {
    return this.#states.get(peer.toString())?.conns.length ?? 0
  }
}
