import { isIP } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidConfigError, parseJson } from '@provenir/interface'
import { DNS_TIMEOUT, isLinkName, parseRegistryRef } from '@provenir/naming'
import { validateConfig } from '@provenir/node'
import { isUserId } from '@provenir/trust'
import { fail, parseApiAddress } from './api-address.js'
import {
  CONFIG_VERSION, DEFAULT_API, DEFAULT_GATEWAY, MAX_CONFIG_BYTES, MAX_DNS_SERVERS, MAX_NAMING_PINS, MAX_NAMING_REGISTRIES,
  MAX_REGISTRY_BINDINGS, MAX_REGISTRY_SPEC_LENGTH, MAX_NAMING_DNS_TIMEOUT_MS, DEFAULT_NAMING_CACHE_TTL_MS, MAX_NAMING_CACHE_TTL_MS
} from './constants.js'
import { errorCode, readFileBounded } from './fs-util.js'
import type { NodeConfig } from '@provenir/node'

/**
 * The contents of `<repo>/config.json`.
 *
 * ```json
 * {
 *   "version": 1,
 *   "node": { "difficulty": 16, "listen": ["/ip4/0.0.0.0/tcp/4101"], ... },
 *   "api": "127.0.0.1:5101",
 *   "gateway": { "listen": "127.0.0.1:5000" },
 *   "naming": { "pins": {}, "registries": [], "defaultRegistry": null, "dns": { "servers": [], "timeoutMs": 5000 },
 *               "registry": { "serve": false, "allowClaims": true, "bindings": {} }, "cacheTtlMs": 30000 }
 * }
 * ```
 *
 * Every field is validated and unknown fields are refused, so a typo never
 * silently falls back to a default.
 */
export interface RepoConfig {
  /** Format version of the file; this package reads and writes 1 */
  version: typeof CONFIG_VERSION
  /** The swarm node's settings, exactly as `createNode` takes them (see `NodeConfig` in @provenir/node) */
  node: NodeConfig
  /**
   * `host:port` the daemon's RPC API listens on (`[v6]:port` for IPv6). Port 0
   * picks a free port; the daemon writes the real one to `<repo>/api`.
   *
   * @default "127.0.0.1:5101"
   */
  api: string
  /** The OCI Distribution API gateway (docker, podman and skopeo talk to it) */
  gateway: GatewayConfig
  /** Link names, registries and this node's own registry service */
  naming: NamingConfig
}

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
  /** Asked after `registries`; `null` for none. @default null */
  defaultRegistry: RegistrySpec | null
  /** DNS for registries named by domain */
  dns: NamingDnsConfig
  /** This node as a registry */
  registry: RegistryServeConfig
  /** How long a resolution is reused, in ms; 0 turns the cache off. @default 30000 */
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

export interface GatewayConfig {
  /**
   * `host:port` the gateway listens on, or `null` to run without one. A host
   * beyond loopback requires `token`.
   *
   * @default "127.0.0.1:5000"
   */
  listen: string | null
  /** Bearer token that push and delete require (skopeo: `--dest-registry-token` or `--dest-creds x:TOKEN`) */
  token?: string
  /**
   * Require the token on loopback too
   *
   * @default false
   */
  requireTokenOnLoopback: boolean
  /**
   * The keystore key that signs every image pushed by tag (an image signature
   * and a layer signature), or `null` to store pushes unsigned. The node key
   * `self` signs by default, so a push is signed with no extra step.
   *
   * @default "self"
   */
  signingKey: string | null
}

/** What `provenir init` may set; everything else takes its default */
export interface RepoConfigInit {
  node?: Partial<NodeConfig>
  api?: string
  gateway?: Partial<GatewayConfig>
  naming?: unknown
}

const TOP_KEYS = new Set(['version', 'node', 'api', 'gateway', 'naming'])
const GATEWAY_KEYS = new Set(['listen', 'token', 'requireTokenOnLoopback', 'signingKey'])
const NAMING_KEYS = new Set(['pins', 'registries', 'defaultRegistry', 'dns', 'registry', 'cacheTtlMs'])
const DNS_KEYS = new Set(['servers', 'timeoutMs'])
const REGISTRY_KEYS = new Set(['serve', 'allowClaims', 'bindings'])

/**
 * Parse a registry named in config or on the command line.
 *
 * @throws InvalidConfigError naming `where` and `field`
 */
export function parseRegistrySpec (value: unknown, where = 'registry', field = 'registry'): ParsedRegistrySpec {
  if (typeof value !== 'string' || value === '') fail(where, field, `must be a NodeId, a multiaddr ending in /p2p/<NodeId>, or a domain; got ${JSON.stringify(value)}`)
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
    if (nodeId == null) fail(where, field, `must end in /p2p/<Ed25519 NodeId>, got ${JSON.stringify(value)}`)
    return { kind: 'node', nodeId, addrs: [value] }
  }
  try {
    const ref = parseRegistryRef(value)
    return ref.kind === 'node' ? { kind: 'node', nodeId: ref.nodeId, addrs: [] } : ref
  } catch {
    return fail(where, field, `must be an Ed25519 NodeId (12D3KooW...), a multiaddr ending in /p2p/<NodeId>, or a domain name; got ${JSON.stringify(value)}`)
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
    if (!isUserId(userId)) fail(where, `${field}.${name}`, `must be a UserId (k51qzi5uqu5...), got ${JSON.stringify(userId)}`)
    out[name] = userId
  }
  return out
}

/** Validate the naming section, naming its fields `naming.<field>` in errors */
function validateNamingSection (input: unknown, where: string): NamingConfig {
  const obj = objectOf(input, where, 'naming', NAMING_KEYS)
  const pins = nameMap(obj.pins, where, 'naming.pins', MAX_NAMING_PINS)
  const registries: string[] = []
  if (obj.registries !== undefined) {
    if (!Array.isArray(obj.registries)) fail(where, 'naming.registries', 'must be an array of registries, highest priority first')
    if (obj.registries.length > MAX_NAMING_REGISTRIES) fail(where, 'naming.registries', `holds ${obj.registries.length} registries; at most ${MAX_NAMING_REGISTRIES}`)
    const seen = new Set<string>()
    obj.registries.forEach((value: unknown, i: number) => {
      const parsed = parseRegistrySpec(value, where, `naming.registries.${i}`)
      const id = parsed.kind === 'node' ? parsed.nodeId : parsed.domain
      if (seen.has(id)) fail(where, `naming.registries.${i}`, `names ${id} a second time`)
      seen.add(id)
      registries.push(value as string)
    })
  }
  let defaultRegistry: string | null = null
  if (obj.defaultRegistry != null) {
    parseRegistrySpec(obj.defaultRegistry, where, 'naming.defaultRegistry')
    defaultRegistry = obj.defaultRegistry as string
  }
  const dnsIn = objectOf(obj.dns, where, 'naming.dns', DNS_KEYS)
  const servers: string[] = []
  if (dnsIn.servers !== undefined) {
    if (!Array.isArray(dnsIn.servers)) fail(where, 'naming.dns.servers', 'must be an array of "host:port" strings')
    if (dnsIn.servers.length > MAX_DNS_SERVERS) fail(where, 'naming.dns.servers', `holds ${dnsIn.servers.length} servers; at most ${MAX_DNS_SERVERS}`)
    dnsIn.servers.forEach((value: unknown, i: number) => {
      const field = `naming.dns.servers.${i}`
      if (typeof value === 'string' && isIP(value) !== 0) {
        servers.push(value)
        return
      }
      const { host, port } = parseApiAddress(value, where, field)
      if (host === 'localhost') fail(where, field, 'must be an IP address, not "localhost"')
      if (port === 0) fail(where, field, 'port must be from 1 to 65535')
      servers.push(value as string)
    })
  }
  let timeoutMs = DNS_TIMEOUT
  if (dnsIn.timeoutMs !== undefined) {
    if (!Number.isInteger(dnsIn.timeoutMs) || (dnsIn.timeoutMs as number) < 100 || (dnsIn.timeoutMs as number) > MAX_NAMING_DNS_TIMEOUT_MS) {
      fail(where, 'naming.dns.timeoutMs', `must be an integer from 100 to ${MAX_NAMING_DNS_TIMEOUT_MS}, got ${JSON.stringify(dnsIn.timeoutMs)}`)
    }
    timeoutMs = dnsIn.timeoutMs as number
  }
  const regIn = objectOf(obj.registry, where, 'naming.registry', REGISTRY_KEYS)
  const registry: RegistryServeConfig = { serve: false, allowClaims: true, bindings: {} }
  for (const key of ['serve', 'allowClaims'] as const) {
    if (regIn[key] !== undefined) {
      if (typeof regIn[key] !== 'boolean') fail(where, `naming.registry.${key}`, 'must be true or false')
      registry[key] = regIn[key]
    }
  }
  registry.bindings = nameMap(regIn.bindings, where, 'naming.registry.bindings', MAX_REGISTRY_BINDINGS)
  let cacheTtlMs = DEFAULT_NAMING_CACHE_TTL_MS
  if (obj.cacheTtlMs !== undefined) {
    if (!Number.isInteger(obj.cacheTtlMs) || (obj.cacheTtlMs as number) < 0 || (obj.cacheTtlMs as number) > MAX_NAMING_CACHE_TTL_MS) {
      fail(where, 'naming.cacheTtlMs', `must be an integer from 0 to ${MAX_NAMING_CACHE_TTL_MS}, got ${JSON.stringify(obj.cacheTtlMs)}`)
    }
    cacheTtlMs = obj.cacheTtlMs as number
  }
  return { pins, registries, defaultRegistry, dns: { servers, timeoutMs }, registry, cacheTtlMs }
}

/** Validate the gateway section, naming its fields `gateway.<field>` in errors */
function validateGatewaySection (input: unknown, where: string): GatewayConfig {
  if (input == null) input = {}
  if (typeof input !== 'object' || Array.isArray(input)) fail(where, 'gateway', 'must be an object')
  const obj = input as Record<string, unknown>
  for (const key of Object.keys(obj)) {
    if (!GATEWAY_KEYS.has(key)) fail(where, `gateway.${key}`, `is not a known gateway setting (known: ${[...GATEWAY_KEYS].join(', ')})`)
  }
  const listen = obj.listen === undefined ? DEFAULT_GATEWAY : obj.listen
  if (listen !== null) parseApiAddress(listen, where, 'gateway.listen')
  const out: GatewayConfig = { listen: listen as string | null, requireTokenOnLoopback: false, signingKey: 'self' }
  if (obj.signingKey !== undefined) {
    if (obj.signingKey !== null && (typeof obj.signingKey !== 'string' || !/^[a-zA-Z0-9._-]{1,64}$/.test(obj.signingKey))) {
      fail(where, 'gateway.signingKey', 'must be the name of a keystore key ([a-zA-Z0-9._-], at most 64 characters) or null')
    }
    out.signingKey = obj.signingKey as string | null
  }
  if (obj.token !== undefined) {
    if (typeof obj.token !== 'string' || !/^[\x21-\x7e]{16,512}$/.test(obj.token)) {
      fail(where, 'gateway.token', 'must be 16 to 512 printable ASCII characters without spaces')
    }
    out.token = obj.token
  }
  if (obj.requireTokenOnLoopback !== undefined) {
    if (typeof obj.requireTokenOnLoopback !== 'boolean') fail(where, 'gateway.requireTokenOnLoopback', 'must be true or false')
    out.requireTokenOnLoopback = obj.requireTokenOnLoopback
  }
  if (out.requireTokenOnLoopback && out.token == null) fail(where, 'gateway.requireTokenOnLoopback', 'needs "gateway.token"')
  if (listen !== null && out.token == null) {
    const { host } = parseApiAddress(listen, where, 'gateway.listen')
    if (!['127.0.0.1', '::1', 'localhost'].includes(host)) {
      fail(where, 'gateway.listen', `is not a loopback address (${host}), so "gateway.token" is required: anyone who can push can make the node sign`)
    }
  }
  return out
}

/** Validate the node section, naming its fields `node.<field>` in errors */
function validateNodeSection (input: unknown, where: string): NodeConfig {
  if (input != null && (typeof input !== 'object' || Array.isArray(input))) fail(where, 'node', 'must be an object')
  try {
    return validateConfig(input ?? {}, where)
  } catch (err: any) {
    if (err?.name === 'InvalidConfigError' && typeof err.message === 'string' && err.message.startsWith(`${where}: "`)) {
      err.message = `${where}: "node.${err.message.slice(where.length + 3)}`
    }
    throw err
  }
}

/**
 * Validate a parsed config.json. Missing `node` fields and a missing `api`
 * take their defaults; `version` is required.
 *
 * @param where - names the source in errors, normally the file's path
 * @throws InvalidConfigError naming `where` and the field
 */
export function validateRepoConfig (input: unknown, where = 'config.json'): RepoConfig {
  if (input == null || typeof input !== 'object' || Array.isArray(input)) fail(where, '(root)', 'must be a JSON object')
  const obj = input as Record<string, unknown>
  for (const key of Object.keys(obj)) {
    if (!TOP_KEYS.has(key)) fail(where, key, `is not a known setting (known: ${[...TOP_KEYS].join(', ')})`)
  }
  if (obj.version === undefined) fail(where, 'version', `is required (this provenir writes ${CONFIG_VERSION})`)
  if (obj.version !== CONFIG_VERSION) {
    fail(where, 'version', `must be ${CONFIG_VERSION}, got ${JSON.stringify(obj.version)}; this provenir cannot read that config format`)
  }
  const node = validateNodeSection(obj.node, where)
  const api = obj.api ?? DEFAULT_API
  parseApiAddress(api, where, 'api')
  const gateway = validateGatewaySection(obj.gateway, where)
  const naming = validateNamingSection(obj.naming, where)
  return { version: CONFIG_VERSION, node, api: api as string, gateway, naming }
}

/**
 * A complete config: `init` over the defaults, validated.
 *
 * @throws InvalidConfigError when `init` holds a bad value
 */
export function createRepoConfig (init: RepoConfigInit = {}, where = 'config'): RepoConfig {
  return validateRepoConfig({ version: CONFIG_VERSION, node: init.node ?? {}, api: init.api ?? DEFAULT_API, gateway: init.gateway ?? {}, naming: init.naming ?? {} }, where)
}

/** config.json's text: the whole config, every default spelled out, so operators can see what they may change */
export function serializeConfig (config: RepoConfig): string {
  return JSON.stringify(config, null, 2) + '\n'
}

/**
 * Read and validate a config.json.
 *
 * A missing file rejects with the filesystem's ENOENT error, for the caller
 * to map (`openRepo` turns it into RepoNotFoundError).
 *
 * @throws InvalidConfigError naming the file (and the field) when it is too large, not JSON or invalid
 */
export async function loadConfig (file: string): Promise<RepoConfig> {
  let bytes: Buffer
  try {
    bytes = await readFileBounded(file, MAX_CONFIG_BYTES, m => new InvalidConfigError(m))
  } catch (err) {
    if (errorCode(err) === 'EISDIR') throw new InvalidConfigError(`${file}: is a directory, not a config file`)
    throw err
  }
  let parsed: unknown
  try {
    parsed = parseJson(bytes)
  } catch (err: any) {
    throw new InvalidConfigError(`${file}: not valid JSON: ${err?.message ?? String(err)}`)
  }
  return validateRepoConfig(parsed, file)
}
