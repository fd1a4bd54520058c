/**
 * `/v2/<name>/blobs/uploads/...`: start (or mount, or a monolithic POST),
 * chunks (PATCH), status (GET), close (PUT), cancel (DELETE). The bytes go
 * through the gateway's upload sessions (`uploads.ts`: hashed and imported
 * as they arrive, or staged); the closing PUT hands the DAG they built to
 * the content service, which checks the digest, records, pins and links the
 * blob to the repository.
 *
 * An upload sent with a content type a web page can send without a CORS
 * preflight (`text/plain`, forms) needs the gateway token: a page in a
 * browser on this machine must not be able to fill its disk.
 */

import { createReadStream } from 'node:fs'
import { importChunks, parseDigest } from '@provenir/content'
import * as C from '../constants.js'
import { OciError } from '../errors.js'
import { parseContentRange } from '../http.js'
import { body, checkDigest, checkName, query } from '../router.js'
import { guardingWriter, rangeError, uploadLocation } from '../uploads.js'
import type { UploadSession } from '../uploads.js'
import type { RouteContext } from './context.js'
import type { Digest } from '@provenir/content'
import type { UploadedBlob } from '@provenir/node'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** Refuses a body a browser could send without asking first, unless the request carries the token */
function checkContentType (ctx: RouteContext, req: FastifyRequest): void {
  const type = req.headers['content-type']?.split(';')[0].trim().toLowerCase()
  if (type != null && C.SIMPLE_CONTENT_TYPES.has(type) && !ctx.writeAuthorized(req)) {
    throw new OciError('UNSUPPORTED', 415, `an upload sent as ${type} needs the gateway token (a web page can send that type); send application/octet-stream`)
  }
}

export function uploadStatus (session: UploadSession, reply: FastifyReply, code: number): void {
  void reply.code(code).headers({
    Location: uploadLocation(session),
    Range: `0-${Math.max(0, session.size - 1)}`,
    'Docker-Upload-UUID': session.id,
    'Blob-Upload-Session-ID': session.id,
    'Content-Length': '0'
  }).send()
}

/** The repository and digest of a mount request, when it names a valid one */
function mountOf (q: Record<string, string | undefined>): { digest: Digest, from?: string } | undefined {
  if (q.mount == null) return undefined
  try {
    return { digest: checkDigest(q.mount), ...(q.from != null ? { from: checkName(q.from) } : {}) }
  } catch {
    return undefined
  }
}

export async function startUpload (ctx: RouteContext, name: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const q = query(req)
  const mount = mountOf(q)
  // cross-repository mount: a blob the `from` repository holds; else an upload as usual
  if (mount != null && await ctx.content.mountBlob({ repository: name, digest: mount.digest, ...(mount.from != null ? { from: mount.from } : {}) })) {
    await reply.code(201).headers({ Location: `/v2/${name}/blobs/${mount.digest}`, 'Docker-Content-Digest': mount.digest, 'Content-Length': '0' }).send()
    return
  }
  if (q.digest != null) {
    // monolithic POST
    const digest = checkDigest(q.digest)
    checkContentType(ctx, req)
    const session = await ctx.uploads.create(name)
    try {
      await appendChecked(ctx, session, req)
      await finish(ctx, session, digest, reply)
    } catch (err) {
      await ctx.uploads.remove(session)
      throw err
    }
    return
  }
  checkContentType(ctx, req)
  uploadStatus(await ctx.uploads.create(name), reply, 202)
}

/** Appends a request body, checking `Content-Range` (416) and `Content-Length` (SIZE_INVALID). */
async function appendChecked (ctx: RouteContext, session: UploadSession, req: FastifyRequest): Promise<void> {
  const header = req.headers['content-range']
  let start: number | undefined
  const length = req.headers['content-length'] != null ? Number(req.headers['content-length']) : undefined
  if (header != null) {
    const range = parseContentRange(header)
    if (range == null) throw rangeError(session, `invalid Content-Range ${JSON.stringify(header)}`)
    if (range.start !== session.size) throw rangeError(session, `chunk starts at ${range.start}, the upload holds ${session.size} bytes`)
    if (length != null && length !== range.end - range.start + 1) throw rangeError(session, `Content-Range ${header} does not match Content-Length ${length}`)
    start = range.start
  }
  if (length != null && session.size + length > ctx.maxUploadSize) {
    throw new OciError('SIZE_INVALID', 413, `an upload may hold at most ${ctx.maxUploadSize} bytes`)
  }
  const received = await ctx.uploads.append(session, body(req), start)
  if (length != null && received !== length) {
    throw new OciError('SIZE_INVALID', 400, `received ${received} bytes, Content-Length said ${length}`, { uuid: session.id })
  }
}

export async function patchUpload (ctx: RouteContext, session: UploadSession, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  checkContentType(ctx, req)
  await appendChecked(ctx, session, req)
  uploadStatus(session, reply, 202)
}

export async function putUpload (ctx: RouteContext, session: UploadSession, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const q = query(req)
  if (q.digest == null) throw new OciError('DIGEST_INVALID', 400, 'the closing PUT needs ?digest=', { uuid: session.id })
  const digest = checkDigest(q.digest)
  checkContentType(ctx, req)
  await appendChecked(ctx, session, req)
  await finish(ctx, session, digest, reply)
}

/**
 * Ends an upload: a sha256 digest is checked here against the hash the
 * session kept while the bytes arrived (a mismatch ends the session: the
 * spec's 4xx fails the upload); the content service checks any other,
 * records, pins and links the blob. The session and its staging file go.
 */
async function finish (ctx: RouteContext, session: UploadSession, digest: Digest, reply: FastifyReply): Promise<void> {
  const sha256 = parseDigest(digest).algorithm === 'sha256'
  if (sha256) {
    const actual = `sha256:${session.hash.copy().digest('hex')}`
    if (actual !== digest) {
      await ctx.uploads.remove(session)
      throw new OciError('DIGEST_INVALID', 400, `the upload has digest ${actual}, not ${digest}`, { digest, actual })
    }
  }
  await ctx.uploads.close(session)
  const releases: Array<() => void> = []
  try {
    const request = { repository: session.name, digest }
    if (await ctx.content.holdsBlob(digest)) await ctx.content.commitBlob(request)
    else await ctx.content.commitBlob(request, { ...await importUpload(ctx, session, releases), ...(sha256 ? { checked: 'sha256' as const } : {}) })
  } finally {
    // after the pin (or a failure): the blocks' guards go, with the session
    for (const release of releases) release()
    await ctx.uploads.remove(session)
  }
  await reply.code(201).headers({ Location: `/v2/${session.name}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' }).send()
}

/**
 * The DAG of an upload: the one its streaming import built while the bytes
 * arrived, or one imported now from its staged file, which holds exactly the
 * bytes hashed. Its blocks are guarded from gc() until the caller has
 * recorded them: a staged import's guards are added to `releases`, a
 * streaming import's are released when its session is removed.
 */
async function importUpload (ctx: RouteContext, session: UploadSession, releases: Array<() => void>): Promise<UploadedBlob> {
  const built = session.import != null
    ? await session.import.finish()
    : await importChunks(createReadStream(session.path, { highWaterMark: 1024 * 1024 }), guardingWriter(ctx.store, releases))
  // the importer was given exactly the bytes received; anything else is a bug
  if (built.size !== session.size) throw new Error(`the import of upload ${session.id} holds ${built.size} bytes, the upload ${session.size}`)
  return built
}
