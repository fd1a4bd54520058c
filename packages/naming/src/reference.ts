/**
 * Image references: `[registry/]namespace/repo[:tag|@digest]`.
 *
 * - `registry` is a NodeId (`12D3KooW...` or its CID form) or a domain
 *   (`registry.example.org`) whose `_provenir` TXT record names a NodeId.
 *   A multiaddr cannot appear in a reference (it holds slashes); configure
 *   such a registry instead.
 * - `namespace` is a UserId (`k51qzi5uqu5...`, self-certifying) or a link name
 *   (`aweiteka`: lowercase letters, digits, inner hyphens, at most 63).
 * - `repo` is one lowercase OCI path component.
 * - Without a tag or digest, the tag is `latest`. With both, the digest pins
 *   the image and the tag is only checked against it.
 */

import { isDigest } from '@provenir/content'
import { isUserId } from '@provenir/trust'
import { MAX_REGISTRY_REF_LENGTH } from './constants.js'
import { ReferenceInvalidError } from './errors.js'
import { parseNodeId } from './node-id.js'
import { isLinkName, isRepoName, isTag } from './signed.js'

export type RegistryRef = { kind: 'node', nodeId: string } | { kind: 'domain', domain: string }

export interface ImageReference {
  registry?: RegistryRef
  namespace: string
  namespaceKind: 'userId' | 'name'
  repo: string
  /** `latest` when the reference gives neither a tag nor a digest */
  tag?: string
  digest?: string
}

const MAX_REFERENCE_LENGTH = 512
const DOMAIN_PATTERN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/

/** Parses a registry named by NodeId or domain. @throws ReferenceInvalidError */
export function parseRegistryRef (text: string): RegistryRef {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_REGISTRY_REF_LENGTH) {
    throw new ReferenceInvalidError(`a registry is a NodeId or a domain of 1 to ${MAX_REGISTRY_REF_LENGTH} characters, got ${typeof text === 'string' ? `${text.length} characters` : typeof text}`)
  }
  if (DOMAIN_PATTERN.test(text)) return { kind: 'domain', domain: text }
  try {
    const peer = parseNodeId(text)
    if (peer.type === 'Ed25519') return { kind: 'node', nodeId: peer.toString() }
  } catch {}
  throw new ReferenceInvalidError(`registry ${JSON.stringify(text)} is neither an Ed25519 NodeId nor a domain name`)
}

/**
 * Parses `[registry/]namespace/repo[:tag|@digest]`.
 *
 * @throws ReferenceInvalidError naming the part that is wrong
 */
export function parseReference (input: string): ImageReference {
  if (typeof input !== 'string' || input.length === 0) throw new ReferenceInvalidError('an image reference must be a non-empty string')
  if (input.length > MAX_REFERENCE_LENGTH) throw new ReferenceInvalidError(`an image reference is at most ${MAX_REFERENCE_LENGTH} characters`)
  const fail = (why: string): never => { throw new ReferenceInvalidError(`${JSON.stringify(input)} is not [registry/]namespace/repo[:tag|@digest]: ${why}`) }
  let rest = input
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!isDigest(digest)) fail(`${JSON.stringify(digest)} is not a digest (sha256:<64 hex>)`)
  }
  const parts = rest.split('/')
  if (parts.length < 2) fail('a namespace and a repo are required, as namespace/repo')
  if (parts.length > 3) fail('too many path components (a repo is a single component)')
  let last = parts[parts.length - 1]
  let tag: string | undefined
  const colon = last.indexOf(':')
  if (colon !== -1) {
    tag = last.slice(colon + 1)
    last = last.slice(0, colon)
    if (!isTag(tag)) fail(`${JSON.stringify(tag)} is not a tag`)
  }
  if (!isRepoName(last)) fail(`${JSON.stringify(last)} is not a repository name (lowercase letters, digits, and . _ __ - between them)`)
  const ns = parts[parts.length - 2]
  let namespaceKind: 'userId' | 'name'
  if (isUserId(ns)) namespaceKind = 'userId'
  else if (isLinkName(ns)) namespaceKind = 'name'
  else return fail(`namespace ${JSON.stringify(ns)} is neither a UserId (k51qzi5uqu5...) nor a link name`)
  const ref: ImageReference = { namespace: ns, namespaceKind, repo: last }
  if (parts.length === 3) {
    try {
      ref.registry = parseRegistryRef(parts[0])
    } catch (err: unknown) {
      fail((err as Error).message)
    }
  }
  if (tag != null) ref.tag = tag
  if (digest != null) ref.digest = digest
  if (tag == null && digest == null) ref.tag = 'latest'
  return ref
}

/** Writes a reference back as text. */
export function formatReference (ref: ImageReference): string {
  const registry = ref.registry == null ? '' : `${ref.registry.kind === 'node' ? ref.registry.nodeId : ref.registry.domain}/`
  return `${registry}${ref.namespace}/${ref.repo}${ref.tag != null ? `:${ref.tag}` : ''}${ref.digest != null ? `@${ref.digest}` : ''}`
}
