/**
 * The container runtimes' mirror configs for a provenir node, with the
 * upstream kept as the fallback when the node is down:
 *
 * - containerd: one `hosts.toml` per registry host
 *   (`/etc/containerd/certs.d/<host>/hosts.toml`): the node first (containerd
 *   adds `?ns=<host>` to a mirror's requests), then the upstream's endpoints;
 * - podman and CRI-O: a `registries.conf` drop-in
 *   (`/etc/containers/registries.conf.d/50-provenir.conf`): a `[[registry]]`
 *   per host, its `location` the upstream, with the node as the first
 *   `[[registry.mirror]]` at `<gateway>/<host>` (the gateway reads the
 *   upstream from that first path component, `mirrorPrefix`);
 * - docker: `registry-mirrors` in `/etc/docker/daemon.json` (Docker Hub
 *   only; docker falls back to Docker Hub by itself), the rest of the file
 *   kept as it was.
 *
 * Writing keeps what was there as `<file>.<time>.provenir.bak`.
 */

import fs from 'node:fs/promises'
import path from 'node:path'
import { DOCKER_HUB_HOST, InvalidParametersError, canonicalHost, mirrorPrefix } from '@provenir/interface'
import { PLAIN_FILE_MODE } from './constants.js'
import { writeFileAtomic } from './fs-util.js'

export type Runtime = 'containerd' | 'podman' | 'docker'

/** An upstream registry as the mirror configs name it */
export interface MirroredRegistry {
  host: string
  /** Endpoint URLs, in order */
  endpoints: string[]
  /** Absolute path of the CA file the node trusts for it */
  ca?: string
}

/** One file to write */
export interface MirrorFile {
  path: string
  content: string
  /** What the runtime needs besides the file */
  note?: string
}

export const DEFAULT_CONTAINERD_DIR = '/etc/containerd/certs.d'
export const DEFAULT_REGISTRIES_CONF = '/etc/containers/registries.conf.d/50-provenir.conf'
export const DEFAULT_DOCKER_DAEMON_JSON = '/etc/docker/daemon.json'

const toml = (s: string): string => JSON.stringify(s)

/** containerd's hosts.toml for one registry host */
export function containerdHostsToml (registry: MirroredRegistry, gateway: URL): string {
  const [first] = registry.endpoints
  const lines = [
    `# Written by \`provenir mirror config containerd\`: pulls of ${registry.host} go through the`,
    '# provenir node first; when it cannot answer, containerd asks the upstream.',
    `server = ${toml(first)}`,
    ...(registry.ca != null ? [`ca = ${toml(registry.ca)}`] : []),
    '',
    `[host.${toml(gateway.origin)}]`,
    '  capabilities = ["pull", "resolve"]'
  ]
  // more than one endpoint: each after the node, in order (`server` is tried last)
  if (registry.endpoints.length > 1) {
    for (const endpoint of registry.endpoints) {
      lines.push('', `[host.${toml(endpoint)}]`, '  capabilities = ["pull", "resolve"]', ...(registry.ca != null ? [`  ca = ${toml(registry.ca)}`] : []))
    }
  }
  return lines.join('\n') + '\n'
}

/** A registries.conf `location`: host[:port][/path] of a URL */
function location (endpoint: string): string {
  const url = new URL(endpoint)
  return `${url.host}${url.pathname.replace(/\/$/, '')}`
}

/** The podman/CRI-O registries.conf drop-in for the registries */
export function registriesConf (registries: MirroredRegistry[], gateway: URL): string {
  const lines = [
    '# Written by `provenir mirror config podman`: pulls of these registries go through',
    '# the provenir node first, then the upstream. A CA the upstream needs goes in',
    '# /etc/containers/certs.d/<host>/ca.crt.'
  ]
  for (const r of registries) {
    const prefix = mirrorPrefix(r.host)
    if (prefix == null) throw new InvalidParametersError(`podman cannot name ${r.host} in a mirror location (an IPv6 host); leave it out with --registry`)
    const [first, ...rest] = r.endpoints
    // Docker Hub's location is docker.io: containers/image knows its real endpoint
    const upstream = r.host === DOCKER_HUB_HOST && first === 'https://registry-1.docker.io' ? DOCKER_HUB_HOST : location(first)
    lines.push('', '[[registry]]', `prefix = ${toml(r.host)}`, `location = ${toml(upstream)}`)
    if (first.startsWith('http:')) lines.push('insecure = true')
    lines.push('', '[[registry.mirror]]', `location = ${toml(`${gateway.host}${gateway.pathname.replace(/\/$/, '')}/${prefix}`)}`)
    if (gateway.protocol === 'http:') lines.push('insecure = true')
    for (const endpoint of rest) {
      lines.push('', '[[registry.mirror]]', `location = ${toml(location(endpoint))}`)
      if (endpoint.startsWith('http:')) lines.push('insecure = true')
    }
  }
  return lines.join('\n') + '\n'
}

const LOOPBACK = /^(127\.|localhost$|\[::1\]$)/

/** docker's daemon.json with the node first among `registry-mirrors`; every other setting kept */
export function dockerDaemonJson (existing: Record<string, unknown>, gateway: URL): Record<string, unknown> {
  const mirror = gateway.origin
  const mirrors = Array.isArray(existing['registry-mirrors']) ? existing['registry-mirrors'].filter((m: unknown) => typeof m === 'string' && m.replace(/\/$/, '') !== mirror) : []
  const out: Record<string, unknown> = { ...existing, 'registry-mirrors': [mirror, ...mirrors] }
  // docker talks plain HTTP to loopback mirrors by itself; anywhere else it must be told
  if (gateway.protocol === 'http:' && !LOOPBACK.test(gateway.hostname)) {
    const insecure = Array.isArray(existing['insecure-registries']) ? existing['insecure-registries'] as string[] : []
    if (!insecure.includes(gateway.host)) out['insecure-registries'] = [...insecure, gateway.host]
  }
  return out
}

export interface MirrorConfigOptions {
  runtime: Runtime
  gateway: URL
  registries: MirroredRegistry[]
  /** containerd: the certs.d directory; podman, docker: the file */
  target?: string
  /** docker: the daemon.json there now, kept */
  existing?: Record<string, unknown>
}

/**
 * The files a runtime needs.
 *
 * @throws InvalidParametersError for docker with a registry other than Docker Hub
 */
export function mirrorFiles (options: MirrorConfigOptions): MirrorFile[] {
  const { runtime, gateway, registries } = options
  if (registries.length === 0) throw new InvalidParametersError('no registry to mirror: the upstream config lists none and no --registry was given')
  if (runtime === 'containerd') {
    const dir = options.target ?? DEFAULT_CONTAINERD_DIR
    return registries.map(r => ({
      path: path.join(dir, canonicalHost(r.host), 'hosts.toml'),
      content: containerdHostsToml(r, gateway),
      note: `containerd reads it when "config_path" names ${dir} (CRI: [plugins."io.containerd.grpc.v1.cri".registry] config_path; ctr: --hosts-dir ${dir})`
    }))
  }
  if (runtime === 'podman') {
    return [{ path: options.target ?? DEFAULT_REGISTRIES_CONF, content: registriesConf(registries, gateway), note: 'podman reads it on its next command; CRI-O on a reload (systemctl reload crio)' }]
  }
  const others = registries.filter(r => r.host !== DOCKER_HUB_HOST)
  if (others.length > 0) throw new InvalidParametersError(`docker mirrors Docker Hub only; ${others.map(r => r.host).join(', ')} cannot go in registry-mirrors (use --registry docker.io)`)
  return [{
    path: options.target ?? DEFAULT_DOCKER_DAEMON_JSON,
    content: JSON.stringify(dockerDaemonJson(options.existing ?? {}, gateway), null, 2) + '\n',
    note: 'docker reads it when it starts (systemctl restart docker)'
  }]
}

/** Reads the JSON object in `file`, or {} when there is none */
export async function readJsonObject (file: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err: any) {
    if (err?.code === 'ENOENT') return {}
    throw err
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err: any) {
    throw new InvalidParametersError(`${file} is not JSON (${String(err?.message ?? err)}); fix it or move it away before writing the mirror`)
  }
  if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidParametersError(`${file} does not hold a JSON object`)
  return parsed as Record<string, unknown>
}

/**
 * Writes each file atomically, keeping what was there as
 * `<file>.<time>.provenir.bak`; a file already as wanted is left alone.
 *
 * @returns the backups made, by file
 */
export async function writeMirrorFiles (files: MirrorFile[], now = new Date()): Promise<Array<{ path: string, backup?: string, unchanged: boolean }>> {
  const out: Array<{ path: string, backup?: string, unchanged: boolean }> = []
  const stamp = now.toISOString().replace(/[:.]/g, '-')
  for (const file of files) {
    let before: string | undefined
    try {
      before = await fs.readFile(file.path, 'utf8')
    } catch (err: any) {
      if (err?.code !== 'ENOENT') throw err
    }
    if (before === file.content) {
      out.push({ path: file.path, unchanged: true })
      continue
    }
    await fs.mkdir(path.dirname(file.path), { recursive: true })
    let backup: string | undefined
    let mode = PLAIN_FILE_MODE
    if (before != null) {
      backup = `${file.path}.${stamp}.provenir.bak`
      await fs.copyFile(file.path, backup, fs.constants.COPYFILE_EXCL)
      mode = (await fs.stat(file.path)).mode & 0o777
    }
    await writeFileAtomic(file.path, file.content, { mode })
    out.push({ path: file.path, ...(backup != null ? { backup } : {}), unchanged: false })
  }
  return out
}
