import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { AbortError, InvalidParametersError, ProvenirError } from '@provenir/interface'
import { CustomProgressEvent } from 'progress-events'
import { MAX_WORKERS, PROGRESS_INTERVAL_MS, WORKER_REPORT_INTERVAL_MS } from './constants.js'
import { assertDifficulty, verifyNodeId } from './verify.js'
import type { SearchWorkerData, SearchWorkerMessage } from './worker.js'
import type { PrivateKey } from '@libp2p/interface'
import type { IdentityProgress } from '@provenir/interface'

/** The event `generateIdentity` reports its progress with. */
export type IdentityProgressEvent = CustomProgressEvent<IdentityProgress, 'identity:progress'>

export interface GenerateIdentityOptions {
  /**
   * The swarm difficulty (c1): sha256 of the new NodeId must have at least
   * this many leading zero bits. Expect 2^c1 attempts. An integer from 0 to 64.
   */
  difficulty: number

  /** Cancels the search: every worker is terminated and the promise rejects with an AbortError. */
  signal?: AbortSignal

  /**
   * Receives `identity:progress` events: a few per second while searching,
   * and a final one when the search ends (found or aborted).
   */
  onProgress?(evt: IdentityProgressEvent): void

  /**
   * How many worker threads search at once.
   *
   * @default os.availableParallelism()
   */
  workers?: number
}

/**
 * Make an Ed25519 key whose NodeId (PeerId) meets the S/Kademlia static
 * puzzle: sha256 of the PeerId's multihash bytes has at least `difficulty`
 * leading zero bits.
 *
 * The search runs on `workers` worker threads; each tries keypairs until one
 * qualifies and sends back only its 32-byte seed. This thread rebuilds the
 * key from the seed and checks it again before returning it. Workers are
 * always terminated before the promise settles.
 *
 * `etaSeconds` in the progress events is `expected / rate`: the search is
 * memoryless (each attempt succeeds with probability 2^-c1), so the expected
 * time left does not shrink as attempts accumulate. It is Infinity while no
 * attempt has been counted yet, and 0 in the final event of a successful search.
 *
 * @throws InvalidParametersError when `difficulty` or `workers` is out of range
 * @throws AbortError when `signal` aborts
 */
export async function generateIdentity (options: GenerateIdentityOptions): Promise<PrivateKey> {
  const { difficulty, signal, onProgress } = options ?? {}
  assertDifficulty(difficulty)
  const workers = options.workers ?? availableParallelism()
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new InvalidParametersError(`workers must be an integer from 1 to ${MAX_WORKERS}, got ${String(workers)}`)
  }
  if (signal?.aborted === true) {
    throw abortError(signal)
  }

  const started = performance.now()

  if (difficulty === 0) {
    const key = await generateKeyPair('Ed25519')
    onProgress?.(progressEvent(1, 1, started, true))
    return key
  }

  const seed = await search({ difficulty, workers, signal, onProgress, started })
  const key = await generateKeyPairFromSeed('Ed25519', seed)
  if (!verifyNodeId(peerIdFromPrivateKey(key), difficulty)) {
    // the worker and this thread derive the public key with different code
    // (OpenSSL there, @noble/curves here), so this would be a real bug
    throw new ProvenirError(`identity search returned a key below difficulty ${difficulty}`)
  }
  return key
}

function abortError (signal: AbortSignal): AbortError {
  return new AbortError('identity generation was aborted', { cause: signal.reason })
}

function progressEvent (attempts: number, expected: number, started: number, done: boolean): IdentityProgressEvent {
  const elapsedSeconds = (performance.now() - started) / 1000
  const rate = elapsedSeconds > 0 ? attempts / elapsedSeconds : 0
  const etaSeconds = done ? 0 : rate > 0 ? expected / rate : Number.POSITIVE_INFINITY
  return new CustomProgressEvent<IdentityProgress, 'identity:progress'>('identity:progress', {
    attempts,
    rate,
    expected,
    etaSeconds,
    elapsedSeconds
  })
}

interface SearchInit {
  difficulty: number
  workers: number
  signal?: AbortSignal
  onProgress?(evt: IdentityProgressEvent): void
  started: number
}

async function search (init: SearchInit): Promise<Uint8Array> {
  const { difficulty, signal, onProgress, started } = init
  const expected = 2 ** difficulty
  const pool: Worker[] = []
  let attempts = 0
  let lastProgress = started
  let settled = false

  const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>()

  const emit = (done: boolean): Error | undefined => {
    if (onProgress == null) return undefined
    try {
      onProgress(progressEvent(attempts, expected, started, done))
    } catch (err: unknown) {
      return err instanceof Error ? err : new Error(String(err))
    }
    return undefined
  }

  const finish = (result: { seed: Uint8Array } | { error: Error, aborted?: boolean }): void => {
    if (settled) return
    settled = true
    signal?.removeEventListener('abort', onAbort)
    let error: Error | undefined
    if ('seed' in result) {
      // the final event; a listener that throws fails the call
      error = emit(true)
    } else {
      error = result.error
      if (result.aborted === true) {
        // the final event; the abort stays the reason, whatever the listener does
        emit(false)
      }
    }
    // settle only once every thread has stopped
    void Promise.allSettled(pool.map(async w => w.terminate())).then(() => {
      if (error != null) reject(error)
      else if ('seed' in result) resolve(result.seed)
    })
  }

  const onAbort = (): void => {
    if (signal != null) finish({ error: abortError(signal), aborted: true })
  }
  signal?.addEventListener('abort', onAbort, { once: true })

  const onMessage = (msg: SearchWorkerMessage): void => {
    if (settled) return
    attempts += msg.attempts
    if (msg.type === 'found') {
      finish({ seed: msg.seed })
      return
    }
    const now = performance.now()
    if (now - lastProgress >= PROGRESS_INTERVAL_MS) {
      lastProgress = now
      const error = emit(false)
      if (error != null) finish({ error })
    }
  }

  const workerData: SearchWorkerData = { kind: 'provenir-identity-search', difficulty, reportIntervalMs: WORKER_REPORT_INTERVAL_MS }
  try {
    for (let i = 0; i < init.workers; i++) {
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData, name: `provenir-identity-${i}` })
      pool.push(worker)
      worker.on('message', onMessage)
      worker.on('error', (err: Error) => { finish({ error: err }) })
      worker.on('exit', (code: number) => {
        finish({ error: new ProvenirError(`identity search worker ${i} exited early with code ${code}`) })
      })
    }
  } catch (err: unknown) {
    finish({ error: err instanceof Error ? err : new Error(String(err)) })
  }

  return promise
}
