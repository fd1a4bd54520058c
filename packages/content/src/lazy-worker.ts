/**
 * A worker thread started on first use and stopped once idle, that answers
 * each message with one message carrying the same `id`. It never keeps the
 * process alive while idle; a crash fails the calls in flight with
 * `WorkerFailedError`, and the next call starts a new worker.
 *
 * @internal
 */

import { Worker } from 'node:worker_threads'
import type { TransferListItem } from 'node:worker_threads'
import { ProvenirError } from '@provenir/interface'

/** A worker stops once it has had no call for this long, in ms */
export const WORKER_IDLE_MS = 10_000

/** The worker thread failed (it threw outside a call, or exited) */
export class WorkerFailedError extends ProvenirError {
  static override name = 'WorkerFailedError'
  override name = 'WorkerFailedError'
}

/** What a worker answers: the call's id, and an `error` when the call failed */
export interface WorkerAnswer {
  id: number
  error?: { name?: string, message: string, code?: string }
}

/** An error a worker answered with, under its own name and code */
export class WorkerCallError extends ProvenirError {
  static override name = 'WorkerCallError'
  override name = 'WorkerCallError'
  readonly code?: string
  constructor (message: string, code?: string) {
    super(message)
    if (code != null) this.code = code
  }
}

interface Pending {
  resolve(answer: any): void
  reject(err: Error): void
}

export class LazyWorker {
  readonly #url: URL
  readonly #idleMs: number
  readonly #pending = new Map<number, Pending>()
  #worker?: Worker
  #nextId = 0
  #idleTimer?: ReturnType<typeof setTimeout>

  constructor (url: URL, idleMs = WORKER_IDLE_MS) {
    this.#url = url
    this.#idleMs = idleMs
  }

  /**
   * Posts `message` with a fresh `id` and resolves with the worker's answer.
   * What is in `transfer` moves to the worker (it is detached here).
   *
   * @throws WorkerCallError when the worker answers with an error
   * @throws WorkerFailedError when the worker fails or exits first
   */
  async call<A extends WorkerAnswer> (message: Record<string, unknown>, transfer: TransferListItem[] = []): Promise<A> {
    const worker = this.#worker ?? this.#start()
    clearTimeout(this.#idleTimer)
    const id = this.#nextId++
    const answer = new Promise<A>((resolve, reject) => { this.#pending.set(id, { resolve, reject }) })
    // a call in flight holds the process open; an idle worker does not
    worker.ref()
    worker.postMessage({ ...message, id }, transfer)
    return answer
  }

  /** Whether a worker thread is up (started, not yet stopped for idleness or failed) */
  get running (): boolean {
    return this.#worker != null
  }

  /**
   * Starts the worker now if it is not running, so that a call expected soon
   * does not wait for its start (~90 ms on an idle machine): it stops again
   * after the idle time if no call comes.
   */
  warm (): void {
    if (this.#worker != null) return
    this.#start()
    this.#stopWhenIdle()
  }

  #start (): Worker {
    const worker = new Worker(this.#url)
    this.#worker = worker
    worker.unref()
    worker.on('message', (answer: WorkerAnswer) => {
      const call = this.#pending.get(answer.id)
      if (call == null) return
      this.#pending.delete(answer.id)
      if (this.#pending.size === 0) {
        worker.unref()
        this.#stopWhenIdle()
      }
      if (answer.error != null) call.reject(new WorkerCallError(answer.error.message, answer.error.code))
      else call.resolve(answer)
    })
    const gone = (err: Error): void => {
      // a worker stopped for idleness had no call in flight, and exits (code 1) after the next
      // call may have started its successor: the calls pending now are that one's
      if (this.#worker !== worker) return
      this.#worker = undefined
      for (const call of this.#pending.values()) call.reject(err)
      this.#pending.clear()
    }
    worker.on('error', err => { gone(new WorkerFailedError(`worker ${this.#url.pathname} failed: ${err.message}`, { cause: err })) })
    worker.on('exit', code => { gone(new WorkerFailedError(`worker ${this.#url.pathname} exited with code ${code}`)) })
    return worker
  }

  #stopWhenIdle (): void {
    clearTimeout(this.#idleTimer)
    this.#idleTimer = setTimeout(() => {
      const worker = this.#worker
      if (this.#pending.size > 0 || worker == null) return
      this.#worker = undefined
      void worker.terminate()
    }, this.#idleMs)
    this.#idleTimer.unref()
  }
}
