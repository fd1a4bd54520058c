import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createNode } from '../src/index.js'
import type { ProvenirNode } from '../src/index.js'

const config = { difficulty: 0, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true }

describe('a node with a level datastore on disk', () => {
  let dir: string
  let other: ProvenirNode

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-node-'))
    other = await createNode({ privateKey: await generateKeyPair('Ed25519'), config })
  })

  after(async () => {
    await other?.stop()
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('keeps its peer store and DHT provider records across a restart', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const datastorePath = path.join(dir, 'datastore')
    const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('persisted')))

    let node = await createNode({ privateKey, config, datastorePath })
    await node.libp2p.dial(other.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    for await (const _ of node.dht.provide(cid, { signal: AbortSignal.timeout(10_000) })) { /* drain */ }
    await node.stop()

    // a level database can be opened by one process at a time: the second
    // open would throw if stop() had not closed it
    node = await createNode({ privateKey, config: { ...config, listen: [] }, datastorePath })
    try {
      const peer = await node.libp2p.peerStore.get(other.peerId)
      assert.ok(peer.addresses.length > 0, 'the peer store kept the other node\'s addresses')
      let found = false
      for await (const evt of node.dht.findProviders(cid, { signal: AbortSignal.timeout(5_000) })) {
        if (evt.name === 'PROVIDER' && evt.providers.some(p => p.id.equals(node.peerId))) found = true
      }
      assert.ok(found, 'the provider record survived the restart')
    } finally {
      await node.stop()
    }
  })

  it('refuses a second node on the same datastore', async () => {
    const datastorePath = path.join(dir, 'locked')
    const a = await createNode({ privateKey: await generateKeyPair('Ed25519'), config, datastorePath })
    try {
      await assert.rejects(createNode({ privateKey: await generateKeyPair('Ed25519'), config, datastorePath }))
    } finally {
      await a.stop()
    }
  })
})
