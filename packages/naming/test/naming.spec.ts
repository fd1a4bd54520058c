/**
 * The naming service (`naming(init)`) with stubbed components: offline
 * publishing (stored here, resolved here, put in the DHT when a peer
 * appears), no seq used by a failed publish, the republish above a seq the
 * DHT turns out to hold, the real source of a registry answer, and key
 * choice.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { userIdFromKey } from '@provenir/trust'
import {
  MemorySeqStore, RepoPublisher, nameKey, repoKey, signBinding, signRepoPointer, summariseResolution, verifyRepoPointer
} from '../src/index.js'
import { MANIFEST, ROOT, newKey } from './fixtures.js'
import { eventually, keysOf, world } from './service-fixtures.js'
import type { ImageRecord } from '@provenir/content'

const decoder = new TextDecoder()
const IMAGE: ImageRecord = {
  manifestDigest: MANIFEST as ImageRecord['manifestDigest'],
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  tags: ['docker.io/provenir/app:v1'],
  blobs: [{ digest: MANIFEST as ImageRecord['manifestDigest'], size: 10, root: ROOT, mediaType: 'application/vnd.oci.image.manifest.v1+json' }]
}

describe('naming service', () => {
  it('publishes with no DHT peer: stored here at once with a warning, resolved here, never waiting on the DHT', async () => {
    const alice = await newKey()
    const w = world(await newKey(), [IMAGE])
    const names = await w.start({ keys: keysOf({ alice }) })
    try {
      const published = await names.publish({ repo: 'app' })
      assert.deepEqual([published.owner, published.seq, published.peers, published.tags], [userIdFromKey(alice), 1, 0, { v1: MANIFEST }])
      assert.match(published.warning ?? '', /no DHT peers: the record is stored here/)
      assert.deepEqual(w.dht.puts, [], 'no DHT put is started without peers')
      assert.ok(w.blocks.pinned.has(published.documentCid))
      const { resolution, record, cached } = await names.resolve(`${published.owner}/app:v1`)
      assert.deepEqual([resolution.manifestDigest, resolution.document.seq, record, cached], [MANIFEST, 1, 'local', false])
      assert.equal(w.dht.gets, 0, 'the local record answered without a DHT lookup')
      assert.equal(summariseResolution('x', resolution, false, record).record, 'local')
    } finally {
      await names.stop()
    }
  })

  it('puts the record in the DHT when a peer appears, once, and a restarted service still answers from it', async () => {
    const alice = await newKey()
    const w = world(await newKey(), [IMAGE])
    const names = await w.start({ keys: keysOf({ alice }) })
    const owner = userIdFromKey(alice)
    const key = decoder.decode(repoKey(owner, 'app'))
    try {
      const published = await names.publish({ repo: 'app' })
      w.peers.peerJoins()
      const stored = await eventually('the pointer in the DHT', () => w.dht.records.get(key))
      const pointer = await verifyRepoPointer(repoKey(owner, 'app'), stored)
      assert.deepEqual([pointer.seq, pointer.doc], [1, published.documentCid], 'the record published offline, not a new one')
      w.peers.peerJoins()
      const puts = w.dht.puts.length
      await names.resolve(`${owner}/app:v1`, { explain: true })
      assert.equal(w.dht.puts.length, puts, 'a record a peer took is not put again')
    } finally {
      await names.stop()
    }
    // the same datastore, a new service: its record answers before any peer is back
    w.peers.size = 0
    const again = await w.start({ keys: keysOf({ alice }) })
    try {
      const { record, resolution } = await again.resolve(`${owner}/app:v1`)
      assert.deepEqual([record, resolution.document.seq], ['local', 1])
    } finally {
      await again.stop()
    }
  })

  it('a publish that fails uses no seq; a DHT that refuses the put leaves the publish standing here', async () => {
    const alice = await newKey()
    const w = world(await newKey(), [IMAGE])
    const names = await w.start({ keys: keysOf({ alice }) })
    try {
      const put = w.datastore.put.bind(w.datastore)
      w.datastore.put = async () => { throw new Error('disk full') }
      await assert.rejects(names.publish({ repo: 'app' }), /disk full/)
      assert.equal(w.blocks.pinned.size, 0, 'the document of the failed publish is not kept pinned')
      w.datastore.put = put
      w.peers.size = 1
      w.dht.failPuts = true
      const first = await names.publish({ repo: 'app' })
      assert.deepEqual([first.seq, first.peers], [1, 0], 'seq 1: the failed publish took none')
      assert.match(first.warning ?? '', /no DHT peer took the record/)
      w.dht.failPuts = false
      const second = await names.publish({ repo: 'app' })
      assert.deepEqual([second.seq, second.peers], [2, 3])
      assert.equal(w.blocks.pinned.has(first.documentCid), false, 'the replaced document is unpinned')
    } finally {
      await names.stop()
    }
  })

  it('RepoPublisher without a commit takes the seq only once the DHT took the record', async () => {
    const key = await newKey()
    let fail = true
    const publisher = new RepoPublisher({
      key,
      seqStore: new MemorySeqStore(),
      putBlock: async () => {},
      putRecord: async () => { if (fail) throw new Error('no peer'); return 1 }
    })
    const content = { images: [{ manifestDigest: MANIFEST, mediaType: IMAGE.mediaType, blobs: [{ digest: MANIFEST, size: 10, root: ROOT }] }], tags: { v1: MANIFEST } }
    await assert.rejects(publisher.publish('app', content), /no peer/)
    fail = false
    assert.equal((await publisher.publish('app', content)).seq, 1)
  })

  it('when peers appear and the DHT holds a higher seq (a lost datastore), republishes above it', async () => {
    const alice = await newKey()
    const w = world(await newKey(), [IMAGE])
    const owner = userIdFromKey(alice)
    const key = decoder.decode(repoKey(owner, 'app'))
    w.dht.records.set(key, await signRepoPointer({ repo: 'app', seq: 5, doc: ROOT }, alice))
    const names = await w.start({ keys: keysOf({ alice }) })
    try {
      assert.equal((await names.publish({ repo: 'app' })).seq, 1)
      w.peers.peerJoins()
      const pointer = await eventually('a republish above seq 5', async () => {
        const p = await verifyRepoPointer(repoKey(owner, 'app'), w.dht.records.get(key)!)
        return p.seq > 5 ? p : undefined
      })
      assert.equal(pointer.seq, 6)
      const { resolution, record } = await names.resolve(`${owner}/app:v1`)
      assert.deepEqual([resolution.document.seq, record], [6, 'local'])
    } finally {
      await names.stop()
    }
  })

  it('labels an answer with its real source: the DHT when the registry is unreachable', async () => {
    const registryKey = await newKey()
    const registryId = peerIdFromPrivateKey(registryKey).toString()
    const alice = await newKey()
    const w = world(await newKey(), [IMAGE])
    w.peers.size = 1
    w.dht.records.set(decoder.decode(nameKey(registryId, 'acme')), await signBinding({ name: 'acme', userId: userIdFromKey(alice), seq: 1 }, registryKey))
    const publisher = await w.start({ keys: keysOf({ alice }) })
    await publisher.publish({ repo: 'app' })
    await publisher.stop()
    const names = await w.start({ registries: [registryId], cacheTtlMs: 0 })
    try {
      const { resolution } = await names.resolve('acme/app:v1', { explain: true })
      const summary = summariseResolution('acme/app:v1', resolution, false)
      assert.equal(summary.name?.source, `DHT record of registry ${registryId} (priority 0)`)
      assert.deepEqual([summary.answers?.[0].from, summary.answers?.[0].registry, summary.answers?.[0].winner], ['dht', registryId, true])
    } finally {
      await names.stop()
    }
  })

  it('a registry with no DHT peer binds a claimed name at once and puts the binding in the DHT when a peer appears', async () => {
    const alice = await newKey()
    const node = await newKey()
    const w = world(node, [IMAGE])
    const names = await w.start({ keys: keysOf({ alice }), registry: { serve: true } })
    try {
      const claim = await names.claim('acme', peerIdFromPrivateKey(node).toString())
      assert.deepEqual([claim.userId, claim.seq], [userIdFromKey(alice), 1])
      assert.deepEqual(w.dht.puts, [], 'nothing is put without peers')
      w.peers.peerJoins()
      const key = decoder.decode(nameKey(claim.registry, 'acme'))
      const stored = await eventually('the binding in the DHT', () => w.dht.records.get(key))
      assert.deepEqual(JSON.parse(decoder.decode(stored)), claim.binding)
    } finally {
      await names.stop()
    }
  })

  it('chooses the namespace key: the only one, else a named error listing them; the node key only when allowed', async () => {
    const [a, b, node] = [await newKey(), await newKey(), await newKey()]
    const w = world(node, [IMAGE])
    const none = await w.start()
    await assert.rejects(none.publish({ repo: 'app' }), { name: 'KeyNotFoundError' })
    await none.stop()
    const names = await w.start({ keys: keysOf({ self: node, a, b }) })
    try {
      await assert.rejects(names.publish({ repo: 'app' }), { name: 'AmbiguousKeyError', message: 'the keystore holds 2 namespace keys (a, b); choose one with --key' })
      await assert.rejects(names.claim('acme', peerIdFromPrivateKey(node).toString()), { name: 'AmbiguousKeyError', message: /\(a, b\)/ })
      await assert.rejects(names.publish({ repo: 'app', key: 'self' }), { name: 'InvalidParametersError', message: /node key/ })
      assert.equal((await names.publish({ repo: 'app', key: 'self', allowNodeKey: true })).owner, userIdFromKey(node))
      await assert.rejects(names.publish({ repo: 'docker.io/provenir/app', key: 'a' }), { name: 'InvalidParametersError', message: /give "app"/ })
    } finally {
      await names.stop()
    }
  })
})
