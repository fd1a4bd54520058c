/**
 * Resolutions kept for a short while: a reference resolves to a manifest
 * digest again without the network, never past the TTL nor the document's
 * expiry, and at most `max` references (the oldest is dropped first).
 */

import { NAMING_CACHE_MAX_ENTRIES } from './constants.js'
import type { Resolution } from './resolver.js'

export class ResolutionCache {
  private readonly entries = new Map<string, { at: number, resolution: Resolution }>()

  /**
   * @param ttl - how long an entry is served, in ms; 0 caches nothing
   * @param max - @default NAMING_CACHE_MAX_ENTRIES
   * @param now - the clock, for tests
   */
  constructor (private readonly ttl: number, private readonly max = NAMING_CACHE_MAX_ENTRIES, private readonly now = Date.now) {}

  get (reference: string): Resolution | undefined {
    const hit = this.entries.get(reference)
    if (hit == null) return undefined
    const t = this.now()
    if (t - hit.at >= this.ttl || Date.parse(hit.resolution.document.expires) <= t) {
      this.entries.delete(reference)
      return undefined
    }
    return hit.resolution
  }

  set (reference: string, resolution: Resolution): void {
    if (this.ttl <= 0) return
    this.entries.delete(reference)
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string)
    this.entries.set(reference, { at: this.now(), resolution })
  }

  clear (): void { this.entries.clear() }
}
