/**
 * @packageDocumentation
 *
 * Shared types, error classes and lifecycle contracts for provenir. This
 * package has almost no dependencies; other provenir packages import only
 * types from each other through it.
 *
 * @example
 *
 * ```ts
 * import { isError } from '@provenir/interface'
 *
 * try {
 *   // ...
 * } catch (err) {
 *   if (isError(err, 'InsufficientDifficultyError')) {
 *     // the peer's NodeId is below the swarm's c1
 *   }
 * }
 * ```
 */

export * from './errors.js'
export * from './grammar.js'
export * from './image-name.js'
export * from './error-table.js'
export * from './http.js'
export * from './json.js'
export type { Startable, AbortOptions, Logger, ComponentLogger, Metrics, Counter, PeerId, PrivateKey } from '@libp2p/interface'
export type { ProgressEvent, ProgressOptions } from 'progress-events'

/** The protocol prefix every provenir protocol lives under. */
export const PROTOCOL_PREFIX = '/provenir'

/** Default swarm difficulty (c1): leading zero bits required of sha256(NodeId). */
export const DEFAULT_DIFFICULTY = 16

/** Default TCP listen address of the swarm */
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/4101']

/**
 * Progress of an identity search (the S/Kademlia static puzzle).
 */
export interface IdentityProgress {
  /** Keypairs tried so far, over all workers */
  attempts: number
  /** Attempts per second since the search began */
  rate: number
  /** Expected attempts for this difficulty: 2^c1 */
  expected: number
  /** Expected seconds left, from the rate and the expected attempts; a geometric tail, so an estimate */
  etaSeconds: number
  /** Seconds since the search began */
  elapsedSeconds: number
}
