/**
 * Where a repo's files are, and the api file a running daemon writes: all an
 * RPC client needs from the repo, without loading the node.
 */
import fs from 'node:fs/promises'
import { homedir } from 'node:os'
import path from 'node:path'
import { DaemonNotRunningError, InvalidConfigError } from '@provenir/interface'
import { formatApiAddress, parseApiAddress } from './api-address.js'
import {
  API_FILE, CONFIG_FILE, POLICY_FILE, CONTENT_DIR, GATEWAY_DIR, DATASTORE_DIR, DEFAULT_REPO_DIRNAME, KEYSTORE_FILE, MAX_API_FILE_BYTES, PLAIN_FILE_MODE,
  REPO_ENV, SWARM_KEY_FILE, TLS_DIR
} from './constants.js'
import { errorCode, readFileBounded, writeFileAtomic } from './fs-util.js'
import type { ApiAddress, ApiEndpoint } from './api-address.js'

/** Where each part of a repo lives */
export interface RepoPaths {
  /** The repo directory */
  root: string
  /** `config.json`: the daemon's settings */
  config: string
  /** `keystore.json`: private keys, mode 0600; the node key is named `self` */
  keystore: string
  /** `datastore/`: the node's level datastore (peer store, DHT records) */
  datastore: string
  /** `content/`: block files, their index and the image index */
  content: string
  /** `gateway/`: the registry gateway's repository/tag state and upload staging */
  gateway: string
  /** `swarm.key`: optional Kubo-format pre-shared key of a private swarm */
  swarmKey: string
  /** `api`: `host:port` of a running daemon's RPC API */
  api: string
  /** `policy.json`: the trust policy every pull is checked against, when present */
  policy: string
  /** `tls/`: the repo's CA and server certificate (see tls.ts) */
  tls: string
}

/**
 * The repo directory: `repo` when given, else `$PROVENIR_PATH`, else
 * `~/.provenir`. Always absolute.
 */
export function resolveRepoPath (repo?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = repo ?? env[REPO_ENV]
  if (chosen != null && chosen !== '') return path.resolve(chosen)
  return path.join(homedir(), DEFAULT_REPO_DIRNAME)
}

/** The paths of the files in the repo at `root` */
export function repoPaths (root: string): RepoPaths {
  const r = path.resolve(root)
  return {
    root: r,
    config: path.join(r, CONFIG_FILE),
    keystore: path.join(r, KEYSTORE_FILE),
    datastore: path.join(r, DATASTORE_DIR),
    content: path.join(r, CONTENT_DIR),
    gateway: path.join(r, GATEWAY_DIR),
    swarmKey: path.join(r, SWARM_KEY_FILE),
    api: path.join(r, API_FILE),
    policy: path.join(r, POLICY_FILE),
    tls: path.join(r, TLS_DIR)
  }
}

/**
 * The api file's text: `host:port` for a plain API; `https://host:port` and a
 * second line `ca <file>` (when the CA is known) for a TLS one.
 */
export function formatApiFile (endpoint: ApiEndpoint): string {
  if (endpoint.tls !== true) return formatApiAddress(endpoint) + '\n'
  return `https://${formatApiAddress(endpoint)}\n${endpoint.caFile != null ? `ca ${endpoint.caFile}\n` : ''}`
}

/** Parse the api file's text (see `formatApiFile`) */
function parseApiFile (text: string, file: string): ApiEndpoint {
  const [first, ...rest] = text.split('\n').map(line => line.trim()).filter(line => line !== '')
  const tls = first?.startsWith('https://') === true
  const endpoint: ApiEndpoint = parseApiAddress(tls ? first.slice('https://'.length) : first, file, 'api')
  if (tls) endpoint.tls = true
  for (const line of rest) {
    if (line.startsWith('ca ')) endpoint.caFile = line.slice(3)
  }
  return endpoint
}

/**
 * The RPC endpoint a running daemon wrote to `<repo>/api`.
 *
 * @throws DaemonNotRunningError when there is no api file, or it is malformed
 */
export async function readApiFile (root: string): Promise<ApiEndpoint> {
  const file = repoPaths(root).api
  let text: string
  try {
    text = (await readFileBounded(file, MAX_API_FILE_BYTES)).toString('utf8')
  } catch (err) {
    if (errorCode(err) === 'ENOENT') {
      throw new DaemonNotRunningError(`the daemon is not running: ${file} not found (start it with "provenir daemon")`)
    }
    throw new DaemonNotRunningError(`cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  try {
    return parseApiFile(text, file)
  } catch (err) {
    if (err instanceof InvalidConfigError) {
      throw new DaemonNotRunningError(`${file} is malformed (${JSON.stringify(text.trim().slice(0, 64))}); is a daemon running?`, { cause: err })
    }
    throw err
  }
}

/** Atomically write `<repo>/api` */
export async function writeApiFile (root: string, endpoint: ApiEndpoint): Promise<void> {
  await writeFileAtomic(repoPaths(root).api, formatApiFile(endpoint), { mode: PLAIN_FILE_MODE })
}

/**
 * Remove `<repo>/api`. With `onlyIf`, only when it still names that address,
 * so a daemon never removes the file of another that replaced it.
 */
export async function removeApiFile (root: string, onlyIf?: ApiAddress): Promise<void> {
  const file = repoPaths(root).api
  if (onlyIf != null) {
    try {
      const current = parseApiFile((await readFileBounded(file, MAX_API_FILE_BYTES)).toString('utf8'), file)
      if (formatApiAddress(current) !== formatApiAddress(onlyIf)) return
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return
      // a malformed file names no daemon: remove it
      if (!(err instanceof InvalidConfigError)) throw err
    }
  }
  await fs.rm(file, { force: true })
}
