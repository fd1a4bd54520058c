/**
 * The listener's upload, shared out a few blocks at a time.
 *
 * A server that writes every connection's block at once has TCP share its
 * uplink among all of them: in a rollout's first seconds the origin's 30-odd
 * connections (two per puller) each carry a 1 MiB block at a thirtieth of
 * the link, and at 10 Mbit/s none of them lands for ~27 s; until then the
 * pullers have nothing to pass on to one another and their own uplinks sit
 * idle (BENCHMARKS.md, "The pull's first minute"). Written a few at a time,
 * in the order they asked, the same blocks land one after another from the
 * first second, and the pullers trade them while the origin sends the next.
 *
 * A slot is held until its block was handed to the kernel (the socket
 * drained), or for `lease` ms at most: a client that reads slowly, or not at
 * all, holds its slot no longer than that, and the next block starts beside
 * it.
 */

/** A place in the line for a slot */
export interface SendTicket {
  /** Resolves once the slot is this ticket's (at once when one was free) */
  readonly granted: Promise<void>
  /** Whether the slot is this ticket's already */
  readonly ready: boolean
  /** Gives the slot back, or leaves the line; a second call does nothing */
  release(): void
}

interface Entry {
  ready: boolean
  done: boolean
  grant(): void
  timer?: ReturnType<typeof setTimeout>
}

export class SendSlots {
  readonly #slots: number
  readonly #lease: number
  readonly #line: Entry[] = []
  #busy = 0

  /**
   * @param slots - blocks written at once
   * @param lease - longest a block holds its slot (ms)
   */
  constructor (slots: number, lease: number) {
    this.#slots = slots
    this.#lease = lease
  }

  /** Blocks being written with a slot, and blocks waiting for one (for tests and metrics) */
  get state (): { busy: number, waiting: number } {
    return { busy: this.#busy, waiting: this.#line.length }
  }

  /** Joins the line for a slot; the ticket must be released, whether or not it was granted */
  take (): SendTicket {
    let grant!: () => void
    const granted = new Promise<void>(resolve => { grant = resolve })
    const entry: Entry = { ready: false, done: false, grant }
    if (this.#busy < this.#slots) {
      this.#start(entry)
    } else {
      this.#line.push(entry)
    }
    return {
      granted,
      get ready () { return entry.ready },
      release: () => { this.#end(entry) }
    }
  }

  #start (entry: Entry): void {
    this.#busy++
    entry.ready = true
    entry.timer = setTimeout(() => { this.#free(entry) }, this.#lease)
    entry.timer.unref?.()
    entry.grant()
  }

  /** The entry's slot goes to the next in line; the entry itself may still be writing (its lease ran out) */
  #free (entry: Entry): void {
    if (entry.timer == null) return
    clearTimeout(entry.timer)
    entry.timer = undefined
    this.#busy--
    while (this.#busy < this.#slots && this.#line.length > 0) {
      this.#start(this.#line.shift() as Entry)
    }
  }

  #end (entry: Entry): void {
    if (entry.done) return
    entry.done = true
    if (entry.ready) {
      this.#free(entry)
      return
    }
    const at = this.#line.indexOf(entry)
    if (at >= 0) this.#line.splice(at, 1)
  }
}
