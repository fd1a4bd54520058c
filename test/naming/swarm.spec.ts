/**
 * Publish and resolve across a 20-node in-process swarm (memory transport),
 * with the pointer-record validator and selector as createNode wires them
 * into kad-dht: each node's validator refuses a seq below the highest in its
 * own `node.seqStore`.
 */

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { dhtProviders } from '@provenir/node'
import { createSwarm, makeIdentities, type Swarm } from '@provenir/testbed'
import { userIdFromKey } from '@provenir/trust'
import {
  DhtRegistryClient, Registry, RepoPublisher, Resolver, createRepoDocument, dhtPointerSource,
  dhtRecordPutter, nameKey, repoKey, signRepoDocument, signRepoPointer,
  verifyBinding, type DocumentSource, type SeqStore
} from '@provenir/naming'
import { newKey } from './fixtures.js'
import type { PrivateKey } from '@libp2p/interface'
import type { ProvenirNode } from '@provenir/node'
import type { CID } from 'multiformats/cid'

const SIZE = 20
const MANIFESTS = ['sha256:' + '4'.repeat(64), 'sha256:' + '5'.repeat(64)]
const ROOT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

function xorDistance (a: Uint8Array, b: Uint8Array): bigint {
  let d = 0n
  for (let i = 0; i < a.length; i++) d = (d << 8n) | BigInt(a[i] ^ b[i])
  return d
}

function bitswapDocuments (node: ProvenirNode): DocumentSource {
  return async (cid, options) => {
    const session = node.libp2p.services.bitswap.createSession({ providers: dhtProviders(node.dht, node.peerId) })
    try {
      for await (const block of session.want([cid], { signal: options.signal ?? AbortSignal.timeout(30_000) })) return block.bytes
      throw new Error(`no block ${cid.toString()}`)
    } finally {
      session.close()
    }
  }
}

/** The record a node holds in its own DHT datastore, or undefined */
async function localRecord (node: ProvenirNode, key: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    return (await (node.dht as any).contentFetching.getLocal(key)).value
  } catch {
    return undefined
  }
}

function seqOf (record: Uint8Array | undefined): number | undefined {
  if (record == null) return undefined
  const env = JSON.parse(new TextDecoder().decode(record))
  return JSON.parse(Buffer.from(env.payload, 'base64').toString()).seq
}

describe('naming across a 20-node swarm', { timeout: 180_000 }, () => {
  let swarm: Swarm
  let identities: PrivateKey[]
  let stores: SeqStore[]
  let owner: PrivateKey
  let ownerNode: ProvenirNode
  const pointers: Uint8Array[] = []
  const docs: CID[] = []

  before(async () => {
    identities = await makeIdentities(SIZE, 4)
    swarm = await createSwarm({
      size: SIZE,
      identities,
      blockstores: true,
      topology: 'random'
    })
    stores = swarm.nodes.map(node => node.seqStore)
    await swarm.waitForRoutingTables(5)
    owner = await newKey()
    ownerNode = swarm.nodes[0]
    // seq 4 then seq 5, each a real document block and a signed pointer
    for (const [i, seq] of [4, 5].entries()) {
      const signed = await signRepoDocument(createRepoDocument({
        owner,
        repo: 'myapp',
        seq,
        tags: { latest: MANIFESTS[i] },
        images: [{ manifestDigest: MANIFESTS[i], mediaType: 'application/vnd.oci.image.manifest.v1+json', blobs: [{ digest: MANIFESTS[i], size: 1, root: ROOT }] }]
      }), owner)
      await ownerNode.blockstore?.put(signed.cid, signed.bytes)
      for await (const _ of ownerNode.dht.provide(signed.cid, { signal: AbortSignal.timeout(30_000) })) { /* drain */ }
      docs.push(signed.cid)
      pointers.push(await signRepoPointer({ repo: 'myapp', seq, doc: signed.cid }, owner))
    }
  })

  after(async () => {
    await swarm?.stop()
  })

  it('the owner publishes myapp:latest (seq 4, then 5) and the farthest node resolves it through the DHT', async () => {
    const key = repoKey(userIdFromKey(owner), 'myapp')
    for (const p of pointers) {
      for await (const _ of ownerNode.dht.put(key, p, { signal: AbortSignal.timeout(30_000) })) { /* drain */ }
    }
    const holders = (await Promise.all(swarm.nodes.map(async n => seqOf(await localRecord(n, key))))).filter(s => s != null)
    assert.ok(holders.length >= 2, `the record is stored on ${holders.length} nodes`)
    assert.ok(holders.every(s => s === 5), `every holder keeps seq 5: ${holders.join(',')}`)

    // farthest from the record's key in XOR space, and not the owner
    const target = createHash('sha256').update(key).digest()
    const far = swarm.nodes.slice(1)
      .map(n => ({ n, d: xorDistance(createHash('sha256').update(n.peerId.toMultihash().bytes).digest(), target) }))
      .sort((a, b) => (a.d < b.d ? 1 : a.d > b.d ? -1 : 0))[0].n
    const i = swarm.indexOf(far.peerId)
    const resolver = new Resolver({ pointers: dhtPointerSource(far.dht), documents: bitswapDocuments(far), seqStore: stores[i] })
    const r = await resolver.resolve(`${userIdFromKey(owner)}/myapp:latest`)
    assert.equal(r.pointer.seq, 5)
    assert.equal(r.manifestDigest, MANIFESTS[1])
    assert.equal(r.documentCid.toString(), docs[1].toString())
  })

  it('rollback: a replay of the real seq 4 record is refused by every node that has seen seq 5', async () => {
    const key = repoKey(userIdFromKey(owner), 'myapp')
    const sawFive = swarm.nodes.map((_, i) => i).filter(i => i !== 0)
    const seen = await Promise.all(sawFive.map(async i => stores[i].get(userIdFromKey(owner), 'myapp')))
    const witnesses = sawFive.filter((_, j) => (seen[j] ?? -1) >= 5)
    assert.ok(witnesses.length >= 2)
    // an attacker node replays the old record
    const attacker = swarm.nodes[SIZE - 1]
    const errors: string[] = []
    for await (const evt of attacker.dht.put(key, pointers[0], { signal: AbortSignal.timeout(30_000) })) {
      if (evt.name === 'QUERY_ERROR') errors.push(evt.error.name)
    }
    for (const i of witnesses) {
      if (i === SIZE - 1) continue
      const held = seqOf(await localRecord(swarm.nodes[i], key))
      assert.notEqual(held, 4, `node ${i} saw seq 5 and must not store seq 4`)
      await assert.rejects(swarm.nodes[i].dht.validators['provenir-repo'](key, pointers[0]) as Promise<void>, { name: 'RollbackError' })
    }
    // resolution from any witness still gives seq 5
    const w = witnesses.find(i => i !== SIZE - 1) as number
    const r = await new Resolver({ pointers: dhtPointerSource(swarm.nodes[w].dht), documents: bitswapDocuments(swarm.nodes[w]), seqStore: stores[w] })
      .resolve(`${userIdFromKey(owner)}/myapp`)
    assert.equal(r.pointer.seq, 5)
  })

  it('forged and expired records are refused by the nodes they are put to', async () => {
    const uid = userIdFromKey(owner)
    const mallory = await newKey()
    const forged = await signRepoPointer({ repo: 'forged', seq: 1, doc: docs[1] }, mallory)
    const expired = await signRepoPointer({ repo: 'expired', seq: 1, doc: docs[1], lifetime: 1000, now: Date.now() - 5000 }, owner)
    const attacker = swarm.nodes[SIZE - 1]
    for (const [repo, value] of [['forged', forged], ['expired', expired]] as const) {
      const key = repoKey(uid, repo)
      for await (const _ of attacker.dht.put(key, value, { signal: AbortSignal.timeout(30_000) })) { /* drain */ }
      const holders = await Promise.all(swarm.nodes.slice(0, SIZE - 1).map(async n => localRecord(n, key)))
      assert.equal(holders.filter(h => h != null).length, 0, `no honest node stores the ${repo} record`)
      await assert.rejects(new Resolver({ pointers: dhtPointerSource(swarm.nodes[1].dht), documents: bitswapDocuments(swarm.nodes[1]) }).resolve(`${uid}/${repo}`), { name: 'RepositoryNotFoundError' })
    }
  })

  it('a registry publishes its binding in the DHT; a far node resolves aweiteka/app through it with the registry offline, from a RepoPublisher publish', async () => {
    const appOwner = await newKey()
    const ownerIdx = 2
    const publisherNode = swarm.nodes[ownerIdx]
    const publisher = new RepoPublisher({
      key: appOwner,
      seqStore: stores[ownerIdx],
      putBlock: async (cid, bytes, options) => {
        await publisherNode.blockstore?.put(cid, bytes, options)
        for await (const _ of publisherNode.dht.provide(cid, options)) { /* drain */ }
      },
      putRecord: dhtRecordPutter(publisherNode.dht)
    })
    const published = await publisher.publish('app', { images: [{ manifestDigest: MANIFESTS[0], mediaType: 'application/vnd.oci.image.manifest.v1+json', blobs: [{ digest: MANIFESTS[0], size: 1, root: ROOT }] }], tags: { latest: MANIFESTS[0] } })
    assert.ok(published.peers > 0, 'some peers stored the pointer')

    // the registry runs on node 1 and puts every binding in the DHT
    const regNode = swarm.nodes[1]
    const puts: Array<Promise<number>> = []
    const registry = new Registry({ registrar: regNode.libp2p, logger: regNode.libp2p.logger, privateKey: identities[1] }, {
      onBinding: (name, binding) => { puts.push(dhtRecordPutter(regNode.dht)(nameKey(regNode.peerId, name), binding, { signal: AbortSignal.timeout(30_000) })) }
    })
    await registry.start()
    await registry.bind('aweiteka', userIdFromKey(appOwner))
    assert.ok((await Promise.all(puts))[0] > 0, 'some peers stored the binding')
    await registry.stop()

    const far = swarm.nodes[SIZE - 2]
    const resolver = new Resolver({
      registries: [new DhtRegistryClient(far.dht, regNode.peerId)],
      pointers: dhtPointerSource(far.dht),
      documents: bitswapDocuments(far)
    })
    const r = await resolver.resolve('aweiteka/app')
    assert.equal(r.owner, userIdFromKey(appOwner))
    assert.equal(r.manifestDigest, MANIFESTS[0])
    assert.equal(r.pointer.seq, published.seq)
    assert.equal((await verifyBinding(r.name!.answer.bindingBytes!, regNode.peerId)).name, 'aweiteka')
  })
})
