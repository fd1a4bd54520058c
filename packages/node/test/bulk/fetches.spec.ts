import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Fetches } from '../../src/swarm/bulk/fetches.js'
import { randomBlock } from './helpers.js'
import type { PeerId } from '@libp2p/interface'

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

describe('bulk channel: the blocks a node is fetching', () => {
  it('a fetch in flight is waited for until it ends; one that stored the block is remembered as stored lately', async () => {
    const f = new Fetches()
    const { cid } = await randomBlock()
    assert.equal(f.get(cid), undefined, 'nothing fetched: nothing to wait for')
    const one = f.begin(cid)
    const two = f.begin(cid)
    f.asking(cid, await newPeer())
    const waiting = f.get(cid)
    assert.ok(waiting != null)
    one(false)
    assert.ok(f.get(cid) != null, 'one of two fetches failed: the other still runs')
    two(true)
    assert.equal(await waiting, true)
    assert.equal(f.get(cid), undefined)
    assert.equal(f.storedLately(cid), true)
    assert.equal(f.storedLately((await randomBlock()).cid), false)
  })

  it('is not waited for by a peer this node is asking for the same block: the two would wait for each other', async () => {
    const f = new Fetches()
    const { cid } = await randomBlock()
    const [asked, other] = [await newPeer(), await newPeer()]
    const done = f.begin(cid)
    const ended = f.asking(cid, asked)
    assert.equal(f.get(cid, asked), undefined)
    assert.ok(f.get(cid, other) != null)
    const next = f.asking(cid, other)
    ended()
    ended()
    assert.ok(f.get(cid, asked) != null, 'the request of it ended: the peer may wait now')
    next()
    assert.equal(f.get(cid, asked), undefined, 'no request of the block in flight (set aside, or waiting for peers): nothing on its way to wait for')
    done(false)
    assert.equal(f.storedLately(cid), false, 'a fetch that stored nothing is not remembered')
  })
})
