import { InvalidConfigError, parseJson } from '@provenir/interface'
import { validateNamingConfig } from '@provenir/naming'
import { validateConfig, validateStorageConfig } from '@provenir/node'
import { validateUpstreamConfig } from '@provenir/registry-client'
import { fail, parseApiAddress } from './api-address.js'
import { CONFIG_VERSION, DEFAULT_API, DEFAULT_GATEWAY, MAX_CONFIG_BYTES, MAX_TLS_PATH_LENGTH } from './constants.js'
import { errorCode, readFileBounded } from './fs-util.js'
import type { NamingConfig } from '@provenir/naming'
import type { NodeConfig, StorageConfig } from '@provenir/node'
import type { UpstreamConfig } from '@provenir/registry-client'

/**
 * The contents of `<repo>/config.json`.
 *
 * ```json
 * {
 *   "version": 1,
 *   "node": { "difficulty": 16, "listen": ["/ip4/0.0.0.0/tcp/4101"], ... },
 *   "api": "127.0.0.1:5101",
 *   "apiTls": { "enabled": "auto", "cert": null, "key": null, "ca": null },
 *   "gateway": { "listen": "127.0.0.1:5000", "tls": { "enabled": "auto", "cert": null, "key": null, "ca": null } },
 *   "naming": { "pins": {}, "registries": [], "defaultRegistry": null, "dns": { "servers": [], "timeoutMs": 5000 },
 *               "registry": { "serve": false, "allowClaims": true, "bindings": {} }, "cacheTtlMs": 30000 },
 *   "storage": { "maxSize": null, "highWatermark": 0.9, "lowWatermark": 0.8 },
 *   "upstream": { "registries": [], "dockerHub": true, "tagTtlMs": 300000 }
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
  /** TLS of the RPC API (see `TlsConfig`); the CLI trusts the repo's CA, or `apiTls.ca` */
  apiTls: TlsConfig
  /** The OCI Distribution API gateway (docker, podman and skopeo talk to it) */
  gateway: GatewayConfig
  /** Link names, registries and this node's own registry service (see `NamingConfig` in @provenir/naming) */
  naming: NamingConfig
  /**
   * The store's limits: `maxSize` (bytes, or `"20GB"`; `null`: none) and the
   * watermarks, fractions of it, between which cached content is evicted
   * least recently used first (see `StorageConfig` in @provenir/node).
   * A config.json written before this section existed reads as no limit.
   */
  storage: StorageConfig
  /**
   * Upstream OCI registries in priority order, with Docker Hub last unless
   * `dockerHub` is false (see `UpstreamConfig` in @provenir/registry-client).
   * Relative CA paths start from the repo directory.
   */
  upstream: UpstreamConfig
}

/**
 * TLS of one server (`gateway.tls`, `apiTls`).
 *
 * ```json
 * { "enabled": "auto", "cert": null, "key": null, "ca": null }
 * ```
 */
export interface TlsConfig {
  /**
   * `"auto"`: TLS when the server listens beyond loopback, plain HTTP on
   * loopback (nothing leaves the machine there, and every client works
   * without a CA); `true`: TLS everywhere; `false`: plain HTTP, refused
   * beyond loopback, where the gateway's token would travel in clear text.
   *
   * @default "auto"
   */
  enabled: 'auto' | boolean
  /** PEM certificate (chain) file; relative paths are the repo's. `null`: the repo's own, `<repo>/tls/server.crt` */
  cert: string | null
  /** PEM private key file of `cert`; set with `cert` */
  key: string | null
  /**
   * The CA file that signed `cert`, for clients: `provenir tls ca` prints it
   * and the CLI trusts it. `null` with a configured `cert`: the system's CAs.
   * Only with `cert` (the repo's own certificate comes with the repo's CA).
   */
  ca: string | null
}

export interface GatewayConfig {
  /** TLS of the gateway (see `TlsConfig`) */
  tls: TlsConfig
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
  apiTls?: Partial<TlsConfig>
  gateway?: Partial<GatewayConfig>
  naming?: unknown
  storage?: unknown
  upstream?: unknown
}

const TOP_KEYS = new Set(['version', 'node', 'api', 'apiTls', 'gateway', 'naming', 'storage', 'upstream'])
const GATEWAY_KEYS = new Set(['listen', 'token', 'requireTokenOnLoopback', 'signingKey', 'tls'])
const TLS_KEYS = new Set(['enabled', 'cert', 'key', 'ca'])

function tlsPath (value: unknown, where: string, field: string): string | null {
  if (value == null) return null
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TLS_PATH_LENGTH || value.includes('\0')) {
    fail(where, field, `must be a file path (1 to ${MAX_TLS_PATH_LENGTH} characters) or null`)
  }
  return value
}

/**
 * Validate a TLS section (`field` is `gateway.tls` or `apiTls`) for a server
 * on `listen` (null: no server).
 */
export function validateTlsSection (input: unknown, where: string, field: string, listen: string | null): TlsConfig {
  if (input == null) input = {}
  if (typeof input !== 'object' || Array.isArray(input)) fail(where, field, 'must be an object')
  const obj = input as Record<string, unknown>
  for (const key of Object.keys(obj)) {
    if (!TLS_KEYS.has(key)) fail(where, `${field}.${key}`, `is not a known TLS setting (known: ${[...TLS_KEYS].join(', ')})`)
  }
  const enabled = obj.enabled ?? 'auto'
  if (enabled !== 'auto' && typeof enabled !== 'boolean') fail(where, `${field}.enabled`, `must be "auto", true or false, got ${JSON.stringify(enabled)}`)
  const out: TlsConfig = { enabled, cert: tlsPath(obj.cert, where, `${field}.cert`), key: tlsPath(obj.key, where, `${field}.key`), ca: tlsPath(obj.ca, where, `${field}.ca`) }
  if ((out.cert == null) !== (out.key == null)) fail(where, out.cert == null ? `${field}.cert` : `${field}.key`, `must be set with "${field}.${out.cert == null ? 'key' : 'cert'}"`)
  if (out.ca != null && out.cert == null) fail(where, `${field}.ca`, `is for a configured "${field}.cert"; the repo's own certificate comes with the repo's CA`)
  if (enabled === false && listen != null) {
    const { host } = parseApiAddress(listen, where, field === 'apiTls' ? 'api' : 'gateway.listen')
    if (!['127.0.0.1', '::1', 'localhost'].includes(host)) {
      fail(where, `${field}.enabled`, `is false but the server listens beyond loopback (${host}): tokens and images would travel in clear text; use "auto" or true`)
    }
  }
  return out
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
  const out: GatewayConfig = { listen: listen as string | null, requireTokenOnLoopback: false, signingKey: 'self', tls: validateTlsSection(obj.tls, where, 'gateway.tls', listen as string | null) }
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
  const apiTls = validateTlsSection(obj.apiTls, where, 'apiTls', api as string)
  const gateway = validateGatewaySection(obj.gateway, where)
  const naming = validateNamingConfig(obj.naming, where)
  const storage = validateStorageConfig(obj.storage, where)
  const upstream = validateUpstreamConfig(obj.upstream, where)
  return { version: CONFIG_VERSION, node, api: api as string, apiTls, gateway, naming, storage, upstream }
}

/**
 * A complete config: `init` over the defaults, validated.
 *
 * @throws InvalidConfigError when `init` holds a bad value
 */
export function createRepoConfig (init: RepoConfigInit = {}, where = 'config'): RepoConfig {
  return validateRepoConfig({ version: CONFIG_VERSION, node: init.node ?? {}, api: init.api ?? DEFAULT_API, apiTls: init.apiTls ?? {}, gateway: init.gateway ?? {}, naming: init.naming ?? {}, storage: init.storage ?? {}, upstream: init.upstream ?? {} }, where)
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
