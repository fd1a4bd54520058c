/**
 * `GET /v2/<name>/tags/list`: the repository's tags, and the tags of the
 * signed repository document of that name (through `GatewayInit.listNames`,
 * the daemon's naming), sorted and paginated.
 */

import * as C from '../constants.js'
import { OciError } from '../errors.js'
import { paginate, parseN } from '../http.js'
import { query } from '../router.js'
import type { RouteContext } from './context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** The tags naming serves for `name`; a name naming does not know, or a lookup that fails, has none */
async function namedTags (ctx: RouteContext, name: string): Promise<string[]> {
  if (ctx.init.listNames == null) return []
  try {
    return await ctx.init.listNames(name, { signal: AbortSignal.timeout(C.NAMES_LIST_TIMEOUT) }) ?? []
  } catch (err) {
    ctx.log('no names of %s from naming - %e', name, err)
    return []
  }
}

export async function tagsList (ctx: RouteContext, name: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const [held, named] = await Promise.all([ctx.content.tags(name), namedTags(ctx, name)])
  if (held == null && named.length === 0) throw new OciError('NAME_UNKNOWN', 404, `repository ${name} is not known to this node`, { name })
  const tags = [...new Set([...(held ?? []), ...named])].sort()
  const q = query(req)
  const n = parseN(q.n, C.MAX_PAGE_SIZE)
  const { page, more } = paginate(tags, n, q.last)
  if (more && page.length > 0 && n != null) {
    reply.header('Link', `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(page[page.length - 1])}>; rel="next"`)
  }
  await reply.code(200).header('Content-Type', 'application/json').send({ name, tags: page })
}
