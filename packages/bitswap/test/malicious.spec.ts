import assert from 'node:assert/strict'
import { describe, it, before, after } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { Uint8ArrayList } from 'uint8arraylist'
import { encodeVarint } from '../src/message.js'
import { Message } from '../src/pb/message.js'
import { connect, createNode, equalBytes, makeBlocks, putBlocks, randomBytes, waitFor } from './fixtures/nodes.js'
import { RawPeer, entry, payload, streamClosed, writeFramed, writeRaw } from './fixtures/raw-peer.js'
import type { BitswapWantProgressEvents } from '../src/index.js'
import type { TestBlock, TestNode } from './fixtures/nodes.js'
import type { PeerId } from '@libp2p/interface'

/** `n` distinct CIDs, cheaply: sha2-256 digests that are just counters */
function fakeCids (n: number, offset = 0): CID[] {
  const out: CID[] = []
  for (let i = 0; i < n; i++) {
    const digest = new Uint8Array(32)
    new DataView(digest.buffer).setUint32(0, i + offset)
    out.push(CID.createV1(raw.code, createDigest(0x12, digest)))
  }
  return out
}

function isConnected (node: TestNode, peer: PeerId): boolean {
  return node.libp2p.getConnections(peer).some(c => c.status === 'open')
}

describe('a peer that sends blocks that do not match their CIDs', () => {
  let fetcher: TestNode
  let honest: TestNode
  let liar: RawPeer
  let blocks: TestBlock[]

  before(async () => {
    blocks = await makeBlocks(8, 64 * 1024, 51)
    fetcher = await createNode()
    honest = await createNode()
    await putBlocks(honest.blockstore, blocks)
    // says Have to every want-have, and answers every want-block with garbage under the right prefix
    liar = await RawPeer.create({
      onMessage: (self, { from, message }) => {
        const reply: Partial<Message> = { payload: [], blockPresences: [] }
        for (const e of message.wantlist?.entries ?? []) {
          if (e.cancel) continue
          const cid = CID.decode(e.block)
          if (e.wantType === Message.Wantlist.WantType.Have) {
            reply.blockPresences?.push({ cid: e.block, type: Message.BlockPresenceType.Have })
          } else {
            reply.payload?.push(payload(cid, randomBytes(64 * 1024, 99)))
          }
        }
        if ((reply.payload?.length ?? 0) + (reply.blockPresences?.length ?? 0) > 0) {
          self.send(from, reply).catch(() => {})
        }
      }
    })
    await connect(fetcher, honest)
    await liar.libp2p.dial(fetcher.libp2p.getMultiaddrs())
    await waitFor(() => fetcher.bitswap.peers().some(p => p.equals(liar.peerId)), 'the liar to be a bitswap peer')
  })

  after(async () => {
    await Promise.all([fetcher?.libp2p.stop(), honest?.libp2p.stop(), liar?.stop()])
  })

  it('is detected, disconnected and penalised, and its blocks are fetched elsewhere', async () => {
    const events: BitswapWantProgressEvents[] = []
    const session = fetcher.bitswap.createSession({ peers: [liar.peerId, honest.peerId] })
    const byCid = new Map(blocks.map(b => [b.cid.toString(), b]))
    let count = 0
    for await (const { cid, bytes, from } of session.want(blocks.map(b => b.cid), { onProgress: e => events.push(e), signal: AbortSignal.timeout(20_000) })) {
      assert.ok(equalBytes(bytes, byCid.get(cid.toString())?.bytes ?? new Uint8Array()), `${cid} verified`)
      assert.ok(from?.equals(honest.peerId), 'every block came from the honest provider')
      count++
    }
    assert.equal(count, 8)

    // the liar was asked for blocks, sent garbage, and was cut off
    assert.ok(events.some(e => e.type === 'bitswap:want-block' && e.detail.peer.equals(liar.peerId)), 'the liar was asked for blocks')
    assert.ok(events.some(e => e.type === 'bitswap:retry' && e.detail.reason === 'bad-peer' && e.detail.peer.equals(liar.peerId)), 'its wants moved')
    const ledger = fetcher.bitswap.ledger(liar.peerId)
    assert.ok((ledger?.badBlocks ?? 0) >= 1)
    assert.ok((ledger?.penalties ?? 0) >= 1)
    assert.equal(ledger?.blocksReceived, 0, 'no garbage counted as received')
    await waitFor(() => !isConnected(fetcher, liar.peerId), 'the liar to be disconnected')
    assert.ok(!fetcher.bitswap.peers().some(p => p.equals(liar.peerId)))
    // nothing unverified was stored
    for (const block of blocks) {
      assert.ok(equalBytes(await readStored(fetcher, block.cid), block.bytes))
    }
  })

  it('is not asked again by new sessions while its penalty lasts', async () => {
    const [extra] = await makeBlocks(1, 4096, 52)
    await putBlocks(honest.blockstore, [extra])
    await liar.libp2p.dial(fetcher.libp2p.getMultiaddrs())
    const session = fetcher.bitswap.createSession({ peers: [liar.peerId, honest.peerId] })
    assert.deepEqual(session.peers().map(String), [honest.peerId.toString()])
    for await (const { from } of session.want([extra.cid], { signal: AbortSignal.timeout(10_000) })) {
      assert.ok(from?.equals(honest.peerId))
    }
  })
})

async function readStored (node: TestNode, cid: CID): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of node.blockstore.get(cid)) chunks.push(chunk)
  return new Uint8ArrayList(...chunks).subarray()
}

describe('limits on what a peer can send', () => {
  let target: TestNode
  let other: TestNode
  let attacker: RawPeer
  let served: TestBlock[]

  before(async () => {
    served = await makeBlocks(4, 8 * 1024, 61)
    target = await createNode({ maxInboundStreams: 4 })
    other = await createNode()
    await putBlocks(target.blockstore, served)
    attacker = await RawPeer.create()
    await attacker.libp2p.dial(target.libp2p.getMultiaddrs())
    await connect(other, target)
  })

  after(async () => {
    await Promise.all([target?.libp2p.stop(), other?.libp2p.stop(), attacker?.stop()])
  })

  /** The target still answers the attacker on a new stream, and still serves another peer */
  async function stillWorks (label: string): Promise<void> {
    assert.ok(isConnected(target, attacker.peerId), `${label}: the connection stays open`)
    const before = attacker.messages(m => m.payload.length > 0).length
    const stream = await attacker.openStream(target.peerId)
    await writeFramed(stream, Message.encode({ wantlist: { full: false, entries: [entry(served[0].cid)] } }))
    await waitFor(() => attacker.messages(m => m.payload.length > 0).length > before, `${label}: the attacker is still served`)
    await stream.close()
    const session = other.bitswap.createSession({ peers: [target.peerId] })
    let n = 0
    for await (const { cid, bytes } of session.want(served.map(b => b.cid), { signal: AbortSignal.timeout(10_000) })) {
      assert.ok(equalBytes(bytes, served.find(b => b.cid.equals(cid))?.bytes ?? new Uint8Array()))
      n++
    }
    assert.equal(n, served.length, `${label}: another peer is still served`)
    // forget the blocks so the next check fetches them again
    for (const b of served) await other.blockstore.delete(b.cid)
  }

  it('caps a flood of 100,000 wantlist entries at the wantlist limit', async () => {
    const cids = fakeCids(100_000)
    // 20 messages of 5,000 entries (each under the per-message limit), then a cancel of the first entry
    const messages: Uint8Array[] = []
    for (let i = 0; i < cids.length; i += 5000) {
      messages.push(Message.encode({ wantlist: { full: false, entries: cids.slice(i, i + 5000).map(c => entry(c)) } }))
    }
    messages.push(Message.encode({ wantlist: { full: false, entries: [entry(cids[0], { cancel: true })] } }))
    const stream = await attacker.openStream(target.peerId)
    for (const message of messages) {
      await writeFramed(stream, message)
    }
    // messages on one stream are handled in order: once the cancel shows, all 100,000 entries were seen
    await waitFor(() => target.bitswap.peerWantlist(attacker.peerId)?.length === 1023, 'the flood and the cancel to be processed')
    const stored = target.bitswap.peerWantlist(attacker.peerId) ?? []
    assert.equal(stored.length, 1023, 'capped at 1,024 (one since cancelled)')
    // the first entries were kept; everything past the cap was dropped
    assert.ok(stored.every(w => new DataView(w.cid.multihash.digest.buffer, w.cid.multihash.digest.byteOffset).getUint32(0) < 1024))
    // a full wantlist replaces them all
    await writeFramed(stream, Message.encode({ wantlist: { full: true, entries: [] } }))
    await waitFor(() => (target.bitswap.peerWantlist(attacker.peerId) ?? []).length === 0, 'the full wantlist to replace the flood')
    await stream.close()
    await stillWorks('after the flood')
  })

  it('resets a stream that announces a message over 4 MiB, and only that stream', async () => {
    const penalties = target.bitswap.ledger(attacker.peerId)?.penalties ?? 0
    const stream = await attacker.openStream(target.peerId)
    const closed = streamClosed(stream)
    await writeRaw(stream, new Uint8ArrayList(encodeVarint(5 * 1024 * 1024), new Uint8Array(1024)))
    const err = await closed
    assert.ok(err != null, 'closed with an error (reset by the target)')
    assert.equal(stream.status, 'reset')
    await waitFor(() => (target.bitswap.ledger(attacker.peerId)?.penalties ?? 0) > penalties, 'a penalty')
    await stillWorks('after an oversized message')
  })

  it('resets a stream carrying a malformed message', async () => {
    const stream = await attacker.openStream(target.peerId)
    const closed = streamClosed(stream)
    // field 1 (wantlist), length-delimited, claims 100 bytes, has 3
    await writeFramed(stream, new Uint8Array([0x0a, 100, 1, 2, 3]))
    assert.ok(await closed != null)
    assert.equal(stream.status, 'reset')
    await stillWorks('after a malformed message')
  })

  it('resets a stream carrying more than 8,192 entries in one message', async () => {
    const stream = await attacker.openStream(target.peerId)
    const closed = streamClosed(stream)
    await writeFramed(stream, Message.encode({ wantlist: { full: false, entries: fakeCids(9000, 200_000).map(c => entry(c)) } }))
    assert.ok(await closed != null)
    assert.equal(stream.status, 'reset')
    await stillWorks('after too many entries')
  })

  it('resets a stream carrying a block over 2 MiB', async () => {
    const stream = await attacker.openStream(target.peerId)
    const closed = streamClosed(stream)
    const [cid] = fakeCids(1, 300_000)
    await writeFramed(stream, Message.encode({ payload: [payload(cid, new Uint8Array(2 * 1024 * 1024 + 1))] }))
    assert.ok(await closed != null)
    assert.equal(stream.status, 'reset')
    await stillWorks('after an oversized block')
  })

  it('resets a stream that stays idle past the idle timeout, without a penalty', async () => {
    const impatient = await createNode({ inboundStreamIdleTimeout: 300 })
    try {
      await attacker.libp2p.dial(impatient.libp2p.getMultiaddrs())
      const stream = await attacker.openStream(impatient.peerId)
      assert.ok(await streamClosed(stream, 5_000) != null, 'reset by the node')
      assert.equal(stream.status, 'reset')
      assert.equal(impatient.bitswap.ledger(attacker.peerId)?.penalties ?? 0, 0)
      assert.ok(isConnected(impatient, attacker.peerId), 'the connection stays')
    } finally {
      await impatient.libp2p.stop()
    }
  })

  it('refuses inbound streams past the per-connection limit', async () => {
    const streams = await Promise.all(Array.from({ length: 8 }, async () => attacker.openStream(target.peerId)))
    // keep them busy so none goes idle first: a small valid message each
    await Promise.all(streams.map(async s => writeFramed(s, Message.encode({ wantlist: { full: false, entries: [] } })).catch(() => {})))
    await waitFor(() => streams.filter(s => s.status !== 'open').length >= 4, 'streams past the limit of 4 to be refused')
    assert.ok(streams.filter(s => s.status === 'open').length <= 4)
    await Promise.all(streams.map(async s => s.status === 'open' ? s.close() : undefined))
    await stillWorks('after too many streams')
  })
})
