/**
 * The daemon's storage routes: `POST /api/v0/image/rm` (remove an image on
 * purpose) and `GET /api/v0/repo/stat` (what the store holds, by kind, and
 * its limits). `POST /api/v0/gc` stays with the content routes.
 */
import { InvalidConfigError, InvalidParametersError } from '@provenir/interface'
import { MAX_IMAGES_LISTED, MAX_RPC_TAG_LENGTH, RPC_GC_TIMEOUT_MS, RPC_CONTENT_BODY_LIMIT } from './constants.js'
import { contentLock } from './content-routes.js'
import { bodyObject } from './rpc-params.js'
import type { RpcRoute } from './rpc-server.js'
import type { ProvenirNode, StorageService, StorageStat } from '@provenir/node'

/** `POST /api/v0/image/rm` */
export interface ImageRmResponse {
  /** The manifest digest of the image removed */
  digest: string
  /** Blocks deleted (blocks another image shares stay) */
  blocks: number
  /** Their bytes */
  bytes: number
}

/** `GET /api/v0/repo/stat` */
export type RepoStatResponse = StorageStat

/** The storage service of a node with a blockstore */
export function storageOf (node: ProvenirNode): StorageService {
  if (node.content == null) throw new InvalidConfigError('this daemon\'s node has no blockstore, so it holds no images')
  return node.content.storage
}

/** A manifest digest or a tag of a held image, bounded */
function imageRefParam (value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_RPC_TAG_LENGTH || /[\s\0]/.test(value)) {
    throw new InvalidParametersError(`"ref" must be an image's manifest digest (sha256:...) or one of its tags: a non-empty string of at most ${MAX_RPC_TAG_LENGTH} characters without spaces`)
  }
  return value
}

/** The storage routes; part of DEFAULT_ROUTES */
export const STORAGE_ROUTES: readonly RpcRoute[] = Object.freeze([
  {
    method: 'POST',
    url: '/api/v0/image/rm',
    timeout: RPC_GC_TIMEOUT_MS,
    bodyLimit: RPC_CONTENT_BODY_LIMIT,
    async handler (ctx): Promise<ImageRmResponse> {
      const ref = imageRefParam(bodyObject(ctx, ['ref']).ref)
      const storage = storageOf(ctx.node)
      // deletes blocks: not beside an import, whose blocks are pinned only once its image is complete
      return contentLock(ctx.node).exclusive(async () => storage.removeImage(ref, { signal: ctx.signal }))
    }
  },
  {
    method: 'GET',
    url: '/api/v0/repo/stat',
    async handler ({ node, signal }): Promise<RepoStatResponse> {
      return storageOf(node).stat({ signal, maxImages: MAX_IMAGES_LISTED })
    }
  }
])
