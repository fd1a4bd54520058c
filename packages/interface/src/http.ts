/**
 * What the daemon's HTTP servers (the RPC API and the registry gateway) check
 * of every request when they listen on loopback. A web page the user opens
 * can make the browser send requests to 127.0.0.1, either directly (with an
 * `Origin` header) or through DNS rebinding (a name of the page's own that
 * now resolves to 127.0.0.1: the `Host` header still carries that name). No
 * legitimate client of these servers is a browser, so on loopback a request
 * with any `Origin`, or with a `Host` that is not a loopback address, is
 * refused. That also leaves CORS preflights (`OPTIONS` with an `Origin`)
 * unanswered, so no browser is ever allowed a cross-origin request.
 */

import { isIP } from 'node:net'

/** True for a host name or address that only this machine can reach */
export function isLoopbackHost (host: string): boolean {
  const h = host.toLowerCase()
  if (h === 'localhost') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) return h === '::1'
  return false
}

/** The request headers the check reads */
export interface LoopbackRequest {
  host?: string
  origin?: string | string[]
}

/**
 * Why a request to a server listening on loopback port `port` must be
 * refused, or undefined when it may be served: it carries an `Origin`
 * header, or its `Host` is not `127.0.0.1`, `localhost` or `[::1]` with that
 * port.
 */
export function loopbackRefusal (headers: LoopbackRequest, port: number): string | undefined {
  if (headers.origin != null) return `requests from a browser (Origin ${JSON.stringify(headers.origin)}) are refused`
  const host = (headers.host ?? '').toLowerCase()
  const allowed = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]
  if (!allowed.includes(host)) return `Host ${JSON.stringify(headers.host ?? '')} is not this machine's loopback address and port`
  return undefined
}
