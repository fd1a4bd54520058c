/**
 * The daemon's naming routes: publish a repository, resolve a reference, and
 * claim a link name at a registry. Each answers one JSON document; bad
 * parameters are a 400 naming the field.
 */
import { isDigest } from '@provenir/content'
import { InvalidParametersError } from '@provenir/interface'
import { isLinkName, isRepoName, isTag, MAX_TAGS } from '@provenir/naming'
import { SELF_KEY_NAME, MAX_REGISTRY_SPEC_LENGTH, RPC_NAME_PUBLISH_TIMEOUT_MS, RPC_NAME_RESOLVE_TIMEOUT_MS, RPC_NAMING_BODY_LIMIT } from './constants.js'
import { NamingUnavailableError } from './errors.js'
import { bodyObject, referenceParam } from './rpc-params.js'
import { summariseResolution } from './naming.js'
import type { ClaimSummary, DaemonNaming, PublishSummary, ResolveSummary } from './naming.js'
import type { RpcContext, RpcRoute } from './rpc-server.js'

const KEY_NAME = /^[a-zA-Z0-9._-]{1,64}$/

function namingOf (ctx: RpcContext): DaemonNaming {
  if (ctx.naming == null) throw new NamingUnavailableError('this daemon runs without naming')
  return ctx.naming
}

/** A keystore key name, or undefined */
export function keyParam (value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !KEY_NAME.test(value)) throw new InvalidParametersError(`"key" must be a keystore key name ([a-zA-Z0-9._-], at most 64 characters); got ${JSON.stringify(value)}`)
  if (value === SELF_KEY_NAME) throw new InvalidParametersError(`"key": "${SELF_KEY_NAME}" is the node key, not a namespace key`)
  return value
}

export const NAMING_ROUTES: readonly RpcRoute[] = Object.freeze([
  {
    method: 'POST',
    url: '/api/v0/name/publish',
    timeout: RPC_NAME_PUBLISH_TIMEOUT_MS,
    bodyLimit: RPC_NAMING_BODY_LIMIT,
    async handler (ctx): Promise<PublishSummary> {
      const body = bodyObject(ctx, ['repo', 'key', 'tags'])
      if (!isRepoName(body.repo)) throw new InvalidParametersError(`"repo" must be a repository name (lowercase letters, digits, and . _ __ - between them); got ${JSON.stringify(body.repo)}`)
      const request: Parameters<DaemonNaming['publish']>[0] = { repo: body.repo }
      const key = keyParam(body.key)
      if (key != null) request.key = key
      if (body.tags !== undefined) {
        if (body.tags == null || typeof body.tags !== 'object' || Array.isArray(body.tags)) throw new InvalidParametersError('"tags" must be an object: tag -> manifest digest')
        const entries = Object.entries(body.tags)
        if (entries.length > MAX_TAGS) throw new InvalidParametersError(`"tags" holds ${entries.length} tags; at most ${MAX_TAGS}`)
        for (const [tag, digest] of entries) {
          if (!isTag(tag)) throw new InvalidParametersError(`"tags": ${JSON.stringify(tag)} is not a tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})`)
          if (!isDigest(digest)) throw new InvalidParametersError(`"tags.${tag}" must be a manifest digest (sha256:<64 hex>); got ${JSON.stringify(digest)}`)
        }
        request.tags = body.tags as Record<string, string>
      }
      return namingOf(ctx).publish(request, { signal: ctx.signal })
    }
  },
  {
    method: 'POST',
    url: '/api/v0/name/resolve',
    timeout: RPC_NAME_RESOLVE_TIMEOUT_MS,
    async handler (ctx): Promise<ResolveSummary> {
      const body = bodyObject(ctx, ['reference', 'explain'])
      const reference = referenceParam(body.reference)
      if (body.explain !== undefined && typeof body.explain !== 'boolean') throw new InvalidParametersError('"explain" must be true or false')
      const explain = body.explain === true
      const { resolution, cached } = await namingOf(ctx).resolve(reference, { signal: ctx.signal, explain })
      return summariseResolution(reference, resolution, cached)
    }
  },
  {
    method: 'POST',
    url: '/api/v0/registry/claim',
    timeout: RPC_NAME_RESOLVE_TIMEOUT_MS,
    async handler (ctx): Promise<ClaimSummary> {
      const body = bodyObject(ctx, ['name', 'registry', 'key'])
      if (!isLinkName(body.name)) throw new InvalidParametersError(`"name" must be a link name (lowercase letters, digits and inner hyphens, at most 63); got ${JSON.stringify(body.name)}`)
      if (typeof body.registry !== 'string' || body.registry === '' || body.registry.length > MAX_REGISTRY_SPEC_LENGTH) {
        throw new InvalidParametersError('"registry" must be a NodeId, a multiaddr ending in /p2p/<NodeId>, or a domain')
      }
      return namingOf(ctx).claim(body.name, body.registry, keyParam(body.key), { signal: ctx.signal })
    }
  }
])
