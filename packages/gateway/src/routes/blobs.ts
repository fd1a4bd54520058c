/**
 * `/v2/<name>/blobs/<digest>`: GET and HEAD (with one `Range`), DELETE. The
 * content service opens the blob (held, or streaming while a source fetches
 * it) and verifies every chunk; this route writes the head once the first
 * chunk is read (so a first block that fails its check is an error status,
 * not a reset), then the rest, each chunk handed back to the service's
 * buffer pool once the socket has taken it.
 */

import { parseRange, writeReleasing } from '../http.js'
import { checkDigest, closeSignal, namespaceOf } from '../router.js'
import type { RouteContext } from './context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { OutgoingHttpHeaders } from 'node:http'

export async function getBlob (ctx: RouteContext, name: string, digestParam: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const digest = checkDigest(digestParam)
  const blob = await ctx.content.blob({ repository: name, digest, ...namespaceOf(req) })
  const range = parseRange(req.headers.range, blob.size)
  reply.headers({
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    'Accept-Ranges': 'bytes',
    ETag: `"${digest}"`,
    'Cache-Control': 'max-age=31536000'
  })
  const length = range != null ? range.end - range.start + 1 : blob.size
  reply.code(range != null ? 206 : 200).header('Content-Length', String(length))
  if (range != null) reply.header('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`)
  if (req.method === 'HEAD') {
    await reply.send()
    return
  }
  // a blob a source still fetches has the whole pull's time; a held one the request's
  const closed = closeSignal(reply)
  const signal = AbortSignal.any([AbortSignal.timeout(ctx.pullTimeout), closed])
  const chunks = blob.read(range, { signal })[Symbol.asyncIterator]()
  // a first chunk that fails its check is answered with an error status: nothing is sent yet
  const first = await chunks.next()
  reply.hijack()
  reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders)
  await writeReleasing(reply.raw, (async function * () {
    if (first.done !== true) yield first.value
    yield * { [Symbol.asyncIterator]: () => chunks }
  })(), blob, 2, (err) => {
    // the response is cut short of its Content-Length: the client sees a broken body
    if (closed.aborted) ctx.log('%s %s: the client went away - %e', req.method, req.url, err)
    else ctx.log.error('%s %s broke off - %e', req.method, req.url, err)
  })
}

export async function deleteBlob (ctx: RouteContext, name: string, digestParam: string, reply: FastifyReply): Promise<void> {
  await ctx.content.deleteBlob({ repository: name, digest: checkDigest(digestParam) })
  await reply.code(202).send()
}
