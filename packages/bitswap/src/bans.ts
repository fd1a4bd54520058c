/**
 * Peers that sent a bad block, and until when they are not asked for
 * anything. Kept apart from the ledgers (which are evicted by idleness) so a
 * ban holds for its whole period, across sessions, dials and provider
 * lookups.
 *
 * @internal
 */

import { PeerMap } from '@libp2p/peer-collections'
import type { PeerId } from '@libp2p/interface'

export class BanList {
  private readonly until: PeerMap<number>
  private readonly max: number
  private readonly period: number

  /** `period`: how long a ban lasts (ms); `max`: peers banned at once (the expired go first, then the oldest) */
  constructor (period: number, max: number) {
    this.until = new PeerMap()
    this.period = period
    this.max = max
  }

  ban (peer: PeerId, now = Date.now()): void {
    if (this.period <= 0) return
    // re-inserted, so the map stays in order of ban time
    this.until.delete(peer)
    this.until.set(peer, now + this.period)
    if (this.until.size <= this.max) return
    for (const [p, until] of this.until) {
      if (until <= now) this.until.delete(p)
    }
    while (this.until.size > this.max) {
      const oldest = this.until.keys().next().value
      if (oldest == null) break
      this.until.delete(oldest)
    }
  }

  isBanned (peer: PeerId, now = Date.now()): boolean {
    const until = this.until.get(peer)
    if (until == null) return false
    if (until > now) return true
    this.until.delete(peer)
    return false
  }

  get size (): number {
    return this.until.size
  }
}
