/**
 * Per-peer accounting and the strategies that decide whom to serve.
 */

import { PeerMap } from '@libp2p/peer-collections'
import { InvalidConfigError } from './errors.js'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** A read-only view of the exchange with one peer */
export interface Ledger {
  /** The peer */
  peer: PeerId
  /** Block bytes we sent to the peer */
  bytesSent: number
  /** Block bytes the peer sent us (verified blocks, including duplicates) */
  bytesReceived: number
  /** Blocks we sent to the peer */
  blocksSent: number
  /** Verified blocks the peer sent us, including duplicates */
  blocksReceived: number
  /** Verified blocks the peer sent us that we already had or no longer wanted */
  duplicateBlocks: number
  /** Want-blocks the strategy declined to serve */
  declined: number
  /** Blocks whose bytes did not match anything we asked this peer for */
  badBlocks: number
  /** Bad blocks, malformed messages and limit violations by this peer */
  penalties: number
  /** When the peer was last penalised (ms since the epoch), or 0 */
  lastPenaltyAt: number
  /** When the peer last sent a bad block (ms since the epoch), or 0 */
  lastBadBlockAt: number
  /** bytesSent / (bytesReceived + 1), the IPFS paper's debt ratio r */
  debtRatio: number
  /** When a block last moved either way (ms since the epoch), or 0 */
  lastExchangeAt: number
}

/** What the engine is about to send */
export interface ServeRequest {
  cid: CID
  /** Size of the block in bytes */
  size: number
  /** 'block' for a want-block, 'have' when a small block would replace a Have */
  wantType: 'block' | 'have'
}

/**
 * Decides, block by block, whether the engine sends a block a peer asked for.
 * A declined want-block is answered with DontHave when the peer asked for
 * DontHave, otherwise it is dropped, so the peer asks someone else.
 */
export interface Strategy {
  readonly name: string
  shouldServe(ledger: Readonly<Ledger>, request: ServeRequest): boolean
}

/** Serve every peer everything it asks for: the right strategy for seeders */
export function serveAll (): Strategy {
  return {
    name: 'serve-all',
    shouldServe: () => true
  }
}

export interface DebtRatioInit {
  /**
   * Source of uniform random numbers in [0, 1). Pass a seeded generator to
   * make decisions reproducible.
   *
   * @default Math.random
   */
  random?(): number
}

/**
 * The probability of sending to a peer with debt ratio r, from the IPFS paper
 * (Benet 2014, section 3.4.2): P(send | r) = 1 − 1 / (1 + exp(6 − 3r)).
 */
export function debtRatioProbability (r: number): number {
  return 1 - 1 / (1 + Math.exp(6 - 3 * r))
}

/**
 * The IPFS paper's debt-ratio strategy: a peer that has taken much more than it
 * gave (r = bytesSent / (bytesReceived + 1)) is served with a probability that
 * falls from ~1 at r = 0 to 0.5 at r = 2 and ~0 past r = 4.
 */
export function debtRatio (init: DebtRatioInit = {}): Strategy {
  const random = init.random ?? Math.random
  if (typeof random !== 'function') {
    throw new InvalidConfigError('debtRatio: random must be a function')
  }
  return {
    name: 'debt-ratio',
    shouldServe: (ledger) => random() < debtRatioProbability(ledger.debtRatio)
  }
}

/** Mutable ledger entry kept by the bitswap node */
class LedgerEntry implements Ledger {
  readonly peer: PeerId
  bytesSent = 0
  bytesReceived = 0
  blocksSent = 0
  blocksReceived = 0
  duplicateBlocks = 0
  declined = 0
  badBlocks = 0
  penalties = 0
  lastPenaltyAt = 0
  lastBadBlockAt = 0
  lastExchangeAt = 0
  /** Last time the peer connected, sent or was sent anything; drives eviction */
  lastSeenAt: number

  constructor (peer: PeerId) {
    this.peer = peer
    this.lastSeenAt = Date.now()
  }

  get debtRatio (): number {
    return this.bytesSent / (this.bytesReceived + 1)
  }

  snapshot (): Ledger {
    return {
      peer: this.peer,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      blocksSent: this.blocksSent,
      blocksReceived: this.blocksReceived,
      duplicateBlocks: this.duplicateBlocks,
      declined: this.declined,
      badBlocks: this.badBlocks,
      penalties: this.penalties,
      lastPenaltyAt: this.lastPenaltyAt,
      lastBadBlockAt: this.lastBadBlockAt,
      debtRatio: this.debtRatio,
      lastExchangeAt: this.lastExchangeAt
    }
  }
}

/**
 * All ledgers, bounded: when full, the ledger of the longest-idle
 * disconnected peer is dropped.
 *
 * @internal
 */
export class Ledgers {
  private readonly entries: PeerMap<LedgerEntry>
  private readonly maxLedgers: number
  private readonly isConnected: (peer: PeerId) => boolean

  constructor (maxLedgers: number, isConnected: (peer: PeerId) => boolean) {
    this.entries = new PeerMap()
    this.maxLedgers = maxLedgers
    this.isConnected = isConnected
  }

  /** The live entry for `peer`, created if absent */
  entry (peer: PeerId): LedgerEntry {
    let entry = this.entries.get(peer)
    if (entry == null) {
      if (this.entries.size >= this.maxLedgers) {
        this.evict()
      }
      entry = new LedgerEntry(peer)
      this.entries.set(peer, entry)
    }
    entry.lastSeenAt = Date.now()
    return entry
  }

  get (peer: PeerId): Ledger | undefined {
    return this.entries.get(peer)?.snapshot()
  }

  /** The live entry without creating one */
  peek (peer: PeerId): Readonly<Ledger> | undefined {
    return this.entries.get(peer)
  }

  all (): Ledger[] {
    return [...this.entries.values()].map(e => e.snapshot())
  }

  sent (peer: PeerId, blocks: number, bytes: number): void {
    const e = this.entry(peer)
    e.blocksSent += blocks
    e.bytesSent += bytes
    e.lastExchangeAt = Date.now()
  }

  received (peer: PeerId, bytes: number, duplicate: boolean): void {
    const e = this.entry(peer)
    e.blocksReceived++
    e.bytesReceived += bytes
    if (duplicate) e.duplicateBlocks++
    e.lastExchangeAt = Date.now()
  }

  declined (peer: PeerId): void {
    this.entry(peer).declined++
  }

  /** Records a violation: a malformed message or a broken limit */
  penalise (peer: PeerId): void {
    const e = this.entry(peer)
    e.penalties++
    e.lastPenaltyAt = Date.now()
  }

  /** Records a bad block, which is also a violation */
  badBlock (peer: PeerId): void {
    const e = this.entry(peer)
    e.badBlocks++
    e.lastBadBlockAt = Date.now()
    this.penalise(peer)
  }

  private evict (): void {
    let victim: LedgerEntry | undefined
    for (const e of this.entries.values()) {
      if (this.isConnected(e.peer)) continue
      if (victim == null || e.lastSeenAt < victim.lastSeenAt) victim = e
    }
    // every ledger belongs to a connected peer: drop the longest idle one
    if (victim == null) {
      for (const e of this.entries.values()) {
        if (victim == null || e.lastSeenAt < victim.lastSeenAt) victim = e
      }
    }
    if (victim != null) {
      this.entries.delete(victim.peer)
    }
  }
}
