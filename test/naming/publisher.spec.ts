import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { waitFor } from '@provenir/testbed'
import { userIdFromKey } from '@provenir/trust'
import { MemorySeqStore, RepoPublisher, Resolver, repoKey, repoValidator, verifyRepoPointer } from '@provenir/naming'
import { MANIFEST, MANIFEST2, ROOT, newKey } from './fixtures.js'

const image = (digest: string) => ({ manifestDigest: digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', blobs: [{ digest, size: 1, root: ROOT }] })

describe('RepoPublisher', () => {
  it('publishes with increasing seq, above any seq already seen, and the result resolves', async () => {
    const key = await newKey()
    const owner = userIdFromKey(key)
    const blocks = new Map<string, Uint8Array>()
    const records = new Map<string, Uint8Array>()
    const seqStore = new MemorySeqStore()
    await seqStore.observe(owner, 'myapp', 41) // e.g. seen in the DHT by the node's validator
    const publisher = new RepoPublisher({
      key,
      seqStore,
      putBlock: async (cid, bytes) => { blocks.set(cid.toString(), bytes) },
      putRecord: async (k, v) => { records.set(new TextDecoder().decode(k), v); return 3 }
    })
    const first = await publisher.publish('myapp', { images: [image(MANIFEST)], tags: { latest: MANIFEST } })
    assert.equal(first.seq, 42)
    assert.equal(first.peers, 3)
    const second = await publisher.publish('myapp', { images: [image(MANIFEST), image(MANIFEST2)], tags: { latest: MANIFEST2, old: MANIFEST } })
    assert.equal(second.seq, 43)
    const stored = records.get(new TextDecoder().decode(repoKey(owner, 'myapp')))!
    await repoValidator(repoKey(owner, 'myapp'), stored)
    const resolver = new Resolver({
      pointers: async () => [stored],
      documents: async (cid) => blocks.get(cid.toString())!
    })
    const r = await resolver.resolve(`${owner}/myapp:latest`)
    assert.equal(r.manifestDigest, MANIFEST2)
    assert.equal(r.pointer.seq, 43)
  })

  it('republishes on a timer with a new seq and a later expiry', async () => {
    const key = await newKey()
    const owner = userIdFromKey(key)
    const puts: Uint8Array[] = []
    const publisher = new RepoPublisher({
      key,
      republishInterval: 100,
      lifetime: 60_000,
      putBlock: async () => {},
      putRecord: async (_k, v) => { puts.push(v); return 1 }
    })
    await publisher.start()
    try {
      await publisher.publish('myapp', { images: [image(MANIFEST)], tags: { latest: MANIFEST } })
      await waitFor(() => puts.length >= 3, { timeout: 10_000 })
    } finally {
      await publisher.stop()
    }
    const pointers = await Promise.all(puts.map(async p => verifyRepoPointer(repoKey(owner, 'myapp'), p)))
    for (let i = 1; i < pointers.length; i++) {
      assert.ok(pointers[i].seq > pointers[i - 1].seq)
      assert.ok(pointers[i].expires >= pointers[i - 1].expires)
    }
    assert.throws(() => new RepoPublisher({ key, republishInterval: 10, lifetime: 5, putBlock: async () => {}, putRecord: async () => 0 }), { name: 'InvalidParametersError' })
  })
})
