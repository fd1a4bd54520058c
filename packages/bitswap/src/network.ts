/**
 * The wire: protocol handlers, peer topology, one long-lived outbound stream
 * per peer, and length-prefixed framing with limits.
 *
 * Inbound streams are read only; every message we send goes on our own
 * outbound stream to the peer, as Kubo and Helia expect.
 *
 * @internal
 */

import { PeerMap, PeerSet } from '@libp2p/peer-collections'
import { MAX_UNREACHABLE_PEERS, UNREACHABLE_BACKOFF_MAX, UNREACHABLE_BACKOFF_MIN } from './constants.js'
import { InboundBudget, MessageRate } from './budget.js'
import { AbortError, MessageRateError, NodeBufferLimitError, NotStartedError, PeerBufferLimitError, PeerUnreachableError, StreamIdleTimeoutError, TimeoutError } from './errors.js'
import { LengthPrefixedDecoder } from './framing.js'
import { decodeMessage } from './message.js'
import type { BufferHolder } from './budget.js'
import type { BitswapConnectionManager, BitswapRegistrar } from './index.js'
import type { Message } from './pb/message.js'
import type { ComponentLogger, Connection, Logger, PeerId, Stream, Topology } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface NetworkComponents {
  registrar: BitswapRegistrar
  connectionManager: BitswapConnectionManager
  logger: ComponentLogger
}

export interface NetworkInit {
  protocols: string[]
  maxMessageSize: number
  maxEntriesPerMessage: number
  maxInboundStreams: number
  maxOutboundStreams: number
  inboundStreamIdleTimeout: number
  /** Bytes of unfinished inbound messages held for one peer, over all its streams */
  maxPeerBufferedBytes: number
  /** Bytes of unfinished inbound messages held over all peers */
  maxBufferedBytes: number
  /** Messages a peer may send per second, over all its streams (and as a burst) */
  maxMessageRate: number
  outboundStreamIdleTimeout: number
  openStreamTimeout: number
  sendTimeout: number
  runOnLimitedConnection: boolean
}

/** Callbacks the network drives; set by the bitswap node */
export interface NetworkHandlers {
  /**
   * A decoded message. May return a promise (e.g. an async hasher), in which
   * case the stream is paused until it settles. Throwing resets the stream.
   */
  onMessage(peer: PeerId, message: Message, size: number, connection: Connection): void | Promise<void>
  onPeerConnect(peer: PeerId): void
  onPeerDisconnect(peer: PeerId): void
  /** An inbound stream was reset because of `err` (limits, malformed data, idle) */
  onInboundStreamError(peer: PeerId, err: Error): void
}

interface SendJob {
  data: Uint8ArrayList
  signal: AbortSignal
  resolve(): void
  reject(err: Error): void
}

/** Serialises the messages for one peer onto one long-lived outbound stream */
class PeerSender {
  private readonly network: Network
  private readonly peer: PeerId
  private readonly log: Logger
  private stream?: Stream
  private readonly jobs: SendJob[]
  private running: boolean
  private idleTimer?: ReturnType<typeof setTimeout>
  private closed: boolean

  constructor (network: Network, peer: PeerId, log: Logger) {
    this.network = network
    this.peer = peer
    this.log = log
    this.jobs = []
    this.running = false
    this.closed = false
  }

  async send (data: Uint8ArrayList, signal: AbortSignal): Promise<void> {
    if (this.closed) {
      throw new NotStartedError('Sender closed')
    }
    signal.throwIfAborted()
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    this.jobs.push({ data, signal, resolve, reject })
    clearTimeout(this.idleTimer)
    if (!this.running) {
      void this.run()
    }
    return promise
  }

  private async run (): Promise<void> {
    this.running = true
    try {
      while (this.jobs.length > 0) {
        const job = this.jobs.shift()
        if (job == null) break
        try {
          job.signal.throwIfAborted()
          await this.write(job)
          job.resolve()
        } catch (err: any) {
          job.reject(err)
        }
      }
    } finally {
      this.running = false
    }
    if (!this.closed) {
      this.idleTimer = setTimeout(() => { this.closeIdle() }, this.network.init.outboundStreamIdleTimeout)
      this.idleTimer.unref?.()
    }
  }

  /** Writes one framed message; on a broken stream retries once on a fresh one */
  private async write (job: SendJob): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const stream = await this.getStream(job.signal)
      try {
        if (!stream.send(job.data)) {
          await stream.onDrain({ signal: job.signal })
        }
        return
      } catch (err: any) {
        this.resetStream(stream, err)
        if (job.signal.aborted || attempt > 0 || this.closed) {
          throw err
        }
        this.log('stream to %p failed (%s), retrying on a new stream', this.peer, err.name)
      }
    }
  }

  private async getStream (signal: AbortSignal): Promise<Stream> {
    if (this.stream != null && this.stream.status === 'open' && this.stream.writeStatus === 'writable') {
      return this.stream
    }
    this.stream = undefined
    this.network.assertReachable(this.peer)
    const connected = this.network.hasConnection(this.peer)
    const openSignal = AbortSignal.any([signal, AbortSignal.timeout(this.network.init.openStreamTimeout)])
    let stream: Stream
    try {
      stream = await this.network.components.connectionManager.openStream(this.peer, this.network.init.protocols, {
        signal: openSignal,
        runOnLimitedConnection: this.network.init.runOnLimitedConnection
      })
    } catch (err) {
      // with no connection to start from, this was a dial: do not dial again at once
      if (!connected && !signal.aborted) this.network.dialFailed(this.peer)
      throw err
    }
    if (this.closed) {
      stream.abort(new NotStartedError('Sender closed'))
      throw new NotStartedError('Sender closed')
    }
    // bitswap never answers on the same stream; discard anything that arrives
    stream.addEventListener('message', () => {})
    stream.addEventListener('close', () => {
      if (this.stream === stream) {
        this.stream = undefined
      }
    })
    this.log.trace('opened %s stream %s to %p', stream.protocol, stream.id, this.peer)
    this.stream = stream
    return stream
  }

  private resetStream (stream: Stream, err: Error): void {
    if (this.stream === stream) {
      this.stream = undefined
    }
    if (stream.status === 'open') {
      stream.abort(err)
    }
  }

  private closeIdle (): void {
    if (this.running || this.jobs.length > 0) {
      return
    }
    // an idle sender is forgotten; the next message makes a new one
    this.closed = true
    this.network.forgetSender(this.peer, this)
    const stream = this.stream
    this.stream = undefined
    if (stream == null) return
    this.log.trace('closing idle stream to %p', this.peer)
    stream.close({ signal: AbortSignal.timeout(this.network.init.sendTimeout) })
      .catch((err: Error) => { stream.abort(err) })
  }

  /** Drops queued messages and the stream */
  close (err: Error): void {
    this.closed = true
    clearTimeout(this.idleTimer)
    for (const job of this.jobs.splice(0)) {
      job.reject(err)
    }
    const stream = this.stream
    this.stream = undefined
    if (stream != null && stream.status === 'open') {
      stream.abort(err)
    }
  }
}

export class Network {
  readonly components: NetworkComponents
  readonly init: NetworkInit
  private readonly log: Logger
  private readonly handlers: NetworkHandlers
  private readonly senders: PeerMap<PeerSender>
  private readonly connected: PeerSet
  private readonly inbound: Set<Stream>
  /** What inbound streams hold of unfinished messages, per peer and in all */
  readonly budget: InboundBudget
  /** How many messages each peer with an inbound stream may still send now */
  private readonly rate: MessageRate
  /** Peers whose last dial failed, until when they are not dialled, and how many failures in a row */
  private readonly unreachable: PeerMap<{ until: number, failures: number }>
  private registrarIds: string[]
  private running: boolean

  constructor (components: NetworkComponents, init: NetworkInit, handlers: NetworkHandlers) {
    this.components = components
    this.init = init
    this.handlers = handlers
    this.log = components.logger.forComponent('provenir:bitswap:network')
    this.senders = new PeerMap()
    this.connected = new PeerSet()
    this.inbound = new Set()
    this.budget = new InboundBudget(init.maxPeerBufferedBytes, init.maxBufferedBytes)
    this.rate = new MessageRate(init.maxMessageRate)
    this.unreachable = new PeerMap()
    this.registrarIds = []
    this.running = false
    this.handleStream = this.handleStream.bind(this)
  }

  get isRunning (): boolean {
    return this.running
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    for (const protocol of this.init.protocols) {
      await this.components.registrar.handle(protocol, this.handleStream, {
        maxInboundStreams: this.init.maxInboundStreams,
        maxOutboundStreams: this.init.maxOutboundStreams,
        runOnLimitedConnection: this.init.runOnLimitedConnection
      })
    }
    // one topology for every protocol: the filter stops a peer that speaks
    // both protocols from being reported twice
    const seen = new PeerSet()
    const topology: Topology = {
      filter: {
        has: (peer) => seen.has(peer),
        add: (peer) => { seen.add(peer) },
        remove: (peer) => { seen.delete(peer) }
      },
      notifyOnLimitedConnection: this.init.runOnLimitedConnection,
      onConnect: (peer) => {
        this.unreachable.delete(peer)
        if (!this.running || this.connected.has(peer)) return
        this.connected.add(peer)
        this.handlers.onPeerConnect(peer)
      },
      onDisconnect: (peer) => {
        if (!this.connected.has(peer)) return
        this.connected.delete(peer)
        this.senders.get(peer)?.close(new AbortError('Peer disconnected'))
        this.senders.delete(peer)
        this.handlers.onPeerDisconnect(peer)
      }
    }
    for (const protocol of this.init.protocols) {
      this.registrarIds.push(await this.components.registrar.register(protocol, topology))
    }
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    for (const id of this.registrarIds) {
      this.components.registrar.unregister(id)
    }
    this.registrarIds = []
    for (const protocol of this.init.protocols) {
      await this.components.registrar.unhandle(protocol)
    }
    const err = new NotStartedError('Bitswap stopped')
    for (const sender of this.senders.values()) {
      sender.close(err)
    }
    this.senders.clear()
    for (const stream of this.inbound) {
      stream.abort(err)
    }
    this.inbound.clear()
    this.connected.clear()
  }

  /** Peers that speak bitswap and are connected now */
  connectedPeers (): PeerId[] {
    return [...this.connected]
  }

  isConnected (peer: PeerId): boolean {
    return this.connected.has(peer)
  }

  /** @internal called by an idle sender */
  forgetSender (peer: PeerId, sender: PeerSender): void {
    if (this.senders.get(peer) === sender) {
      this.senders.delete(peer)
    }
  }

  /** Whether any connection to `peer` is open (bitswap spoken on it or not) */
  hasConnection (peer: PeerId): boolean {
    return this.components.connectionManager.getConnections(peer).length > 0
  }

  /** Whether a dial to `peer` failed lately and its backoff has not ended */
  isUnreachable (peer: PeerId): boolean {
    const entry = this.unreachable.get(peer)
    return entry != null && entry.until > Date.now()
  }

  /** @internal throws PeerUnreachableError while `peer`'s backoff lasts */
  assertReachable (peer: PeerId): void {
    const entry = this.unreachable.get(peer)
    if (entry != null && entry.until > Date.now()) {
      throw new PeerUnreachableError(`${peer} could not be dialled ${entry.failures} time(s) in a row; not dialling it again for ${entry.until - Date.now()} ms`)
    }
  }

  /** @internal a dial to `peer` failed: back off, doubling with each failure in a row */
  dialFailed (peer: PeerId): void {
    const now = Date.now()
    const failures = (this.unreachable.get(peer)?.failures ?? 0) + 1
    const backoff = Math.min(UNREACHABLE_BACKOFF_MAX, UNREACHABLE_BACKOFF_MIN * 2 ** Math.min(failures - 1, 16))
    this.unreachable.set(peer, { until: now + backoff, failures })
    if (this.unreachable.size > MAX_UNREACHABLE_PEERS) {
      for (const [p, entry] of this.unreachable) {
        if (entry.until <= now) this.unreachable.delete(p)
      }
      // all still backing off: the oldest entry goes
      if (this.unreachable.size > MAX_UNREACHABLE_PEERS) {
        const first = this.unreachable.keys().next().value
        if (first != null) this.unreachable.delete(first)
      }
    }
    this.log('dial to %p failed (%d in a row), backing off %d ms', peer, failures, backoff)
  }

  /**
   * Connects to a peer (a session provider). A peer whose dial failed lately
   * throws PeerUnreachableError at once, without a dial.
   */
  async connect (peer: PeerId, signal: AbortSignal): Promise<void> {
    if (!this.running) throw new NotStartedError('Bitswap is not started')
    if (this.hasConnection(peer)) return
    this.assertReachable(peer)
    try {
      await this.components.connectionManager.openConnection(peer, { signal })
    } catch (err) {
      if (!signal.aborted) this.dialFailed(peer)
      throw err
    }
  }

  /** Aborts every connection to a peer */
  hangUp (peer: PeerId, err: Error): void {
    this.senders.get(peer)?.close(err)
    this.senders.delete(peer)
    for (const conn of this.components.connectionManager.getConnections(peer)) {
      conn.abort(err)
    }
  }

  /**
   * Sends an encoded, length-prefixed message. Messages to one peer are
   * written in order on one stream. Rejects after `sendTimeout` ms or when
   * `signal` aborts.
   */
  async send (peer: PeerId, data: Uint8ArrayList, signal?: AbortSignal): Promise<void> {
    if (!this.running) throw new NotStartedError('Bitswap is not started')
    const timeout = AbortSignal.timeout(this.init.sendTimeout)
    const sendSignal = signal == null ? timeout : AbortSignal.any([signal, timeout])
    let sender = this.senders.get(peer)
    if (sender == null) {
      sender = new PeerSender(this, peer, this.log)
      this.senders.set(peer, sender)
    }
    try {
      await sender.send(data, sendSignal)
    } catch (err: any) {
      if (timeout.aborted && signal?.aborted !== true) {
        throw new TimeoutError(`Sending to ${peer} timed out after ${this.init.sendTimeout} ms`)
      }
      throw err
    }
  }

  private handleStream (stream: Stream, connection: Connection): void {
    if (!this.running) {
      stream.abort(new NotStartedError('Bitswap is not started'))
      return
    }
    const peer = connection.remotePeer
    const decoder = new LengthPrefixedDecoder(this.init.maxMessageSize)
    let processing = false
    let failed = false
    let idleTimer: ReturnType<typeof setTimeout> | undefined
    this.inbound.add(stream)
    const key = peer.toString()
    this.rate.open(key)

    const cleanup = (): void => {
      clearTimeout(idleTimer)
      if (this.inbound.delete(stream)) this.rate.close(key)
      this.budget.release(holder)
    }

    const fail = (err: Error): void => {
      if (failed) return
      failed = true
      cleanup()
      this.log('resetting %s stream %s from %p: %s', stream.protocol, stream.id, peer, err.message)
      stream.abort(err)
      this.handlers.onInboundStreamError(peer, err)
    }
    const holder: BufferHolder = { peer: key, bytes: 0, fail }

    /** Accounts for what this stream holds; resets it, or others, when a bound is broken */
    const account = (): void => {
      const verdict = this.budget.set(holder, decoder.heldBytes)
      if (verdict === 'peer') {
        fail(new PeerBufferLimitError(`${this.budget.heldFor(key)} bytes of unfinished messages held for ${key}, limit ${this.budget.maxPerPeer}`))
      } else if (verdict === 'node') {
        const total = this.budget.held
        for (const victim of this.budget.victims()) {
          victim.fail(new NodeBufferLimitError(`${total} bytes of unfinished messages held over all peers, limit ${this.budget.maxTotal}: resetting the streams holding the most`))
        }
      }
    }

    // one timer per stream, re-armed for the time left rather than on every chunk
    const idleTimeout = this.init.inboundStreamIdleTimeout
    let lastActivity = Date.now()
    const checkIdle = (): void => {
      const idle = Date.now() - lastActivity
      if (idle >= idleTimeout) {
        fail(new StreamIdleTimeoutError(`No data for ${idleTimeout} ms`))
        return
      }
      idleTimer = setTimeout(checkIdle, idleTimeout - idle)
      idleTimer.unref?.()
    }

    /**
     * Handles the whole frames received, one at a time and within the peer's
     * message rate. While an async step runs (e.g. an async hasher) later
     * frames wait in the decoder, in order, counted against the peer's
     * buffer budget. The stream is not paused: a paused yamux stream still
     * takes a whole window of data into its read buffer.
     */
    const pump = (): void => {
      while (!failed && !processing) {
        let frame: Uint8Array | undefined
        let result: void | Promise<void>
        try {
          frame = decoder.next()
          if (frame == null) return
          if (!this.rate.take(key)) {
            throw new MessageRateError(`${key} sent more than ${this.rate.perSecond} messages per second`)
          }
          const message = decodeMessage(frame, this.init)
          result = this.handlers.onMessage(peer, message, frame.byteLength, connection)
        } catch (err: any) {
          fail(err)
          return
        }
        if (result != null) {
          processing = true
          result.then(() => {
            processing = false
            pump()
            if (!failed) account()
          }, (err: Error) => {
            processing = false
            fail(err)
          })
          return
        }
      }
    }

    stream.addEventListener('message', (evt) => {
      if (failed) return
      // any bytes count as activity, so a large message on a slow link is not cut off
      lastActivity = Date.now()
      decoder.append(evt.data)
      pump()
      if (!failed) account()
    })
    stream.addEventListener('close', () => {
      cleanup()
    })
    idleTimer = setTimeout(checkIdle, idleTimeout)
    idleTimer.unref?.()
    // we never write on an inbound stream; a failure here (say the remote
    // reset the stream) is the remote's business, not a violation
    stream.close({ signal: AbortSignal.timeout(this.init.sendTimeout) })
      .catch((err: Error) => { this.log.trace('closing our end of inbound stream %s failed - %s', stream.id, err.message) })
  }
}
