import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { defaultLogger } from '@libp2p/logger'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { SwarmSource } from '../src/swarm/source.js'
import type { SwarmSourceComponents } from '../src/swarm/source.js'

const bytes = new TextEncoder().encode('a config blob')
const digest = `sha256:${Buffer.from((await sha256.digest(bytes)).digest).toString('hex')}`
const root = CID.createV1(raw.code, await sha256.digest(bytes))

/** Only what `blob()` reads with no pull in flight: the image records and the store */
function source (recorded: boolean): SwarmSource {
  return new SwarmSource({
    logger: defaultLogger(),
    images: { getBlob: async (d: string) => recorded && d === digest ? { digest, size: bytes.byteLength, root: root.toString() } : undefined },
    blockstore: { has: async (cid: CID) => recorded && cid.equals(root) }
  } as unknown as SwarmSourceComponents)
}

describe('SwarmSource.blob', () => {
  // a pull that ended between the local source's look and this one's is gone from the pulls in
  // flight, and its blobs are recorded: a client asking then got a 404 for a blob the node held
  it('finds a blob a finished pull recorded, with no pull left in flight', async () => {
    assert.deepEqual(await source(true).blob({ repository: 'library/x', digest } as any), { kind: 'stored', root, size: bytes.byteLength })
  })

  it('finds nothing for a blob no pull recorded', async () => {
    assert.equal(await source(false).blob({ repository: 'library/x', digest } as any), undefined)
  })
})
