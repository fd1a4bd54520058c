/**
 * `/v2/<name>/manifests/<reference>`: GET and HEAD (by tag or digest; a tag
 * the node does not hold asks naming), PUT (then, for a push by tag, the
 * daemon's `onPushed` in the background), DELETE.
 */

import { ProvenirError } from '@provenir/interface'
import * as C from '../constants.js'
import { OciError, toErrorResponse } from '../errors.js'
import { readLimited } from '../http.js'
import { body, checkDigest, closeSignal, namespaceOf } from '../router.js'
import type { NamedImage } from '../index.js'
import type { RouteContext } from './context.js'
import type { ManifestResult } from '@provenir/node'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** Whether an Accept header admits `mediaType` (absent, `*\/*`, or listed). */
function acceptable (accept: string, mediaType: string): boolean {
  for (const part of accept.split(',')) {
    const type = part.split(';')[0].trim()
    if (type === '*/*' || type === mediaType || type === 'application/*') return true
  }
  return false
}

/** A name resolved through naming, or undefined; naming's "not found" errors are MANIFEST_UNKNOWN */
async function resolveName (ctx: RouteContext, name: string, tag: string): Promise<NamedImage | undefined> {
  if (ctx.init.resolveName == null) return undefined
  try {
    return await ctx.init.resolveName(name, tag, { signal: AbortSignal.timeout(ctx.manifestPullTimeout) })
  } catch (err: any) {
    if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
      throw new OciError('MANIFEST_UNKNOWN', 404, `${name}:${tag} did not resolve within ${ctx.manifestPullTimeout} ms`, { name, tag })
    }
    // any of naming's own errors (not found, a bad binding or record, a DNS failure) means this
    // name names nothing here; anything else is a bug and stays a 500
    if (err instanceof ProvenirError) throw new OciError('MANIFEST_UNKNOWN', 404, `${name}:${tag}: ${err.message}`, { name, tag })
    throw err
  }
}

/** The manifest a GET or HEAD asks for: by digest, by a tag the node holds, or by a name naming resolves */
async function find (ctx: RouteContext, name: string, reference: string, req: FastifyRequest, reply: FastifyReply): Promise<ManifestResult> {
  let digest: string
  let named: NamedImage | undefined
  if (reference.includes(':')) {
    digest = checkDigest(reference)
  } else {
    if (!C.TAG_REGEX.test(reference)) throw new OciError('MANIFEST_INVALID', 400, `invalid tag ${JSON.stringify(reference)}`, { tag: reference })
    const held = await ctx.content.resolveTag({ repository: name, tag: reference, ...namespaceOf(req) })
    if (held != null) {
      digest = held.digest
    } else {
      // a tag this node never saw: ask naming (a signed repository document names the digest)
      named = await resolveName(ctx, name, reference)
      if (named == null) throw new OciError('MANIFEST_UNKNOWN', 404, `no tag ${reference} in ${name} on this node`, { name, tag: reference })
      digest = checkDigest(named.manifestDigest)
    }
  }
  // nothing goes to the client while a source delivers the manifest: lift the idle timeout meanwhile
  const socket = req.raw.socket
  socket.setTimeout(0)
  const closed = closeSignal(reply)
  // a name an upstream registry answered: fetched from that registry's repository
  const where = named?.upstream != null ? { namespace: named.upstream.host } : namespaceOf(req)
  try {
    return await ctx.content.manifest({
      repository: name,
      reference: digest,
      ...where,
      signal: AbortSignal.any([AbortSignal.timeout(ctx.manifestPullTimeout), closed]),
      pullTimeout: ctx.pullTimeout,
      ...(named != null ? { named: { reference: named.reference, ...(named.record != null ? { record: named.record } : {}) } } : {})
    })
  } catch (err) {
    // a manifest the node could not get (from the swarm, or refused by the trust policy) is a failed
    // pull: the operator sees it with its cause; a client that went away is not a failure
    // (a 5xx is logged by the error answer)
    if (!closed.aborted && toErrorResponse(err).status < 500) ctx.log.error('%s %s: the pull of %s@%s failed - %e', req.method, req.url, name, digest, err)
    throw err
  } finally {
    socket.setTimeout(ctx.idleTimeout)
  }
}

export async function getManifest (ctx: RouteContext, name: string, reference: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const found = await find(ctx, name, reference, req, reply)
  const accept = String(req.headers.accept ?? '')
  if (accept !== '' && !acceptable(accept, found.mediaType)) {
    throw new OciError('MANIFEST_UNKNOWN', 404, `the manifest is ${found.mediaType}, which the Accept header does not list`, { digest: found.digest, mediaType: found.mediaType })
  }
  reply.code(200).headers({
    'Content-Type': found.mediaType,
    'Docker-Content-Digest': found.digest,
    'Content-Length': String(found.size),
    ETag: `"${found.digest}"`
  })
  await reply.send(req.method === 'HEAD' ? undefined : Buffer.from(found.bytes.buffer, found.bytes.byteOffset, found.bytes.byteLength))
}

export async function putManifest (ctx: RouteContext, name: string, reference: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const byDigest = reference.includes(':')
  if (byDigest) checkDigest(reference)
  else if (!C.TAG_REGEX.test(reference)) throw new OciError('MANIFEST_INVALID', 400, `invalid tag ${JSON.stringify(reference)}`, { tag: reference })
  const tooLarge = (): OciError => new OciError('MANIFEST_INVALID', 413, `a manifest may be at most ${C.MAX_MANIFEST_SIZE} bytes`, { limit: C.MAX_MANIFEST_SIZE })
  const declared = Number(req.headers['content-length'] ?? NaN)
  if (declared > C.MAX_MANIFEST_SIZE) throw tooLarge()
  const bytes = await readLimited(body(req), C.MAX_MANIFEST_SIZE, tooLarge)
  const contentType = req.headers['content-type']?.split(';')[0].trim()
  const pushed = await ctx.content.putManifest({
    repository: name,
    reference,
    bytes,
    ...(contentType != null && contentType !== '' ? { mediaType: contentType } : {})
  }, ctx.init.signer != null ? { signer: ctx.init.signer } : {})
  if (!byDigest && pushed.kind === 'manifest' && ctx.init.onPushed != null) {
    // in the background: a push does not wait on the DHT (publishing can take seconds, or
    // run out of time on a node without peers); close() stops and awaits it
    const after = ctx.init.onPushed(name, reference, pushed.digest, { signal: ctx.closing })
      .catch((err: Error) => { ctx.log.error('after the push of %s:%s - %e', name, reference, err) })
      .finally(() => { ctx.background.delete(after) })
    ctx.background.add(after)
  }
  reply.code(201).headers({ Location: `/v2/${name}/manifests/${pushed.digest}`, 'Docker-Content-Digest': pushed.digest, 'Content-Length': '0' })
  if (pushed.subject != null) reply.header('OCI-Subject', pushed.subject)
  await reply.send()
}

export async function deleteManifest (ctx: RouteContext, name: string, reference: string, reply: FastifyReply): Promise<void> {
  if (reference.includes(':')) checkDigest(reference)
  await ctx.content.deleteManifest({ repository: name, reference })
  await reply.code(202).send()
}
