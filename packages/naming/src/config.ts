/**
 * The naming service's settings, as a daemon's `config.json` holds them in
 * its `naming` section:
 *
 * ```json
 * { "pins": {}, "registries": [], "defaultRegistry": null, "dns": { "servers": [], "timeoutMs": 5000 },
 *   "registry": { "serve": false, "allowClaims": true, "bindings": {} }, "cacheTtlMs": 30000 }
 * ```
 *
 * Every field is validated and unknown fields are refused, so a typo never
 * silently falls back to a default. Errors are InvalidConfigError naming the
 * source and the field (`naming.<field>`).
 */

import { isIP } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describeValue, InvalidConfigError } from '@provenir/interface'
import { isUserId } from '@provenir/trust'
import {
  DEFAULT_NAMING_CACHE_TTL_MS, DNS_TIMEOUT, MAX_DNS_SERVERS, MAX_NAMING_CACHE_TTL_MS, MAX_NAMING_DNS_TIMEOUT_MS, MAX_NAMING_PINS,
  MAX_NAMING_REGISTRIES, MAX_REGISTRY_BINDINGS, MAX_REGISTRY_SPEC_LENGTH
} from './constants.js'
import { parseRegistryRef } from './reference.js'
import { isLinkName } from './signed.js'

/**
 * A registry as config names it: a NodeId (`12D3KooW...`, dialled through
 * the peer store), a multiaddr ending in `/p2p/<NodeId>`, or a domain whose
 * `_provenir.<domain>` TXT record reads `provenir=<NodeId>`.
 */
export type RegistrySpec = string

/** A parsed {@link RegistrySpec} */
export type ParsedRegistrySpec =
  | { kind: 'node', nodeId: string, addrs: string[] }
  | { kind: 'domain', domain: string }

export interface NamingConfig {
  /** Local pins: link name -> UserId. They beat every registry. @default {} */
  pins: Record<string, string>
  /** Registries asked for link names, highest priority first. @default [] */
  registries: RegistrySpec[]
  /** Asked after `registries`; `null` for none (this node's own registry when it serves one). @default null */
  defaultRegistry: RegistrySpec | null
  /** DNS for registries named by domain */
  dns: NamingDnsConfig
  /** This node as a registry */
  registry: RegistryServeConfig
  /** How long a resolution is reused, in ms; 0 turns the cache off. @default DEFAULT_NAMING_CACHE_TTL_MS (30000) */
  cacheTtlMs: number
}

export interface NamingDnsConfig {
  /** DNS servers (`"127.0.0.1:5353"`, `"[::1]:53"`); the system's when empty. @default [] */
  servers: string[]
  /** Time for one TXT lookup, in ms. @default DNS_TIMEOUT (5000) */
  timeoutMs: number
}

export interface RegistryServeConfig {
  /** Serve `/provenir/names/1.0.0` (also `provenir daemon --registry`). @default false */
  serve: boolean
  /** Accept claims: the first valid claim of a free name wins. @default true */
  allowClaims: boolean
  /** Admin bindings, link name -> UserId; they beat every claim. @default {} */
  bindings: Record<string, string>
}

const NAMING_KEYS = new Set(['pins', 'registries', 'defaultRegistry', 'dns', 'registry', 'cacheTtlMs'])
const DNS_KEYS = new Set(['servers', 'timeoutMs'])
const REGISTRY_KEYS = new Set(['serve', 'allowClaims', 'bindings'])

/** Throws InvalidConfigError naming the source (`where`) and the field */
function fail (where: string, field: string, why: string): never {
  throw new InvalidConfigError(`${where}: "${field}" ${why}`)
}

/**
 * Parse a registry named in config or on the command line.
 *
 * @throws InvalidConfigError naming `where` and `field`
 */
export function parseRegistrySpec (value: unknown, where = 'registry', field = 'registry'): ParsedRegistrySpec {
  if (typeof value !== 'string' || value === '') fail(where, field, `must be a NodeId, a multiaddr ending in /p2p/<NodeId>, or a domain; got ${describeValue(value)}`)
  if (value.length > MAX_REGISTRY_SPEC_LENGTH) fail(where, field, `is over ${MAX_REGISTRY_SPEC_LENGTH} characters`)
  if (value.startsWith('/')) {
    let nodeId: string | undefined
    try {
      const ma = multiaddr(value)
      const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
      if (id != null && value.endsWith(`/p2p/${id}`)) {
        const peer = peerIdFromString(id)
        if (peer.type === 'Ed25519') nodeId = peer.toString()
      }
    } catch (err: any) {
      fail(where, field, `is not a valid multiaddr: ${String(err?.message ?? err)}`)
    }
    if (nodeId == null) fail(where, field, `must end in /p2p/<Ed25519 NodeId>, got ${describeValue(value)}`)
    return { kind: 'node', nodeId, addrs: [value] }
  }
  try {
    const ref = parseRegistryRef(value)
    return ref.kind === 'node' ? { kind: 'node', nodeId: ref.nodeId, addrs: [] } : ref
  } catch {
    return fail(where, field, `must be an Ed25519 NodeId (12D3KooW...), a multiaddr ending in /p2p/<NodeId>, or a domain name; got ${describeValue(value)}`)
  }
}

function objectOf (input: unknown, where: string, field: string, known?: Set<string>): Record<string, unknown> {
  if (input == null) return {}
  if (typeof input !== 'object' || Array.isArray(input)) fail(where, field, 'must be an object')
  const obj = input as Record<string, unknown>
  if (known != null) {
    for (const key of Object.keys(obj)) {
      if (!known.has(key)) fail(where, `${field}.${key}`, `is not a known setting (known: ${[...known].join(', ')})`)
    }
  }
  return obj
}

/** A link name -> UserId map, at most `max` entries */
function nameMap (input: unknown, where: string, field: string, max: number): Record<string, string> {
  const obj = objectOf(input, where, field)
  const entries = Object.entries(obj)
  if (entries.length > max) fail(where, field, `holds ${entries.length} entries; at most ${max}`)
  const out: Record<string, string> = {}
  for (const [name, userId] of entries) {
    if (!isLinkName(name)) fail(where, `${field}.${name}`, 'is not a link name (lowercase letters, digits and inner hyphens, at most 63)')
    if (!isUserId(userId)) fail(where, `${field}.${name}`, `must be a UserId (k51qzi5uqu5...), got ${describeValue(userId)}`)
    out[name] = userId
  }
  return out
}

/** A DNS server: an IP address, or `IP:port` / `[v6]:port` with a port from 1 */
function dnsServer (value: unknown, where: string, field: string): string {
  if (typeof value === 'string' && isIP(value) !== 0) return value
  if (typeof value !== 'string') fail(where, field, `must be an IP address or "IP:port", got ${describeValue(value)}`)
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
  if (m == null) fail(where, field, `must be an IP address or "IP:port" (or "[v6]:port"), got ${describeValue(value)}`)
  const host = m[1] ?? m[2]
  if (m[1] != null ? isIP(host) !== 6 : isIP(host) !== 4) fail(where, field, `host must be an IP address, got ${describeValue(host)}`)
  const port = Number(m[3])
  if (port < 1 || port > 65535) fail(where, field, `port must be from 1 to 65535, got ${port}`)
  return value
}

function registriesOf (input: unknown, where: string): string[] {
  const registries: string[] = []
  if (input === undefined) return registries
  if (!Array.isArray(input)) fail(where, 'naming.registries', 'must be an array of registries, highest priority first')
  if (input.length > MAX_NAMING_REGISTRIES) fail(where, 'naming.registries', `holds ${input.length} registries; at most ${MAX_NAMING_REGISTRIES}`)
  const seen = new Set<string>()
  input.forEach((value: unknown, i: number) => {
    const parsed = parseRegistrySpec(value, where, `naming.registries.${i}`)
    const id = parsed.kind === 'node' ? parsed.nodeId : parsed.domain
    if (seen.has(id)) fail(where, `naming.registries.${i}`, `names ${id} a second time`)
    seen.add(id)
    registries.push(value as string)
  })
  return registries
}

function dnsOf (input: unknown, where: string): NamingDnsConfig {
  const dnsIn = objectOf(input, where, 'naming.dns', DNS_KEYS)
  const servers: string[] = []
  if (dnsIn.servers !== undefined) {
    if (!Array.isArray(dnsIn.servers)) fail(where, 'naming.dns.servers', 'must be an array of "host:port" strings')
    if (dnsIn.servers.length > MAX_DNS_SERVERS) fail(where, 'naming.dns.servers', `holds ${dnsIn.servers.length} servers; at most ${MAX_DNS_SERVERS}`)
    dnsIn.servers.forEach((value: unknown, i: number) => { servers.push(dnsServer(value, where, `naming.dns.servers.${i}`)) })
  }
  let timeoutMs = DNS_TIMEOUT
  if (dnsIn.timeoutMs !== undefined) {
    if (!Number.isInteger(dnsIn.timeoutMs) || (dnsIn.timeoutMs as number) < 100 || (dnsIn.timeoutMs as number) > MAX_NAMING_DNS_TIMEOUT_MS) {
      fail(where, 'naming.dns.timeoutMs', `must be an integer from 100 to ${MAX_NAMING_DNS_TIMEOUT_MS}, got ${describeValue(dnsIn.timeoutMs)}`)
    }
    timeoutMs = dnsIn.timeoutMs as number
  }
  return { servers, timeoutMs }
}

function registryServeOf (input: unknown, where: string): RegistryServeConfig {
  const regIn = objectOf(input, where, 'naming.registry', REGISTRY_KEYS)
  const registry: RegistryServeConfig = { serve: false, allowClaims: true, bindings: {} }
  for (const key of ['serve', 'allowClaims'] as const) {
    if (regIn[key] !== undefined) {
      if (typeof regIn[key] !== 'boolean') fail(where, `naming.registry.${key}`, 'must be true or false')
      registry[key] = regIn[key]
    }
  }
  registry.bindings = nameMap(regIn.bindings, where, 'naming.registry.bindings', MAX_REGISTRY_BINDINGS)
  return registry
}

/**
 * Validate a naming config (a daemon's `naming` section), filling in the
 * defaults.
 *
 * @param where - names the source in errors, normally the config file's path
 * @throws InvalidConfigError naming `where` and the field (`naming.<field>`)
 */
export function validateNamingConfig (input: unknown, where = 'config'): NamingConfig {
  const obj = objectOf(input, where, 'naming', NAMING_KEYS)
  const pins = nameMap(obj.pins, where, 'naming.pins', MAX_NAMING_PINS)
  const registries = registriesOf(obj.registries, where)
  let defaultRegistry: string | null = null
  if (obj.defaultRegistry != null) {
    parseRegistrySpec(obj.defaultRegistry, where, 'naming.defaultRegistry')
    defaultRegistry = obj.defaultRegistry as string
  }
  const dns = dnsOf(obj.dns, where)
  const registry = registryServeOf(obj.registry, where)
  let cacheTtlMs = DEFAULT_NAMING_CACHE_TTL_MS
  if (obj.cacheTtlMs !== undefined) {
    if (!Number.isInteger(obj.cacheTtlMs) || (obj.cacheTtlMs as number) < 0 || (obj.cacheTtlMs as number) > MAX_NAMING_CACHE_TTL_MS) {
      fail(where, 'naming.cacheTtlMs', `must be an integer from 0 to ${MAX_NAMING_CACHE_TTL_MS}, got ${describeValue(obj.cacheTtlMs)}`)
    }
    cacheTtlMs = obj.cacheTtlMs as number
  }
  return { pins, registries, defaultRegistry, dns, registry, cacheTtlMs }
}
