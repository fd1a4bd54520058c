/**
 * The node's naming service (`node.naming`, built by createNode from
 * @provenir/naming) on real in-process nodes (memory transport, blockstores
 * on disk), as the daemon runs it: publish from the image index, the
 * republish timer (a new seq, the replaced document unpinned, the new one
 * pinned), and the record a pull by name passes to `node.pull`.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Keystore } from '@provenir/identity'
import { keystoreKeys, policyReferenceOf, recordFromResolution } from '@provenir/naming'
import { createSwarm, makeIdentities, type Swarm } from '@provenir/testbed'
import { userIdFromKey } from '@provenir/trust'
import { CID } from 'multiformats/cid'
import { waitFor } from '../daemon-helpers.js'
import { makeImage, seedImage } from '../images.js'
import type { PrivateKey } from '@libp2p/interface'
import type { ImageRecord } from '@provenir/content'
import type { Naming } from '@provenir/naming'

describe('node.naming on in-process nodes', { timeout: 120_000 }, () => {
  let swarm: Swarm
  let identities: PrivateKey[]
  let dir: string
  let owner: Naming
  let client: Naming
  let alice: PrivateKey
  let image: ImageRecord
  let firstDocument: string

  before(async () => {
    identities = await makeIdentities(3, 4)
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-daemon-naming-'))
    alice = await generateKeyPair('Ed25519')
    await Keystore.create(path.join(dir, 'keystore.json'), { self: identities[0], alice })
    const namingFor = [
      { keys: keystoreKeys(path.join(dir, 'keystore.json')), republishInterval: 1_500 },
      {},
      { keys: keystoreKeys(path.join(dir, 'none.json')), cacheTtlMs: 0 }
    ]
    swarm = await createSwarm({ size: 3, identities, blockstores: true, topology: 'ring', nodeInit: (i) => ({ naming: namingFor[i] }) })
    await swarm.waitForRoutingTables(2)
    owner = swarm.nodes[0].naming
    client = swarm.nodes[2].naming
    image = await seedImage(swarm.nodes[0], makeImage())
  })

  after(async () => {
    await swarm?.stop()
    if (dir != null) await fs.rm(dir, { recursive: true, force: true })
  })

  it('publishes with the only namespace key, pins the document, and refuses an image it does not hold', async () => {
    const res = await owner.publish({ repo: 'app', tags: { v1: image.manifestDigest } })
    assert.equal(res.key, 'alice')
    assert.equal(res.owner, userIdFromKey(alice))
    assert.equal(res.seq, 1)
    firstDocument = res.documentCid
    assert.equal(await swarm.nodes[0].blockstore!.pins.isPinned(CID.parse(firstDocument)), true)
    await assert.rejects(owner.publish({ repo: 'app', tags: { v1: 'sha256:' + 'f'.repeat(64) } }), { name: 'InvalidParametersError', message: /holds no image sha256:f{64}/ })
    await assert.rejects(owner.publish({ repo: 'app', key: 'bob' }), { name: 'KeyNotFoundError' })
  })

  it('the republish timer publishes a higher seq, unpins the replaced document and pins the new one', async () => {
    const resolved = await waitFor('the client to see a republished seq', async () => {
      const { resolution } = await client.resolve(`${userIdFromKey(alice)}/app:v1`)
      return resolution.document.seq >= 2 ? resolution : undefined
    }, 30_000)
    assert.equal(resolved.manifestDigest, image.manifestDigest)
    const pins = swarm.nodes[0].blockstore!.pins
    await waitFor('the first document to be unpinned', async () => (await pins.isPinned(CID.parse(firstDocument))) ? undefined : true, 10_000)
    // the document the client got is one the owner keeps (or a newer one already replaced it)
    const latest = await owner.publish({ repo: 'app', tags: { v1: image.manifestDigest } })
    assert.ok(latest.seq > resolved.document.seq)
    assert.equal(await pins.isPinned(CID.parse(latest.documentCid)), true)
  })

  it('the signed document gives the record a pull by name passes to node.pull: the owner\'s blob roots, a multi-block layer included', async () => {
    const { resolution } = await client.resolve(`${userIdFromKey(alice)}/app:v1`)
    const record = recordFromResolution(resolution)
    assert.deepEqual(record.blobs.map(b => [b.digest, b.size, b.root]), image.blobs.map(b => [b.digest, b.size, b.root]))
    assert.equal(policyReferenceOf(resolution), `${userIdFromKey(alice)}/app:v1`)
    const pulled = await swarm.nodes[2].pull(resolution.manifestDigest, { record, reference: policyReferenceOf(resolution), signal: AbortSignal.timeout(60_000) })
    assert.deepEqual(pulled.record.blobs.map(b => b.root), image.blobs.map(b => b.root))
  })
})
