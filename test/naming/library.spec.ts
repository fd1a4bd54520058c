/**
 * Naming as a library, without the CLI: two nodes from `createNode` (TCP on
 * loopback, stores on disk), each with its naming service (`node.naming`,
 * configured by `CreateNodeInit.naming`). A publishes with no peer and
 * resolves from its own record, serves a registry and claims a link name at
 * it; B, started later with A as its registry, resolves the name once they
 * connect, sees A's republished seq, and pulls the image with the signed
 * document's record. The example in packages/naming/README.md is this test.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Keystore } from '@provenir/identity'
import { keystoreKeys, recordFromResolution } from '@provenir/naming'
import { createNode } from '@provenir/node'
import { makeIdentities } from '@provenir/testbed'
import { userIdFromKey } from '@provenir/trust'
import { waitFor } from '../daemon-helpers.js'
import { makeImage, seedImage } from '../images.js'
import type { PrivateKey } from '@libp2p/interface'
import type { ImageRecord } from '@provenir/content'
import type { ProvenirNode } from '@provenir/node'

describe('naming as a library: createNode + node.naming, no CLI', { timeout: 120_000 }, () => {
  let dir: string
  let nodeKeys: PrivateKey[]
  let a: ProvenirNode
  let b: ProvenirNode | undefined
  let owner: string
  let image: ImageRecord
  let firstSeq: number

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-naming-library-'))
    nodeKeys = await makeIdentities(2, 4)
    const alice = await generateKeyPair('Ed25519')
    owner = userIdFromKey(alice)
    const keystoreFile = path.join(dir, 'keystore.json')
    await Keystore.create(keystoreFile, { alice })
    // --- README example start ---
    a = await createNode({
      privateKey: nodeKeys[0],
      config: { difficulty: 4, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true },
      datastorePath: path.join(dir, 'a', 'datastore'),
      blockstorePath: path.join(dir, 'a', 'content'),
      naming: {
        keys: keystoreKeys(keystoreFile), // the namespace keys that sign what this node publishes
        registry: { serve: true }, // this node is a registry for link names
        republishInterval: 2_000,
        lifetime: 60_000
      }
    })
    // --- README example end ---
    image = await seedImage(a, makeImage(1.5 * 1024 * 1024))
  })

  after(async () => {
    await b?.stop()
    await a?.stop()
    if (dir != null) await fs.rm(dir, { recursive: true, force: true })
  })

  it('A, with no peer, publishes (stored locally, with a warning) and resolves from its own record', async () => {
    const published = await a.naming.publish({ repo: 'app', tags: { v1: image.manifestDigest } })
    assert.deepEqual([published.owner, published.key, published.peers], [owner, 'alice', 0])
    assert.match(published.warning ?? '', /no DHT peers/)
    const { resolution, record } = await a.naming.resolve(`${owner}/app:v1`)
    assert.deepEqual([resolution.manifestDigest, resolution.document.seq, record], [image.manifestDigest, published.seq, 'local'])
    firstSeq = published.seq
  })

  it('A serves a registry: the claim of "acme" by the namespace key is bound by A', async () => {
    const claim = await a.naming.claim('acme', a.peerId.toString())
    assert.deepEqual([claim.name, claim.userId, claim.registry], ['acme', owner, a.peerId.toString()])
    assert.ok(a.naming.registry != null)
  })

  it('B, started later with A as its registry, resolves acme/app:v1 once connected, sees the republished seq, and pulls by name', async () => {
    const addr = a.getMultiaddrs()[0].toString()
    b = await createNode({
      privateKey: nodeKeys[1],
      config: { difficulty: 4, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true, bootstrap: [addr] },
      datastorePath: path.join(dir, 'b', 'datastore'),
      blockstorePath: path.join(dir, 'b', 'content'),
      naming: { registries: [addr], cacheTtlMs: 0 }
    })
    const client = b
    const named = await waitFor('B to resolve acme/app:v1', async () => client.naming.resolve('acme/app:v1').catch(() => undefined), 60_000)
    assert.deepEqual([named.resolution.owner, named.resolution.manifestDigest, named.record], [owner, image.manifestDigest, 'dht'])
    assert.equal(named.resolution.name?.answer.source.kind, 'registry')
    const republished = await waitFor('B to see a republished seq', async () => {
      const r = await client.naming.resolve(`${owner}/app:v1`).catch(() => undefined)
      return r != null && r.resolution.document.seq > firstSeq ? r : undefined
    }, 60_000)
    const pulled = await client.pull(republished.resolution.manifestDigest, { record: recordFromResolution(republished.resolution), signal: AbortSignal.timeout(60_000) })
    assert.deepEqual(pulled.record.blobs.map(x => x.root), image.blobs.map(x => x.root))
  })
})
