/**
 * The image-name grammar OCI clients share (distribution's `reference`
 * package): `[host[:port]/]path[:tag][@digest]`, where `path` is one or more
 * lowercase components separated by `/`. It lives here, beside the digest
 * and tag grammars, because the CLI, the gateway and naming all tell an
 * upstream registry's name (`quay.io/org/app:1`, `alpine`) from a provenir
 * one before anything heavy is loaded.
 *
 * The first component names a registry host when it has a `.` or a `:`, is
 * `localhost`, or has an uppercase letter (Docker's rule). Names on Docker Hub
 * are normalised as Docker does: `index.docker.io` is `docker.io`, and a
 * one-component path there is under `library/` (`alpine` is
 * `docker.io/library/alpine`).
 */

import { InvalidParametersError } from './errors.js'
import { isDigest, isTag } from './grammar.js'

/** An image name as written: the host only when the name gives one */
export interface ImageName {
  /** `quay.io`, `127.0.0.1:5590`, `[::1]:5000`, `localhost`; absent in `library/alpine` */
  host?: string
  /** The repository path on the registry, `org/app` */
  path: string
  tag?: string
  digest?: string
}

/** Docker Hub's name as references write it */
export const DOCKER_HUB_HOST = 'docker.io'

/** Names references use for Docker Hub, all meaning {@link DOCKER_HUB_HOST} */
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])

/** Longest image name (host and path) distribution accepts */
export const MAX_IMAGE_NAME_LENGTH = 255

/** Longest reference accepted, tag and digest included */
const MAX_REFERENCE_LENGTH = 512

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const HOST = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`)

/** True for a registry host as references write it: a domain or IP, with an optional port */
export function isRegistryHost (value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255 || !HOST.test(value)) return false
  const port = /:([0-9]{1,5})$/.exec(value)?.[1]
  return port == null || (Number(port) >= 1 && Number(port) <= 65535)
}

/** True for a repository path: lowercase components (`a-z0-9` with `.`, `_`, `__`, `-` between), at most 255 characters */
export function isRepositoryPath (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_IMAGE_NAME_LENGTH && value.split('/').every(c => PATH_COMPONENT.test(c))
}

/** True when the first component of a name is a registry host by Docker's rule */
export function looksLikeHost (component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component.toLowerCase() !== component
}

/**
 * Parses `[host[:port]/]path[:tag][@digest]` without applying any default:
 * no host stays no host, no tag stays no tag.
 *
 * @throws InvalidParametersError naming the part that is wrong
 */
export function parseImageName (input: unknown): ImageName {
  if (typeof input !== 'string' || input.length === 0) throw new InvalidParametersError('an image name must be a non-empty string')
  if (input.length > MAX_REFERENCE_LENGTH) throw new InvalidParametersError(`an image name is at most ${MAX_REFERENCE_LENGTH} characters`)
  const fail = (why: string): never => { throw new InvalidParametersError(`${JSON.stringify(input)} is not an image name [host[:port]/]path[:tag][@digest]: ${why}`) }
  let rest = input
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!isDigest(digest)) fail(`${JSON.stringify(digest)} is not a digest`)
  }
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!isTag(tag)) fail(`${JSON.stringify(tag)} is not a tag`)
  }
  const slash = rest.indexOf('/')
  let host: string | undefined
  if (slash !== -1 && looksLikeHost(rest.slice(0, slash))) {
    host = rest.slice(0, slash)
    rest = rest.slice(slash + 1)
    if (!isRegistryHost(host)) fail(`${JSON.stringify(host)} is not a registry host`)
  }
  if (!isRepositoryPath(rest)) fail(`${JSON.stringify(rest)} is not a repository path (lowercase components of a-z 0-9 with . _ __ - between them, joined by /)`)
  if ((host?.length ?? 0) + rest.length > MAX_IMAGE_NAME_LENGTH) fail(`the name is over ${MAX_IMAGE_NAME_LENGTH} characters`)
  return { ...(host != null ? { host: host.toLowerCase() } : {}), path: rest, ...(tag != null ? { tag } : {}), ...(digest != null ? { digest } : {}) }
}

/** The canonical host for a registry: Docker Hub's aliases are `docker.io`, the rest lowercase */
export function canonicalHost (host: string): string {
  const lower = host.toLowerCase()
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB_HOST : lower
}

/** The repository path a registry is asked for: on Docker Hub a one-component path is under `library/` */
export function repositoryOnHost (host: string, path: string): string {
  return canonicalHost(host) === DOCKER_HUB_HOST && !path.includes('/') ? `library/${path}` : path
}

/** Writes a name back: `host/path[:tag][@digest]` */
export function formatImageName (name: ImageName): string {
  return `${name.host != null ? `${name.host}/` : ''}${name.path}${name.tag != null ? `:${name.tag}` : ''}${name.digest != null ? `@${name.digest}` : ''}`
}

/**
 * The first path component a mirror request carries to name its upstream
 * (`<gateway>/<prefix>/<repository>`), as podman's and CRI-O's
 * `[[registry.mirror]]` locations write it: the host, with the `:` of a port
 * written `_` (a path component cannot hold a colon): `docker.io`,
 * `127.0.0.1_5590`. An IPv6 host has no such form.
 */
export function mirrorPrefix (host: string): string | undefined {
  const canonical = canonicalHost(host)
  if (canonical.startsWith('[')) return undefined
  return canonical.replace(/:(\d+)$/, '_$1')
}

/** The host a mirror path prefix names (see {@link mirrorPrefix}), or undefined when it names none */
export function hostOfMirrorPrefix (component: string): string | undefined {
  const host = component.replace(/_(\d{1,5})$/, ':$1')
  return host.includes('.') || host.includes(':') || host === 'localhost' ? canonicalHost(host) : undefined
}
