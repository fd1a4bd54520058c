// Calls to the daemon's RPC API, the same routes the CLI uses, from the page's own origin.

/** An error answer of the API: its name and message, as the CLI prints them */
export class ApiError extends Error {
  constructor (name, message, status) {
    super(message)
    this.name = name
    this.status = status
  }
}

const TIMEOUT_MS = 30_000

async function errorOf (res) {
  try {
    const body = await res.json()
    if (body?.error?.name != null) return new ApiError(body.error.name, body.error.message, res.status)
  } catch {}
  return new ApiError('HttpError', `${res.status} ${res.statusText}`, res.status)
}

/** GET or POST a JSON route; rejects with ApiError */
export async function api (method, url, body, timeout = TIMEOUT_MS) {
  const res = await fetch(url, {
    method,
    headers: body != null ? { 'content-type': 'application/json' } : {},
    body: body != null ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeout)
  })
  if (!res.ok) throw await errorOf(res)
  return res.json()
}

/**
 * POST a streamed route (pull): its NDJSON lines, `progress` to `onLine`,
 * then the `done` line's result, or its `error` line as ApiError
 */
export async function streamed (url, body, onLine) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  if (!res.ok) throw await errorOf(res)
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffered = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffered += value
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffered.slice(0, nl))
      buffered = buffered.slice(nl + 1)
      if (line.event === 'done') return line
      if (line.event === 'error') throw new ApiError(line.error.name, line.error.message)
      onLine?.(line)
    }
  }
  throw new ApiError('StreamError', 'the answer ended before its done line')
}

export function formatBytes (n) {
  if (n == null) return '?'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`
}

export function formatDuration (ms) {
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor(s / 60) % 60}m`
  return `${Math.floor(s / 86400)}d ${Math.floor(s / 3600) % 24}h`
}

export const short = (id) => id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id
