/**
 * The bitswap node: wires the network, the want manager, the engine,
 * sessions and ledgers together, verifies every received block and keeps the
 * metrics.
 *
 * @internal
 */

import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { sha256, sha512 } from 'multiformats/hashes/sha2'
import * as C from './constants.js'
import { BanList } from './bans.js'
import { Engine } from './engine.js'
import { BadBlockError, BlockTooLargeError, InvalidConfigError, InvalidParametersError, NotStartedError } from './errors.js'
import { Ledgers, serveAll } from './ledger.js'
import { decodeCID, decodePrefix } from './message.js'
import { Network } from './network.js'
import { BitswapSession } from './session.js'
import { Hashers, cidKey } from './utils.js'
import { WantManager } from './want-manager.js'
import type { Bitswap, BitswapComponents, BitswapInit, Session, SessionInit, WantOptions, WantlistEntry } from './index.js'
import type { Ledger, Strategy } from './ledger.js'
import type { CIDPrefix } from './message.js'
import type { Message } from './pb/message.js'
import type { ResolvedSessionInit, WantListener } from './session.js'
import type { Counter, Histogram, Logger, PeerId } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'

/** Bitswap 1.0.0 blocks carry no prefix: they are CIDv0 (dag-pb, sha2-256) */
const V0_PREFIX: CIDPrefix = { version: 0, codec: 0x70, hashCode: 0x12, digestLength: 32 }

interface ResolvedInit {
  protocols: string[]
  strategy: Strategy
  maxMessageSize: number
  maxBlockSize: number
  maxWantlistSize: number
  maxEntriesPerMessage: number
  maxCidSize: number
  maxInboundStreams: number
  maxOutboundStreams: number
  inboundStreamIdleTimeout: number
  maxPeerBufferedBytes: number
  maxBufferedBytes: number
  maxMessageRate: number
  outboundStreamIdleTimeout: number
  openStreamTimeout: number
  sendTimeout: number
  blockstoreTimeout: number
  maxSizeReplaceHasWithBlock: number
  engineConcurrency: number
  maxLedgers: number
  badPeerBackoff: number
  cancelledWantMemory: number
  runOnLimitedConnection: boolean
  session: Required<Omit<SessionInit, 'providers' | 'peers' | 'broadcast' | 'initialWindow'>>
}

function positiveInt (name: string, value: unknown, fallback: number, min = 1): number {
  if (value == null) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidConfigError(`${name} must be an integer >= ${min}, got ${String(value)}`)
  }
  return value
}

function resolveSessionDefaults (init: BitswapInit['session'] = {}): ResolvedInit['session'] {
  return {
    window: positiveInt('session.window', init.window, C.DEFAULT_SESSION_WINDOW),
    wantTimeout: positiveInt('session.wantTimeout', init.wantTimeout, C.DEFAULT_WANT_TIMEOUT),
    stallTimeout: positiveInt('session.stallTimeout', init.stallTimeout, C.DEFAULT_STALL_TIMEOUT),
    maxProviders: positiveInt('session.maxProviders', init.maxProviders, C.DEFAULT_MAX_PROVIDERS),
    providerTimeout: positiveInt('session.providerTimeout', init.providerTimeout, C.DEFAULT_PROVIDER_TIMEOUT),
    providerLookupInterval: positiveInt('session.providerLookupInterval', init.providerLookupInterval, C.DEFAULT_PROVIDER_LOOKUP_INTERVAL, 0)
  }
}

function resolveInit (init: BitswapInit): ResolvedInit {
  const protocols = init.protocols ?? [...C.DEFAULT_PROTOCOLS]
  if (!Array.isArray(protocols) || protocols.length === 0 || protocols.some(p => typeof p !== 'string' || !p.startsWith('/'))) {
    throw new InvalidConfigError('protocols must be a non-empty array of protocol ids')
  }
  const strategy = init.strategy ?? serveAll()
  if (typeof strategy?.shouldServe !== 'function') {
    throw new InvalidConfigError('strategy must have a shouldServe function')
  }
  const maxMessageSize = positiveInt('maxMessageSize', init.maxMessageSize, C.DEFAULT_MAX_MESSAGE_SIZE, 1024)
  const maxBlockSize = positiveInt('maxBlockSize', init.maxBlockSize, C.DEFAULT_MAX_BLOCK_SIZE)
  // a block, its prefix and framing must fit in one message
  if (maxBlockSize > maxMessageSize - 64) {
    throw new InvalidConfigError(`maxBlockSize (${maxBlockSize}) must be at least 64 bytes below maxMessageSize (${maxMessageSize})`)
  }
  const maxPeerBufferedBytes = positiveInt('maxPeerBufferedBytes', init.maxPeerBufferedBytes, Math.max(C.DEFAULT_MAX_PEER_BUFFERED_BYTES, 2 * maxMessageSize))
  const maxBufferedBytes = positiveInt('maxBufferedBytes', init.maxBufferedBytes, Math.max(C.DEFAULT_MAX_BUFFERED_BYTES, maxPeerBufferedBytes))
  // a peer must be able to send one whole message, and the node to take one peer's share
  if (maxPeerBufferedBytes < maxMessageSize) {
    throw new InvalidConfigError(`maxPeerBufferedBytes (${maxPeerBufferedBytes}) must be at least maxMessageSize (${maxMessageSize})`)
  }
  if (maxBufferedBytes < maxPeerBufferedBytes) {
    throw new InvalidConfigError(`maxBufferedBytes (${maxBufferedBytes}) must be at least maxPeerBufferedBytes (${maxPeerBufferedBytes})`)
  }
  if (init.runOnLimitedConnection != null && typeof init.runOnLimitedConnection !== 'boolean') {
    throw new InvalidConfigError('runOnLimitedConnection must be a boolean')
  }
  return {
    protocols,
    strategy,
    maxMessageSize,
    maxBlockSize,
    maxWantlistSize: positiveInt('maxWantlistSize', init.maxWantlistSize, C.DEFAULT_MAX_WANTLIST_SIZE),
    maxEntriesPerMessage: positiveInt('maxEntriesPerMessage', init.maxEntriesPerMessage, C.DEFAULT_MAX_ENTRIES_PER_MESSAGE),
    maxCidSize: positiveInt('maxCidSize', init.maxCidSize, C.DEFAULT_MAX_CID_SIZE, 34),
    maxInboundStreams: positiveInt('maxInboundStreams', init.maxInboundStreams, C.DEFAULT_MAX_INBOUND_STREAMS),
    maxOutboundStreams: positiveInt('maxOutboundStreams', init.maxOutboundStreams, C.DEFAULT_MAX_OUTBOUND_STREAMS),
    inboundStreamIdleTimeout: positiveInt('inboundStreamIdleTimeout', init.inboundStreamIdleTimeout, C.DEFAULT_INBOUND_STREAM_IDLE_TIMEOUT),
    maxPeerBufferedBytes,
    maxBufferedBytes,
    maxMessageRate: positiveInt('maxMessageRate', init.maxMessageRate, C.DEFAULT_MAX_MESSAGE_RATE),
    outboundStreamIdleTimeout: positiveInt('outboundStreamIdleTimeout', init.outboundStreamIdleTimeout, C.DEFAULT_OUTBOUND_STREAM_IDLE_TIMEOUT),
    openStreamTimeout: positiveInt('openStreamTimeout', init.openStreamTimeout, C.DEFAULT_OPEN_STREAM_TIMEOUT),
    sendTimeout: positiveInt('sendTimeout', init.sendTimeout, C.DEFAULT_SEND_TIMEOUT),
    blockstoreTimeout: positiveInt('blockstoreTimeout', init.blockstoreTimeout, C.DEFAULT_BLOCKSTORE_TIMEOUT),
    maxSizeReplaceHasWithBlock: positiveInt('maxSizeReplaceHasWithBlock', init.maxSizeReplaceHasWithBlock, C.DEFAULT_MAX_SIZE_REPLACE_HAS_WITH_BLOCK, 0),
    engineConcurrency: positiveInt('engineConcurrency', init.engineConcurrency, C.DEFAULT_ENGINE_CONCURRENCY),
    maxLedgers: positiveInt('maxLedgers', init.maxLedgers, C.DEFAULT_MAX_LEDGERS),
    badPeerBackoff: positiveInt('badPeerBackoff', init.badPeerBackoff, C.DEFAULT_BAD_PEER_BACKOFF, 0),
    cancelledWantMemory: positiveInt('cancelledWantMemory', init.cancelledWantMemory, C.DEFAULT_CANCELLED_WANT_MEMORY),
    runOnLimitedConnection: init.runOnLimitedConnection ?? false,
    session: resolveSessionDefaults(init.session)
  }
}

interface BitswapMetrics {
  blocksReceived?: Counter
  dataReceived?: Counter
  blocksSent?: Counter
  dataSent?: Counter
  duplicateBlocks?: Counter
  duplicateData?: Counter
  badBlocks?: Counter
  messagesReceived?: Counter
  streamErrors?: Counter
  wantlistOverflow?: Counter
  latency?: Histogram
}

export class BitswapNode implements Bitswap {
  readonly [Symbol.toStringTag] = '@provenir/bitswap'
  readonly [serviceCapabilities]: string[] = ['@provenir/bitswap']
  readonly [serviceDependencies]: string[] = ['@libp2p/identify']

  private readonly components: BitswapComponents
  private readonly init: ResolvedInit
  private readonly log: Logger
  private readonly blockstore: Blockstore
  private readonly hashers: Hashers
  private readonly ledgerBook: Ledgers
  private readonly network: Network
  private readonly wantManager: WantManager
  private readonly engine: Engine
  private readonly metrics: BitswapMetrics
  /** key -> sessions waiting for the block */
  private readonly registry: Map<string, Set<WantListener>>
  /** keys whose block is being stored */
  private readonly storing: Set<string>
  private readonly activeSessions: Set<BitswapSession>
  /** Peers that sent a bad block: asked for nothing, by any session, until their ban ends */
  private readonly bans: BanList
  private started: boolean

  constructor (components: BitswapComponents, init: BitswapInit = {}) {
    this.components = components
    this.init = resolveInit(init)
    const blockstore = init.blockstore ?? components.blockstore
    if (blockstore == null || typeof blockstore.get !== 'function' || typeof blockstore.put !== 'function' || typeof blockstore.has !== 'function') {
      throw new InvalidConfigError('bitswap needs a blockstore (init.blockstore)')
    }
    if (init.hashers != null && (!Array.isArray(init.hashers) || init.hashers.some(h => typeof h?.digest !== 'function' || typeof h.code !== 'number'))) {
      throw new InvalidConfigError('hashers must be an array of multihash hashers')
    }
    this.blockstore = blockstore
    this.log = components.logger.forComponent('provenir:bitswap')
    this.hashers = new Hashers([sha256, sha512, ...(init.hashers ?? [])])
    this.registry = new Map()
    this.storing = new Set()
    this.activeSessions = new Set()
    this.bans = new BanList(this.init.badPeerBackoff, C.MAX_BANNED_PEERS)
    this.started = false

    this.network = new Network(components, this.init, {
      onMessage: (peer, message, size) => this.onMessage(peer, message, size),
      onPeerConnect: (peer) => { this.onPeerConnect(peer) },
      onPeerDisconnect: (peer) => { this.onPeerDisconnect(peer) },
      onInboundStreamError: (peer, err) => { this.onInboundStreamError(peer, err) }
    })
    this.ledgerBook = new Ledgers(this.init.maxLedgers, peer => this.network.isConnected(peer))
    this.wantManager = new WantManager({ network: this.network, logger: components.logger, isBanned: (peer) => this.isBanned(peer) }, {
      maxMessageSize: this.init.maxMessageSize,
      cancelledWantMemory: this.init.cancelledWantMemory,
      recentWantMemory: C.DEFAULT_RECENT_WANT_MEMORY
    })
    this.metrics = this.registerMetrics()
    this.engine = new Engine({
      blockstore,
      network: this.network,
      ledgers: this.ledgerBook,
      logger: components.logger
    }, {
      maxWantlistSize: this.init.maxWantlistSize,
      maxMessageSize: this.init.maxMessageSize,
      maxBlockSize: this.init.maxBlockSize,
      maxCidSize: this.init.maxCidSize,
      maxSizeReplaceHasWithBlock: this.init.maxSizeReplaceHasWithBlock,
      strategy: this.init.strategy,
      blockstoreTimeout: this.init.blockstoreTimeout,
      concurrency: this.init.engineConcurrency,
      onSent: (_peer, blocks, bytes) => {
        this.metrics.blocksSent?.increment(blocks)
        this.metrics.dataSent?.increment(bytes)
      },
      onOverflow: (_peer, dropped) => {
        this.metrics.wantlistOverflow?.increment(dropped)
      }
    })
  }

  private registerMetrics (): BitswapMetrics {
    const m = this.components.metrics
    if (m == null) return {}
    m.registerMetric('provenir_bitswap_wantlist_size', {
      help: 'CIDs we are waiting for',
      calculate: () => this.wantManager.size
    })
    m.registerMetric('provenir_bitswap_peer_wantlist_entries', {
      help: 'Wantlist entries stored for peers, over all peers',
      calculate: () => this.engine.totalWantlistSize
    })
    m.registerMetric('provenir_bitswap_inbound_buffered_bytes', {
      help: 'Bytes of unfinished inbound messages held, over all peers',
      calculate: () => this.network.budget.held
    })
    m.registerMetric('provenir_bitswap_peers', {
      help: 'Connected peers that speak bitswap',
      calculate: () => this.network.connectedPeers().length
    })
    return {
      blocksReceived: m.registerCounter('provenir_bitswap_blocks_received_total', { help: 'Verified blocks received, duplicates included' }),
      dataReceived: m.registerCounter('provenir_bitswap_data_received_bytes_total', { help: 'Bytes of verified blocks received, duplicates included' }),
      blocksSent: m.registerCounter('provenir_bitswap_blocks_sent_total', { help: 'Blocks sent' }),
      dataSent: m.registerCounter('provenir_bitswap_data_sent_bytes_total', { help: 'Bytes of blocks sent' }),
      duplicateBlocks: m.registerCounter('provenir_bitswap_duplicate_blocks_total', { help: 'Blocks received that we already had or no longer wanted' }),
      duplicateData: m.registerCounter('provenir_bitswap_duplicate_data_bytes_total', { help: 'Bytes of duplicate blocks' }),
      badBlocks: m.registerCounter('provenir_bitswap_bad_blocks_total', { help: 'Blocks that matched nothing we asked the sender for' }),
      messagesReceived: m.registerCounter('provenir_bitswap_messages_received_total', { help: 'Messages received' }),
      streamErrors: m.registerCounter('provenir_bitswap_stream_errors_total', { help: 'Inbound streams reset for a broken limit, bad data or idleness' }),
      wantlistOverflow: m.registerCounter('provenir_bitswap_wantlist_overflow_total', { help: 'Wantlist entries dropped because a peer wantlist was full' }),
      latency: m.registerHistogram('provenir_bitswap_session_latency_seconds', {
        help: 'Time from a session wanting a block to receiving it',
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
      })
    }
  }

  // ------------------------------------------------------------ lifecycle

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    if (this.started) return
    this.wantManager.start()
    this.engine.start()
    await this.network.start()
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const session of [...this.activeSessions]) {
      session.close()
    }
    this.activeSessions.clear()
    await this.network.stop()
    this.engine.stop()
    this.wantManager.stop()
    this.registry.clear()
    this.storing.clear()
  }

  // ------------------------------------------------------------ public API

  async want (cid: CID, options: WantOptions = {}): Promise<Uint8Array> {
    if (CID.asCID(cid) == null) throw new InvalidParametersError('want() takes a CID')
    const session = this.createSession({ broadcast: true })
    try {
      for await (const result of session.want([cid], options)) {
        return result.bytes
      }
    } finally {
      session.close()
    }
    throw new InvalidParametersError(`No block for ${cid}`)
  }

  createSession (init: SessionInit = {}): Session {
    if (!this.started) throw new NotStartedError('Bitswap is not started')
    if (init.providers != null && typeof init.providers !== 'function') {
      throw new InvalidConfigError('providers must be a function')
    }
    if (init.peers != null && !Array.isArray(init.peers)) {
      throw new InvalidConfigError('peers must be an array of PeerIds')
    }
    const defaults = this.init.session
    const resolved: ResolvedSessionInit = {
      providers: init.providers,
      peers: init.peers ?? [],
      broadcast: init.broadcast ?? (init.providers == null && (init.peers == null || init.peers.length === 0)),
      window: positiveInt('window', init.window, defaults.window),
      ...(init.initialWindow != null ? { initialWindow: positiveInt('initialWindow', init.initialWindow, 1) } : {}),
      wantTimeout: positiveInt('wantTimeout', init.wantTimeout, defaults.wantTimeout),
      stallTimeout: positiveInt('stallTimeout', init.stallTimeout, defaults.stallTimeout),
      maxProviders: positiveInt('maxProviders', init.maxProviders, defaults.maxProviders),
      providerTimeout: positiveInt('providerTimeout', init.providerTimeout, defaults.providerTimeout),
      providerLookupInterval: positiveInt('providerLookupInterval', init.providerLookupInterval, defaults.providerLookupInterval, 0),
      blockstoreTimeout: this.init.blockstoreTimeout
    }
    return new BitswapSession({
      peerId: this.components.peerId,
      blockstore: this.blockstore,
      hashers: this.hashers,
      logger: this.components.logger,
      wantManager: this.wantManager,
      network: this.network,
      registry: {
        register: (key, cid, priority, listener) => { this.register(key, cid, priority, listener) },
        unregister: (key, listener) => { this.unregister(key, listener) }
      },
      isBanned: (peer) => this.isBanned(peer),
      onLatency: (seconds) => { this.metrics.latency?.observe(seconds) }
    }, resolved, (session, active) => {
      if (active) this.activeSessions.add(session)
      else this.activeSessions.delete(session)
    })
  }

  notify (cids: CID | CID[]): void {
    const list = Array.isArray(cids) ? cids : [cids]
    this.engine.notifyNewBlocks(list.map(cid => cidKey(cid)))
  }

  ledger (peer: PeerId): Ledger | undefined {
    return this.ledgerBook.get(peer)
  }

  ledgers (): Ledger[] {
    return this.ledgerBook.all()
  }

  wantlist (): CID[] {
    return this.wantManager.wantlist()
  }

  peerWantlist (peer: PeerId): WantlistEntry[] | undefined {
    return this.engine.wantlist(peer)
  }

  peers (): PeerId[] {
    return this.network.connectedPeers()
  }

  // ------------------------------------------------------------ want registry

  private register (key: string, cid: CID, priority: number, listener: WantListener): void {
    let listeners = this.registry.get(key)
    if (listeners == null) {
      listeners = new Set()
      this.registry.set(key, listeners)
      this.wantManager.addGlobal(cid, priority)
    }
    listeners.add(listener)
  }

  private unregister (key: string, listener: WantListener): void {
    const listeners = this.registry.get(key)
    if (listeners == null) return
    listeners.delete(listener)
    if (listeners.size === 0) {
      this.registry.delete(key)
      this.wantManager.cancelEverywhere(key)
    }
  }

  isBanned (peer: PeerId): boolean {
    return this.bans.isBanned(peer)
  }

  // ------------------------------------------------------------ network events

  private onPeerConnect (peer: PeerId): void {
    this.log.trace('bitswap peer connected %p', peer)
    this.ledgerBook.entry(peer)
    this.wantManager.peerConnected(peer)
  }

  private onPeerDisconnect (peer: PeerId): void {
    this.log.trace('bitswap peer disconnected %p', peer)
    this.wantManager.peerDisconnected(peer)
    this.engine.peerDisconnected(peer)
    for (const session of [...this.activeSessions]) {
      session.onPeerDisconnect(peer)
    }
  }

  private onInboundStreamError (peer: PeerId, err: Error): void {
    this.metrics.streamErrors?.increment()
    // an idle stream, or one reset because the whole node is short of room, is no fault of the peer's
    if (err.name !== 'StreamIdleTimeoutError' && err.name !== 'NodeBufferLimitError') {
      this.ledgerBook.penalise(peer)
    }
    this.log('reset inbound stream from %p: %s', peer, err.message)
  }

  /**
   * Handles one message. Everything that can be malformed is checked before
   * anything changes; a throw resets the stream it came on.
   */
  private onMessage (peer: PeerId, message: Message, size: number): void | Promise<void> {
    this.metrics.messagesReceived?.increment()
    this.log.trace('message of %d bytes from %p', size, peer)

    // 1. validate
    const maxBlockSize = this.init.maxBlockSize
    const blocks: Array<{ prefix: CIDPrefix, data: Uint8Array }> = []
    for (const block of message.payload) {
      if (block.data.byteLength > maxBlockSize) {
        throw new BlockTooLargeError(`Block of ${block.data.byteLength} bytes exceeds the limit of ${maxBlockSize}`)
      }
      blocks.push({ prefix: decodePrefix(block.prefix), data: block.data })
    }
    for (const data of message.blocks) {
      if (data.byteLength > maxBlockSize) {
        throw new BlockTooLargeError(`Block of ${data.byteLength} bytes exceeds the limit of ${maxBlockSize}`)
      }
      blocks.push({ prefix: V0_PREFIX, data })
    }
    const presences = message.blockPresences.map(p => {
      const cid = decodeCID(p.cid, this.init.maxCidSize)
      return { key: cidKey(cid), have: p.type === 'Have' }
    })

    // 2. the peer's wants (validates its CIDs before applying any)
    if (message.wantlist != null) {
      this.engine.receiveWantlist(peer, message.wantlist)
    }

    // 3. presences
    for (const { key, have } of presences) {
      const listeners = this.registry.get(key)
      if (listeners == null) continue
      for (const listener of [...listeners]) {
        if (have) listener.onHave(peer, key)
        else listener.onDontHave(peer, key)
      }
    }

    // 4. blocks: hash each and check it against what we asked this peer for
    if (blocks.length === 0) return
    const cids: Array<CID | Promise<CID> | Error> = blocks.map(({ prefix, data }) => {
      try {
        return this.hashers.cidOf(prefix, data)
      } catch (err: any) {
        return err
      }
    })
    if (cids.some(c => c instanceof Promise)) {
      return Promise.all(cids.map(async c => {
        try {
          return await c
        } catch (err: any) {
          return err as Error
        }
      })).then(resolved => {
        this.acceptBlocks(peer, blocks, resolved)
      })
    }
    this.acceptBlocks(peer, blocks, cids as Array<CID | Error>)
  }

  private acceptBlocks (peer: PeerId, blocks: Array<{ data: Uint8Array }>, cids: Array<CID | Error>): void {
    let bad: string | undefined
    for (let i = 0; i < blocks.length; i++) {
      const cid = cids[i]
      if (cid instanceof Error) {
        bad = `cannot verify block: ${cid.message}`
        continue
      }
      const key = cidKey(cid)
      if (!this.wantManager.askedFor(peer, key)) {
        bad = `block hashes to ${cid}, which we did not ask for`
        continue
      }
      this.handleBlock(peer, cid, key, blocks[i].data)
    }
    if (bad != null) {
      this.badPeer(peer, bad)
    }
  }

  private handleBlock (peer: PeerId, cid: CID, key: string, data: Uint8Array): void {
    const listeners = this.registry.get(key)
    const duplicate = listeners == null || this.storing.has(key)
    this.ledgerBook.received(peer, data.byteLength, duplicate)
    this.metrics.blocksReceived?.increment()
    this.metrics.dataReceived?.increment(data.byteLength)
    this.wantManager.blockReceived(key, peer)
    if (duplicate) {
      this.metrics.duplicateBlocks?.increment()
      this.metrics.duplicateData?.increment(data.byteLength)
      return
    }
    this.storing.add(key)
    const stored = async (): Promise<void> => {
      // `cid` was computed from `data` above, so a blockstore that verifies
      // on put (provenir's ContentBlockstore reads `verify`) need not hash
      // the block a second time; others ignore the option
      const options = { signal: AbortSignal.timeout(this.init.blockstoreTimeout), verify: false }
      await this.blockstore.put(cid, data, options)
    }
    stored().then(() => {
      this.storing.delete(key)
      for (const listener of [...(this.registry.get(key) ?? [])]) {
        listener.onBlock(peer, key, data)
      }
      this.engine.notifyNewBlocks([key])
    }, (err: Error) => {
      this.storing.delete(key)
      this.log.error('could not store %c - %e', cid, err)
      for (const listener of [...(this.registry.get(key) ?? [])]) {
        listener.onBlockError(key, err)
      }
    })
  }

  reportBadBlock (peer: PeerId, reason: string): void {
    this.badPeer(peer, reason)
  }

  /** A peer sent a block that matches nothing we asked it for: penalise and disconnect it */
  private badPeer (peer: PeerId, reason: string): void {
    this.log.error('bad block from %p (%s): disconnecting', peer, reason)
    this.metrics.badBlocks?.increment()
    this.ledgerBook.badBlock(peer)
    this.bans.ban(peer)
    for (const session of [...this.activeSessions]) {
      session.onBadPeer(peer)
    }
    this.wantManager.peerDisconnected(peer)
    this.engine.peerDisconnected(peer)
    this.network.hangUp(peer, new BadBlockError(reason))
  }
}
