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

  it('a caller waiting with a buffer gets the bytes copied as the fetch ends, and none after it gave up', async () => {
    const f = new Fetches()
    const { cid, bytes } = await randomBlock(4096)
    assert.equal(f.getInto(cid, new Uint8Array(4096)), undefined, 'not fetched: nothing on its way')
    const done = f.begin(cid)
    // not asked of a peer yet (queued in a session): this node's own fetch gets to it
    const into = new Uint8Array(8192)
    const small = new Uint8Array(100)
    const quitter = new Uint8Array(4096)
    const controller = new AbortController()
    const waiting = f.getInto(cid, into)
    const larger = f.getInto(cid, small)
    const gaveUp = f.getInto(cid, quitter, controller.signal)
    assert.ok(waiting != null && larger != null && gaveUp != null)
    controller.abort(new Error('the client left'))
    await assert.rejects(gaveUp, /the client left/)
    // the buffer the fetch read into is reused once done returns: the callers copied from it by then
    const buffer = Uint8Array.from(bytes)
    done(true, buffer)
    buffer.fill(0)
    const got = await waiting
    assert.ok(got instanceof Uint8Array)
    assert.equal(got.buffer, into.buffer, 'copied into the buffer given')
    assert.deepEqual(got, new Uint8Array(bytes))
    const own = await larger
    assert.ok(own instanceof Uint8Array)
    assert.notEqual(own.buffer, small.buffer, 'too large for the buffer given: a copy of its own')
    assert.deepEqual(new Uint8Array(own), new Uint8Array(bytes))
    assert.ok(quitter.every(x => x === 0), 'nothing written for a caller that gave up')
  })

  it('a caller waiting with a buffer learns whether the block was stored when the fetch ends without its bytes', async () => {
    const f = new Fetches()
    const { cid } = await randomBlock()
    const peer = await newPeer()
    const stored = f.begin(cid)
    f.asking(cid, peer)
    const into = new Uint8Array(1024)
    const first = f.getInto(cid, into)
    stored(true)
    assert.equal(await first, true, 'stored, read it from the store')
    const failed = f.begin(cid)
    f.asking(cid, peer)
    const second = f.getInto(cid, into)
    failed(false, new Uint8Array(1024).fill(7))
    assert.equal(await second, false, 'not stored: the bytes of a failed fetch are not handed over')
    assert.ok(into.every(x => x === 0))
  })
})
