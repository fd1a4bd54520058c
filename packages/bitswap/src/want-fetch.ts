/**
 * One `want()` call of a session: its window (slow start up to the session's
 * window), the blocks delivered for it, in the order asked when it wants them
 * ordered, and the caller waiting on them.
 *
 * @internal
 */

import type { BitswapWantProgressEvents, BlockResult, WantOptions } from './index.js'

/** The state of one `want()` call */
export class WantFetch {
  readonly ordered: boolean
  readonly notHeld: boolean
  /** blocks in flight now (slow start), at most `limit` */
  window: number
  readonly limit: number
  readonly onProgress?: (evt: BitswapWantProgressEvents) => void
  outstanding: number
  inputDone: boolean
  closed: boolean
  error?: Error
  lastProgressAt: number
  private readonly ready: BlockResult[]
  private readonly reorder: Map<number, BlockResult>
  private nextIndex: number
  private changed?: PromiseWithResolvers<void>
  private slot?: PromiseWithResolvers<void>

  constructor (options: WantOptions, window: number, initialWindow = window) {
    this.ordered = options.ordered === true
    this.notHeld = options.notHeld === true
    this.limit = window
    this.window = Math.max(1, Math.min(window, initialWindow))
    this.onProgress = options.onProgress
    this.outstanding = 0
    this.inputDone = false
    this.closed = false
    this.lastProgressAt = Date.now()
    this.ready = []
    this.reorder = new Map()
    this.nextIndex = 0
  }

  deliver (index: number, result: BlockResult): void {
    if (this.closed) return
    if (this.ordered) {
      this.reorder.set(index, result)
    } else {
      this.ready.push(result)
    }
    this.lastProgressAt = Date.now()
    this.wake()
  }

  take (): BlockResult | undefined {
    if (this.ordered) {
      const result = this.reorder.get(this.nextIndex)
      if (result != null) {
        this.reorder.delete(this.nextIndex)
        this.nextIndex++
      }
      return result
    }
    return this.ready.shift()
  }

  get hasReady (): boolean {
    return this.ordered ? this.reorder.has(this.nextIndex) : this.ready.length > 0
  }

  fail (err: Error): void {
    if (this.error == null && !this.closed) {
      this.error = err
      this.wake()
    }
  }

  progress (evt: BitswapWantProgressEvents): void {
    try {
      this.onProgress?.(evt)
    } catch {
      // a throwing progress handler must not break the fetch
    }
  }

  wake (): void {
    this.changed?.resolve()
    this.changed = undefined
    this.slot?.resolve()
    this.slot = undefined
  }

  async waitForChange (): Promise<void> {
    this.changed ??= Promise.withResolvers<void>()
    await this.changed.promise
  }

  async waitForSlot (): Promise<void> {
    this.slot ??= Promise.withResolvers<void>()
    await this.slot.promise
  }
}
