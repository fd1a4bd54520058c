import assert from 'node:assert/strict'
import { describe, it, beforeEach, afterEach } from 'node:test'
import { MemoryBlockstore } from 'blockstore-core'
import { CID } from 'multiformats/cid'
import { Engine } from '../src/engine.js'
import { Ledgers, serveAll } from '../src/ledger.js'
import { Message } from '../src/pb/message.js'
import { cidKey } from '../src/utils.js'
import { equalBytes, makeBlocks, putBlocks, waitFor } from './fixtures/nodes.js'
import { entry } from './fixtures/raw-peer.js'
import { StubNetwork, logger, makePeer } from './fixtures/stubs.js'
import type { EngineInit } from '../src/engine.js'
import type { Strategy } from '../src/ledger.js'
import type { TestBlock } from './fixtures/nodes.js'
import type { PeerId } from '@libp2p/interface'

const Have = Message.Wantlist.WantType.Have
const Block = Message.Wantlist.WantType.Block

describe('engine', () => {
  let network: StubNetwork
  let blockstore: MemoryBlockstore
  let ledgers: Ledgers
  let peer: PeerId
  let engine: Engine
  let overflow: number

  function makeEngine (init: Partial<EngineInit> = {}): Engine {
    const e = new Engine({ blockstore, network, ledgers, logger }, {
      maxWantlistSize: 1024,
      maxMessageSize: 4 * 1024 * 1024,
      maxBlockSize: 2 * 1024 * 1024,
      maxCidSize: 128,
      maxSizeReplaceHasWithBlock: 1024,
      strategy: serveAll(),
      blockstoreTimeout: 5_000,
      concurrency: 4,
      onOverflow: (_p, n) => { overflow += n },
      ...init
    })
    e.start()
    return e
  }

  /** Every presence and block sent to `peer`, flattened */
  function responses (): { haves: string[], dontHaves: string[], blocks: Array<{ cid: string, data: Uint8Array }> } {
    const out = { haves: [] as string[], dontHaves: [] as string[], blocks: [] as Array<{ cid: string, data: Uint8Array }> }
    for (const m of network.to(peer)) {
      for (const p of m.blockPresences) {
        (p.type === 'Have' ? out.haves : out.dontHaves).push(CID.decode(p.cid).toString())
      }
      for (const b of m.payload) out.blocks.push({ cid: '', data: b.data })
    }
    return out
  }

  function hasBlock (block: TestBlock): boolean {
    return responses().blocks.some(b => equalBytes(b.data, block.bytes))
  }

  beforeEach(async () => {
    network = new StubNetwork()
    blockstore = new MemoryBlockstore()
    ledgers = new Ledgers(100, () => true)
    peer = await makePeer()
    overflow = 0
    engine = makeEngine()
  })

  afterEach(() => {
    engine.stop()
  })

  it('answers want-have with Have for a large block and with the block itself for a small one', async () => {
    const [large] = await makeBlocks(1, 4096, 1)
    const [small] = await makeBlocks(1, 1024, 2)
    await putBlocks(blockstore, [large, small])
    engine.receiveWantlist(peer, { full: false, entries: [entry(large.cid, { wantType: Have }), entry(small.cid, { wantType: Have })] })
    await waitFor(() => responses().haves.length + responses().blocks.length >= 2, 'responses')
    assert.deepEqual(responses().haves, [large.cid.toString()])
    assert.ok(hasBlock(small), 'a block of <= 1 KiB replaces the Have')
    assert.equal(ledgers.get(peer)?.blocksSent, 1)
    assert.equal((engine.wantlist(peer) ?? []).length, 0, 'answered want-haves are dropped')
  })

  it('answers want-have from a store that knows block sizes without reading a large block', async () => {
    const [large] = await makeBlocks(1, 4096, 3)
    const [small] = await makeBlocks(1, 1024, 4)
    const [missing] = await makeBlocks(1, 4096, 5)
    await putBlocks(blockstore, [large, small])
    const reads: string[] = []
    const sized = Object.assign(Object.create(blockstore) as MemoryBlockstore, {
      get: (cid: CID, options?: any) => { reads.push(cid.toString()); return blockstore.get(cid, options) },
      blockSize: async (cid: CID) => await blockstore.has(cid) ? (cid.equals(large.cid) ? 4096 : 1024) : undefined
    })
    engine.stop()
    engine = new Engine({ blockstore: sized, network, ledgers, logger }, {
      maxWantlistSize: 1024, maxMessageSize: 4 * 1024 * 1024, maxBlockSize: 2 * 1024 * 1024, maxCidSize: 128,
      maxSizeReplaceHasWithBlock: 1024, strategy: serveAll(), blockstoreTimeout: 5_000, concurrency: 4
    })
    engine.start()
    engine.receiveWantlist(peer, { full: false, entries: [entry(large.cid, { wantType: Have }), entry(small.cid, { wantType: Have }), entry(missing.cid, { wantType: Have, sendDontHave: true })] })
    await waitFor(() => responses().haves.length + responses().blocks.length + responses().dontHaves.length >= 3, 'responses')
    assert.deepEqual(responses().haves, [large.cid.toString()])
    assert.deepEqual(responses().dontHaves, [missing.cid.toString()])
    assert.ok(hasBlock(small), 'a block of <= 1 KiB still replaces the Have')
    assert.deepEqual(reads, [small.cid.toString()], 'only the small block was read')
    engine.receiveWantlist(peer, { full: false, entries: [entry(large.cid, { wantType: Block })] })
    await waitFor(() => hasBlock(large), 'the large block')
  })

  it('answers DontHave only to peers that asked for it, and keeps the want for later', async () => {
    const [b1, b2] = await makeBlocks(2, 2000, 3)
    engine.receiveWantlist(peer, { full: false, entries: [entry(b1.cid, { wantType: Have, sendDontHave: true }), entry(b2.cid, { wantType: Block, sendDontHave: false })] })
    await waitFor(() => responses().dontHaves.length === 1, 'DontHave')
    assert.deepEqual(responses().dontHaves, [b1.cid.toString()])
    assert.equal(responses().blocks.length, 0)
    assert.equal(engine.wantlist(peer)?.length, 2, 'unanswered wants stay')

    // the blocks arrive: the want-have is answered Have, the want-block with the block
    await putBlocks(blockstore, [b1, b2])
    engine.notifyNewBlocks([cidKey(b1.cid), cidKey(b2.cid)])
    await waitFor(() => responses().haves.length === 1 && responses().blocks.length === 1, 'Have and block after notify')
    assert.ok(hasBlock(b2))
    await waitFor(() => engine.wantlist(peer) === undefined, 'a peer with nothing left wanted to be forgotten')
  })

  it('answers want-block with the block, or DontHave when asked to', async () => {
    const [present, absent] = await makeBlocks(2, 64 * 1024, 4)
    await putBlocks(blockstore, [present])
    engine.receiveWantlist(peer, { full: false, entries: [entry(present.cid), entry(absent.cid, { sendDontHave: true })] })
    await waitFor(() => responses().blocks.length === 1 && responses().dontHaves.length === 1, 'block and DontHave')
    assert.ok(hasBlock(present))
    assert.deepEqual(responses().dontHaves, [absent.cid.toString()])
    const ledger = ledgers.get(peer)
    assert.equal(ledger?.blocksSent, 1)
    assert.equal(ledger?.bytesSent, 64 * 1024)
  })

  it('batches blocks into messages up to the size limit', async () => {
    const blocks = await makeBlocks(10, 1024 * 1024, 5)
    await putBlocks(blockstore, blocks)
    engine.receiveWantlist(peer, { full: false, entries: blocks.map(b => entry(b.cid)) })
    await waitFor(() => responses().blocks.length === 10, 'all 10 blocks')
    const messages = network.to(peer)
    assert.ok(network.sent.every(s => s.size <= 4 * 1024 * 1024), 'no message above 4 MiB')
    assert.ok(messages.every(m => m.payload.length >= 1 && m.payload.length <= 3), 'three 1 MiB blocks per 4 MiB message at most')
    assert.equal(messages.length, 4)
    assert.ok(blocks.every(hasBlock))
  })

  it('serves higher priority first', async () => {
    const blocks = await makeBlocks(4, 60 * 1024, 6)
    await putBlocks(blockstore, blocks)
    engine.stop()
    engine = makeEngine({ maxMessageSize: 100_000, maxBlockSize: 90_000 })
    engine.receiveWantlist(peer, { full: false, entries: blocks.map((b, i) => entry(b.cid, { priority: i })) })
    await waitFor(() => responses().blocks.length === 4, 'all blocks')
    // one block per message at this size: the order of messages is the serving order
    const order = network.to(peer).map(m => blocks.findIndex(b => equalBytes(b.bytes, m.payload[0].data)))
    assert.deepEqual(order, [3, 2, 1, 0])
  })

  it('caps the stored wantlist per peer and drops the overflow', async () => {
    const blocks = await makeBlocks(3000, 8, 7)
    for (let i = 0; i < blocks.length; i += 1000) {
      engine.receiveWantlist(peer, { full: false, entries: blocks.slice(i, i + 1000).map(b => entry(b.cid)) })
    }
    assert.equal(engine.wantlist(peer)?.length, 1024)
    assert.equal(overflow, 3000 - 1024)
    // a full wantlist replaces the stored one; cancels remove entries
    engine.receiveWantlist(peer, { full: true, entries: blocks.slice(0, 10).map(b => entry(b.cid)) })
    assert.equal(engine.wantlist(peer)?.length, 10)
    engine.receiveWantlist(peer, { full: false, entries: [entry(blocks[0].cid, { cancel: true })] })
    assert.equal(engine.wantlist(peer)?.length, 9)
  })

  it('leaves the stored wantlist untouched when a message holds a malformed CID', async () => {
    const [b1, b2] = await makeBlocks(2, 8, 8)
    engine.receiveWantlist(peer, { full: false, entries: [entry(b1.cid)] })
    assert.throws(() => {
      engine.receiveWantlist(peer, { full: true, entries: [entry(b2.cid), { ...entry(b2.cid), block: new Uint8Array([1, 2, 3]) }] })
    }, { name: 'InvalidMessageError' })
    assert.deepEqual(engine.wantlist(peer)?.map(w => w.cid.toString()), [b1.cid.toString()])
  })

  it('upgrades a want-have to a want-block', async () => {
    const [block] = await makeBlocks(1, 4096, 9)
    await putBlocks(blockstore, [block])
    engine.receiveWantlist(peer, { full: false, entries: [entry(block.cid, { wantType: Have })] })
    await waitFor(() => responses().haves.length === 1, 'Have')
    engine.receiveWantlist(peer, { full: false, entries: [entry(block.cid, { wantType: Block })] })
    await waitFor(() => responses().blocks.length === 1, 'block')
    assert.ok(hasBlock(block))
  })

  it('asks the strategy before sending a block and answers a declined want-block with DontHave', async () => {
    const blocks = await makeBlocks(4, 4096, 10)
    await putBlocks(blockstore, blocks)
    const seen: number[] = []
    const strategy: Strategy = {
      name: 'every-other',
      shouldServe: (ledger) => {
        seen.push(ledger.blocksSent)
        return seen.length % 2 === 1
      }
    }
    engine.stop()
    engine = makeEngine({ strategy })
    engine.receiveWantlist(peer, { full: false, entries: blocks.map(b => entry(b.cid, { sendDontHave: true })) })
    await waitFor(() => responses().blocks.length + responses().dontHaves.length === 4, 'four answers')
    assert.equal(responses().blocks.length, 2)
    assert.equal(responses().dontHaves.length, 2)
    assert.equal(ledgers.get(peer)?.declined, 2)
    assert.equal(seen.length, 4)
  })

  it('refuses to serve blocks above the block size limit', async () => {
    const [big] = await makeBlocks(1, 3000, 11)
    await putBlocks(blockstore, [big])
    engine.stop()
    engine = makeEngine({ maxBlockSize: 2048 })
    engine.receiveWantlist(peer, { full: false, entries: [entry(big.cid, { sendDontHave: true })] })
    await waitFor(() => responses().dontHaves.length === 1, 'DontHave')
    assert.equal(responses().blocks.length, 0)
  })

  it('drops a peer\'s wants when sending to it fails, instead of retrying in a loop', async () => {
    const blocks = await makeBlocks(3, 4096, 13)
    await putBlocks(blockstore, blocks)
    network.fail = true
    engine.receiveWantlist(peer, { full: false, entries: blocks.map(b => entry(b.cid)) })
    await waitFor(() => engine.wantlist(peer) === undefined, 'the wants to be dropped')
    const attempts = network.attempts
    assert.ok(attempts >= 1)
    // nothing else is tried afterwards: a want for another block still goes through once the network is back
    network.fail = false
    engine.receiveWantlist(peer, { full: false, entries: [entry(blocks[0].cid)] })
    await waitFor(() => responses().blocks.length === 1, 'served again after the failure')
    assert.equal(network.attempts, attempts + 1)
  })

  it('survives a send that fails while the next response is being built (no unhandled rejection)', async () => {
    // a peer that drops its connection while being served: the first send
    // rejects while the engine awaits the store for the next message
    const blocks = await makeBlocks(6, 64 * 1024, 14)
    await putBlocks(blockstore, blocks)
    const slow = Object.assign(Object.create(blockstore) as MemoryBlockstore, {
      has: async (cid: CID, options?: any) => {
        await new Promise(resolve => setTimeout(resolve, 30))
        return blockstore.has(cid, options)
      }
    })
    const failing = {
      attempts: 0,
      async send (): Promise<void> {
        this.attempts++
        await new Promise(resolve => setTimeout(resolve, 5))
        throw new Error('Unexpected EOF - stream closed while reading 0/1 bytes')
      }
    }
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    engine.stop()
    engine = new Engine({ blockstore: slow, network: failing, ledgers, logger }, {
      maxWantlistSize: 1024, maxMessageSize: 100_000, maxBlockSize: 90_000, maxCidSize: 128,
      maxSizeReplaceHasWithBlock: 1024, strategy: serveAll(), blockstoreTimeout: 5_000, concurrency: 4
    })
    engine.start()
    try {
      engine.receiveWantlist(peer, { full: false, entries: blocks.map(b => entry(b.cid)) })
      await waitFor(() => engine.wantlist(peer) === undefined, 'the failed peer to be dropped')
      // past the point where the rejection would have been reported
      await new Promise(resolve => setTimeout(resolve, 100))
      assert.equal(failing.attempts, 1, 'one send was tried, and failed')
      assert.deepEqual(unhandled, [])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('forgets a disconnected peer', async () => {
    const [block] = await makeBlocks(1, 8, 12)
    engine.receiveWantlist(peer, { full: false, entries: [entry(block.cid)] })
    assert.equal(engine.wantlist(peer)?.length, 1)
    engine.peerDisconnected(peer)
    assert.equal(engine.wantlist(peer), undefined)
    assert.equal(engine.totalWantlistSize, 0)
  })
})
