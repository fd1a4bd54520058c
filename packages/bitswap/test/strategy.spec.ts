import assert from 'node:assert/strict'
import { describe, it, after } from 'node:test'
import { CID } from 'multiformats/cid'
import { debtRatio, debtRatioProbability, serveAll } from '../src/index.js'
import { Ledgers } from '../src/ledger.js'
import { Message } from '../src/pb/message.js'
import { createNode, equalBytes, makeBlocks, prng, putBlocks, waitFor } from './fixtures/nodes.js'
import { RawPeer, entry, payload } from './fixtures/raw-peer.js'
import { makePeer } from './fixtures/stubs.js'
import type { Strategy } from '../src/index.js'
import type { TestBlock, TestNode } from './fixtures/nodes.js'

const BLOCK = 4096
const ROUNDS = 6
const PER_ROUND = 8

describe('strategy: the debt-ratio curve', () => {
  it('follows P(send | r) = 1 - 1 / (1 + exp(6 - 3r))', () => {
    assert.ok(Math.abs(debtRatioProbability(0) - (1 - 1 / (1 + Math.exp(6)))) < 1e-12)
    assert.ok(debtRatioProbability(0) > 0.997)
    assert.equal(debtRatioProbability(2), 0.5)
    assert.ok(debtRatioProbability(4) < 0.003)
    for (let r = 0; r < 6; r += 0.25) {
      assert.ok(debtRatioProbability(r + 0.25) < debtRatioProbability(r), 'strictly decreasing')
    }
  })

  it('decides with the injected random source, against the ledger ratio in bytes', async () => {
    const ledgers = new Ledgers(10, () => true)
    const peer = await makePeer()
    const strategy = debtRatio({ random: () => 0.49 })
    const request = { cid: CID.parse('bafkqaaa'), size: 1, wantType: 'block' as const }
    // r = 0: served
    assert.equal(strategy.shouldServe(ledgers.entry(peer), request), true)
    // r = 2 exactly: P = 0.5 > 0.49, served; a little more debt and it is not
    ledgers.received(peer, 999, false)
    ledgers.sent(peer, 1, 2000)
    assert.equal(ledgers.get(peer)?.debtRatio, 2)
    assert.equal(strategy.shouldServe(ledgers.entry(peer), request), true)
    ledgers.sent(peer, 1, 100)
    assert.equal(strategy.shouldServe(ledgers.entry(peer), request), false)
    assert.throws(() => debtRatio({ random: 5 as unknown as () => number }), { name: 'InvalidConfigError' })
  })
})

/**
 * A provider serving a taker (a hand-driven peer) that first gave it a few
 * blocks, then only takes: rounds of want-blocks with send-dont-have.
 */
async function takeInRounds (strategy: Strategy, stops: Array<() => Promise<void>>): Promise<{ served: number[], provider: TestNode, taker: RawPeer, given: TestBlock[], wanted: TestBlock[] }> {
  const given = await makeBlocks(4, BLOCK, 21)
  const wanted = await makeBlocks(ROUNDS * PER_ROUND, BLOCK, 22)
  const provider = await createNode({ strategy })
  stops.push(async () => provider.libp2p.stop())
  await putBlocks(provider.blockstore, wanted)

  // the taker serves `given` honestly, so the provider's ledger records it gave 16 KiB
  const taker = await RawPeer.create({
    onMessage: (self, { from, message }) => {
      const reply: Partial<Message> = { payload: [], blockPresences: [] }
      for (const e of message.wantlist?.entries ?? []) {
        const block = given.find(b => equalBytes(b.cid.bytes, e.block))
        if (block == null || e.cancel) continue
        if (e.wantType === Message.Wantlist.WantType.Have) reply.blockPresences?.push({ cid: e.block, type: Message.BlockPresenceType.Have })
        else reply.payload?.push(payload(block.cid, block.bytes))
      }
      if ((reply.payload?.length ?? 0) + (reply.blockPresences?.length ?? 0) > 0) {
        void self.send(from, reply)
      }
    }
  })
  stops.push(async () => taker.stop())
  await taker.libp2p.dial(provider.libp2p.getMultiaddrs(), { signal: AbortSignal.timeout(10_000) })
  const session = provider.bitswap.createSession({ peers: [taker.peerId] })
  let fetched = 0
  for await (const { bytes, cid } of session.want(given.map(b => b.cid), { signal: AbortSignal.timeout(10_000) })) {
    assert.ok(equalBytes(bytes, given.find(b => b.cid.equals(cid))?.bytes ?? new Uint8Array()))
    fetched++
  }
  assert.equal(fetched, given.length)
  assert.equal(provider.bitswap.ledger(taker.peerId)?.bytesReceived, given.length * BLOCK)

  const answers = (): { blocks: number, dontHaves: number } => {
    let blocks = 0
    let dontHaves = 0
    for (const m of taker.messages()) {
      blocks += m.payload.filter(p => wanted.some(w => equalBytes(w.bytes, p.data))).length
      dontHaves += m.blockPresences.filter(p => p.type === Message.BlockPresenceType.DontHave).length
    }
    return { blocks, dontHaves }
  }
  const served: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const before = answers()
    const batch = wanted.slice(round * PER_ROUND, (round + 1) * PER_ROUND)
    await taker.send(provider.peerId, { wantlist: { full: false, entries: batch.map(b => entry(b.cid, { sendDontHave: true })) } })
    const target = (round + 1) * PER_ROUND
    await waitFor(() => { const a = answers(); return a.blocks + a.dontHaves >= target }, `answers to round ${round}`)
    served.push(answers().blocks - before.blocks)
  }
  return { served, provider, taker, given, wanted }
}

/** What the debt-ratio strategy must decide, computed offline with the same random sequence */
function expectedServed (seed: number, receivedBytes: number): number[] {
  const random = prng(seed)
  let sent = 0
  const served: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    let n = 0
    for (let i = 0; i < PER_ROUND; i++) {
      if (random() < debtRatioProbability(sent / (receivedBytes + 1))) {
        sent += BLOCK
        n++
      }
    }
    served.push(n)
  }
  return served
}

describe('strategy: serving a peer that only takes', () => {
  const stops: Array<() => Promise<void>> = []
  after(async () => {
    await Promise.all(stops.map(async stop => stop()))
  })

  it('under debtRatio, a taker is served less and less, exactly as the curve and the random source say', async () => {
    const seed = 7
    const { served, provider, taker } = await takeInRounds(debtRatio({ random: prng(seed) }), stops)
    const expected = expectedServed(seed, 4 * BLOCK)
    assert.deepEqual(served, expected)
    // the curve bites: the first round is served more than the last, and not everything is
    assert.ok(served[0] > served[ROUNDS - 1], `served per round ${served.join(', ')}`)
    const total = served.reduce((a, b) => a + b, 0)
    assert.ok(total < ROUNDS * PER_ROUND)
    const half = ROUNDS / 2
    assert.ok(served.slice(0, half).reduce((a, b) => a + b, 0) > served.slice(half).reduce((a, b) => a + b, 0))
    const ledger = provider.bitswap.ledger(taker.peerId)
    assert.equal(ledger?.blocksSent, total)
    assert.equal(ledger?.declined, ROUNDS * PER_ROUND - total)
  })

  it('under serveAll, the same taker is served everything', async () => {
    const { served, provider, taker } = await takeInRounds(serveAll(), stops)
    assert.deepEqual(served, Array.from({ length: ROUNDS }, () => PER_ROUND))
    const ledger = provider.bitswap.ledger(taker.peerId)
    assert.equal(ledger?.declined, 0)
    assert.equal(ledger?.blocksSent, ROUNDS * PER_ROUND)
    assert.ok((ledger?.debtRatio ?? 0) > 2, 'served even though deep in debt')
  })
})
