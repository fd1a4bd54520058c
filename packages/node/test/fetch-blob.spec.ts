import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FsBlockstore, getBlockBytes, importBlob } from '@provenir/content'
import { ENOUGH_BLOB_PROVIDERS, fetchBlob, PROVIDER_REFRESH_INTERVAL } from '../src/swarm/fetch.js'
import type { TransportBlock, TransportSession } from '../src/swarm/transport.js'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

/**
 * A session over a store that holds the blob: each block it yields is put
 * into the puller's store first (the seam's contract). Leaves wait for
 * `release` so that the fetch lasts as long as the test needs.
 */
class StoreSession implements TransportSession {
  readonly #from: FsBlockstore
  readonly #to: FsBlockstore
  readonly #peers: PeerId[] = []
  readonly #gate: Promise<void>
  release!: () => void

  constructor (from: FsBlockstore, to: FsBlockstore, peers: PeerId[]) {
    this.#from = from
    this.#to = to
    this.#peers.push(...peers)
    this.#gate = new Promise(resolve => { this.release = resolve })
  }

  async * want (cids: Iterable<CID> | AsyncIterable<CID>): AsyncGenerator<TransportBlock, void, undefined> {
    for await (const cid of cids) {
      // the root (dag-pb) comes at once; the leaves once the test lets them
      if (cid.code !== 0x70) await this.#gate
      const bytes = await getBlockBytes(this.#from, cid)
      await this.#to.put(cid, bytes)
      yield { cid, bytes }
    }
  }

  addPeer (peer: PeerId): void {
    if (!this.#peers.some(p => p.equals(peer))) this.#peers.push(peer)
  }

  peers (): PeerId[] {
    return [...this.#peers]
  }

  close (): void {}
}

describe('fetchBlob: looking for more providers', () => {
  let dir: string
  let seed: FsBlockstore
  let root: CID
  let digest: string
  const size = 3 * 1024 * 1024 + 17

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenir-fetch-blob-'))
    seed = new FsBlockstore({ path: join(dir, 'seed') })
    await seed.open()
    const bytes = randomBytes(size)
    const { createHash } = await import('node:crypto')
    digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
    const imported = await importBlob([bytes], seed, { expectedDigest: digest, size })
    root = imported.root
    assert.equal(root.code, 0x70, 'a blob of several chunks has a dag-pb root')
  })

  after(async () => {
    await seed.close()
    await rm(dir, { recursive: true, force: true })
  })

  it(`stops once the session knows ${ENOUGH_BLOB_PROVIDERS} peers, without finishing the lookup that found the last`, async () => {
    const puller = new FsBlockstore({ path: join(dir, `puller-${Math.random()}`) })
    await puller.open()
    try {
      const session = new StoreSession(seed, puller, [await newPeer()])
      // every lookup names 3 peers not named before, then 3 more it should never be asked for
      const lookups: Array<{ yielded: number, ended: boolean }> = []
      const fresh: PeerId[] = []
      for (let i = 0; i < 40; i++) fresh.push(await newPeer())
      async function * findProviders (): AsyncGenerator<PeerId> {
        const lookup = { yielded: 0, ended: false }
        lookups.push(lookup)
        try {
          for (let i = 0; i < 6; i++) {
            lookup.yielded++
            yield fresh.shift() as PeerId
          }
        } finally {
          lookup.ended = true
        }
      }
      const fetching = fetchBlob(session, puller, root, digest, size, { findProviders })
      // 1 peer, +6 on the first lookup, then the second lookup reaches 8 with its first peer
      const deadline = Date.now() + 4 * PROVIDER_REFRESH_INTERVAL + 2_000
      while (lookups.length < 2 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      // long enough for a third lookup, had the refresh gone on
      await new Promise(resolve => setTimeout(resolve, 3 * PROVIDER_REFRESH_INTERVAL))
      session.release()
      await fetching
      assert.equal(lookups.length, 2, 'no lookup once the session knew enough peers')
      assert.equal(lookups[0].yielded, 6)
      assert.equal(lookups[1].yielded, 1, 'the lookup that found the last peer needed was not read on')
      assert.ok(lookups.every(l => l.ended), 'every lookup was ended (its query aborted)')
      assert.equal(session.peers().length, ENOUGH_BLOB_PROVIDERS)
    } finally {
      await puller.close()
    }
  })

  it('does not look at all when the session knows enough peers already', async () => {
    const puller = new FsBlockstore({ path: join(dir, `puller-${Math.random()}`) })
    await puller.open()
    try {
      const peers: PeerId[] = []
      for (let i = 0; i < ENOUGH_BLOB_PROVIDERS; i++) peers.push(await newPeer())
      const session = new StoreSession(seed, puller, peers)
      let lookups = 0
      async function * findProviders (): AsyncGenerator<PeerId> {
        lookups++
        yield await newPeer()
      }
      const fetching = fetchBlob(session, puller, root, digest, size, { findProviders })
      await new Promise(resolve => setTimeout(resolve, 2 * PROVIDER_REFRESH_INTERVAL))
      session.release()
      await fetching
      assert.equal(lookups, 0)
    } finally {
      await puller.close()
    }
  })
})
