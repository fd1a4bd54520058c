/**
 * The bytes held for unfinished inbound messages, per peer and over all
 * peers. Each inbound stream holds at most one partial message (up to
 * `maxMessageSize`), but streams are many: 64 streams of two connections,
 * each holding most of a 4 MiB message, took a node from 217 to 490 MiB.
 * Every inbound stream reports what it holds after each chunk; a peer over
 * its share loses the stream that took it over, and when the node is over
 * its total the streams holding the most (of the peer holding the most) are
 * reset until it is back under.
 *
 * @internal
 */

/** One inbound stream's account */
export interface BufferHolder {
  readonly peer: string
  /** bytes held now */
  bytes: number
  /** resets the stream (and releases its account) */
  fail(err: Error): void
}

export type BudgetVerdict = 'ok' | 'peer' | 'node'

export class InboundBudget {
  readonly maxPerPeer: number
  readonly maxTotal: number
  private total: number
  private readonly peers: Map<string, { bytes: number, holders: Set<BufferHolder> }>

  constructor (maxPerPeer: number, maxTotal: number) {
    this.maxPerPeer = maxPerPeer
    this.maxTotal = maxTotal
    this.total = 0
    this.peers = new Map()
  }

  /** Bytes held over all peers */
  get held (): number {
    return this.total
  }

  /** Bytes held for `peer` */
  heldFor (peer: string): number {
    return this.peers.get(peer)?.bytes ?? 0
  }

  /** Records what `holder` holds now; says which bound, if any, is broken */
  set (holder: BufferHolder, bytes: number): BudgetVerdict {
    let account = this.peers.get(holder.peer)
    if (account == null) {
      account = { bytes: 0, holders: new Set() }
      this.peers.set(holder.peer, account)
    }
    account.holders.add(holder)
    const delta = bytes - holder.bytes
    holder.bytes = bytes
    account.bytes += delta
    this.total += delta
    if (account.bytes > this.maxPerPeer) return 'peer'
    if (this.total > this.maxTotal) return 'node'
    return 'ok'
  }

  release (holder: BufferHolder): void {
    const account = this.peers.get(holder.peer)
    if (account == null || !account.holders.delete(holder)) return
    account.bytes -= holder.bytes
    this.total -= holder.bytes
    holder.bytes = 0
    if (account.holders.size === 0) this.peers.delete(holder.peer)
  }

  /**
   * The streams to reset to bring the total back under the limit: the
   * largest holders of the peer holding the most, then of the next.
   */
  victims (): BufferHolder[] {
    const out: BufferHolder[] = []
    let excess = this.total - this.maxTotal
    if (excess <= 0) return out
    const accounts = [...this.peers.values()].sort((a, b) => b.bytes - a.bytes)
    for (const account of accounts) {
      for (const holder of [...account.holders].sort((a, b) => b.bytes - a.bytes)) {
        if (excess <= 0) return out
        if (holder.bytes === 0) continue
        out.push(holder)
        excess -= holder.bytes
      }
    }
    return out
  }
}

/**
 * A token bucket per peer: each message takes a token, and a peer gets
 * `perSecond` tokens a second, holding at most `perSecond`. Every message
 * costs some microseconds however small it is, so without it a peer could
 * keep the event loop busy for seconds with a megabyte of empty messages
 * (4 MiB of zero bytes is four million of them).
 *
 * @internal
 */
/** Peers remembered before those with no stream and a full bucket are swept */
const SWEEP_AT = 1024

export class MessageRate {
  readonly perSecond: number
  private readonly peers: Map<string, { tokens: number, at: number, streams: number }>

  constructor (perSecond: number) {
    this.perSecond = perSecond
    this.peers = new Map()
  }

  /** An inbound stream of `peer` opened */
  open (peer: string, now = Date.now()): void {
    const entry = this.peers.get(peer)
    if (entry != null) {
      entry.streams++
      return
    }
    if (this.peers.size >= SWEEP_AT) this.sweep(now)
    this.peers.set(peer, { tokens: this.perSecond, at: now, streams: 1 })
  }

  /**
   * An inbound stream of `peer` closed. Its bucket stays until it has
   * refilled, so a peer cannot get a full one back by opening a new stream.
   */
  close (peer: string): void {
    const entry = this.peers.get(peer)
    if (entry != null && entry.streams > 0) entry.streams--
  }

  /** Forgets peers with no stream whose bucket has refilled: they lose nothing */
  private sweep (now: number): void {
    for (const [peer, entry] of this.peers) {
      if (entry.streams === 0 && now - entry.at >= 1000) this.peers.delete(peer)
    }
  }

  /** Takes a token for one message of `peer`; false when it has none */
  take (peer: string, now = Date.now()): boolean {
    const entry = this.peers.get(peer)
    if (entry == null) return true
    if (now > entry.at) {
      entry.tokens = Math.min(this.perSecond, entry.tokens + (now - entry.at) * this.perSecond / 1000)
      entry.at = now
    }
    if (entry.tokens < 1) return false
    entry.tokens--
    return true
  }
}
