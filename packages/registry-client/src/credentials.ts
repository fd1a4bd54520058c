/**
 * Credentials for upstream registries, from the files users already have,
 * in the order containers/image reads them:
 *
 * 1. `$REGISTRY_AUTH_FILE`, when set;
 * 2. `${XDG_RUNTIME_DIR}/containers/auth.json` (podman login, skopeo login);
 * 3. `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`;
 * 4. `${DOCKER_CONFIG:-~/.docker}/config.json` (docker login).
 *
 * The first file that has an entry for the registry answers. An entry is
 * looked up from the most specific key down (`quay.io/org/app`, `quay.io/org`,
 * `quay.io`); Docker's `https://index.docker.io/v1/` keys count as `docker.io`.
 * A file's `credHelpers[host]` or `credsStore` is asked through the
 * `docker-credential-<name> get` protocol.
 *
 * A secret never leaves this module except as an `Authorization` value: a
 * {@link RegistryCredentials} prints, logs and serialises as its username and
 * where it came from.
 */

import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { inspect } from 'node:util'
import { canonicalHost } from '@provenir/interface'
import { CREDENTIAL_HELPER_TIMEOUT_MS, MAX_AUTH_FILE_BYTES, MAX_HELPER_OUTPUT_BYTES } from './constants.js'
import { CredentialsError } from './errors.js'
import type { AbortOptions } from '@provenir/interface'

/** A username and a secret for one registry; the secret is kept out of every printed form */
export class RegistryCredentials {
  readonly username: string
  /** Where these came from: a file's path, `config`, or `docker-credential-<name>` */
  readonly source: string
  readonly #secret: string
  readonly #identityToken?: string

  constructor (init: { username: string, password?: string, identityToken?: string, source: string }) {
    this.username = init.username
    this.source = init.source
    this.#secret = init.password ?? ''
    if (init.identityToken != null && init.identityToken !== '') this.#identityToken = init.identityToken
  }

  /** The `Authorization: Basic` value */
  basic (): string {
    return `Basic ${Buffer.from(`${this.username}:${this.#secret}`).toString('base64')}`
  }

  /** An OAuth2 refresh token (`identitytoken`) to trade at the token realm instead of the password */
  get identityToken (): string | undefined {
    return this.#identityToken
  }

  /** Tells two credentials apart in a token cache key without holding the secret there */
  get id (): string {
    return `${this.source}|${this.username}|${hashOf(this.#secret + (this.#identityToken ?? ''))}`
  }

  toJSON (): { username: string, source: string } {
    return { username: this.username, source: this.source }
  }

  toString (): string {
    return `credentials of ${this.username} from ${this.source}`
  }

  [inspect.custom] (): string {
    return `RegistryCredentials { username: ${JSON.stringify(this.username)}, source: ${JSON.stringify(this.source)} }`
  }
}

function hashOf (text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}

/** Gives the credentials for a repository on a registry, or undefined for anonymous access */
export interface CredentialSource {
  lookup(host: string, repository: string, options?: AbortOptions): Promise<RegistryCredentials | undefined>
  /** Where it looks, for an error that says no credentials were found: `~/.docker/config.json, ...` */
  describe(): string
}

/** The credential files containers/image and docker read, in their order, for this environment */
export function defaultAuthFiles (env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string[] {
  const files: string[] = []
  if (env.REGISTRY_AUTH_FILE != null && env.REGISTRY_AUTH_FILE !== '') files.push(env.REGISTRY_AUTH_FILE)
  if (env.XDG_RUNTIME_DIR != null && env.XDG_RUNTIME_DIR !== '') files.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'))
  files.push(path.join(env.XDG_CONFIG_HOME != null && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : path.join(home, '.config'), 'containers', 'auth.json'))
  files.push(path.join(env.DOCKER_CONFIG != null && env.DOCKER_CONFIG !== '' ? env.DOCKER_CONFIG : path.join(home, '.docker'), 'config.json'))
  return files
}

interface AuthEntry {
  auth?: string
  username?: string
  password?: string
  identitytoken?: string
}

interface AuthFile {
  auths?: Record<string, AuthEntry>
  credHelpers?: Record<string, string>
  credsStore?: string
}

/** `https://index.docker.io/v1/` -> `docker.io`; `quay.io/org/` -> `quay.io/org` */
export function normaliseAuthKey (key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '')
  k = k.replace(/\/+$/, '').replace(/\/v[12]$/, '')
  const slash = k.indexOf('/')
  const host = slash === -1 ? k : k.slice(0, slash)
  return canonicalHost(host) + (slash === -1 ? '' : k.slice(slash))
}

/** The keys an entry for (host, repository) may have, most specific first */
function candidateKeys (host: string, repository: string): string[] {
  const base = canonicalHost(host)
  const parts = repository.split('/')
  const keys: string[] = []
  for (let i = parts.length; i > 0; i--) keys.push(`${base}/${parts.slice(0, i).join('/')}`)
  keys.push(base)
  return keys
}

async function readAuthFile (file: string): Promise<AuthFile | undefined> {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, 'r')
  } catch (err: any) {
    if (err?.code === 'ENOENT' || err?.code === 'ENOTDIR') return undefined
    throw new CredentialsError(`cannot read credentials file ${file}: ${String(err?.message ?? err)}`, { cause: err })
  }
  try {
    const { size } = await handle.stat()
    if (size > MAX_AUTH_FILE_BYTES) throw new CredentialsError(`credentials file ${file} is ${size} bytes; at most ${MAX_AUTH_FILE_BYTES} are read`)
    const text = await handle.readFile('utf8')
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err: any) {
      throw new CredentialsError(`credentials file ${file} is not JSON: ${String(err?.message ?? err)}`, { cause: err })
    }
    if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CredentialsError(`credentials file ${file} does not hold a JSON object`)
    return parsed as AuthFile
  } finally {
    await handle.close()
  }
}

function entryCredentials (entry: AuthEntry, source: string, key: string): RegistryCredentials | undefined {
  if (entry == null || typeof entry !== 'object') return undefined
  let username = typeof entry.username === 'string' ? entry.username : undefined
  let password = typeof entry.password === 'string' ? entry.password : undefined
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon <= 0) throw new CredentialsError(`credentials file ${source}: the "auth" of ${key} is not base64 of username:password`)
    username = decoded.slice(0, colon)
    password = decoded.slice(colon + 1)
  }
  const identityToken = typeof entry.identitytoken === 'string' ? entry.identitytoken : undefined
  if (username == null && identityToken == null) return undefined
  return new RegistryCredentials({ username: username ?? '<token>', password, identityToken, source })
}

/** The server URL a credential helper is asked for: docker keys Docker Hub by its v1 index URL */
function helperServer (host: string): string {
  return canonicalHost(host) === 'docker.io' ? 'https://index.docker.io/v1/' : canonicalHost(host)
}

/**
 * Asks `docker-credential-<helper> get` for a registry's credentials.
 * Undefined when the helper has none for it, or is not installed.
 *
 * @throws CredentialsError when the helper fails otherwise or answers garbage
 */
export async function credentialsFromHelper (helper: string, host: string, options: AbortOptions = {}): Promise<RegistryCredentials | undefined> {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(helper)) throw new CredentialsError(`credential helper name ${JSON.stringify(helper)} is not a plain name`)
  const program = `docker-credential-${helper}`
  const signal = AbortSignal.any([AbortSignal.timeout(CREDENTIAL_HELPER_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
  const { code, stdout, missing } = await runHelper(program, helperServer(host), signal)
  if (missing) return undefined
  const text = stdout.toString('utf8').trim()
  if (code !== 0) {
    // the protocol's answer for "nothing stored for this server"
    if (/credentials not found/i.test(text)) return undefined
    throw new CredentialsError(`${program} get failed for ${host} (exit ${String(code)}): ${text.slice(0, 200)}`)
  }
  let answer: { Username?: unknown, Secret?: unknown }
  try {
    answer = JSON.parse(text)
  } catch {
    throw new CredentialsError(`${program} get answered for ${host} with something that is not JSON`)
  }
  if (typeof answer.Username !== 'string' || typeof answer.Secret !== 'string') throw new CredentialsError(`${program} get answered for ${host} without Username and Secret`)
  // a helper stores an OAuth2 refresh token under the username <token>
  return answer.Username === '<token>'
    ? new RegistryCredentials({ username: '<token>', identityToken: answer.Secret, source: program })
    : new RegistryCredentials({ username: answer.Username, password: answer.Secret, source: program })
}

async function runHelper (program: string, server: string, signal: AbortSignal): Promise<{ code: number | null, stdout: Buffer, missing: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'ignore'], signal })
    const chunks: Buffer[] = []
    let size = 0
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_HELPER_OUTPUT_BYTES) {
        child.kill()
        reject(new CredentialsError(`${program} answered with over ${MAX_HELPER_OUTPUT_BYTES} bytes`))
        return
      }
      chunks.push(chunk)
    })
    child.once('error', (err: any) => {
      if (err?.code === 'ENOENT') resolve({ code: null, stdout: Buffer.alloc(0), missing: true })
      else reject(new CredentialsError(`${program} could not run: ${String(err?.message ?? err)}`, { cause: err }))
    })
    child.once('close', (code) => { resolve({ code, stdout: Buffer.concat(chunks), missing: false }) })
    child.stdin.on('error', () => {})
    child.stdin.end(server)
  })
}

/** Credentials from auth files (and the helpers they name), first file with an entry first */
export class AuthFileCredentials implements CredentialSource {
  readonly files: string[]

  constructor (files: string[] = defaultAuthFiles()) {
    this.files = files
  }

  describe (): string {
    return this.files.join(', ')
  }

  async lookup (host: string, repository: string, options: AbortOptions = {}): Promise<RegistryCredentials | undefined> {
    const keys = candidateKeys(host, repository)
    for (const file of this.files) {
      const parsed = await readAuthFile(file)
      if (parsed == null) continue
      const found = await this.fromFile(parsed, file, keys, host, options)
      if (found != null) return found
    }
    return undefined
  }

  private async fromFile (parsed: AuthFile, file: string, keys: string[], host: string, options: AbortOptions): Promise<RegistryCredentials | undefined> {
    const helpers = objectOr(parsed.credHelpers)
    for (const [key, helper] of Object.entries(helpers)) {
      if (normaliseAuthKey(key) === keys[keys.length - 1] && typeof helper === 'string') return credentialsFromHelper(helper, host, options)
    }
    const auths = new Map(Object.entries(objectOr(parsed.auths)).map(([k, v]) => [normaliseAuthKey(k), { key: k, entry: v as AuthEntry }]))
    for (const key of keys) {
      const hit = auths.get(key)
      if (hit == null) continue
      const creds = entryCredentials(hit.entry, file, hit.key)
      if (creds != null) return creds
    }
    // a credsStore keeps the secrets; auths then holds empty placeholders
    if (typeof parsed.credsStore === 'string' && parsed.credsStore !== '') return credentialsFromHelper(parsed.credsStore, host, options)
    return undefined
  }
}

function objectOr (value: unknown): Record<string, unknown> {
  return value != null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : {}
}

/** Fixed credentials (an upstream's inline `credentials` in the config) */
export class StaticCredentials implements CredentialSource {
  readonly #credentials: RegistryCredentials

  constructor (credentials: RegistryCredentials) {
    this.#credentials = credentials
  }

  describe (): string {
    return this.#credentials.source
  }

  async lookup (): Promise<RegistryCredentials> {
    return this.#credentials
  }
}

/** One credential helper for every repository of a registry (an upstream's `credentials.helper`) */
export class HelperCredentials implements CredentialSource {
  readonly helper: string

  constructor (helper: string) {
    this.helper = helper
  }

  describe (): string {
    return `docker-credential-${this.helper}`
  }

  async lookup (host: string, _repository: string, options: AbortOptions = {}): Promise<RegistryCredentials | undefined> {
    return credentialsFromHelper(this.helper, host, options)
  }
}

/** No credentials: anonymous access only */
export const ANONYMOUS: CredentialSource = {
  async lookup () { return undefined },
  describe () { return 'no credential source (anonymous)' }
}
