/**
 * What every route module gets: the node's content service (the routes are
 * thin adapters over it), the gateway's settings, its upload sessions and
 * its logger.
 */

import type { GatewayInit } from '../index.js'
import type { UploadStore, Uploads } from '../uploads.js'
import type { Logger } from '@libp2p/interface'
import type { ContentService } from '@provenir/node'
import type { FastifyRequest } from 'fastify'

export interface RouteContext {
  content: ContentService
  init: GatewayInit
  uploads: Uploads
  /** Where uploads build their blocks (the node's blockstore); the content service records them */
  store: UploadStore
  log: Logger
  maxUploadSize: number
  pullTimeout: number
  manifestPullTimeout: number
  idleTimeout: number
  /** Aborted when the gateway closes: background work (publishing after a push) stops */
  closing: AbortSignal
  /** Background work the gateway waits for when it closes */
  background: Set<Promise<void>>
  /** Whether the request carries the write token */
  writeAuthorized(req: FastifyRequest): boolean
}
