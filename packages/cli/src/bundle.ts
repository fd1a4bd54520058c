/**
 * Private-swarm bundles: what a node needs to join a private swarm, in one
 * file that `provenir swarm init` writes (mode 0600: it holds the swarm key)
 * and `provenir swarm join` reads.
 *
 * ```json
 * {
 *   "version": 1,
 *   "name": "lab",
 *   "swarmKey": "/key/swarm/psk/1.0.0/\n/base16/\n<64 hex>\n",
 *   "bootstrap": ["/ip4/10.0.0.5/tcp/4101/p2p/12D3KooW..."],
 *   "registries": [{ "id": "12D3KooW...", "priority": 0 }],
 *   "defaultRegistry": "12D3KooW...",
 *   "difficulty": 16
 * }
 * ```
 */
import { isIP } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { parseJson } from '@provenir/interface'
import { MAX_NAMING_REGISTRIES } from '@provenir/naming'
import { parseSwarmKey } from '@provenir/node'
import { MAX_BUNDLE_BOOTSTRAP } from './constants.js'
import { BundleInvalidError } from './errors.js'

export const BUNDLE_VERSION = 1

export interface SwarmBundle {
  version: typeof BUNDLE_VERSION
  /** The swarm's name, for people */
  name: string
  /** The Kubo-format swarm.key, as text */
  swarmKey: string
  /** Addresses of swarm members, each ending in /p2p/<NodeId> */
  bootstrap: string[]
  /** Registries by NodeId; lower priority numbers are asked first */
  registries: Array<{ id: string, priority: number }>
  /** The registry asked after `registries`, or null */
  defaultRegistry: string | null
  /** The swarm difficulty c1 */
  difficulty: number
}

const KEYS = new Set(['version', 'name', 'swarmKey', 'bootstrap', 'registries', 'defaultRegistry', 'difficulty'])
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

function fail (where: string, field: string, why: string): never {
  throw new BundleInvalidError(`${where}: "${field}" ${why}`)
}

function nodeIdOf (value: unknown, where: string, field: string): string {
  if (typeof value === 'string' && value.length <= 128) {
    try {
      const peer = peerIdFromString(value)
      if (peer.type === 'Ed25519') return peer.toString()
    } catch {}
  }
  return fail(where, field, `must be an Ed25519 NodeId (12D3KooW...), got ${JSON.stringify(value)?.slice(0, 80)}`)
}

/** The NodeId an address ends in (`.../p2p/<NodeId>`), or undefined */
export function addrNodeId (addr: string): string | undefined {
  try {
    const id = multiaddr(addr).getComponents().findLast(c => c.name === 'p2p')?.value
    return id != null && addr.endsWith(`/p2p/${id}`) ? id : undefined
  } catch {
    return undefined
  }
}

/**
 * The addresses other nodes can dial this node at, from config: `announce`
 * when set, else `listen`, without unspecified hosts (0.0.0.0, ::) or port 0,
 * each with /p2p/<NodeId>.
 */
export function dialableAddresses (announce: string[], listen: string[], nodeId: string): string[] {
  const out: string[] = []
  for (const text of announce.length > 0 ? announce : listen) {
    let ma
    try {
      ma = multiaddr(text)
    } catch {
      continue
    }
    const parts = ma.getComponents()
    const host = parts.find(c => c.name === 'ip4' || c.name === 'ip6')?.value
    const port = parts.find(c => c.name === 'tcp')?.value
    if (host != null && isIP(host) !== 0 && /^(0\.0\.0\.0|::)$/.test(host)) continue
    if (port === '0') continue
    const withId = text.includes('/p2p/') ? text : `${text}/p2p/${nodeId}`
    if (addrNodeId(withId) === nodeId && !out.includes(withId)) out.push(withId)
  }
  return out
}

/**
 * Validate a parsed bundle.
 *
 * @param where - names the source in errors, normally the file's path
 * @throws BundleInvalidError naming `where` and the field
 */
export function validateBundle (input: unknown, where = 'bundle'): SwarmBundle {
  if (input == null || typeof input !== 'object' || Array.isArray(input)) fail(where, '(root)', 'must be a JSON object')
  const obj = input as Record<string, unknown>
  for (const key of Object.keys(obj)) {
    if (!KEYS.has(key)) fail(where, key, `is not a bundle field (known: ${[...KEYS].join(', ')})`)
  }
  for (const key of KEYS) {
    if (obj[key] === undefined) fail(where, key, 'is required')
  }
  if (obj.version !== BUNDLE_VERSION) fail(where, 'version', `must be ${BUNDLE_VERSION}, got ${JSON.stringify(obj.version)}`)
  if (typeof obj.name !== 'string' || !NAME.test(obj.name)) fail(where, 'name', 'must be 1 to 64 characters of letters, digits, ".", "_" and "-", starting with a letter or digit')
  if (typeof obj.swarmKey !== 'string') fail(where, 'swarmKey', 'must be the text of a swarm.key')
  try {
    parseSwarmKey(new TextEncoder().encode(obj.swarmKey), `${where}: "swarmKey"`)
  } catch (err) {
    throw new BundleInvalidError((err as Error).message)
  }
  if (!Array.isArray(obj.bootstrap) || obj.bootstrap.length === 0) fail(where, 'bootstrap', 'must be a non-empty array of multiaddrs ending in /p2p/<NodeId>')
  if (obj.bootstrap.length > MAX_BUNDLE_BOOTSTRAP) fail(where, 'bootstrap', `holds ${obj.bootstrap.length} addresses; at most ${MAX_BUNDLE_BOOTSTRAP}`)
  obj.bootstrap.forEach((addr: unknown, i: number) => {
    if (typeof addr !== 'string' || addr.length > 1024 || addrNodeId(addr) == null) fail(where, `bootstrap.${i}`, `must be a multiaddr ending in /p2p/<NodeId>, got ${JSON.stringify(addr)?.slice(0, 120)}`)
    nodeIdOf(addrNodeId(addr), where, `bootstrap.${i}`)
  })
  if (!Array.isArray(obj.registries)) fail(where, 'registries', 'must be an array of {"id": NodeId, "priority": integer}')
  if (obj.registries.length > MAX_NAMING_REGISTRIES) fail(where, 'registries', `holds ${obj.registries.length} registries; at most ${MAX_NAMING_REGISTRIES}`)
  const ids = new Set<string>()
  const registries = obj.registries.map((r: unknown, i: number) => {
    if (r == null || typeof r !== 'object' || Array.isArray(r)) fail(where, `registries.${i}`, 'must be {"id": NodeId, "priority": integer}')
    const entry = r as Record<string, unknown>
    for (const key of Object.keys(entry)) {
      if (key !== 'id' && key !== 'priority') fail(where, `registries.${i}.${key}`, 'is not a registry field (known: id, priority)')
    }
    const id = nodeIdOf(entry.id, where, `registries.${i}.id`)
    if (ids.has(id)) fail(where, `registries.${i}.id`, `names ${id} a second time`)
    ids.add(id)
    if (!Number.isInteger(entry.priority) || (entry.priority as number) < 0 || (entry.priority as number) > 1000) fail(where, `registries.${i}.priority`, `must be an integer from 0 to 1000, got ${JSON.stringify(entry.priority)}`)
    return { id, priority: entry.priority as number }
  })
  const defaultRegistry = obj.defaultRegistry === null ? null : nodeIdOf(obj.defaultRegistry, where, 'defaultRegistry')
  if (!Number.isInteger(obj.difficulty) || (obj.difficulty as number) < 0 || (obj.difficulty as number) > 64) fail(where, 'difficulty', `must be an integer from 0 to 64, got ${JSON.stringify(obj.difficulty)}`)
  return {
    version: BUNDLE_VERSION,
    name: obj.name,
    swarmKey: obj.swarmKey,
    bootstrap: [...obj.bootstrap as string[]],
    registries,
    defaultRegistry,
    difficulty: obj.difficulty as number
  }
}

/** Parse and validate a bundle file's text. @throws BundleInvalidError */
export function parseBundle (text: string, where = 'bundle'): SwarmBundle {
  let parsed: unknown
  try {
    parsed = parseJson(text)
  } catch (err) {
    throw new BundleInvalidError(`${where}: not valid JSON: ${(err as Error).message}`)
  }
  return validateBundle(parsed, where)
}
