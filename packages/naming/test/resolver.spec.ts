import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { userIdFromKey } from '@provenir/trust'
import {
  MemorySeqStore, Registry, Resolver, createRepoDocument, signRepoDocument, signRepoPointer,
  type RegistryClient, type ResolverInit
} from '../src/index.js'
import { MANIFEST, MANIFEST2, ROOT, newKey, noRegistrar, silentLogger } from './fixtures.js'
import type { PrivateKey } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** An in-memory "DHT" and blockstore: every record ever put for a key is returned */
class World {
  pointers = new Map<string, Uint8Array[]>()
  blocks = new Map<string, Uint8Array>()

  async publish (key: PrivateKey, repo: string, seq: number, manifest: string, opts: { lifetime?: number, now?: number } = {}): Promise<{ pointer: Uint8Array, cid: CID }> {
    const doc = createRepoDocument({
      owner: key,
      repo,
      images: [{ manifestDigest: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', blobs: [{ digest: manifest, size: 10, root: ROOT }] }],
      tags: { latest: manifest },
      seq,
      ...opts
    })
    const signed = await signRepoDocument(doc, key)
    this.blocks.set(signed.cid.toString(), signed.bytes)
    const pointer = await signRepoPointer({ repo, seq, doc: signed.cid, ...opts }, key)
    this.add(userIdFromKey(key), repo, pointer)
    return { pointer, cid: signed.cid }
  }

  add (owner: string, repo: string, record: Uint8Array): void {
    const k = `${owner}/${repo}`
    this.pointers.set(k, [...(this.pointers.get(k) ?? []), record])
  }

  init (extra: ResolverInit = {}): ResolverInit {
    return {
      pointers: async (owner, repo) => this.pointers.get(`${owner}/${repo}`) ?? [],
      documents: async (cid) => {
        const b = this.blocks.get(cid.toString())
        if (b == null) throw new Error(`no block ${cid.toString()}`)
        return b
      },
      ...extra
    }
  }
}

async function registryBinding (name: string, userId: string): Promise<Registry> {
  const r = new Registry({ registrar: noRegistrar, logger: silentLogger, privateKey: await newKey() })
  await r.bind(name, userId)
  return r
}

describe('Resolver', () => {
  it('conflicting registries: priority decides, a local pin beats both, explain shows every answer', async () => {
    const world = new World()
    const k1 = await newKey()
    const k2 = await newKey()
    await world.publish(k1, 'myapp', 1, MANIFEST)
    await world.publish(k2, 'myapp', 1, MANIFEST2)
    const r1 = await registryBinding('aweiteka', userIdFromKey(k1))
    const r2 = await registryBinding('aweiteka', userIdFromKey(k2))

    const a = await new Resolver(world.init({ registries: [r1, r2] })).resolve('aweiteka/myapp:latest')
    assert.equal(a.owner, userIdFromKey(k1))
    assert.equal(a.manifestDigest, MANIFEST)
    assert.deepEqual(a.name?.answer.source, { kind: 'registry', registry: r1.nodeId, priority: 0 })

    const b = await new Resolver(world.init({ registries: [r2, r1] })).resolve('aweiteka/myapp')
    assert.equal(b.owner, userIdFromKey(k2))
    assert.equal(b.manifestDigest, MANIFEST2)

    const pinned = new Resolver(world.init({ registries: [r1, r2], pins: { aweiteka: userIdFromKey(k2) } }))
    assert.equal((await pinned.resolve('aweiteka/myapp')).manifestDigest, MANIFEST2)

    const explained = await pinned.resolveName('aweiteka', { explain: true })
    assert.deepEqual(explained.answers?.map(x => [x.source.kind, x.userId]), [
      ['pin', userIdFromKey(k2)], ['registry', userIdFromKey(k1)], ['registry', userIdFromKey(k2)]
    ])
    assert.equal(explained.answer.source.kind, 'pin')
    // every registry answer re-validates offline
    assert.ok(explained.answers?.[1].bindingBytes != null)
  })

  it('falls through to the default registry, skips a registry whose binding does not verify, and says NameNotFoundError', async () => {
    const world = new World()
    const k1 = await newKey()
    await world.publish(k1, 'myapp', 1, MANIFEST)
    const def = await registryBinding('aweiteka', userIdFromKey(k1))
    const honest = await registryBinding('someone-else', userIdFromKey(k1))
    const mallory = await registryBinding('aweiteka', userIdFromKey(await newKey()))
    // a client that claims to be `honest` but relays mallory's binding
    const liar: RegistryClient = { id: honest.nodeId, lookup: async (n) => mallory.lookup(n) }
    const failing: RegistryClient = { id: honest.nodeId, lookup: async () => { throw new Error('unreachable') } }
    const resolver = new Resolver(world.init({ registries: [liar, failing, honest], defaultRegistry: def }))
    const r = await resolver.resolve('aweiteka/myapp')
    assert.equal(r.owner, userIdFromKey(k1))
    assert.equal(r.name?.answer.source.kind, 'default')
    const explained = await resolver.resolveName('aweiteka', { explain: true })
    assert.equal(explained.answers?.[0].error?.name, 'BindingInvalidError')
    assert.equal(explained.answers?.[1].error?.message, 'unreachable')
    await assert.rejects(new Resolver(world.init({ registries: [honest] })).resolve('aweiteka/myapp'), { name: 'NameNotFoundError' })
  })

  it('resolves a UserId namespace directly, by tag and by digest', async () => {
    const world = new World()
    const k = await newKey()
    await world.publish(k, 'myapp', 1, MANIFEST)
    const resolver = new Resolver(world.init())
    assert.equal((await resolver.resolve(`${userIdFromKey(k)}/myapp`)).manifestDigest, MANIFEST)
    assert.equal((await resolver.resolve(`${userIdFromKey(k)}/myapp@${MANIFEST}`)).manifestDigest, MANIFEST)
    await assert.rejects(resolver.resolve(`${userIdFromKey(k)}/myapp:nope`), { name: 'TagNotFoundError' })
    await assert.rejects(resolver.resolve(`${userIdFromKey(k)}/myapp:latest@${MANIFEST2}`), { name: 'TagNotFoundError' })
    await assert.rejects(resolver.resolve(`${userIdFromKey(k)}/other`), { name: 'RepositoryNotFoundError' })
  })

  it('rollback: after seeing seq 5, a resolver refuses an answer holding only seq 4; the best of several wins', async () => {
    const world = new World()
    const k = await newKey()
    const owner = userIdFromKey(k)
    const { pointer: p4 } = await world.publish(k, 'myapp', 4, MANIFEST)
    const { pointer: p5 } = await world.publish(k, 'myapp', 5, MANIFEST2)
    const seqStore = new MemorySeqStore()
    const resolver = new Resolver(world.init({ seqStore }))
    // both records are found: seq 5 wins regardless of order
    world.pointers.set(`${owner}/myapp`, [p4, p5])
    assert.equal((await resolver.resolve(`${owner}/myapp`)).pointer.seq, 5)
    // a network that now only returns the old record (an eclipse or a replay)
    world.pointers.set(`${owner}/myapp`, [p4])
    await assert.rejects(resolver.resolve(`${owner}/myapp`), { name: 'RollbackError' })
    // a resolver that never saw seq 5 would take it (which is why seq is remembered)
    assert.equal((await new Resolver(world.init()).resolve(`${owner}/myapp`)).pointer.seq, 4)
  })

  it('forgery: a pointer or document signed by another key, or altered, is refused; a valid one beside it still wins', async () => {
    const world = new World()
    const owner = await newKey()
    const mallory = await newKey()
    const uid = userIdFromKey(owner)
    const { pointer: good } = await world.publish(owner, 'myapp', 1, MANIFEST)
    // mallory publishes her own repo, and places her pointer under the owner's key with a higher seq
    const { pointer: evil, cid: evilDoc } = await world.publish(mallory, 'myapp', 99, MANIFEST2)
    world.pointers.set(`${uid}/myapp`, [evil])
    await assert.rejects(new Resolver(world.init()).resolve(`${uid}/myapp`), { name: 'RepositoryNotFoundError', message: /RecordSignerMismatchError/ })
    world.pointers.set(`${uid}/myapp`, [evil, good])
    assert.equal((await new Resolver(world.init()).resolve(`${uid}/myapp`)).manifestDigest, MANIFEST)
    // the owner's own pointer naming mallory's document: the document is refused
    world.pointers.set(`${uid}/myapp`, [await signRepoPointer({ repo: 'myapp', seq: 2, doc: evilDoc }, owner)])
    await assert.rejects(new Resolver(world.init()).resolve(`${uid}/myapp`), { name: 'RecordSignerMismatchError' })
    // a block store handing back other bytes for the document's CID
    const { cid } = await world.publish(owner, 'myapp', 3, MANIFEST)
    world.blocks.set(cid.toString(), world.blocks.get(evilDoc.toString())!)
    world.pointers.set(`${uid}/myapp`, [await signRepoPointer({ repo: 'myapp', seq: 3, doc: cid }, owner)])
    await assert.rejects(new Resolver(world.init()).resolve(`${uid}/myapp`), { name: 'RecordInvalidError' })
  })

  it('an expired pointer is refused', async () => {
    const world = new World()
    const k = await newKey()
    await world.publish(k, 'myapp', 1, MANIFEST, { lifetime: 1000, now: Date.now() - 5000 })
    await assert.rejects(new Resolver(world.init()).resolve(`${userIdFromKey(k)}/myapp`), { name: 'RepositoryNotFoundError', message: /RecordExpiredError/ })
  })
})
