/**
 * What the content service uses of the node, as one components object (so a
 * test can hand it stubs).
 */

import type { ImageStatement } from '../statements.js'
import type { SwarmSource } from '../swarm/source.js'
import type { ContentSource } from './types.js'
import type { AbortOptions, ComponentLogger } from '@libp2p/interface'
import type { ContentBlockstore, ImageIndex, RepositoryIndex } from '@provenir/content'
import type { CID } from 'multiformats/cid'

export interface ContentServiceComponents {
  blockstore: ContentBlockstore
  /** The image records */
  images: ImageIndex
  /** Repositories, tags, links, entries, referrers and tombstones, in the same database as the image records */
  registry: RepositoryIndex
  /** The swarm source: also the whole-image pull, and the pulls in flight */
  swarm: ContentSource & Pick<SwarmSource, 'pull' | 'settled'>
  logger: ComponentLogger
  /** Advertise a CID in the DHT in the background (once per run) */
  provide(cid: CID): void
  /** Stop advertising a CID (it was deleted): the DHT's reprovider drops it */
  unprovide(cid: CID): Promise<void>
  /** Advertise an image the node holds: its manifest, blobs and statements */
  provideImage(manifestDigest: string): Promise<void>
  /** The statements attached to a held image, checked again */
  statements(manifestDigest: string, options?: AbortOptions): Promise<ImageStatement[]>
  /** Attach signed statements to a held image */
  addStatements(manifestDigest: string, envelopes: Uint8Array[], options?: AbortOptions): Promise<ImageStatement[]>
}
