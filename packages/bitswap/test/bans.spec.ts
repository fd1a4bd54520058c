/**
 * A peer that sent a bad block is asked for nothing while its ban lasts:
 * not by the session that caught it, not by new sessions, not when a
 * provider lookup or refresh names it again, not when it reconnects. Counted
 * from the peer's side: it records every want it receives.
 */
import assert from 'node:assert/strict'
import { describe, it, before, after } from 'node:test'
import { CID } from 'multiformats/cid'
import { Message } from '../src/pb/message.js'
import { connect, createNode, makeBlocks, putBlocks, randomBytes, waitFor } from './fixtures/nodes.js'
import { RawPeer, entry, payload } from './fixtures/raw-peer.js'
import type { TestBlock, TestNode } from './fixtures/nodes.js'
import type { PeerId } from '@libp2p/interface'

/** A peer that says Have to every want-have and answers every want-block (and every want-have) with garbage */
async function liar (): Promise<RawPeer & { wants: () => number }> {
  let wants = 0
  const peer = await RawPeer.create({
    onMessage: (self, { from, message }) => {
      const reply: Partial<Message> = { payload: [], blockPresences: [] }
      for (const e of message.wantlist?.entries ?? []) {
        if (e.cancel) continue
        wants++
        reply.payload?.push(payload(CID.decode(e.block), randomBytes(4096, wants)))
      }
      if ((reply.payload?.length ?? 0) > 0) self.send(from, reply).catch(() => {})
    }
  })
  return Object.assign(peer, { wants: () => wants })
}

function connected (node: TestNode, peer: PeerId): boolean {
  return node.libp2p.getConnections(peer).some(c => c.status === 'open')
}

describe('the ban on a peer that sent a bad block', () => {
  let fetcher: TestNode
  let honest: TestNode
  let bad: RawPeer & { wants: () => number }
  let blocks: TestBlock[]

  before(async () => {
    blocks = await makeBlocks(12, 8 * 1024, 71)
    fetcher = await createNode({ session: { wantTimeout: 500, providerLookupInterval: 0 } })
    honest = await createNode()
    await putBlocks(honest.blockstore, blocks)
    bad = await liar()
    await connect(fetcher, honest)
    await bad.libp2p.dial(fetcher.libp2p.getMultiaddrs())
    await waitFor(() => fetcher.bitswap.peers().some(p => p.equals(bad.peerId)), 'the liar to be a bitswap peer')
  })

  after(async () => {
    await Promise.all([fetcher?.libp2p.stop(), honest?.libp2p.stop(), bad?.stop()])
  })

  it('holds across new sessions, provider refreshes, explicit adds and reconnections (counted at the liar)', async () => {
    let dialsToLiar = 0
    bad.libp2p.addEventListener('connection:open', (evt) => {
      if (evt.detail.direction === 'inbound' && evt.detail.remotePeer.equals(fetcher.peerId)) dialsToLiar++
    })
    // 1. the first session asks the liar, gets a bad block, and bans it
    const first = fetcher.bitswap.createSession({ peers: [bad.peerId, honest.peerId] })
    for await (const { from } of first.want(blocks.slice(0, 4).map(b => b.cid), { signal: AbortSignal.timeout(20_000) })) {
      assert.ok(from?.equals(honest.peerId))
    }
    first.close()
    assert.ok(fetcher.bitswap.isBanned(bad.peerId))
    await waitFor(() => !connected(fetcher, bad.peerId), 'the liar to be disconnected')
    await waitFor(() => bad.libp2p.getConnections(fetcher.peerId).length === 0, 'the liar to see its connection closed')
    const asked = bad.wants()
    assert.ok(asked >= 1, 'the liar was asked before it lied')
    const badBlocks = fetcher.bitswap.ledger(bad.peerId)?.badBlocks ?? 0

    // 2. while a want is outstanding (so a newly connected peer would get the
    //    whole wantlist), the liar connects again: it gets nothing
    const [absent] = await makeBlocks(1, 1024, 74)
    const waiting = fetcher.bitswap.createSession({ peers: [honest.peerId] })
    const pending = (async () => {
      for await (const _ of waiting.want([absent.cid])) { /* nobody has it */ }
    })().catch(() => {})
    await waitFor(() => fetcher.bitswap.wantlist().some(c => c.equals(absent.cid)), 'the outstanding want')
    await bad.libp2p.dial(fetcher.libp2p.getMultiaddrs())
    await waitFor(() => fetcher.bitswap.peers().some(p => p.equals(bad.peerId)), 'the liar to be a bitswap peer again')
    await barrier()
    assert.equal(bad.wants(), asked, 'a reconnecting liar got no wantlist')
    waiting.close()
    await pending

    // 3. the liar leaves; sessions that name it, whose provider lookups keep
    //    naming it, or that add it (a provider refresh) neither dial nor ask it
    await bad.libp2p.hangUp(fetcher.peerId)
    await waitFor(() => !connected(fetcher, bad.peerId), 'the liar to leave')
    const named = fetcher.bitswap.createSession({ peers: [bad.peerId, honest.peerId] })
    const refreshed = fetcher.bitswap.createSession({
      providers: async function * () { yield bad.peerId; yield honest.peerId }
    })
    for await (const { from } of named.want([blocks[4].cid, blocks[5].cid], { signal: AbortSignal.timeout(20_000) })) assert.ok(from?.equals(honest.peerId))
    for (const b of blocks.slice(6, 9)) {
      refreshed.addPeer(bad.peerId)
      for await (const { from } of refreshed.want([b.cid], { signal: AbortSignal.timeout(20_000) })) assert.ok(from?.equals(honest.peerId))
    }
    assert.ok(await fetcher.bitswap.want(blocks[9].cid, { signal: AbortSignal.timeout(20_000) }) != null)
    assert.deepEqual(named.peers().map(String), [honest.peerId.toString()])
    assert.deepEqual(refreshed.peers().map(String), [honest.peerId.toString()])
    named.close()
    refreshed.close()
    assert.equal(dialsToLiar, 0, 'the fetcher never dialled the banned peer')

    await bad.libp2p.dial(fetcher.libp2p.getMultiaddrs())
    await waitFor(() => fetcher.bitswap.peers().some(p => p.equals(bad.peerId)), 'the liar to be a bitswap peer again')
    await barrier()
    assert.equal(bad.wants(), asked, 'the liar got no want after its bad block')
    assert.equal(fetcher.bitswap.ledger(bad.peerId)?.badBlocks ?? 0, badBlocks, 'and so sent no more bad blocks')
    assert.ok(connected(fetcher, bad.peerId), 'its connection was not refused (it is only not asked)')
  })

  /**
   * The liar asks for a block the fetcher holds. Everything the fetcher sends
   * one peer goes in order on one stream, so once the block arrives, any want
   * sent to the liar before it has arrived too.
   */
  async function barrier (): Promise<void> {
    const served = bad.messages(m => m.payload.length > 0).length
    await bad.send(fetcher.peerId, { wantlist: { full: false, entries: [entry(blocks[0].cid)] } })
    await waitFor(() => bad.messages(m => m.payload.length > 0).length > served, 'the fetcher to serve the liar')
  }

  it('fails a want that only liars hold with NoHonestProviderError, naming them, well before the stall timeout', async () => {
    const [only] = await makeBlocks(1, 4096, 72)
    // a liar found by a provider lookup, caught now
    const fresh = await liar()
    try {
      const started = Date.now()
      const session = fetcher.bitswap.createSession({
        providers: async function * () { yield fresh.peerId },
        stallTimeout: 60_000
      })
      await fresh.libp2p.dial(fetcher.libp2p.getMultiaddrs())
      await assert.rejects(async () => {
        for await (const _ of session.want([only.cid], { signal: AbortSignal.timeout(30_000) })) { /* none */ }
      }, (err: Error) => {
        assert.equal(err.name, 'NoHonestProviderError')
        assert.ok(err.message.includes(fresh.peerId.toString()), err.message)
        return true
      })
      assert.ok(Date.now() - started < 30_000, 'before the caller\'s timeout')
      session.close()

      // a second session finds only the peer banned by the first: same error, without asking it
      const wantsBefore = fresh.wants()
      const again = fetcher.bitswap.createSession({ providers: async function * () { yield fresh.peerId } })
      await assert.rejects(async () => {
        for await (const _ of again.want([only.cid], { signal: AbortSignal.timeout(30_000) })) { /* none */ }
      }, { name: 'NoHonestProviderError' })
      again.close()
      assert.equal(fresh.wants(), wantsBefore, 'the banned peer was not asked by the second session')
    } finally {
      await fresh.stop()
    }
  })

  it('ends when its period does', async () => {
    const shortBan = await createNode({ badPeerBackoff: 300, session: { wantTimeout: 500 } })
    const brief = await liar()
    try {
      const [x, y] = await makeBlocks(2, 4096, 73)
      await brief.libp2p.dial(shortBan.libp2p.getMultiaddrs())
      await waitFor(() => shortBan.bitswap.peers().some(p => p.equals(brief.peerId)), 'the liar to connect')
      const session = shortBan.bitswap.createSession({ peers: [brief.peerId] })
      await assert.rejects(async () => {
        for await (const _ of session.want([x.cid], { signal: AbortSignal.timeout(20_000) })) { /* none */ }
      }, { name: 'NoHonestProviderError' })
      session.close()
      await waitFor(() => !shortBan.bitswap.isBanned(brief.peerId), 'the ban to end', 5_000)
      const before = brief.wants()
      await brief.libp2p.dial(shortBan.libp2p.getMultiaddrs())
      const later = shortBan.bitswap.createSession({ peers: [brief.peerId] })
      const it = later.want([y.cid], { signal: AbortSignal.timeout(20_000) })[Symbol.asyncIterator]()
      const next = it.next().catch(() => undefined)
      await waitFor(() => brief.wants() > before, 'the peer to be asked again after its ban')
      later.close()
      await next
    } finally {
      await Promise.all([shortBan.libp2p.stop(), brief.stop()])
    }
  })
})
