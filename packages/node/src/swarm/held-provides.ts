import type { CID } from 'multiformats/cid'

/**
 * How long a pull holds back each DHT provide it makes (its manifest, each
 * blob's root once the blob's first block is in), in ms. A provide is a DHT
 * query and a record sent to the closest peers, each a stream over libp2p; a
 * pull's first four came within 150 ms of its start, on the event loop its
 * first blocks wait for. Held back 1 s, two daemons' cold pull of 315 MB had
 * its first leaf at 203 ms instead of 250 (medians of 18 pulls each,
 * alternated); the whole pull took the same (the transfer is CPU-bound and
 * the provides still run), and so did the 16-host lab rollout
 * (BENCHMARKS.md). Peers pulling the same image still find this node while
 * it downloads.
 */
export const PULL_PROVIDE_DELAY = 1_000

/**
 * The provides of one pull, each made `delay` ms after it was asked for.
 * Those still held when the pull ends are made then if it succeeded, and
 * dropped if it failed (a failed or refused pull advertises nothing it did
 * not already).
 */
export class HeldProvides {
  readonly #provide: (cid: CID) => void
  readonly #delay: number
  readonly #held = new Map<string, { cid: CID, timer: ReturnType<typeof setTimeout> }>()

  constructor (provide: (cid: CID) => void, delay = PULL_PROVIDE_DELAY) {
    this.#provide = provide
    this.#delay = delay
  }

  add (cid: CID): void {
    const key = cid.toString()
    if (this.#held.has(key)) return
    const timer = setTimeout(() => {
      this.#held.delete(key)
      this.#provide(cid)
    }, this.#delay)
    this.#held.set(key, { cid, timer })
  }

  /** Provide everything still held, now */
  flush (): void {
    for (const { cid, timer } of this.#held.values()) {
      clearTimeout(timer)
      this.#provide(cid)
    }
    this.#held.clear()
  }

  /** Drop everything still held */
  cancel (): void {
    for (const { timer } of this.#held.values()) clearTimeout(timer)
    this.#held.clear()
  }

  /** CIDs waiting to be provided */
  get size (): number {
    return this.#held.size
  }
}
