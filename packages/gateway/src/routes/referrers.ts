/**
 * `GET /v2/<name>/referrers/<digest>`: an OCI index of the manifests in the
 * repository whose subject is the digest, and of the image's statements as
 * Sigstore bundle artifacts; filtered by `artifactType` when asked.
 */

import { MEDIA_TYPE_OCI_INDEX } from '@provenir/content'
import { checkDigest, query } from '../router.js'
import type { RouteContext } from './context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'

export async function referrers (ctx: RouteContext, name: string, digestParam: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const digest = checkDigest(digestParam)
  const q = query(req)
  const manifests = await ctx.content.referrers({ repository: name, digest, ...(q.artifactType != null ? { artifactType: q.artifactType } : {}) })
  if (q.artifactType != null) reply.header('OCI-Filters-Applied', 'artifactType')
  await reply.code(200).header('Content-Type', MEDIA_TYPE_OCI_INDEX).send(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests })))
}
