/**
 * The distribution API's paths: `/v2/<name>/<resource>/...`, parsed after
 * percent-decoding, with names and digests checked before any route runs.
 */

import { parseDigest } from '@provenir/content'
import * as C from './constants.js'
import { OciError } from './errors.js'
import type { Digest } from '@provenir/content'
import type { FastifyReply, FastifyRequest } from 'fastify'

export type Route =
  { kind: 'base' } |
  { kind: 'catalog' } |
  { kind: 'tags', name: string } |
  { kind: 'manifest', name: string, reference: string } |
  { kind: 'uploads', name: string } |
  { kind: 'upload', name: string, id: string } |
  { kind: 'blob', name: string, digest: string } |
  { kind: 'referrers', name: string, digest: string }

export function checkName (name: string): string {
  if (name.length > C.MAX_NAME_LENGTH || !C.NAME_REGEX.test(name)) {
    throw new OciError('NAME_INVALID', 400, `invalid repository name ${JSON.stringify(name)}`, { name })
  }
  return name
}

/** Parses the path after `/v2/` (percent-decoded; `..` and other odd names fail the name grammar). */
export function route (url: string): Route | undefined {
  const q = url.indexOf('?')
  let path = q >= 0 ? url.slice(0, q) : url
  if (!path.startsWith('/v2')) return undefined
  path = path.slice(3)
  if (path === '' || path === '/') return { kind: 'base' }
  if (!path.startsWith('/')) return undefined
  try {
    path = decodeURIComponent(path.slice(1))
  } catch {
    throw new OciError('NAME_INVALID', 400, 'malformed percent-encoding in the path')
  }
  if (path === '_catalog') return { kind: 'catalog' }
  let m: RegExpExecArray | null
  if ((m = /^(.+)\/tags\/list$/.exec(path)) != null) return { kind: 'tags', name: checkName(m[1]) }
  if ((m = /^(.+)\/manifests\/([^/]+)$/.exec(path)) != null) return { kind: 'manifest', name: checkName(m[1]), reference: m[2] }
  if ((m = /^(.+)\/blobs\/uploads\/?$/.exec(path)) != null) return { kind: 'uploads', name: checkName(m[1]) }
  if ((m = /^(.+)\/blobs\/uploads\/([^/]+)$/.exec(path)) != null) return { kind: 'upload', name: checkName(m[1]), id: m[2] }
  if ((m = /^(.+)\/blobs\/([^/]+)$/.exec(path)) != null) return { kind: 'blob', name: checkName(m[1]), digest: m[2] }
  if ((m = /^(.+)\/referrers\/([^/]+)$/.exec(path)) != null) return { kind: 'referrers', name: checkName(m[1]), digest: m[2] }
  // a name that cannot be parsed at all (e.g. with `..` segments) is still an invalid name
  if (/\/(manifests|blobs|tags|referrers)\//.test(path) || path.includes('..')) throw new OciError('NAME_INVALID', 400, `invalid repository name in ${JSON.stringify(path)}`)
  return undefined
}

/** The pattern of each route kind, for logs and metric labels */
const PATTERNS: Record<Route['kind'], string> = {
  base: '/v2/',
  catalog: '/v2/_catalog',
  tags: '/v2/<name>/tags/list',
  manifest: '/v2/<name>/manifests/<reference>',
  uploads: '/v2/<name>/blobs/uploads/',
  upload: '/v2/<name>/blobs/uploads/<id>',
  blob: '/v2/<name>/blobs/<digest>',
  referrers: '/v2/<name>/referrers/<digest>'
}

/**
 * The route pattern a URL matches (`/v2/<name>/manifests/<reference>`), the
 * token endpoint's path, or `unknown`: a bounded set, whatever the URL.
 */
export function routePattern (url: string): string {
  const path = url.split('?')[0]
  if (path === C.TOKEN_PATH) return C.TOKEN_PATH
  try {
    const r = route(url)
    return r != null ? PATTERNS[r.kind] : 'unknown'
  } catch {
    return 'invalid'
  }
}

/** A digest from a path or query: `sha256:` or `sha512:`, else DIGEST_INVALID */
export function checkDigest (digest: string): Digest {
  try {
    parseDigest(digest)
  } catch (err: any) {
    throw new OciError('DIGEST_INVALID', 400, err.message, { digest })
  }
  return digest as Digest
}

/** Requests whose path named an upstream with a mirror prefix (podman's mirror), and that upstream's host */
const mirrorNamespaces = new WeakMap<FastifyRequest, string>()

/**
 * A route whose name starts with a mirror prefix that `mirrorHost` maps to
 * an upstream: the route without it, the request marked with that upstream
 * (read by {@link namespaceOf}). Other routes are returned as they are.
 */
export function unmirror (r: Route, req: FastifyRequest, mirrorHost?: (prefix: string) => string | undefined): Route {
  if (mirrorHost == null || !('name' in r)) return r
  const slash = r.name.indexOf('/')
  if (slash < 0) return r
  const host = mirrorHost(r.name.slice(0, slash))
  if (host == null) return r
  if (r.kind !== 'manifest' && r.kind !== 'blob' && r.kind !== 'tags') throw new OciError('UNSUPPORTED', 405, `${host} is mirrored read-only: push to the node's own repositories`, { host })
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new OciError('UNSUPPORTED', 405, `${host} is mirrored read-only: ${req.method} is not allowed`, { host })
  mirrorNamespaces.set(req, host)
  return { ...r, name: r.name.slice(slash + 1) }
}

/**
 * The upstream a mirror request names: containerd's `?ns=<registry host>`
 * (a host name, with an optional port). Anything else names none.
 */
export function namespaceOf (req: FastifyRequest): { namespace?: string } {
  const mirrored = mirrorNamespaces.get(req)
  if (mirrored != null) return { namespace: mirrored }
  const ns = query(req).ns
  return ns != null && ns.length <= 255 && /^[a-zA-Z0-9.-]+(:[0-9]{1,5})?$/.test(ns) ? { namespace: ns.toLowerCase() } : {}
}

/** The query string, first value of each parameter */
export function query (req: FastifyRequest): Record<string, string | undefined> {
  const q = req.query as Record<string, string | string[] | undefined>
  const out: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(q ?? {})) out[k] = Array.isArray(v) ? v[0] : v
  return out
}

/** The request body as a byte stream (never parsed, never buffered whole) */
export function body (req: FastifyRequest): AsyncIterable<Uint8Array> {
  return (req.body as AsyncIterable<Uint8Array> | undefined) ?? req.raw
}

/** Aborts when the answer is closed: complete, or the client went away */
export function closeSignal (reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => { controller.abort(new Error('the response was closed')) })
  return controller.signal
}
