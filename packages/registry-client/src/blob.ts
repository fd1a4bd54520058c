/**
 * A blob download that survives a broken connection: when the body stops
 * short (a reset, a proxy that cuts, a body that stays silent past its
 * timeout) it asks again with `Range: bytes=<received>-` and carries on. A
 * registry that ignores the range (answers 200) has the bytes already held
 * skipped. With `verify`, the last chunk is held back until the whole blob
 * has matched its digest, so a reader never holds all of a bad blob.
 */

import { createHash, type Hash } from 'node:crypto'
import { parseDigest, type AbortOptions, type Digest } from '@provenir/interface'
import { UpstreamDigestMismatchError, UpstreamResponseError, UpstreamUnavailableError } from './errors.js'
import type { HttpResponse } from './http.js'

export interface BlobDownloadOptions extends AbortOptions {
  /** Start at this byte (a range). @default 0 */
  offset?: number
  /**
   * Check the bytes against the digest, holding the last chunk back until
   * they match (only for a download from byte 0). A caller that checks the
   * bytes itself (the node's content service) turns it off. @default true
   */
  verify?: boolean
  /** The size the manifest gives; another size is refused before any byte is read */
  expectedSize?: number
  /** Refuse a blob over this many bytes */
  maxSize?: number
  /** Resumes after a broken connection */
  resumes?: number
}

/** A blob being downloaded */
export interface BlobDownload {
  /** The whole blob's size */
  size: number
  /** The endpoint that serves it */
  endpoint: string
  /** The bytes from `offset` on; reading it drives the download */
  stream: AsyncIterable<Uint8Array>
}

export interface BlobOpener {
  digest: string
  label: string
  resumes: number
  /** Sends the GET, with a `Range` when given; throws for an answer that is not 200 or 206 */
  open(range: string | undefined, signal: AbortSignal): Promise<HttpResponse>
}

/** Starts a download: the first response is in (its size known) before this resolves */
export async function downloadBlob (opener: BlobOpener, options: BlobDownloadOptions & { endpoint: string }): Promise<BlobDownload> {
  const offset = options.offset ?? 0
  const signal = options.signal ?? new AbortController().signal
  const first = await opener.open(offset > 0 ? `bytes=${offset}-` : undefined, signal)
  let size: number
  try {
    size = sizeOf(first, offset, opener.label)
    if (options.expectedSize != null && size !== options.expectedSize) {
      throw new UpstreamResponseError(`${opener.label}: blob ${opener.digest} is ${size} bytes, the manifest says ${options.expectedSize}`)
    }
    if (options.maxSize != null && size > options.maxSize) throw new UpstreamResponseError(`${opener.label}: blob ${opener.digest} is ${size} bytes; at most ${options.maxSize} are read here`)
    if (offset > size) throw new UpstreamResponseError(`${opener.label}: offset ${offset} is past the end of blob ${opener.digest} (${size} bytes)`)
  } catch (err) {
    await first.body.dump().catch(() => {})
    throw err
  }
  const hash = options.verify !== false && offset === 0 ? createHash(parseDigest(opener.digest).algorithm) : undefined
  return { size, endpoint: options.endpoint, stream: stream(opener, first, { offset, size, hash, signal, resumes: options.resumes ?? opener.resumes }) }
}

/** The blob's whole size: Content-Length of a 200, the total of a 206's Content-Range */
function sizeOf (res: HttpResponse, offset: number, label: string): number {
  if (res.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''))
    if (m == null || Number(m[1]) !== offset) throw new UpstreamResponseError(`${label}: a range answer without the Content-Range asked for (${String(res.headers['content-range'])})`)
    return Number(m[3])
  }
  const length = Number(res.headers['content-length'])
  if (!Number.isSafeInteger(length) || length < 0) throw new UpstreamResponseError(`${label}: a blob answer without a Content-Length`)
  return length
}

interface StreamState {
  offset: number
  size: number
  hash?: Hash
  signal: AbortSignal
  resumes: number
}

async function * stream (opener: BlobOpener, first: HttpResponse, state: StreamState): AsyncGenerator<Uint8Array> {
  let res = first
  let pos = state.offset
  // bytes to drop from the front of a 200 that answered a range
  let skip = first.status === 200 ? state.offset : 0
  let resumes = state.resumes
  let held: Uint8Array | undefined
  try {
    while (pos < state.size) {
      try {
        for await (const raw of res.body) {
          let chunk = raw as Uint8Array
          if (skip > 0) {
            const drop = Math.min(skip, chunk.byteLength)
            skip -= drop
            if (drop === chunk.byteLength) continue
            chunk = chunk.subarray(drop)
          }
          if (pos + chunk.byteLength > state.size) throw new UpstreamResponseError(`${opener.label}: blob ${opener.digest} sent more than its ${state.size} bytes`)
          pos += chunk.byteLength
          state.hash?.update(chunk)
          if (held != null) yield held
          held = chunk
        }
        if (pos < state.size) throw new UpstreamUnavailableError(`${opener.label}: blob ${opener.digest} ended at byte ${pos} of ${state.size}`)
      } catch (err: unknown) {
        if (state.signal.aborted || (err as Error).name === 'UpstreamResponseError') throw err
        if (resumes-- <= 0) {
          throw new UpstreamUnavailableError(`${opener.label}: blob ${opener.digest} broke at byte ${pos} of ${state.size} after ${state.resumes} resumes: ${(err as Error).message}`, { cause: err })
        }
        res.body.destroy()
        res = await opener.open(`bytes=${pos}-`, state.signal)
        if (res.status === 206) {
          const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))
          if (m == null || Number(m[1]) !== pos) throw new UpstreamResponseError(`${opener.label}: a resume of blob ${opener.digest} at byte ${pos} answered ${String(res.headers['content-range'])}`)
          skip = 0
        } else {
          skip = pos
        }
      }
    }
    if (state.hash != null) {
      const { algorithm } = parseDigest(opener.digest)
      const got = `${algorithm}:${state.hash.digest('hex')}` as Digest
      if (got !== opener.digest) throw new UpstreamDigestMismatchError(`${opener.label}: blob ${opener.digest} arrived with digest ${got}`)
    }
    if (held != null) yield held
  } finally {
    res.body.destroy()
  }
}
