import assert from 'node:assert/strict'
import { describe, it, beforeEach, afterEach } from 'node:test'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { cidKey } from '../src/utils.js'
import { WantManager } from '../src/want-manager.js'
import { makeBlocks } from './fixtures/nodes.js'
import { StubNetwork, logger, makePeer } from './fixtures/stubs.js'
import type { Message } from '../src/pb/message.js'
import type { TestBlock } from './fixtures/nodes.js'
import type { PeerId } from '@libp2p/interface'

/** `n` distinct CIDs (inline identity digests: only their keys matter here) */
function makeFake (n: number): CID[] {
  return Array.from({ length: n }, (_, i) => CID.createV1(0x55, identity.digest(new Uint8Array([i, i >> 8]))))
}

function entries (messages: Message[]): Array<{ cid: string, type: string, cancel: boolean, sendDontHave: boolean }> {
  return messages.flatMap(m => m.wantlist?.entries ?? []).map(e => ({
    cid: CID.decode(e.block).toString(),
    type: e.wantType,
    cancel: e.cancel,
    sendDontHave: e.sendDontHave
  }))
}

describe('want manager', () => {
  let network: StubNetwork
  let wm: WantManager
  let a: PeerId
  let b: PeerId
  let blocks: TestBlock[]

  beforeEach(async () => {
    network = new StubNetwork()
    wm = new WantManager({ network, logger }, { maxMessageSize: 4 * 1024 * 1024, cancelledWantMemory: 4, recentWantMemory: 8 })
    wm.start()
    a = await makePeer()
    b = await makePeer()
    blocks = await makeBlocks(6, 16)
  })

  afterEach(() => {
    wm.stop()
  })

  it('batches changes made in one turn into one delta message per peer', async () => {
    wm.want(a, blocks[0].cid, 'have', 's1', 10)
    wm.want(a, blocks[1].cid, 'have', 's1', 9)
    wm.want(b, blocks[0].cid, 'have', 's1', 10)
    await network.waitForMessages(2)
    assert.equal(network.to(a).length, 1)
    assert.equal(network.to(b).length, 1)
    const [msg] = network.to(a)
    assert.equal(msg.wantlist?.full, false)
    assert.deepEqual(entries([msg]), [
      { cid: blocks[0].cid.toString(), type: 'Have', cancel: false, sendDontHave: true },
      { cid: blocks[1].cid.toString(), type: 'Have', cancel: false, sendDontHave: true }
    ])
    assert.deepEqual(msg.wantlist?.entries.map(e => e.priority), [10, 9])
  })

  it('sends want-have first and upgrades to want-block; never downgrades', async () => {
    wm.want(a, blocks[0].cid, 'have', 's1', 1)
    await network.waitForMessages(1)
    wm.want(a, blocks[0].cid, 'block', 's1', 1)
    await network.waitForMessages(2)
    assert.deepEqual(entries(network.to(a)).map(e => e.type), ['Have', 'Block'])
    // a second session asking for a want-have changes nothing on the wire
    wm.want(a, blocks[0].cid, 'have', 's2', 1)
    wm.flush()
    assert.equal(network.sent.length, 2)
    assert.deepEqual(wm.sentTo(a).map(e => e.type), ['block'])
  })

  it('keeps a want until its last owner cancels it', async () => {
    wm.want(a, blocks[0].cid, 'have', 's1', 1)
    wm.want(a, blocks[0].cid, 'have', 's2', 1)
    wm.flush()
    wm.cancel(a, cidKey(blocks[0].cid), 's1')
    wm.flush()
    assert.equal(network.sent.length, 1, 'no cancel while s2 still wants it')
    wm.cancel(a, cidKey(blocks[0].cid), 's2')
    await network.waitForMessages(2)
    assert.deepEqual(entries([network.sent[1].message]), [{ cid: blocks[0].cid.toString(), type: 'Block', cancel: true, sendDontHave: false }])
    assert.equal(wm.sentTo(a).length, 0)
  })

  it('cancels at every other peer when a block arrives, but not at a sender that had a want-block', async () => {
    const key = cidKey(blocks[0].cid)
    wm.want(a, blocks[0].cid, 'block', 's1', 1)
    wm.want(b, blocks[0].cid, 'have', 's1', 1)
    wm.flush()
    network.clear()
    wm.blockReceived(key, a)
    wm.flush()
    assert.equal(network.to(a).length, 0, 'the sender dropped its want-block when it sent the block')
    assert.deepEqual(entries(network.to(b)), [{ cid: blocks[0].cid.toString(), type: 'Block', cancel: true, sendDontHave: false }])
    // a late copy from either peer is still recognised as something we asked for
    assert.equal(wm.askedFor(a, key), true)
    assert.equal(wm.askedFor(b, key), true)
  })

  it('sends a cancel to a sender that only had a want-have (it sent a small block in place of Have)', () => {
    wm.want(a, blocks[0].cid, 'have', 's1', 1)
    wm.flush()
    network.clear()
    wm.blockReceived(cidKey(blocks[0].cid), a)
    wm.flush()
    assert.deepEqual(entries(network.to(a)).map(e => e.cancel), [true])
  })

  it('tells what was asked for, and forgets cancelled keys past its memory', () => {
    for (const block of blocks) {
      wm.want(a, block.cid, 'have', 's1', 1)
    }
    assert.equal(wm.askedFor(a, cidKey(blocks[0].cid)), true)
    assert.equal(wm.askedFor(b, cidKey(blocks[0].cid)), false, 'never asked b')
    for (const block of blocks) {
      wm.cancel(a, cidKey(block.cid), 's1')
    }
    // memory is 4: the first two cancelled keys are forgotten
    assert.deepEqual(blocks.map(bl => wm.askedFor(a, cidKey(bl.cid))), [false, false, true, true, true, true])
  })

  it('accepts a late block for anything a session wanted lately, from any peer', () => {
    const [x, y] = blocks
    wm.addGlobal(x.cid, 1)
    wm.cancelEverywhere(cidKey(x.cid))
    assert.equal(wm.askedFor(a, cidKey(x.cid)), true, 'wanted lately, though never asked of a')
    assert.equal(wm.askedFor(a, cidKey(y.cid)), false, 'never wanted')
    // the memory is bounded (8 here)
    for (const block of makeFake(10)) wm.addGlobal(block, 1)
    assert.equal(wm.askedFor(a, cidKey(x.cid)), false, 'forgotten past the bound')
  })

  it('sends the full current wantlist to a newly connected peer', async () => {
    wm.addGlobal(blocks[0].cid, 5)
    wm.addGlobal(blocks[1].cid, 4)
    wm.peerConnected(a)
    await network.waitForMessages(1)
    const [msg] = network.to(a)
    assert.equal(msg.wantlist?.full, true)
    assert.deepEqual(entries([msg]).map(e => [e.cid, e.type, e.sendDontHave]), [
      [blocks[0].cid.toString(), 'Have', true],
      [blocks[1].cid.toString(), 'Have', true]
    ])
    // with nothing wanted, a new peer gets no message at all
    wm.cancelEverywhere(cidKey(blocks[0].cid))
    wm.cancelEverywhere(cidKey(blocks[1].cid))
    wm.flush()
    network.clear()
    wm.peerConnected(b)
    wm.flush()
    assert.equal(network.to(b).length, 0)
  })

  it('resends everything as a full wantlist after a failed send', async () => {
    network.fail = true
    wm.want(a, blocks[0].cid, 'block', 's1', 1)
    wm.flush()
    // let the rejected send settle
    await new Promise(resolve => setImmediate(resolve))
    network.fail = false
    wm.want(a, blocks[1].cid, 'have', 's1', 1)
    await network.waitForMessages(1)
    const [msg] = network.to(a)
    assert.equal(msg.wantlist?.full, true)
    assert.deepEqual(entries([msg]).map(e => [e.cid, e.type]), [
      [blocks[0].cid.toString(), 'Block'],
      [blocks[1].cid.toString(), 'Have']
    ])
  })

  it('splits a large wantlist into messages under the size limit', async () => {
    const small = new WantManager({ network, logger }, { maxMessageSize: 1024, cancelledWantMemory: 16, recentWantMemory: 16 })
    small.start()
    const many = await makeBlocks(100, 8, 3)
    for (const block of many) small.want(a, block.cid, 'have', 's1', 1)
    small.flush()
    assert.ok(network.sent.length > 1)
    assert.ok(network.sent.every(s => s.size <= 1024), 'every message within the limit')
    assert.equal(entries(network.to(a)).length, 100)
    small.stop()
  })

  it('forgets a disconnected peer', () => {
    wm.want(a, blocks[0].cid, 'block', 's1', 1)
    wm.peerDisconnected(a)
    wm.flush()
    assert.equal(network.sent.length, 0)
    assert.equal(wm.askedFor(a, cidKey(blocks[0].cid)), false)
  })
})
