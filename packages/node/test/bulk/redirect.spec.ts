import assert from 'node:assert/strict'
import { after, before, describe, it, mock } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import all from 'it-all'
import { MAX_HOLDERS, MAX_REDIRECT_BLOCKS, REDIRECT_AFTER_COPIES, REDIRECT_MIN_SIZE, REDIRECT_WINDOW, RELAY_REDIRECT_AFTER_COPIES } from '../../src/swarm/bulk/constants.js'
import { Recipients } from '../../src/swarm/bulk/recipients.js'
import { bulkNode, connect, randomBlock, storeBlocks, transportOf } from './helpers.js'
import type { BulkTestNode, TestBlock } from './helpers.js'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { FsBlockstore } from '@provenir/content'

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

describe('bulk channel: recipients of a block, for redirects', () => {
  it(`names the peers a block was sent to once ${REDIRECT_AFTER_COPIES} other has it, never the asker`, async () => {
    assert.equal(REDIRECT_AFTER_COPIES, 1, 'this test is written for a server that sends each block once')
    const r = new Recipients()
    const { cid } = await randomBlock()
    const [p1, p2, p3] = [await newPeer(), await newPeer(), await newPeer()]
    assert.equal(r.holders(cid, p3), undefined, 'sent to nobody: sent')
    r.sent(cid, p1, REDIRECT_MIN_SIZE)
    assert.equal(r.holders(cid, p1), undefined, 'the only holder asking again is sent it')
    r.sent(cid, p1, REDIRECT_MIN_SIZE)
    assert.deepEqual(r.holders(cid, p2)?.map(String), [p1].map(String), 'a peer sent it twice is named once')
  })

  it('names a peer it sent to the holders to those asking after it (it is fetching the block), never to those before it', async () => {
    const r = new Recipients()
    const { cid } = await randomBlock()
    const [p1, p2, p3, p4] = [await newPeer(), await newPeer(), await newPeer(), await newPeer()]
    r.sent(cid, p1, REDIRECT_MIN_SIZE)
    assert.deepEqual(r.holders(cid, p2)?.map(String), [p1].map(String))
    assert.deepEqual(r.holders(cid, p3)?.map(String), [p1, p2].map(String))
    assert.deepEqual(r.holders(cid, p4)?.map(String), [p1, p2, p3].map(String))
    // p2, asking again, is named only the holders named before it: never p3 or p4, which may be waiting for p2
    assert.deepEqual(r.holders(cid, p2)?.map(String), [p1].map(String))
    assert.deepEqual(r.holders(cid, p4)?.map(String), [p1, p2, p3].map(String))
  })

  it(`names the peers it sent the block to first, then up to ${MAX_HOLDERS} in all with the latest askers before this one`, async () => {
    const r = new Recipients()
    const { cid } = await randomBlock()
    const peers: PeerId[] = []
    for (let i = 0; i < 8; i++) peers.push(await newPeer())
    r.sent(cid, peers[0], REDIRECT_MIN_SIZE)
    for (let i = 1; i < 7; i++) r.holders(cid, peers[i])
    assert.deepEqual(r.holders(cid, peers[7])?.map(String), [peers[0], peers[4], peers[5], peers[6]].map(String))
    r.sent(cid, peers[1], REDIRECT_MIN_SIZE)
    assert.deepEqual(r.holders(cid, peers[3])?.map(String), [peers[0], peers[1], peers[2]].map(String), 'peers[1] was sent it: named as a holder')
  })

  it('names and counts only peers still live: a recipient that left is not named, and the block is sent', async () => {
    const r = new Recipients()
    const { cid } = await randomBlock()
    const [p1, p2, p3, p4, p5] = [await newPeer(), await newPeer(), await newPeer(), await newPeer(), await newPeer()]
    const gone = new Set<string>()
    const live = (p: PeerId): boolean => !gone.has(p.toString())
    r.sent(cid, p1, REDIRECT_MIN_SIZE)
    assert.deepEqual(r.holders(cid, p2, false, live)?.map(String), [p1].map(String))
    assert.deepEqual(r.holders(cid, p3, false, live)?.map(String), [p1, p2].map(String))
    // p1, the only recipient, left: the next asker is sent the block
    gone.add(p1.toString())
    assert.equal(r.holders(cid, p4, false, live), undefined, 'no live recipient: sent')
    r.sent(cid, p4, REDIRECT_MIN_SIZE)
    assert.deepEqual(r.holders(cid, p5, false, live)?.map(String), [p4, p2, p3].map(String), 'p1 is not named')
    // an asker redirected before that left is not named either
    gone.add(p2.toString())
    assert.deepEqual(r.holders(cid, p5, false, live)?.map(String), [p4, p3].map(String))
    // as a relay, only live recipients count towards its copies
    assert.equal(r.holders(cid, p5, true, live), undefined)
  })

  it(`as a relay (it fetched the block lately), sends it to ${RELAY_REDIRECT_AFTER_COPIES} peers, then names only those`, async () => {
    const r = new Recipients()
    const { cid } = await randomBlock()
    const peers: PeerId[] = []
    for (let i = 0; i < RELAY_REDIRECT_AFTER_COPIES + 2; i++) peers.push(await newPeer())
    const asker = peers[RELAY_REDIRECT_AFTER_COPIES + 1]
    for (let i = 0; i < RELAY_REDIRECT_AFTER_COPIES; i++) {
      assert.equal(r.holders(cid, asker, true), undefined, `sent to ${i}: sent`)
      r.sent(cid, peers[i], REDIRECT_MIN_SIZE)
    }
    const sent = peers.slice(0, RELAY_REDIRECT_AFTER_COPIES).map(String)
    assert.deepEqual(r.holders(cid, peers[RELAY_REDIRECT_AFTER_COPIES], true)?.map(String), sent)
    assert.deepEqual(r.holders(cid, asker, true)?.map(String), sent, 'an asker redirected before is not named: it may be waiting')
  })

  it('to an asker that takes busy, names only peers the block was written to in full: busy from a seed, sent by a relay, before any', async () => {
    const r = new Recipients()
    const { cid } = await randomBlock()
    const [p1, p2, p3, p4, p5] = [await newPeer(), await newPeer(), await newPeer(), await newPeer(), await newPeer()]
    assert.equal(r.landedHolders(cid, p3), undefined, 'sent to nobody: sent')
    r.sent(cid, p1, REDIRECT_MIN_SIZE)
    assert.deepEqual(r.holders(cid, p2)?.map(String), [p1].map(String), 'an asker without busy is named the peer still waiting for it')
    assert.equal(r.landedHolders(cid, p3), 'busy', 'a seed answers busy while its only recipient waits for the block')
    assert.equal(r.landedHolders(cid, p1), undefined, 'the only recipient asking again is sent it')
    r.landed(cid, p2)
    assert.equal(r.landedHolders(cid, p3), 'busy', 'a peer only named as a holder (never sent the block) has not landed it')
    r.landed(cid, p1)
    assert.deepEqual(r.landedHolders(cid, p3), [p1], 'the recipient the block was written to is named')
    r.sent(cid, p4, REDIRECT_MIN_SIZE)
    assert.deepEqual(r.landedHolders(cid, p5), [p1], 'a recipient still waiting for the block is not named')
    assert.equal(r.landedHolders(cid, p1), 'busy', 'never the asker: the other recipient still waits for it')
    // a relay sends it itself rather than answer busy
    const relayed = (await randomBlock()).cid
    r.sent(relayed, p1, REDIRECT_MIN_SIZE)
    r.sent(relayed, p2, REDIRECT_MIN_SIZE)
    assert.equal(r.landedHolders(relayed, p3, true), undefined, 'a relay whose recipients wait for the block sends it')
    r.landed(relayed, p2)
    assert.deepEqual(r.landedHolders(relayed, p3, true), [p2])
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

  it('remembers a recipient for minutes, from the last time the block was sent or its holders named', async () => {
    const r = new Recipients()
    const { cid } = await randomBlock()
    const [p1, p2, p3] = [await newPeer(), await newPeer(), await newPeer()]
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 })
    try {
      r.sent(cid, p1, REDIRECT_MIN_SIZE)
      // a rollout's pullers pass a block on among themselves for minutes before a late one asks the origin
      mock.timers.tick(5 * 60_000)
      assert.deepEqual(r.holders(cid, p2)?.map(String), [p1].map(String), 'named 5 minutes after it was sent')
      mock.timers.tick(REDIRECT_WINDOW - 1_000)
      assert.deepEqual(r.holders(cid, p3)?.map(String), [p1, p2].map(String), 'the last redirect renewed it')
      mock.timers.tick(REDIRECT_WINDOW + 1)
      assert.equal(r.holders(cid, p3), undefined, 'forgotten once nobody asked for it within the window: sent')
    } finally {
      mock.timers.reset()
    }
  })

  it(`remembers at most ${MAX_REDIRECT_BLOCKS} blocks`, async () => {
    const r = new Recipients()
    const peer = await newPeer()
    const first = await randomBlock(8)
    r.sent(first.cid, peer, REDIRECT_MIN_SIZE)
    for (let i = 0; i < MAX_REDIRECT_BLOCKS; i++) r.sent((await randomBlock(8)).cid, peer, REDIRECT_MIN_SIZE)
    assert.equal(r.size, MAX_REDIRECT_BLOCKS)
    const second = await newPeer()
    r.sent(first.cid, second, REDIRECT_MIN_SIZE)
    assert.deepEqual(r.holders(first.cid, await newPeer())?.map(String), [second].map(String), 'the first block was forgotten: its first recipient is not named')
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
    await Promise.all([connect(p1, origin), connect(p2, origin), connect(p2, p1), connect(late, origin), connect(late, p1), connect(late, p2)])
  })

  after(async () => {
    await Promise.all([origin, p1, p2, late].map(async n => n?.stop()))
  })

  it('a second puller is sent to the first, a late one to either, and the origin sends each block once', async () => {
    const cids = blocks.map(b => b.cid)
    const fromWhom = async (puller: BulkTestNode): Promise<Array<PeerId | undefined>> => {
      // each puller knows only the origin: the holders it asks are found through the redirects
      const session = transportOf(puller).createSession({ peers: [origin.peerId] })
      const got = await all(session.want(cids))
      session.close()
      assert.equal(got.length, blocks.length)
      for (const b of blocks) assert.deepEqual(new Uint8Array(got.find(g => g.cid.equals(b.cid))?.bytes ?? []), new Uint8Array(b.bytes))
      return got.map(g => g.from)
    }
    assert.ok((await fromWhom(p1)).every(from => from?.equals(origin.peerId) === true))
    assert.equal(origin.services.bulk.served().blocks, blocks.length)
    const redirects = origin.services.bulk.served().redirects
    const second = await fromWhom(p2)
    assert.ok(origin.services.bulk.served().redirects >= redirects + blocks.length, 'p2 was told of p1 for each block')
    assert.ok(second.every(from => from?.equals(p1.peerId) === true), `from: ${second.map(String).join(', ')}`)
    const last = await fromWhom(late)
    assert.ok(last.every(from => from?.equals(p1.peerId) === true || from?.equals(p2.peerId) === true), `from: ${last.map(String).join(', ')}`)
    assert.equal(origin.services.bulk.served().blocks, blocks.length, 'the origin sent each block once')
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

  it('a single want follows holders whose bulk channel it did not know yet, asking them where it is', async () => {
    const [b] = await storeBlocks(origin.blockstore, 1, REDIRECT_MIN_SIZE)
    const session = transportOf(p1).createSession({ peers: [origin.peerId] })
    await all(session.want([b.cid]))
    session.close()
    const other = await bulkNode()
    try {
      await Promise.all([connect(other, origin), connect(other, p1)])
      // only the origin's channel is known to `other`: a session asked it alone
      const [c] = await storeBlocks(origin.blockstore, 1, 1024)
      const known = transportOf(other).createSession({ peers: [origin.peerId] })
      await all(known.want([c.cid]))
      known.close()
      assert.equal(other.services.bulk.connections(p1.peerId).outbound, 0)
      const sentBefore = origin.services.bulk.served().blocks
      const bytes = await transportOf(other).want(b.cid, { signal: AbortSignal.timeout(10_000) })
      assert.deepEqual(new Uint8Array(bytes), new Uint8Array(b.bytes))
      assert.equal(origin.services.bulk.served().blocks, sentBefore, 'sent by the holder the origin named, not by the origin')
      assert.equal(other.services.bulk.connections(p1.peerId).outbound, 1)
    } finally {
      await other.stop()
    }
  })

  it('a puller that left is not named: the next puller is sent every block by the server, without asking it', async () => {
    const fresh = await storeBlocks(origin.blockstore, 4, REDIRECT_MIN_SIZE)
    const cids = fresh.map(b => b.cid)
    const gone = await bulkNode()
    const next = await bulkNode()
    try {
      await Promise.all([connect(gone, origin), connect(next, origin)])
      const first = transportOf(gone).createSession({ peers: [origin.peerId] })
      assert.equal((await all(first.want(cids))).length, cids.length)
      first.close()
      await gone.stop()
      for (let i = 0; i < 100 && origin.getConnections(gone.peerId).length > 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
      assert.equal(origin.getConnections(gone.peerId).length, 0)
      const before = origin.services.bulk.served()
      const session = transportOf(next).createSession({ peers: [origin.peerId] })
      const got = await all(session.want(cids))
      session.close()
      assert.equal(got.length, cids.length)
      assert.ok(got.every(g => g.from?.equals(origin.peerId) === true), `from: ${got.map(g => g.from?.toString()).join(', ')}`)
      const after = origin.services.bulk.served()
      assert.equal(after.blocks, before.blocks + cids.length)
      assert.equal(after.redirects, before.redirects, 'no want was answered naming the peer that left')
      // it never tried the peer that left
      assert.equal(next.getConnections(gone.peerId).length, 0)
      assert.equal(next.services.bulk.connections(gone.peerId).outbound, 0)
    } finally {
      await Promise.all([gone.stop(), next.stop()])
    }
  })

  it('a holder the server names is asked even if it lacked the block when asked before: the server sent it the block since', async () => {
    const server = await bulkNode()
    const holder = await bulkNode()
    const asker = await bulkNode()
    try {
      await Promise.all([connect(holder, server), connect(asker, server), connect(asker, holder)])
      const [x] = await storeBlocks(server.blockstore, 1, REDIRECT_MIN_SIZE)
      const [y] = await storeBlocks(holder.blockstore, 1, REDIRECT_MIN_SIZE)
      const first = transportOf(holder).createSession({ peers: [server.peerId] })
      await all(first.want([x.cid]))
      first.close()
      // the holder lacks x when first asked (not landed yet), then holds it
      const store = holder.blockstore
      const { has, readInto } = store
      let lacked = false
      const lackOnce = (cid: CID): boolean => {
        if (lacked || !cid.equals(x.cid)) return false
        lacked = true
        return true
      }
      store.has = async (cid, options) => lackOnce(cid) ? false : has.call(store, cid, options)
      if (readInto != null) {
        store.readInto = async (cid, target, options) => {
          if (lackOnce(cid)) throw Object.assign(new Error('not yet'), { name: 'NotFoundError' })
          return readInto.call(store, cid, target, options)
        }
      }
      const sent = server.services.bulk.served().blocks
      // y, which only the holder has, makes it the peer asked first for x (its hit rate is higher)
      const session = transportOf(asker).createSession({ peers: [holder.peerId, server.peerId], window: 1, initialWindow: 1 })
      const got = await all(session.want([y.cid, x.cid]))
      session.close()
      assert.ok(lacked, 'the holder was asked for x first, and lacked it')
      assert.equal(got.length, 2)
      assert.deepEqual(new Uint8Array(got[1].bytes), new Uint8Array(x.bytes))
      assert.equal(got[1].from?.toString(), holder.peerId.toString(), 'x came from the holder the server named')
      assert.equal(server.services.bulk.served().blocks, sent, 'the server sent x no second time')
    } finally {
      await Promise.all([server, holder, asker].map(async n => n.stop()))
    }
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
