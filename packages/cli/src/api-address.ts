/**
 * `host:port` addresses (the RPC API's, the gateway's): all the RPC client
 * needs from config, without the validators of the whole config.json.
 */
import { isIP } from 'node:net'
import { InvalidConfigError } from '@provenir/interface'

/** A parsed `host:port` */
export interface ApiAddress {
  host: string
  port: number
}

/** Where a running daemon's RPC API answers, as `<repo>/api` says */
export interface ApiEndpoint extends ApiAddress {
  /** The API serves TLS (https) */
  tls?: boolean
  /** The CA file that signed its certificate, for clients to trust (the repo's CA, or `apiTls.ca`) */
  caFile?: string
}

/** Throws InvalidConfigError naming the source (`where`) and the field */
export function fail (where: string, field: string, why: string): never {
  throw new InvalidConfigError(`${where}: "${field}" ${why}`)
}

/**
 * Parse `host:port` (or `[v6]:port`). The host must be an IP literal or
 * `localhost`; the port an integer from 0 to 65535.
 */
export function parseApiAddress (value: unknown, where = 'api', field = 'api'): ApiAddress {
  if (typeof value !== 'string') fail(where, field, `must be a "host:port" string, got ${JSON.stringify(value)}`)
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
  if (m == null) fail(where, field, `must be "host:port" (or "[v6]:port"), got ${JSON.stringify(value)}`)
  const host = m[1] ?? m[2]
  const port = Number(m[3])
  if (m[1] != null ? isIP(host) !== 6 : (isIP(host) !== 4 && host !== 'localhost')) {
    fail(where, field, `host must be an IP address or "localhost", got ${JSON.stringify(host)}`)
  }
  if (port > 65535) fail(where, field, `port must be from 0 to 65535, got ${port}`)
  return { host, port }
}

/** The inverse of `parseApiAddress` */
export function formatApiAddress (address: ApiAddress): string {
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`
}
