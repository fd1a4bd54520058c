/**
 * The daemon's naming routes, an RPC adapter over the node's naming service
 * (@provenir/naming): publish a repository, resolve a reference, and claim a
 * link name at a registry. Each checks its parameters (a bad one is a 400
 * naming the field, before anything runs) and answers the service's result as
 * JSON.
 */
import { isDigest } from '@provenir/content'
import { InvalidParametersError } from '@provenir/interface'
import { checkRepoName, isLinkName, isTag, summariseImageResolution, MAX_REGISTRY_SPEC_LENGTH, MAX_TAGS } from '@provenir/naming'
import { SELF_KEY_NAME, RPC_NAME_PUBLISH_TIMEOUT_MS, RPC_NAME_RESOLVE_TIMEOUT_MS, RPC_NAMING_BODY_LIMIT } from './constants.js'
import { NamingUnavailableError } from './errors.js'
import { bodyObject, referenceParam } from './rpc-params.js'
import type { RpcContext, RpcRoute } from './rpc-server.js'
import type { ClaimSummary, ImageResolveSummary, Naming, PublishRequest, PublishSummary } from '@provenir/naming'

const KEY_NAME = /^[a-zA-Z0-9._-]{1,64}$/

function namingOf (ctx: RpcContext): Naming {
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

/** `tags`: tag -> manifest digest, bounded */
function tagsParam (value: unknown): Record<string, string> {
  if (value == null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidParametersError('"tags" must be an object: tag -> manifest digest')
  const entries = Object.entries(value)
  if (entries.length > MAX_TAGS) throw new InvalidParametersError(`"tags" holds ${entries.length} tags; at most ${MAX_TAGS}`)
  for (const [tag, digest] of entries) {
    if (!isTag(tag)) throw new InvalidParametersError(`"tags": ${JSON.stringify(tag)} is not a tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})`)
    if (!isDigest(digest)) throw new InvalidParametersError(`"tags.${tag}" must be a manifest digest (sha256:<64 hex>); got ${JSON.stringify(digest)}`)
  }
  return value as Record<string, string>
}

export const NAMING_ROUTES: readonly RpcRoute[] = Object.freeze([
  {
    method: 'POST',
    url: '/api/v0/name/publish',
    timeout: RPC_NAME_PUBLISH_TIMEOUT_MS,
    bodyLimit: RPC_NAMING_BODY_LIMIT,
    async handler (ctx): Promise<PublishSummary> {
      const body = bodyObject(ctx, ['repo', 'key', 'tags'])
      const request: PublishRequest = { repo: checkRepoName(body.repo) }
      const key = keyParam(body.key)
      if (key != null) request.key = key
      if (body.tags !== undefined) request.tags = tagsParam(body.tags)
      const published = await namingOf(ctx).publish(request, { signal: ctx.signal })
      if (published.warning != null) ctx.log?.('name publish %s/%s: %s', published.owner, published.repo, published.warning)
      return published
    }
  },
  {
    method: 'POST',
    url: '/api/v0/name/resolve',
    timeout: RPC_NAME_RESOLVE_TIMEOUT_MS,
    async handler (ctx): Promise<ImageResolveSummary> {
      const body = bodyObject(ctx, ['reference', 'explain'])
      const reference = referenceParam(body.reference)
      if (body.explain !== undefined && typeof body.explain !== 'boolean') throw new InvalidParametersError('"explain" must be true or false')
      const explain = body.explain === true
      return summariseImageResolution(await namingOf(ctx).resolveImage(reference, { signal: ctx.signal, explain }))
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
