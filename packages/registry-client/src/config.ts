/**
 * The upstream registries a node fetches from, as a daemon's `config.json`
 * holds them in its `upstream` section:
 *
 * ```json
 * { "registries": [
 *     { "host": "quay.io" },
 *     { "host": "registry.example.org:5000", "endpoints": ["https://mirror.example.org", "https://registry.example.org:5000"],
 *       "ca": "/etc/provenir/example-ca.pem", "credentials": { "authFile": "/etc/provenir/auth.json" }, "unqualified": true }
 *   ],
 *   "dockerHub": true, "tagTtlMs": 300000 }
 * ```
 *
 * - `registries` are in priority order. A name without a host (`alpine`,
 *   `org/app`) is asked of every registry with `unqualified: true`, in that
 *   order, after pins and provenir registries.
 * - Docker Hub (`docker.io`, endpoint `https://registry-1.docker.io`,
 *   unqualified) is added last unless the list names it or `dockerHub` is
 *   false.
 * - `credentials` is `{ "authFile": path }` (that auth.json or docker
 *   config.json only), `{ "helper": name }` (`docker-credential-<name>`), or
 *   `{ "username", "password" }` inline; without it the files podman, skopeo
 *   and docker write are read. A secret is never logged nor echoed in an error.
 *
 * Every field is validated and unknown fields are refused; errors are
 * InvalidConfigError naming the source and the field (`upstream.<field>`).
 */

import { InvalidConfigError, canonicalHost, isRegistryHost, DOCKER_HUB_HOST } from '@provenir/interface'
import { DEFAULT_TAG_TTL_MS, DOCKER_HUB_ENDPOINT, MAX_TAG_TTL_MS, MAX_UPSTREAM_ENDPOINTS, MAX_UPSTREAM_REGISTRIES } from './constants.js'

/** How an upstream's credentials are found */
export type UpstreamCredentialsConfig =
  | { authFile: string }
  | { helper: string }
  | { username: string, password: string }

export interface UpstreamRegistryConfig {
  /** The host names use: `docker.io`, `quay.io`, `127.0.0.1:5590` (canonical: lowercase, Docker Hub's aliases as `docker.io`) */
  host: string
  /** Base URLs tried in order. @default [`https://<host>`] (`https://registry-1.docker.io` for docker.io) */
  endpoints: string[]
  /** A PEM file of CA certificates trusted beside the system's */
  ca?: string
  /** Absent: the files podman, skopeo and docker write */
  credentials?: UpstreamCredentialsConfig
  /** Asked for names without a host. @default true for docker.io, false otherwise */
  unqualified: boolean
}

export interface UpstreamConfig {
  /** In priority order, as configured; {@link effectiveRegistries} adds Docker Hub */
  registries: UpstreamRegistryConfig[]
  /** Add Docker Hub when `registries` does not name it. @default true */
  dockerHub: boolean
  /** How long a tag resolved upstream is reused, in ms (0: ask every time). @default DEFAULT_TAG_TTL_MS (5 min) */
  tagTtlMs: number
}

const UPSTREAM_KEYS = new Set(['registries', 'dockerHub', 'tagTtlMs'])
const REGISTRY_KEYS = new Set(['host', 'endpoints', 'ca', 'credentials', 'unqualified'])

function fail (where: string, field: string, why: string): never {
  throw new InvalidConfigError(`${where}: "${field}" ${why}`)
}

function objectOf (input: unknown, where: string, field: string, known: Set<string>): Record<string, unknown> {
  if (input == null || typeof input !== 'object' || Array.isArray(input)) fail(where, field, 'must be an object')
  const obj = input as Record<string, unknown>
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) fail(where, `${field}.${key}`, `is not a known setting (known: ${[...known].join(', ')})`)
  }
  return obj
}

/** The default endpoint of a host */
export function defaultEndpoint (host: string): string {
  return canonicalHost(host) === DOCKER_HUB_HOST ? DOCKER_HUB_ENDPOINT : `https://${host}`
}

function endpointOf (value: unknown, where: string, field: string): string {
  if (typeof value !== 'string' || value.length > 2048) fail(where, field, `must be an http(s) URL, got ${JSON.stringify(value)}`)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return fail(where, field, `must be an http(s) URL, got ${JSON.stringify(value)}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(where, field, `must be an http(s) URL, got ${JSON.stringify(value)}`)
  // a secret in a URL would end up in logs and errors
  if (url.username !== '' || url.password !== '') fail(where, field, 'must not hold credentials; give them in "credentials"')
  if (url.search !== '' || url.hash !== '') fail(where, field, 'must not have a query or a fragment')
  return url.href.replace(/\/$/, '')
}

function credentialsOf (input: unknown, where: string, field: string): UpstreamCredentialsConfig {
  if (input == null || typeof input !== 'object' || Array.isArray(input)) fail(where, field, 'must be an object: {"authFile"}, {"helper"} or {"username", "password"}')
  const obj = input as Record<string, unknown>
  const keys = Object.keys(obj).sort().join(',')
  const str = (key: string, max: number): string => {
    const v = obj[key]
    if (typeof v !== 'string' || v === '' || v.length > max) fail(where, `${field}.${key}`, `must be a non-empty string of at most ${max} characters`)
    return v
  }
  if (keys === 'authFile') return { authFile: str('authFile', 4096) }
  if (keys === 'helper') {
    const helper = str('helper', 64)
    if (!/^[A-Za-z0-9._-]+$/.test(helper)) fail(where, `${field}.helper`, 'must be a helper name (docker-credential-<name>)')
    return { helper }
  }
  // the secret's value is never echoed
  if (keys === 'password,username') return { username: str('username', 1024), password: str('password', 64 * 1024) }
  return fail(where, field, `must be exactly one of {"authFile"}, {"helper"}, {"username", "password"}; got the fields ${keys === '' ? '(none)' : keys}`)
}

function registryOf (input: unknown, where: string, field: string): UpstreamRegistryConfig {
  const obj = objectOf(input, where, field, REGISTRY_KEYS)
  if (!isRegistryHost(obj.host)) fail(where, `${field}.host`, `must be a registry host as names write it (docker.io, quay.io, 127.0.0.1:5590), got ${JSON.stringify(obj.host)}`)
  const host = canonicalHost(obj.host)
  let endpoints = [defaultEndpoint(host)]
  if (obj.endpoints !== undefined) {
    if (!Array.isArray(obj.endpoints) || obj.endpoints.length === 0 || obj.endpoints.length > MAX_UPSTREAM_ENDPOINTS) {
      fail(where, `${field}.endpoints`, `must be an array of 1 to ${MAX_UPSTREAM_ENDPOINTS} URLs, tried in order`)
    }
    endpoints = obj.endpoints.map((e: unknown, i: number) => endpointOf(e, where, `${field}.endpoints.${i}`))
  }
  const out: UpstreamRegistryConfig = { host, endpoints, unqualified: host === DOCKER_HUB_HOST }
  if (obj.ca !== undefined) {
    if (typeof obj.ca !== 'string' || obj.ca === '' || obj.ca.length > 4096) fail(where, `${field}.ca`, 'must be the path of a PEM file')
    out.ca = obj.ca
  }
  if (obj.credentials !== undefined) out.credentials = credentialsOf(obj.credentials, where, `${field}.credentials`)
  if (obj.unqualified !== undefined) {
    if (typeof obj.unqualified !== 'boolean') fail(where, `${field}.unqualified`, 'must be true or false')
    out.unqualified = obj.unqualified
  }
  return out
}

/** The registries a config makes: its list, then Docker Hub unless the list names it or `dockerHub` is false */
export function effectiveRegistries (config: UpstreamConfig): UpstreamRegistryConfig[] {
  if (!config.dockerHub || config.registries.some(r => r.host === DOCKER_HUB_HOST)) return config.registries
  return [...config.registries, { host: DOCKER_HUB_HOST, endpoints: [DOCKER_HUB_ENDPOINT], unqualified: true }]
}

/**
 * Validates an upstream config (a daemon's `upstream` section), filling in
 * each field's default; Docker Hub is added by {@link effectiveRegistries}.
 *
 * @param where - names the source in errors, normally the config file's path
 * @throws InvalidConfigError naming `where` and the field (`upstream.<field>`)
 */
export function validateUpstreamConfig (input: unknown, where = 'config'): UpstreamConfig {
  const obj = input == null ? {} : objectOf(input, where, 'upstream', UPSTREAM_KEYS)
  const registries: UpstreamRegistryConfig[] = []
  if (obj.registries !== undefined) {
    if (!Array.isArray(obj.registries)) fail(where, 'upstream.registries', 'must be an array of registries, highest priority first')
    if (obj.registries.length > MAX_UPSTREAM_REGISTRIES) fail(where, 'upstream.registries', `holds ${obj.registries.length} registries; at most ${MAX_UPSTREAM_REGISTRIES}`)
    const seen = new Set<string>()
    obj.registries.forEach((r: unknown, i: number) => {
      const parsed = registryOf(r, where, `upstream.registries.${i}`)
      if (seen.has(parsed.host)) fail(where, `upstream.registries.${i}.host`, `names ${parsed.host} a second time`)
      seen.add(parsed.host)
      registries.push(parsed)
    })
  }
  let dockerHub = true
  if (obj.dockerHub !== undefined) {
    if (typeof obj.dockerHub !== 'boolean') fail(where, 'upstream.dockerHub', 'must be true or false')
    dockerHub = obj.dockerHub
  }
  let tagTtlMs = DEFAULT_TAG_TTL_MS
  if (obj.tagTtlMs !== undefined) {
    if (!Number.isInteger(obj.tagTtlMs) || (obj.tagTtlMs as number) < 0 || (obj.tagTtlMs as number) > MAX_TAG_TTL_MS) {
      fail(where, 'upstream.tagTtlMs', `must be an integer from 0 to ${MAX_TAG_TTL_MS}, got ${JSON.stringify(obj.tagTtlMs)}`)
    }
    tagTtlMs = obj.tagTtlMs as number
  }
  return { registries, dockerHub, tagTtlMs }
}
