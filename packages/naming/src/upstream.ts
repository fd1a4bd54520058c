/**
 * Names that upstream OCI registries answer: the last step of resolution
 * (pins -> provenir registries -> upstream registries, Docker Hub last by
 * default), and references that name a registry host
 * (`quay.io/org/app:1`, `127.0.0.1:5590/library/small:v1`, `alpine`).
 *
 * Which reference goes where:
 * - a host that the upstream config lists goes to that upstream only;
 * - a provenir reference (`namespace/repo`, `domain/namespace/repo`,
 *   `NodeId/namespace/repo`) resolves as before; when its namespace is a link
 *   name no provenir source knows, and the reference has no host, the
 *   upstream registries are asked next (`library/small` on Docker Hub);
 * - anything else a registry accepts (`alpine`, `org/team/app`) goes to the
 *   upstream registries.
 *
 * A UserId namespace never falls through: it names a key, not a registry.
 * Naming only orders the sources; `@provenir/registry-client`'s `Upstreams`
 * implements {@link UpstreamNames}.
 */

import { isError, parseImageName, type AbortOptions, type ImageName } from '@provenir/interface'
import { parseReference, type ImageReference } from './reference.js'

/** A tag (or digest) an upstream registry answered */
export interface UpstreamResolved {
  host: string
  repository: string
  tag?: string
  digest: string
  mediaType?: string
  /** The endpoint that answered */
  endpoint: string
  /** `upstream`: asked now; `cache`: within the TTL; `stale`: past it, the registry unreachable; `reference`: the name gave the digest */
  from: 'upstream' | 'cache' | 'stale' | 'reference'
}

/** One upstream registry's answer, for explain */
export interface UpstreamNameAnswer {
  host: string
  repository: string
  resolved?: UpstreamResolved
  error?: Error
}

/** The upstream registries, as naming asks them */
export interface UpstreamNames {
  /** True when the config lists this registry host */
  has(host: string): boolean
  /**
   * A tag or digest of a name on the first registry that answers (the
   * host's, or the unqualified registries in order)
   *
   * @throws the registries' errors when none answers
   */
  resolve(name: Pick<ImageName, 'host' | 'path'>, reference: string, options?: AbortOptions): Promise<UpstreamResolved>
  /** Every registry's answer, in order, with no cache */
  explain(name: Pick<ImageName, 'host' | 'path'>, reference: string, options?: AbortOptions): Promise<UpstreamNameAnswer[]>
}

/** How one reference is resolved */
export interface ResolutionPlan {
  /** Ask provenir's sources for this */
  provenir?: ImageReference
  /** Ask the upstream registries for this (after provenir's, when both are set) */
  upstream?: { name: ImageName, reference: string }
  /** Why a provenir parse failed, to report when nothing else can answer */
  parseError?: Error
}

/**
 * Decides which sources a reference goes to.
 *
 * @throws the provenir parse error when neither kind of reference parses
 */
export function planResolution (reference: string, upstream: Pick<UpstreamNames, 'has'> | undefined): ResolutionPlan {
  let provenir: ImageReference | undefined
  let parseError: Error | undefined
  try {
    provenir = parseReference(reference)
  } catch (err) {
    parseError = err as Error
  }
  let name: ImageName | undefined
  try {
    name = parseImageName(reference)
  } catch (err) {
    if (provenir == null) throw parseError ?? err
  }
  const target = name != null && upstream != null ? { name, reference: name.digest ?? name.tag ?? 'latest' } : undefined
  if (target != null && name?.host != null && upstream?.has(name.host) === true) return { upstream: target }
  if (provenir != null) {
    const fallsThrough = target != null && name?.host == null && provenir.namespaceKind === 'name'
    return { provenir, ...(fallsThrough ? { upstream: target } : {}) }
  }
  if (target != null) return { upstream: target, ...(parseError != null ? { parseError } : {}) }
  throw parseError ?? new Error('unreachable')
}

/** Errors that mean provenir's sources do not know a name, so the next source may */
export function isNotKnown (err: unknown): boolean {
  return isError(err, 'NameNotFoundError') || isError(err, 'RepositoryNotFoundError') || isError(err, 'TagNotFoundError')
}
