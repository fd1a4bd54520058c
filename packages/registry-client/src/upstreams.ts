/**
 * The configured upstream registries of a node, as one object: which
 * registry (and which repository path there) a name goes to, a client per
 * registry, and the tags they resolved, reused for the config's TTL and
 * served past it (logged) when the registry cannot be reached.
 */

import fs from 'node:fs/promises'
import { InvalidConfigError, canonicalHost, isDigest, repositoryOnHost, type AbortOptions, type ComponentLogger, type Digest, type ImageName, type Logger } from '@provenir/interface'
import { RegistryClient, type ManifestHead } from './client.js'
import { MAX_CA_FILE_BYTES } from './constants.js'
import { AuthFileCredentials, HelperCredentials, RegistryCredentials, StaticCredentials, defaultAuthFiles, type CredentialSource } from './credentials.js'
import { UpstreamNotConfiguredError, UpstreamNotFoundError } from './errors.js'
import { silentLogger, type TransportInit } from './http.js'
import { effectiveRegistries, type UpstreamConfig, type UpstreamRegistryConfig } from './config.js'

/** One configured upstream registry and its client */
export interface UpstreamRegistry {
  host: string
  endpoints: string[]
  unqualified: boolean
  client: RegistryClient
}

/** Where a name is asked: a registry and the repository path on it */
export interface UpstreamTarget {
  registry: UpstreamRegistry
  repository: string
}

/** A tag (or a digest) resolved on an upstream */
export interface UpstreamTag {
  host: string
  repository: string
  /** Absent when a digest was asked */
  tag?: string
  digest: Digest
  mediaType?: string
  size?: number
  /** The endpoint that answered (for a cached answer, the one that answered then) */
  endpoint: string
  /** `upstream`: asked now; `cache`: within the TTL; `stale`: past it, the registry could not be reached */
  from: 'upstream' | 'cache' | 'stale'
  /** When the registry answered, ms since the epoch */
  resolvedAt: number
}

/** One registry's answer for a name, in explain mode */
export interface UpstreamAnswer {
  host: string
  repository: string
  resolved?: UpstreamTag
  error?: Error
}

export interface UpstreamsInit extends Omit<TransportInit, 'log' | 'ca'> {
  logger?: ComponentLogger
  /** Credentials for registries without `credentials` in the config. @default the files podman, skopeo and docker write */
  credentials?: CredentialSource
  /** The environment the default credential files are found from. @default process.env */
  env?: NodeJS.ProcessEnv
  callTimeoutMs?: number
  blobResumes?: number
  /** Tags remembered. @default 10_000 */
  maxTags?: number
  /** The clock, for tests */
  now?: () => number
}

export class Upstreams {
  readonly config: UpstreamConfig
  readonly registries: UpstreamRegistry[]
  private readonly byHost = new Map<string, UpstreamRegistry>()
  private readonly tags = new Map<string, UpstreamTag>()
  private readonly maxTags: number
  private readonly log: Logger
  private readonly now: () => number

  private constructor (config: UpstreamConfig, registries: UpstreamRegistry[], init: UpstreamsInit) {
    this.config = config
    this.registries = registries
    for (const r of registries) this.byHost.set(r.host, r)
    this.maxTags = init.maxTags ?? 10_000
    this.log = init.logger?.forComponent('provenir:upstream') ?? silentLogger
    this.now = init.now ?? Date.now
  }

  /**
   * Builds the clients of a validated config, reading each registry's CA
   * file (relative paths from `baseDir`).
   *
   * @throws InvalidConfigError naming a CA file that cannot be read
   */
  static async create (config: UpstreamConfig, init: UpstreamsInit = {}, baseDir = process.cwd()): Promise<Upstreams> {
    const registries: UpstreamRegistry[] = []
    for (const [i, r] of effectiveRegistries(config).entries()) {
      const ca = r.ca != null ? await readCa(r.ca, baseDir, i) : undefined
      const client = new RegistryClient({
        ...init,
        host: r.host,
        endpoints: r.endpoints,
        ...(ca != null ? { ca } : {}),
        credentials: credentialSource(r, init)
      })
      registries.push({ host: r.host, endpoints: r.endpoints, unqualified: r.unqualified, client })
    }
    return new Upstreams(config, registries, init)
  }

  async close (): Promise<void> {
    await Promise.all(this.registries.map(async r => r.client.close()))
  }

  /** The registry configured for a host (Docker Hub's aliases included) */
  get (host: string): UpstreamRegistry | undefined {
    return this.byHost.get(canonicalHost(host))
  }

  /** True when the config lists this host */
  has (host: string): boolean {
    return this.get(host) != null
  }

  /**
   * The registries a name is asked of, in order, each with the repository
   * path there: the one its host names, or for a name without a host every
   * `unqualified` registry (Docker Hub's one-word names under `library/`).
   *
   * @throws UpstreamNotConfiguredError for a host the config does not list
   */
  route (name: Pick<ImageName, 'host' | 'path'>): UpstreamTarget[] {
    if (name.host != null) {
      const registry = this.get(name.host)
      if (registry == null) {
        throw new UpstreamNotConfiguredError(`no upstream registry is configured for ${name.host}; add {"host": "${name.host}"} to "upstream.registries" in the daemon's config.json (configured: ${this.registries.map(r => r.host).join(', ') || 'none'})`)
      }
      return [{ registry, repository: repositoryOnHost(registry.host, name.path) }]
    }
    return this.registries.filter(r => r.unqualified).map(registry => ({ registry, repository: repositoryOnHost(registry.host, name.path) }))
  }

  /**
   * The digest a tag names (or a digest, confirmed by a HEAD), from the first
   * registry of {@link route} that has it. Within the TTL a tag's remembered
   * answer is given; past it the registry is asked, and when it cannot be
   * reached the remembered answer is given again (`from: 'stale'`) and the
   * log says so.
   *
   * @throws UpstreamNotFoundError when no registry has it; the registries' errors when none could be asked
   */
  async resolve (name: Pick<ImageName, 'host' | 'path'>, reference: string, options: AbortOptions = {}): Promise<UpstreamTag> {
    const answers = await this.ask(this.route(name), reference, options, false)
    const found = answers.find(a => a.resolved != null)?.resolved
    if (found != null) return found
    throw combined(answers, name, reference)
  }

  /** Every routed registry's answer, in order (explain: the cache is not used) */
  async explain (name: Pick<ImageName, 'host' | 'path'>, reference: string, options: AbortOptions = {}): Promise<UpstreamAnswer[]> {
    return this.ask(this.route(name), reference, options, true)
  }

  private async ask (targets: UpstreamTarget[], reference: string, options: AbortOptions, all: boolean): Promise<UpstreamAnswer[]> {
    const answers: UpstreamAnswer[] = []
    for (const target of targets) {
      const answer: UpstreamAnswer = { host: target.registry.host, repository: target.repository }
      try {
        answer.resolved = await this.tagOn(target, reference, options, all)
      } catch (err: unknown) {
        if ((err as Error).name === 'AbortError') throw err
        answer.error = err as Error
      }
      answers.push(answer)
      if (answer.resolved != null && !all) break
    }
    return answers
  }

  private async tagOn (target: UpstreamTarget, tag: string, options: AbortOptions, fresh: boolean): Promise<UpstreamTag> {
    const key = `${target.registry.host}/${target.repository}:${tag}`
    // a digest names itself: the HEAD only says which registry holds it, and is not remembered
    const known = isDigest(tag) ? undefined : this.tags.get(key)
    if (!fresh && known != null && this.now() - known.resolvedAt < this.config.tagTtlMs) return { ...known, from: 'cache' }
    let head: ManifestHead
    try {
      head = await target.registry.client.resolveTag(target.repository, tag, options)
    } catch (err: unknown) {
      const e = err as Error
      if (known != null && (e.name === 'UpstreamUnavailableError' || e.name === 'UpstreamTlsError')) {
        this.log.error('%s cannot be reached; serving %s as %s, resolved %d s ago - %s', target.registry.host, key, known.digest, Math.round((this.now() - known.resolvedAt) / 1000), e.message)
        return { ...known, from: 'stale' }
      }
      throw err
    }
    const resolved: UpstreamTag = {
      host: target.registry.host,
      repository: target.repository,
      ...(isDigest(tag) ? {} : { tag }),
      digest: head.digest,
      ...(head.mediaType != null ? { mediaType: head.mediaType } : {}),
      ...(head.size != null ? { size: head.size } : {}),
      endpoint: head.endpoint,
      from: 'upstream',
      resolvedAt: this.now()
    }
    if (isDigest(tag)) return resolved
    this.tags.delete(key)
    if (this.tags.size >= this.maxTags) this.tags.delete(this.tags.keys().next().value as string)
    this.tags.set(key, resolved)
    return resolved
  }
}

function combined (answers: UpstreamAnswer[], name: Pick<ImageName, 'host' | 'path'>, tag: string): Error {
  const errors = answers.map(a => a.error).filter((e): e is Error => e != null)
  if (errors.length === 0) return new UpstreamNotFoundError(`no upstream registry is asked for ${name.path}:${tag} (none is marked "unqualified")`)
  if (errors.length === 1) return errors[0]
  const chosen = errors.find(e => e.name !== 'UpstreamNotFoundError') ?? errors[0]
  const Ctor = chosen.constructor as new (message: string, options?: ErrorOptions) => Error
  return new Ctor(errors.map(e => e.message).join('; '), { cause: chosen })
}

function credentialSource (r: UpstreamRegistryConfig, init: UpstreamsInit): CredentialSource {
  const c = r.credentials
  if (c == null) return init.credentials ?? new AuthFileCredentials(defaultAuthFiles(init.env))
  if ('authFile' in c) return new AuthFileCredentials([c.authFile])
  if ('helper' in c) return new HelperCredentials(c.helper)
  return new StaticCredentials(new RegistryCredentials({ username: c.username, password: c.password, source: `config (upstream ${r.host})` }))
}

async function readCa (file: string, baseDir: string, index: number): Promise<string> {
  const full = file.startsWith('/') ? file : `${baseDir}/${file}`
  try {
    const stat = await fs.stat(full)
    if (stat.size > MAX_CA_FILE_BYTES) throw new InvalidConfigError(`upstream.registries.${index}.ca: ${full} is ${stat.size} bytes; at most ${MAX_CA_FILE_BYTES}`)
    const pem = await fs.readFile(full, 'utf8')
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new InvalidConfigError(`upstream.registries.${index}.ca: ${full} holds no PEM certificate`)
    return pem
  } catch (err: any) {
    if (err?.name === 'InvalidConfigError') throw err
    throw new InvalidConfigError(`upstream.registries.${index}.ca: cannot read ${full}: ${String(err?.message ?? err)}`, { cause: err })
  }
}
