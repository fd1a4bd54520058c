/**
 * The bulk channel as a libp2p service: its listener, the
 * `/provenir/bulk/1.0.0` protocol that tells connected peers where the
 * listener is, the outbound connections, and the admission rule that ties
 * the channel to the swarm: a peer is served only while it holds a live
 * libp2p connection to this node, so the swarm key (pnet), the difficulty
 * gater and any denylist decide who gets in, here as on libp2p.
 */

import { pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { BufferPool } from '@provenir/content'
import { InvalidConfigError } from '@provenir/interface'
import { BulkTransport } from './bulk-transport.js'
import { Fetches } from './fetches.js'
import * as C from './constants.js'
import { BulkPeers, tcpAddress } from './peers.js'
import { Info } from './pb/bulk.js'
import { BulkServer } from './server.js'
import { bulkCredentials, VerifiedCertificates } from './tls.js'
import type { Bulk, BulkComponents, BulkInit, BulkBlockstore } from './index.js'
import type { BulkCredentials } from './tls.js'
import type { BlockTransport } from '../transport.js'
import type { CounterGroup, Logger, PeerId, Stream } from '@libp2p/interface'

/** Every option with its value: the defaults of `constants.ts` where the caller gave none */
type Settings = Required<Omit<BulkInit, 'blockstore' | 'listen' | 'announce' | 'onBadPeer' | 'isBanned' | 'portFallback' | 'hashBlock'>>

function bounded (name: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = value ?? fallback
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new InvalidConfigError(`bulk.${name} must be an integer from ${min} to ${max}, got ${String(value)}`)
  return v
}

/** Checks every option and fills in the defaults; a bad value throws InvalidConfigError */
export function bulkSettings (init: BulkInit): Settings {
  return {
    connectionsPerPeer: bounded('connectionsPerPeer', init.connectionsPerPeer, C.DEFAULT_CONNECTIONS_PER_PEER, 1, C.MAX_CONNECTIONS_PER_PEER),
    requestsPerConnection: bounded('requestsPerConnection', init.requestsPerConnection, C.DEFAULT_REQUESTS_PER_CONNECTION, 1, C.MAX_QUEUED_REQUESTS),
    readAhead: bounded('readAhead', init.readAhead, C.DEFAULT_READ_AHEAD, 1, C.MAX_QUEUED_REQUESTS),
    maxInboundConnections: bounded('maxInboundConnections', init.maxInboundConnections, C.DEFAULT_MAX_INBOUND_CONNECTIONS, 1),
    maxBlockSize: bounded('maxBlockSize', init.maxBlockSize, C.DEFAULT_MAX_BLOCK_SIZE, 1, 64 * 1024 * 1024),
    connectTimeout: bounded('connectTimeout', init.connectTimeout, C.DEFAULT_CONNECT_TIMEOUT, 1),
    stallTimeout: bounded('stallTimeout', init.stallTimeout, C.DEFAULT_STALL_TIMEOUT, 1),
    queuedTimeout: bounded('queuedTimeout', init.queuedTimeout, C.DEFAULT_QUEUED_TIMEOUT, 1),
    sendSlots: bounded('sendSlots', init.sendSlots, C.DEFAULT_SEND_SLOTS, 1, C.MAX_SEND_SLOTS),
    queuedInterval: bounded('queuedInterval', init.queuedInterval, C.DEFAULT_QUEUED_INTERVAL, 1, C.DEFAULT_STALL_TIMEOUT),
    busyLine: bounded('busyLine', init.busyLine, C.DEFAULT_BUSY_LINE, 1, C.MAX_BUSY_LINE),
    idleTimeout: bounded('idleTimeout', init.idleTimeout, C.DEFAULT_IDLE_TIMEOUT, 1),
    blockstoreTimeout: bounded('blockstoreTimeout', init.blockstoreTimeout, C.DEFAULT_BLOCKSTORE_TIMEOUT, 1),
    inFlightWait: bounded('inFlightWait', init.inFlightWait, C.DEFAULT_IN_FLIGHT_WAIT, 0, C.DEFAULT_STALL_TIMEOUT),
    infoTtl: bounded('infoTtl', init.infoTtl, C.DEFAULT_INFO_TTL, 0),
    failureBackoff: bounded('failureBackoff', init.failureBackoff, C.DEFAULT_FAILURE_BACKOFF, 0),
    badPeerBackoff: bounded('badPeerBackoff', init.badPeerBackoff, C.DEFAULT_BAD_PEER_BACKOFF, 0),
    discoveryWait: bounded('discoveryWait', init.discoveryWait, C.DEFAULT_DISCOVERY_WAIT, 0),
    window: bounded('window', init.window, C.DEFAULT_SESSION_WINDOW, 1, 1024)
  }
}

/** The listen address as host and port; a TCP multiaddr only */
function listenAddress (listen: string, field = 'listen'): { host: string, port: number } {
  let address
  try {
    address = tcpAddress(multiaddr(listen))
  } catch (err: any) {
    throw new InvalidConfigError(`bulk.${field} is not a multiaddr: ${listen}`, { cause: err })
  }
  // port 0 is valid for a listener: the OS picks one
  const zero = /\/tcp\/0$/.test(listen) ? tcpAddress(multiaddr(listen.replace(/\/tcp\/0$/, '/tcp/1'))) : undefined
  if (zero != null) return { host: zero.host, port: 0 }
  if (address == null) throw new InvalidConfigError(`bulk.${field} must be a TCP address (/ip4|ip6/<host>/tcp/<port>), got ${listen}`)
  return address
}

export class BulkService implements Bulk {
  readonly #components: BulkComponents
  readonly #init: BulkInit
  readonly #settings: Settings
  readonly #log: Logger
  readonly #listen?: { host: string, port: number }
  readonly #announce: Array<Uint8Array<ArrayBuffer>>
  readonly peers: BulkPeers
  readonly #verified = new VerifiedCertificates()
  readonly #buffers = Object.assign(new BufferPool(C.SERVE_BUFFER_SIZE, C.RECEIVE_BUFFERS), { size: C.SERVE_BUFFER_SIZE })
  readonly #events?: CounterGroup
  #credentials?: Promise<BulkCredentials>
  /** Transient fetches running (they share the receive pool) */
  #receiving = 0
  #server?: BulkServer
  #address?: { host: string, port: number }
  #started = false
  readonly #served = { blocks: 0, bytes: 0, redirects: 0, fetching: 0, queued: 0, busy: 0, haves: 0 }
  /** What this node's pulls are fetching: its transport's sessions record it, its listener waits on it */
  readonly #fetches = new Fetches(cid => { this.#server?.announce(cid) })
  readonly #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.#server?.closePeer(evt.detail)
    this.peers.closePeer(evt.detail)
  }

  readonly #onConnect = (evt: CustomEvent<PeerId>): void => {
    this.peers.reconnected(evt.detail)
  }

  constructor (components: BulkComponents, init: BulkInit = {}) {
    this.#components = components
    this.#init = init
    this.#settings = bulkSettings(init)
    this.#log = components.logger.forComponent('provenir:bulk')
    this.#listen = init.listen != null ? listenAddress(init.listen) : undefined
    this.#announce = (init.announce ?? []).map(a => {
      listenAddress(a, 'announce')
      return multiaddr(a).bytes
    })
    this.#events = components.metrics?.registerCounterGroup('provenir_bulk_events_total', { label: 'event', help: 'What the bulk channel did: connections admitted and refused, blocks and dont-haves served (redirect: holders named; fetching: its own fetch of the block went on; queued: a block waited for an upload slot; busy: its client was told to ask again later instead; have: a client was told this node stored a block), bad blocks received' })
    this.peers = new BulkPeers({
      connectionManager: components.connectionManager,
      buffers: this.#buffers,
      verified: this.#verified,
      log: this.#log,
      credentials: async () => this.#credentialsOnce(),
      ...(init.hashBlock != null ? { hashBlock: init.hashBlock } : {}),
      onBadPeer: (peer, reason) => {
        this.#events?.increment({ 'bad-block': true })
        this.#server?.closePeer(peer)
        init.onBadPeer?.(peer, reason)
      }
    }, this.#settings)
  }

  readonly [Symbol.toStringTag] = '@provenir/bulk'

  isStarted (): boolean {
    return this.#started
  }

  /** The listener's address, once started; undefined when this node does not serve */
  get address (): { host: string, port: number } | undefined {
    return this.#address
  }

  get blockstore (): BulkBlockstore | undefined {
    return this.#init.blockstore
  }

  /** The certificate, made once at start (a failure is tried again at the next need) */
  async #credentialsOnce (): Promise<BulkCredentials> {
    this.#credentials ??= bulkCredentials(this.#components.privateKey)
    this.#credentials.catch(() => { this.#credentials = undefined })
    return this.#credentials
  }

  async start (): Promise<void> {
    if (this.#listen != null && this.#init.blockstore != null) {
      this.#server = new BulkServer({
        ...this.#listen,
        ...this.#settings,
        credentials: await this.#credentialsOnce(),
        verified: this.#verified,
        blockstore: this.#init.blockstore,
        fetching: (cid, asker) => this.#fetches.get(cid, asker),
        relaying: (cid) => this.#fetches.storedLately(cid),
        handshakeTimeout: this.#settings.connectTimeout,
        admit: (peer) => this.#admit(peer),
        log: this.#log,
        count: (event, bytes) => {
          this.#events?.increment({ [event]: true })
          if (event === 'redirect') this.#served.redirects++
          if (event === 'fetching') this.#served.fetching++
          if (event === 'queued') this.#served.queued++
          if (event === 'busy') this.#served.busy++
          if (event === 'have') this.#served.haves++
          if (bytes != null) {
            this.#served.blocks++
            this.#served.bytes += bytes
            this.#events?.increment({ 'bytes-sent': bytes })
          }
        }
      })
      try {
        this.#address = await this.#server.listen()
      } catch (err: any) {
        if (err?.code !== 'EADDRINUSE' || this.#init.portFallback !== true) throw err
        this.#log('bulk port %d is taken, listening on one the OS picks - %e', this.#listen.port, err)
        this.#address = await this.#server.listen(0)
      }
      this.#log('bulk listener on %s:%d', this.#address.host, this.#address.port)
      await this.#components.registrar.handle(C.BULK_INFO_PROTOCOL, (stream) => { void this.#answer(stream) }, { maxInboundStreams: C.INFO_MAX_INBOUND_STREAMS })
    } else {
      // made now, off the path of the first pull (tens of ms of ASN.1 in JavaScript)
      this.#credentialsOnce().catch((err: Error) => { this.#log.error('cannot make the bulk certificate - %e', err) })
    }
    this.#components.events.addEventListener('peer:disconnect', this.#onDisconnect)
    this.#components.events.addEventListener('peer:connect', this.#onConnect)
    this.#started = true
  }

  async stop (): Promise<void> {
    this.#started = false
    this.#components.events.removeEventListener('peer:disconnect', this.#onDisconnect)
    this.#components.events.removeEventListener('peer:connect', this.#onConnect)
    if (this.#server != null) await this.#components.registrar.unhandle(C.BULK_INFO_PROTOCOL)
    this.peers.closeAll()
    await this.#server?.close()
    this.#server = undefined
    this.#address = undefined
  }

  /** Why `peer` may not be served now, or undefined: the swarm decides who is in */
  #admit (peer: PeerId): string | undefined {
    if (this.peers.isBanned(peer) || this.#init.isBanned?.(peer) === true) return 'it is banned for sending a bad block'
    const live = this.#components.connectionManager.getConnections(peer).some(c => c.status === 'open')
    if (!live) return 'it holds no live libp2p connection to this node'
    return undefined
  }

  /** Tells a connected peer where the listener is: announced addresses, the bound host when specific, else the port alone */
  async #answer (stream: Stream): Promise<void> {
    const signal = AbortSignal.timeout(C.INFO_TIMEOUT)
    try {
      const address = this.#address
      if (address == null) throw new InvalidConfigError('the bulk listener is not listening')
      let addrs = this.#announce
      if (addrs.length === 0 && address.host !== '0.0.0.0' && address.host !== '::') {
        addrs = [multiaddr(`/${address.host.includes(':') ? 'ip6' : 'ip4'}/${address.host}/tcp/${address.port}`).bytes]
      }
      await pbStream(stream).write({ port: address.port, addrs }, Info, { signal })
      await stream.close({ signal })
    } catch (err: any) {
      this.#log('answering /provenir/bulk/1.0.0 failed - %e', err)
      stream.abort(err)
    }
  }

  transport (fallback: BlockTransport): BlockTransport {
    const blockstore = this.#init.blockstore
    if (blockstore == null) throw new InvalidConfigError('the bulk transport needs a blockstore to store what it fetches')
    return new BulkTransport({
      peers: this.peers,
      blockstore,
      fallback,
      fetches: this.#fetches,
      log: this.#log,
      discoveryWait: this.#settings.discoveryWait,
      defaultWindow: this.#settings.window,
      release: (bytes) => { this.#buffers.release(bytes) },
      // once no transient fetch runs, the receive pool lets its buffers go, so what runs next
      // (an export, say) does not peak with the pool's 32 MiB on top
      receiving: () => {
        this.#receiving++
        let ended = false
        return () => {
          if (ended) return
          ended = true
          if (--this.#receiving === 0) this.#buffers.trim()
        }
      }
    })
  }

  /** Blocks and their bytes this node's listener sent since it started, the DONT_HAVEs that named holders (`redirects`) and those that said its own fetch of the block went on (`fetching`), and the blocks that waited for an upload slot (`queued`) or were answered `busy` instead; a node without metrics has these too */
  served (): { blocks: number, bytes: number, redirects: number, fetching: number, queued: number, busy: number, haves: number } {
    return { ...this.#served }
  }

  receiveBuffers (): { made: number, free: number } {
    return { made: this.#buffers.made, free: this.#buffers.free }
  }

  /** Bulk connections `peer` holds to us and we hold to it (for tests and metrics) */
  connections (peer: PeerId): { inbound: number, outbound: number } {
    return { inbound: this.#server?.connections(peer) ?? 0, outbound: this.peers.connections(peer) }
  }
}
