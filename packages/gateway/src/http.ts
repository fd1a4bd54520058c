/** Small HTTP helpers: ranges, bodies, tokens, pagination. */

import { timingSafeEqual, createHash } from 'node:crypto'
import { OciError } from './errors.js'
import type { ServerResponse } from 'node:http'

/** Reads a whole body of at most `max` bytes; more is a 413 (checked as it streams). */
export async function readLimited (body: AsyncIterable<Uint8Array>, max: number, tooLarge: () => Error): Promise<Buffer> {
  const parts: Uint8Array[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.byteLength
    if (size > max) throw tooLarge()
    parts.push(chunk)
  }
  return Buffer.concat(parts, size)
}

/** A request `Range: bytes=a-b` against a blob of `size` bytes: [start, end] inclusive, or undefined for no range. */
export function parseRange (header: string | undefined, size: number): { start: number, end: number } | undefined {
  if (header == null) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m == null || (m[1] === '' && m[2] === '')) throw unsatisfiable(size)
  let start: number
  let end: number
  if (m[1] === '') {
    // suffix: the last n bytes
    const n = Number(m[2])
    if (n === 0) throw unsatisfiable(size)
    start = Math.max(0, size - n)
    end = size - 1
  } else {
    start = Number(m[1])
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start > end || start >= size) throw unsatisfiable(size)
  return { start, end }
}

function unsatisfiable (size: number): OciError {
  return new OciError('BLOB_UNKNOWN', 416, 'requested range not satisfiable', { size }, { 'Content-Range': `bytes */${size}` })
}

/** A `Content-Range` of an upload chunk: `<start>-<end>` (with or without a `bytes` prefix). */
export function parseContentRange (header: string): { start: number, end: number } | undefined {
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim())
  if (m == null) return undefined
  const start = Number(m[1])
  const end = Number(m[2])
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined
  return { start, end }
}

function hash (s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/**
 * The token an `Authorization` header carries: `Bearer <token>`, or Basic
 * with the token as password (what `docker login` / `--creds` send).
 */
export function presentedToken (header: string | undefined): string | undefined {
  if (header == null) return undefined
  const bearer = /^Bearer\s+(.+)$/i.exec(header)
  if (bearer != null) return bearer[1].trim()
  const basic = /^Basic\s+(.+)$/i.exec(header)
  if (basic != null) {
    const decoded = Buffer.from(basic[1].trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    return colon >= 0 ? decoded.slice(colon + 1) : undefined
  }
  return undefined
}

/** Constant-time comparison (of hashes, so lengths do not leak). */
export function tokenMatches (given: string | undefined, expected: string): boolean {
  if (given == null) return false
  return timingSafeEqual(hash(given), hash(expected))
}

/** One page of a sorted list after `last`, at most `n` long, and whether more follow. */
export function paginate (items: string[], n: number | undefined, last: string | undefined): { page: string[], more: boolean } {
  let from = 0
  if (last != null) {
    from = items.findIndex(i => i > last)
    if (from < 0) from = items.length
  }
  if (n == null) return { page: items.slice(from), more: false }
  const page = items.slice(from, from + n)
  return { page, more: from + n < items.length }
}

/** Parses `n`: a non-negative integer up to `max`; anything else is a 400. */
export function parseN (value: unknown, max: number): number | undefined {
  if (value == null || value === '') return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0 || String(value).trim() !== String(n)) {
    throw new OciError('UNSUPPORTED', 400, `n must be a non-negative integer, not ${JSON.stringify(value)}`)
  }
  return Math.min(n, max)
}

/**
 * Writes `source` to a response whose head is already written, at most
 * `inflight` chunks ahead of the socket, handing each chunk back to `pool`
 * once the socket has taken it. A source that fails, or a client that goes
 * away, destroys the response, so the client sees a body cut short; a
 * failure is passed to `onError`.
 */
export async function writeReleasing (res: ServerResponse, source: AsyncIterable<Uint8Array>, pool: { release(chunk: Uint8Array): void }, inflight = 2, onError?: (err: Error) => void): Promise<void> {
  const pending = new Set<Promise<void>>()
  try {
    for await (const chunk of source) {
      if (res.destroyed) {
        pool.release(chunk)
        break
      }
      const written = new Promise<void>((resolve, reject) => {
        res.write(chunk, (err) => {
          pool.release(chunk)
          if (err != null) reject(err)
          else resolve()
        })
      })
      pending.add(written)
      written.then(() => pending.delete(written), () => {})
      if (pending.size >= inflight) await Promise.race(pending)
    }
    await Promise.all(pending)
    if (!res.destroyed) res.end()
  } catch (err: any) {
    res.destroy(err)
    onError?.(err)
  }
}
