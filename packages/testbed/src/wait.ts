import { TimeoutError } from '@provenir/interface'

export interface WaitOptions {
  /** Give up after this many ms. @default 30000 */
  timeout?: number
  /** Poll every this many ms. @default 50 */
  interval?: number
  /** Included in the TimeoutError's message */
  message?: string
  signal?: AbortSignal
}

/**
 * Poll `condition` until it returns true, or throw a TimeoutError at the
 * deadline. This is how tests wait: on a condition, never on a fixed sleep.
 */
export async function waitFor (condition: () => boolean | Promise<boolean>, options: WaitOptions = {}): Promise<void> {
  const timeout = options.timeout ?? 30_000
  const interval = options.interval ?? 50
  const deadline = Date.now() + timeout
  while (true) {
    options.signal?.throwIfAborted()
    if (await condition()) return
    if (Date.now() >= deadline) {
      throw new TimeoutError(`waitFor: ${options.message ?? 'condition'} not met within ${timeout} ms`)
    }
    await new Promise(resolve => setTimeout(resolve, interval))
  }
}
