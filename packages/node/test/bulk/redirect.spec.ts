import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import all from 'it-all'
import { MAX_HOLDERS, MAX_REDIRECT_BLOCKS, REDIRECT_AFTER_COPIES, REDIRECT_MIN_SIZE } from '../../src/swarm/bulk/constants.js'
import { Recipients } from '../../src/swarm/bulk/server.js'
import { bulkNode, connect, randomBlock, storeBlocks, transportOf } from './helpers.js'
import type { BulkTestNode, TestBlock } from './helpers.js'
import type { PeerId } from '@libp2p/interface'
import type { FsBlockstore } from '@provenir/content'

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

describe('bulk channel: recipients of a block, for redirects', () => {
  it(`names the peers a block was sent to once ${REDIRECT_AFTER_COPIES} others have it, never the asker`, async () => {
    const r = new Recipients()
    const { cid } = await randomBlock()
    const [p1, p2, p3] = [await newPeer(), await newPeer(), await newPeer()]
    assert.equal(r.holders(cid, p3), undefined, 'sent to nobody: sent')
    r.sent(cid, p1, REDIRECT_MIN_SIZE)
    assert.equal(r.holders(cid, p3), undefined, 'sent to one: sent again')
    r.sent(cid, p2, REDIRECT_MIN_SIZE)
    assert.deepEqual(r.holders(cid, p3)?.map(String), [p1, p2].map(String))
    // p1 asking again is sent it: the only other holder is p2
    assert.equal(r.holders(cid, p1), undefined)
    r.sent(cid, p2, REDIRECT_MIN_SIZE)
    assert.deepEqual(r.holders(cid, p3)?.map(String), [p1, p2].map(String), 'a peer sent it twice is named once')
  })

  it(`names at most ${MAX_HOLDERS} holders, the latest`, async () => {
    const r = new Recipients()
    const { cid } = await randomBlock()
    const peers: PeerId[] = []
    for (let i = 0; i < MAX_HOLDERS + 2; i++) {
      peers.push(await newPeer())
      r.sent(cid, peers[i], REDIRECT_MIN_SIZE)
    }
    assert.deepEqual(r.holders(cid, await newPeer())?.map(String), peers.slice(2).map(String))
  })

  it(`never names holders of a block under ${REDIRECT_MIN_SIZE} bytes: it is sent`, async () => {
    const r = new Recipients()
    const { cid } = await randomBlock()
    const [p1, p2, p3] = [await newPeer(), await newPeer(), await newPeer()]
    r.sent(cid, p1, REDIRECT_MIN_SIZE - 1)
    r.sent(cid, p2, REDIRECT_MIN_SIZE - 1)
    assert.equal(r.holders(cid, p3), undefined)
    assert.equal(r.size, 0, 'not remembered at all')
  })

  it(`remembers at most ${MAX_REDIRECT_BLOCKS} blocks`, async () => {
    const r = new Recipients()
    const peer = await newPeer()
    const first = await randomBlock(8)
    r.sent(first.cid, peer, REDIRECT_MIN_SIZE)
    for (let i = 0; i < MAX_REDIRECT_BLOCKS; i++) r.sent((await randomBlock(8)).cid, peer, REDIRECT_MIN_SIZE)
    assert.equal(r.size, MAX_REDIRECT_BLOCKS)
    r.sent(first.cid, await newPeer(), REDIRECT_MIN_SIZE)
    assert.equal(r.holders(first.cid, await newPeer()), undefined, 'the first block was forgotten: one recipient known now')
  })
})

describe('bulk channel: a server that sent a block to others names them instead', () => {
  let origin: BulkTestNode
  let p1: BulkTestNode
  let p2: BulkTestNode
  let late: BulkTestNode
  let blocks: TestBlock[]

  before(async () => {
    origin = await bulkNode()
    p1 = await bulkNode()
    p2 = await bulkNode()
    late = await bulkNode()
    blocks = await storeBlocks(origin.blockstore, 8, 256 * 1024)
    await Promise.all([connect(p1, origin), connect(p2, origin), connect(late, origin), connect(late, p1), connect(late, p2)])
  })

  after(async () => {
    await Promise.all([origin, p1, p2, late].map(async n => n?.stop()))
  })

  it('a late puller gets the blocks from the pullers the origin sent them to, and the origin sends it none', async () => {
    const cids = blocks.map(b => b.cid)
    for (const puller of [p1, p2]) {
      const session = transportOf(puller).createSession({ peers: [origin.peerId] })
      await all(session.want(cids))
      session.close()
    }
    const sentBefore = origin.services.bulk.served()
    assert.equal(sentBefore.blocks, 2 * blocks.length)
    // the late puller knows only the origin: the holders it names are found through the redirect
    const session = transportOf(late).createSession({ peers: [origin.peerId] })
    const got = await all(session.want(cids))
    session.close()
    assert.equal(got.length, blocks.length)
    for (const b of blocks) assert.deepEqual(new Uint8Array(got.find(g => g.cid.equals(b.cid))?.bytes ?? []), new Uint8Array(b.bytes))
    assert.ok(got.every(g => g.from?.equals(p1.peerId) === true || g.from?.equals(p2.peerId) === true), `from: ${got.map(g => g.from?.toString()).join(', ')}`)
    assert.deepEqual(origin.services.bulk.served(), sentBefore, 'the origin sent nothing more')
  })

  it(`a block under ${REDIRECT_MIN_SIZE} bytes (a manifest, a DAG root) is sent by the server however many peers it sent it to`, async () => {
    const small = await storeBlocks(origin.blockstore, 2, 4096)
    for (const puller of [p1, p2]) {
      const session = transportOf(puller).createSession({ peers: [origin.peerId] })
      await all(session.want(small.map(b => b.cid)))
      session.close()
    }
    const sentBefore = origin.services.bulk.served().blocks
    const session = transportOf(late).createSession({ peers: [origin.peerId] })
    const got = await all(session.want(small.map(b => b.cid)))
    session.close()
    assert.equal(got.length, small.length)
    assert.ok(got.every(g => g.from?.equals(origin.peerId)), `from: ${got.map(g => g.from?.toString()).join(', ')}`)
    assert.equal(origin.services.bulk.served().blocks, sentBefore + small.length)
  })

  it('a holder that does not have the block sends the puller back to the server, which sends it then', async () => {
    const fresh = await storeBlocks(origin.blockstore, 2, REDIRECT_MIN_SIZE)
    for (const puller of [p1, p2]) {
      const session = transportOf(puller).createSession({ peers: [origin.peerId] })
      await all(session.want(fresh.map(b => b.cid)))
      session.close()
    }
    // the holders lost the blocks (deleted): they answer DONT_HAVE
    for (const b of fresh) {
      await (p1.blockstore as FsBlockstore).delete(b.cid)
      await (p2.blockstore as FsBlockstore).delete(b.cid)
    }
    const sentBefore = origin.services.bulk.served().blocks
    const session = transportOf(late).createSession({ peers: [origin.peerId] })
    const got = await all(session.want(fresh.map(b => b.cid)))
    session.close()
    assert.equal(got.length, fresh.length)
    assert.ok(got.every(g => g.from?.equals(origin.peerId)), 'sent by the origin once the holders lacked them')
    assert.equal(origin.services.bulk.served().blocks, sentBefore + fresh.length)
  })

  it('a single want (the gateway\'s stream) follows the holders too, and the server sends it when they lack it', async () => {
    const [b, c, d] = await storeBlocks(origin.blockstore, 3, REDIRECT_MIN_SIZE)
    for (const puller of [p1, p2]) {
      const session = transportOf(puller).createSession({ peers: [origin.peerId] })
      await all(session.want([b.cid, d.cid]))
      session.close()
    }
    await (p1.blockstore as FsBlockstore).delete(d.cid)
    await (p2.blockstore as FsBlockstore).delete(d.cid)
    const other = await bulkNode()
    try {
      await Promise.all([connect(other, origin), connect(other, p1), connect(other, p2)])
      // a session's wants make the bulk channels of the origin and both pullers known to `other`
      const session = transportOf(other).createSession({ peers: [origin.peerId, p1.peerId, p2.peerId] })
      await all(session.want([c.cid]))
      session.close()
      const sentBefore = origin.services.bulk.served().blocks
      const bytes = await transportOf(other).want(b.cid, { signal: AbortSignal.timeout(10_000) })
      assert.deepEqual(new Uint8Array(bytes), new Uint8Array(b.bytes))
      assert.equal(origin.services.bulk.served().blocks, sentBefore, 'sent by a holder, not by the origin')
      const again = await transportOf(other).want(d.cid, { signal: AbortSignal.timeout(10_000) })
      assert.deepEqual(new Uint8Array(again), new Uint8Array(d.bytes))
      assert.equal(origin.services.bulk.served().blocks, sentBefore + 1, 'the holders lacked it: the origin sent it')
    } finally {
      await other.stop()
    }
  })
})
