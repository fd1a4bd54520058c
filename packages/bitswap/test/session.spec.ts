import assert from 'node:assert/strict'
import { describe, it, after } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { create as createDigest } from 'multiformats/hashes/digest'
import { from } from 'multiformats/hashes/hasher'
import { Message } from '../src/pb/message.js'
import { effectiveLoad } from '../src/peer-choice.js'
import { connect, createNode, equalBytes, makeBlocks, putBlocks, waitFor } from './fixtures/nodes.js'
import { RawPeer } from './fixtures/raw-peer.js'
import type { BitswapWantProgressEvents, BlockResult } from '../src/index.js'
import type { TestBlock, TestNode } from './fixtures/nodes.js'
import type { PeerId } from '@libp2p/interface'

const MiB = 1024 * 1024

describe('session: fetching from several providers', () => {
  const nodes: TestNode[] = []
  after(async () => {
    await Promise.all(nodes.map(async n => n.libp2p.stop()))
  })

  it('fetches 64 MiB in 1 MiB blocks from three providers, one stopped halfway; the others serve the rest', async () => {
    const blocks = await makeBlocks(64, MiB, 41)
    const providers = await Promise.all([createNode(), createNode(), createNode()])
    const fetcher = await createNode()
    nodes.push(...providers, fetcher)
    for (const p of providers) {
      await putBlocks(p.blockstore, blocks)
      await connect(fetcher, p)
    }
    const [stopped, ...remaining] = providers
    const byCid = new Map(blocks.map(b => [b.cid.toString(), b]))
    const session = fetcher.bitswap.createSession({ peers: providers.map(p => p.peerId) })
    assert.equal(session.peers().length, 3)

    const receivedFrom: Array<PeerId | undefined> = []
    let fromStoppedAtStop = -1
    for await (const { cid, bytes, from } of session.want(blocks.map(b => b.cid), { signal: AbortSignal.timeout(60_000) })) {
      const expected = byCid.get(cid.toString())
      assert.ok(expected != null && equalBytes(bytes, expected.bytes), `block ${cid} verified`)
      byCid.delete(cid.toString())
      receivedFrom.push(from)
      if (receivedFrom.length === 32) {
        // halfway: stop a provider that has been serving
        assert.ok((fetcher.bitswap.ledger(stopped.peerId)?.blocksReceived ?? 0) > 0, 'the provider to stop served some blocks first')
        await stopped.libp2p.stop()
        fromStoppedAtStop = fetcher.bitswap.ledger(stopped.peerId)?.blocksReceived ?? 0
      }
    }
    assert.equal(byCid.size, 0, 'every block arrived, once')
    assert.equal(receivedFrom.length, 64)
    assert.ok(receivedFrom.every(from => from != null), 'every block came from a peer')
    assert.equal(fetcher.bitswap.ledger(stopped.peerId)?.blocksReceived, fromStoppedAtStop, 'nothing arrived from the stopped provider after it stopped')

    // ledgers: the remaining providers served everything the stopped one did not
    const fromStopped = fetcher.bitswap.ledger(stopped.peerId)?.blocksReceived ?? 0
    const fromRemaining = remaining.map(p => fetcher.bitswap.ledger(p.peerId))
    assert.ok(fromStopped > 0 && fromStopped < 64)
    for (const ledger of fromRemaining) {
      assert.ok((ledger?.blocksReceived ?? 0) > 0, 'each remaining provider served blocks')
    }
    const uniqueFromRemaining = fromRemaining.reduce((acc, l) => acc + (l?.blocksReceived ?? 0) - (l?.duplicateBlocks ?? 0), 0)
    const uniqueFromStopped = fromStopped - (fetcher.bitswap.ledger(stopped.peerId)?.duplicateBlocks ?? 0)
    assert.equal(uniqueFromStopped + uniqueFromRemaining, 64)
    // and the providers' own ledgers agree on what they sent
    const sentByRemaining = remaining.reduce((acc, p) => acc + (p.bitswap.ledger(fetcher.peerId)?.blocksSent ?? 0), 0)
    assert.ok(sentByRemaining >= 64 - uniqueFromStopped)
    assert.equal(fetcher.bitswap.wantlist().length, 0, 'nothing left wanted')
    for (const block of blocks) {
      assert.ok(await fetcher.blockstore.has(block.cid), 'stored')
    }
  })
})

describe('session: behaviour', () => {
  const stops: Array<() => Promise<void>> = []
  after(async () => {
    await Promise.all(stops.map(async stop => stop()))
  })

  async function pair (blocks: TestBlock[], init: Parameters<typeof createNode>[0] = {}): Promise<{ provider: TestNode, fetcher: TestNode }> {
    const provider = await createNode()
    stops.push(async () => provider.libp2p.stop())
    const fetcher = await createNode(init)
    stops.push(async () => fetcher.libp2p.stop())
    await putBlocks(provider.blockstore, blocks)
    await connect(fetcher, provider)
    return { provider, fetcher }
  }

  async function collect (source: AsyncIterable<BlockResult>): Promise<BlockResult[]> {
    const out: BlockResult[] = []
    for await (const r of source) out.push(r)
    return out
  }

  it('moves wants off a peer that says Have but never delivers', async () => {
    const blocks = await makeBlocks(16, 64 * 1024, 42)
    const { provider, fetcher } = await pair(blocks)
    // answers Have to everything, sends nothing else
    const slow = await RawPeer.create({
      onMessage: (self, { from, message }) => {
        const haves = (message.wantlist?.entries ?? []).filter(e => !e.cancel && e.wantType === Message.Wantlist.WantType.Have)
        if (haves.length > 0) void self.send(from, { blockPresences: haves.map(e => ({ cid: e.block, type: Message.BlockPresenceType.Have })) })
      }
    })
    stops.push(async () => slow.stop())
    await slow.libp2p.dial(fetcher.libp2p.getMultiaddrs())
    const events: BitswapWantProgressEvents[] = []
    const session = fetcher.bitswap.createSession({ peers: [slow.peerId, provider.peerId], wantTimeout: 300 })
    const results = await collect(session.want(blocks.map(b => b.cid), { onProgress: (e) => events.push(e), signal: AbortSignal.timeout(30_000) }))
    assert.equal(results.length, 16)
    assert.ok(results.every(r => r.from?.equals(provider.peerId)))
    const retries = events.filter(e => e.type === 'bitswap:retry')
    const described = JSON.stringify(retries.map(e => e.type === 'bitswap:retry' ? [e.detail.reason, e.detail.peer.equals(slow.peerId) ? 'slow' : 'provider'] : e.type))
    assert.ok(retries.some(e => e.type === 'bitswap:retry' && e.detail.reason === 'timeout' && e.detail.peer.equals(slow.peerId)), `wants timed out on the slow peer and were moved: ${described}`)
    // the other retries allowed: a want-block the provider had not answered
    // within MOVE_AFTER (25 ms, easily passed on a loaded machine) moves to
    // the slow peer, which said Have and holds fewer; it then times out there
    assert.ok(retries.every(e => e.type === 'bitswap:retry' && (e.detail.peer.equals(slow.peerId) ? e.detail.reason === 'timeout' : e.detail.reason === 'moved')), `retries: ${described}`)
    assert.ok(events.some(e => e.type === 'bitswap:want-block' && e.detail.peer.equals(slow.peerId)), 'the slow peer was asked first')
  })

  it('asks the providers function, dials what it finds and fetches from it', async () => {
    const blocks = await makeBlocks(8, 32 * 1024, 43)
    const provider = await createNode()
    stops.push(async () => provider.libp2p.stop())
    const fetcher = await createNode()
    stops.push(async () => fetcher.libp2p.stop())
    await putBlocks(provider.blockstore, blocks)
    await fetcher.libp2p.peerStore.merge(provider.peerId, { multiaddrs: provider.libp2p.getMultiaddrs() })
    const calls: CID[] = []
    const events: string[] = []
    const session = fetcher.bitswap.createSession({
      providers: async function * (cid, { signal }) {
        assert.ok(signal instanceof AbortSignal)
        calls.push(cid)
        yield provider.peerId
      }
    })
    const results = await collect(session.want(blocks.map(b => b.cid), { onProgress: (e) => events.push(e.type), signal: AbortSignal.timeout(20_000) }))
    assert.equal(results.length, 8)
    assert.ok(calls.length >= 1 && calls[0].equals(blocks[0].cid), 'looked up with the first CID')
    assert.ok(events.includes('bitswap:provider'))
    assert.ok(session.peers().some(p => p.equals(provider.peerId)))
  })

  it('keeps at most `window` blocks in flight and can yield in order', async () => {
    const blocks = await makeBlocks(40, 16 * 1024, 44)
    const { fetcher } = await pair(blocks)
    const session = fetcher.bitswap.createSession({ broadcast: true, window: 4 })
    let wanted = 0
    let yielded = 0
    const order: string[] = []
    for await (const { cid } of session.want(blocks.map(b => b.cid), {
      ordered: true,
      onProgress: (e) => { if (e.type === 'bitswap:want') wanted++ },
      signal: AbortSignal.timeout(20_000)
    })) {
      yielded++
      // started and not yet handed over, this one excluded
      assert.ok(wanted - yielded <= 4, `${wanted - yielded} in flight, window 4`)
      order.push(cid.toString())
    }
    assert.deepEqual(order, blocks.map(b => b.cid.toString()))
  })

  it('slow start: begins with `initialWindow` blocks in flight and grows by one per block, up to `window`', async () => {
    const blocks = await makeBlocks(40, 16 * 1024, 47)
    const { fetcher } = await pair(blocks)
    const session = fetcher.bitswap.createSession({ broadcast: true, window: 8, initialWindow: 2 })
    let wanted = 0
    let yielded = 0
    let widest = 0
    for await (const _ of session.want(blocks.map(b => b.cid), {
      onProgress: (e) => { if (e.type === 'bitswap:want') wanted++ },
      signal: AbortSignal.timeout(20_000)
    })) {
      yielded++
      // the window after n blocks is min(8, 2 + n); the one just yielded is no longer in flight.
      // At the first block at most 1 + 3 were wanted, where a window of 8 would have sent 8 at once
      if (yielded === 1) assert.ok(wanted <= 4, `${wanted} wanted by the first block`)
      assert.ok(wanted - yielded <= Math.min(8, 2 + yielded), `${wanted - yielded} in flight after ${yielded} blocks`)
      widest = Math.max(widest, wanted - yielded)
    }
    assert.equal(yielded, 40)
    assert.ok(widest > 2, `the window grew (widest ${widest})`)
    assert.throws(() => fetcher.bitswap.createSession({ broadcast: true, initialWindow: 0 }), /initialWindow must be an integer >= 1/)
  })

  it('takes blocks from the local blockstore without asking anyone', async () => {
    const blocks = await makeBlocks(4, 1000, 45)
    const { fetcher, provider } = await pair([])
    await putBlocks(fetcher.blockstore, blocks)
    const session = fetcher.bitswap.createSession({ peers: [provider.peerId] })
    const events: BitswapWantProgressEvents[] = []
    const results = await collect(session.want(blocks.map(b => b.cid), { onProgress: (e) => events.push(e) }))
    assert.equal(results.length, 4)
    assert.ok(results.every(r => r.from == null))
    assert.ok(events.filter(e => e.type === 'bitswap:block').every(e => e.type === 'bitswap:block' && e.detail.local))
    assert.equal(provider.bitswap.peerWantlist(fetcher.peerId), undefined, 'the provider was never asked')
  })

  it('with `notHeld` asks peers without looking in the local blockstore first', async () => {
    const blocks = await makeBlocks(4, 1000, 48)
    const { fetcher, provider } = await pair(blocks)
    await putBlocks(fetcher.blockstore, blocks)
    let looked = 0
    const has = fetcher.blockstore.has.bind(fetcher.blockstore)
    fetcher.blockstore.has = async (...args: Parameters<typeof has>) => { looked++; return has(...args) }
    const session = fetcher.bitswap.createSession({ peers: [provider.peerId] })
    const results = await collect(session.want(blocks.map(b => b.cid), { notHeld: true, signal: AbortSignal.timeout(20_000) }))
    assert.equal(results.length, 4)
    assert.ok(results.every(r => r.from?.equals(provider.peerId)), 'every block came from the provider')
    assert.equal(looked, 0, 'the local blockstore was not consulted')
  })

  it('reads the input lazily from an async iterable and joins duplicate CIDs', async () => {
    const blocks = await makeBlocks(6, 2048, 46)
    const { fetcher } = await pair(blocks)
    let pulled = 0
    async function * input (): AsyncGenerator<CID> {
      for (const b of [...blocks, blocks[0]]) {
        pulled++
        yield b.cid
      }
    }
    const session = fetcher.bitswap.createSession({ broadcast: true, window: 2 })
    const results = await collect(session.want(input(), { signal: AbortSignal.timeout(20_000) }))
    assert.equal(pulled, 7)
    assert.equal(results.length, 7)
    assert.equal(results.filter(r => r.cid.equals(blocks[0].cid)).length, 2)
  })

  it('once every peer of the session is a seed, sends want-blocks without waiting for a Have', async () => {
    const blocks = await makeBlocks(24, 16 * 1024, 49)
    const { provider, fetcher } = await pair(blocks)
    const haveFirst = new Set<string>()
    const direct: string[] = []
    const session = fetcher.bitswap.createSession({ peers: [provider.peerId], window: 2 })
    const results = await collect(session.want(blocks.map(b => b.cid), {
      signal: AbortSignal.timeout(20_000),
      onProgress: (e) => {
        if (e.type === 'bitswap:have') haveFirst.add(e.detail.cid.toString())
        if (e.type === 'bitswap:want-block' && !haveFirst.has(e.detail.cid.toString())) direct.push(e.detail.cid.toString())
      }
    }))
    assert.equal(results.length, 24)
    // the first 8 waited for the provider's Have; after 8 Haves and no DontHave it is a seed
    const order = blocks.map(b => b.cid.toString())
    assert.ok(direct.every(cid => order.indexOf(cid) >= 8), `no want-block before 8 Haves (${direct.length} direct)`)
    assert.ok(direct.length >= 24 - 8 - 2, `the wants after that went straight to want-block (${direct.length} of 24)`)
  })

  it('with a peer that is not a seed in the session, want-blocks still wait for a Have', async () => {
    const blocks = await makeBlocks(24, 16 * 1024, 50)
    const { provider, fetcher } = await pair(blocks)
    const silent = await RawPeer.create()
    stops.push(async () => silent.stop())
    await silent.libp2p.dial(fetcher.libp2p.getMultiaddrs())
    const haveFirst = new Set<string>()
    let direct = 0
    const session = fetcher.bitswap.createSession({ peers: [provider.peerId, silent.peerId], window: 2 })
    const results = await collect(session.want(blocks.map(b => b.cid), {
      signal: AbortSignal.timeout(20_000),
      onProgress: (e) => {
        if (e.type === 'bitswap:have') haveFirst.add(e.detail.cid.toString())
        if (e.type === 'bitswap:want-block' && !haveFirst.has(e.detail.cid.toString())) direct++
      }
    }))
    assert.equal(results.length, 24)
    assert.equal(direct, 0)
  })

  it('gives up with SessionStalledError when nobody delivers', async () => {
    const [block] = await makeBlocks(1, 100, 47)
    const fetcher = await createNode()
    stops.push(async () => fetcher.libp2p.stop())
    const silent = await RawPeer.create()
    stops.push(async () => silent.stop())
    await silent.libp2p.dial(fetcher.libp2p.getMultiaddrs())
    const session = fetcher.bitswap.createSession({ peers: [silent.peerId], stallTimeout: 300, wantTimeout: 200 })
    await assert.rejects(collect(session.want([block.cid])), { name: 'SessionStalledError' })
    assert.equal(fetcher.bitswap.wantlist().length, 0, 'the want was withdrawn')
    // the silent peer got our want-have and then a cancel
    await waitFor(() => silent.messages().some(m => m.wantlist?.entries.some(e => e.cancel) === true), 'cancel')
  })

  it('stops at once when its signal aborts, and withdraws its wants', async () => {
    const [block] = await makeBlocks(1, 100, 48)
    const fetcher = await createNode()
    stops.push(async () => fetcher.libp2p.stop())
    const silent = await RawPeer.create()
    stops.push(async () => silent.stop())
    await silent.libp2p.dial(fetcher.libp2p.getMultiaddrs())
    const controller = new AbortController()
    const session = fetcher.bitswap.createSession({ peers: [silent.peerId] })
    const result = collect(session.want([block.cid], { signal: controller.signal }))
    await waitFor(() => fetcher.bitswap.wantlist().length === 1, 'the want to be registered')
    controller.abort()
    await assert.rejects(result, { name: 'AbortError' })
    assert.equal(fetcher.bitswap.wantlist().length, 0)
  })

  it('returns identity CIDs inline, refuses hashes it cannot verify, and verifies with extra hashers', async () => {
    const fetcher = await createNode({
      // a toy hasher under a private-use code, only to show extra hashers are used
      hashers: [from({ name: 'xor-32', code: 0x300001, encode: (input) => { const out = new Uint8Array(32); input.forEach((b, i) => { out[i % 32] ^= b }); return out } })]
    })
    const provider = await createNode()
    stops.push(async () => fetcher.libp2p.stop(), async () => provider.libp2p.stop())
    const inline = CID.createV1(raw.code, identity.digest(new Uint8Array([1, 2, 3])))
    assert.deepEqual([...await fetcher.bitswap.want(inline)], [1, 2, 3])
    const unknown = CID.createV1(raw.code, createDigest(0x300002, new Uint8Array(32)))
    await assert.rejects(fetcher.bitswap.want(unknown), { name: 'UnsupportedHashError' })
  })
})

describe('effectiveLoad: where a want-block goes', () => {
  const seed = { load: 1, haves: 8, dontHaves: 0 }
  it('a seed (Have to 8 or more want-haves, DontHave to none) counts 3 busier when another peer has the block', () => {
    assert.equal(effectiveLoad(seed, 2), 4)
    assert.equal(effectiveLoad({ load: 2, haves: 0, dontHaves: 0 }, 2), 2)
  })
  it('it counts as it is when it alone has the block, or when it has said DontHave, or has said Have to fewer than 8', () => {
    assert.equal(effectiveLoad(seed, 1), 1)
    assert.equal(effectiveLoad({ ...seed, dontHaves: 1 }, 2), 1)
    assert.equal(effectiveLoad({ ...seed, haves: 7 }, 2), 1)
  })
})
