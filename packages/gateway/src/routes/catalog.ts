/** `GET /v2/_catalog`: the repositories the node holds manifests in, paginated */

import * as C from '../constants.js'
import { paginate, parseN } from '../http.js'
import { query } from '../router.js'
import type { RouteContext } from './context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'

export async function catalog (ctx: RouteContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const q = query(req)
  const n = parseN(q.n, C.MAX_PAGE_SIZE) ?? C.DEFAULT_PAGE_SIZE
  const { page, more } = paginate(await ctx.content.repositories(), n, q.last)
  if (more && page.length > 0) reply.header('Link', `</v2/_catalog?n=${n}&last=${encodeURIComponent(page[page.length - 1])}>; rel="next"`)
  await reply.code(200).header('Content-Type', 'application/json').send({ repositories: page })
}
