/**
 * The content service's events, for the daemon's metrics (and anything else
 * that wants to watch the content path without reaching into it):
 *
 * - `transfer`: bytes a source delivered to a read or a pull. `source` is the
 *   source's own `name` (`local`, `swarm`, and whatever sources a node is
 *   given, e.g. an upstream registry), so a watcher needs no list of them.
 * - `pull`: a whole-image pull (`provenir image pull`) ended, with its result
 *   and how long it took.
 * - `push`: a manifest or a blob was stored through a repository (the
 *   gateway's push path).
 */

/** How a pull ended */
export type PullResult = 'ok' | 'not-found' | 'refused' | 'aborted' | 'error'

export interface TransferDetail {
  /** The name of the source that delivered the bytes */
  source: string
  bytes: number
}

export interface PullDetail {
  manifestDigest: string
  result: PullResult
  seconds: number
}

export interface PushDetail {
  kind: 'manifest' | 'blob'
  bytes: number
}

export interface ContentEvents {
  transfer: CustomEvent<TransferDetail>
  pull: CustomEvent<PullDetail>
  push: CustomEvent<PushDetail>
}

/** Error names that mean "nothing holds it" and "the trust policy refused it" */
const NOT_FOUND = new Set(['ManifestNotFoundError', 'BlobNotFoundError', 'ImageRecordNotFoundError', 'PlatformNotFoundError'])
const REFUSED = new Set(['PolicyViolationError'])

/** The result a pull that threw `err` is counted under; a pull aborted by its caller is `aborted` */
export function pullResult (err: unknown, signal?: AbortSignal): PullResult {
  if (signal?.aborted === true) return 'aborted'
  const name = (err as Error | undefined)?.name ?? ''
  if (NOT_FOUND.has(name)) return 'not-found'
  if (REFUSED.has(name)) return 'refused'
  return 'error'
}
