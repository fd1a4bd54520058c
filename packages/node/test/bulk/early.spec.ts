import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { REDIRECT_MIN_SIZE } from '../../src/swarm/bulk/constants.js'
import { encodeFrame, Frame, FrameReader } from '../../src/swarm/bulk/frames.js'
import { bulkNode, connect, openBulkConnection, randomBlock, rogueBulkServer, slowReads, storeBlocks } from './helpers.js'
import type { BulkConnection, BulkRequestOptions } from '../../src/swarm/bulk/client.js'
import type { TestBlock } from './helpers.js'
import type { CID } from 'multiformats/cid'

/** How long the provider takes to read each block it holds (ms) */
const READ_DELAY = 150

/** Asks for `held` then `missing` on one connection at once; the order the answers came in, by CID */
async function answerOrder (conn: BulkConnection, held: TestBlock[], missing: CID, options: Omit<BulkRequestOptions, 'signal'>): Promise<string[]> {
  const order: string[] = []
  const asked = [...held.map(h => h.cid), missing].map(async (cid, i) => {
    const answer = await conn.request(cid, { signal: AbortSignal.timeout(10_000), ...(i === held.length ? options : {}) })
    order.push(cid.toString())
    return answer
  })
  const answers = await Promise.all(asked)
  for (let i = 0; i < held.length; i++) {
    assert.equal(answers[i].kind, 'block')
    const bytes = answers[i].kind === 'block' ? (answers[i] as { bytes: Uint8Array }).bytes : new Uint8Array()
    assert.deepEqual(new Uint8Array(bytes), new Uint8Array(held[i].bytes), 'each block is the one asked for')
  }
  assert.deepEqual(answers[held.length], { kind: 'dont-have' })
  return order
}

describe('bulk channel: an early DONT_HAVE', () => {
  it('comes ahead of the blocks asked before it when the want allows it; in order when it does not (an older client)', async () => {
    const key = await generateKeyPair('Ed25519')
    const provider = await bulkNode()
    const puller = await bulkNode({ privateKey: key })
    try {
      const held = await storeBlocks(provider.blockstore, 4, 256 * 1024)
      slowReads(provider, READ_DELAY)
      await connect(puller, provider)
      const conn = await openBulkConnection(provider, key)
      try {
        const missing = (await randomBlock()).cid
        const early = await answerOrder(conn, held, missing, { earlyDontHave: true })
        assert.equal(early[0], missing.toString(), `answers: ${early.join(', ')}`)
        const missingToo = (await randomBlock()).cid
        const inOrder = await answerOrder(conn, held, missingToo, {})
        assert.deepEqual(inOrder, [...held.map(h => h.cid.toString()), missingToo.toString()])
        // the blocks still come in the order asked after an early answer, and the connection stays usable
        const again = await conn.request(held[0].cid, { earlyDontHave: true })
        assert.equal(again.kind, 'block')
      } finally {
        conn.close()
      }
      assert.equal(provider.services.bulk.served().blocks, 2 * held.length + 1)
    } finally {
      await Promise.all([provider.stop(), puller.stop()])
    }
  })

  it('names the holders early too, for a want that takes them', async () => {
    const provider = await bulkNode()
    const keys = [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')]
    const first = await bulkNode({ privateKey: keys[0] })
    const second = await bulkNode({ privateKey: keys[1] })
    const key = await generateKeyPair('Ed25519')
    const late = await bulkNode({ privateKey: key })
    try {
      const held = await storeBlocks(provider.blockstore, 4, 256 * 1024)
      // large enough to be redirected (a smaller block is always sent)
      const [shared] = await storeBlocks(provider.blockstore, 1, REDIRECT_MIN_SIZE)
      await Promise.all([connect(first, provider), connect(second, provider), connect(late, provider)])
      // two peers were sent `shared`: a third asking with redirect_ok is named them
      for (const k of keys) {
        const conn = await openBulkConnection(provider, k)
        assert.equal((await conn.request(shared.cid)).kind, 'block')
        conn.close()
      }
      slowReads(provider, READ_DELAY)
      const conn = await openBulkConnection(provider, key)
      try {
        const order: string[] = []
        const blocks = held.map(async h => {
          const answer = await conn.request(h.cid)
          order.push('block')
          return answer
        })
        const redirect = conn.request(shared.cid, { redirectOk: true, earlyDontHave: true }).then(answer => {
          order.push('redirect')
          return answer
        })
        const answer = await redirect
        await Promise.all(blocks)
        assert.equal(order[0], 'redirect', `answers: ${order.join(', ')}`)
        assert.ok(answer.kind === 'dont-have' && answer.holders != null)
        assert.deepEqual(new Set(answer.holders.map(String)), new Set([first.peerId, second.peerId].map(String)))
      } finally {
        conn.close()
      }
    } finally {
      await Promise.all([provider, first, second, late].map(async n => n.stop()))
    }
  })
})

describe('bulk channel: a server that answers out of order', () => {
  /**
   * A bulk server with a valid libp2p certificate that sends READY, reads
   * two WANTs and answers the second first, with DONT_HAVE, then nothing
   */
  async function outOfOrderServer (): Promise<Awaited<ReturnType<typeof rogueBulkServer>>> {
    return rogueBulkServer(await generateKeyPair('Ed25519'), socket => {
      const ids: number[] = []
      const reader = new FrameReader({
        onFrame: (frame) => {
          if (frame.type !== Frame.Type.WANT) return
          ids.push(frame.id)
          if (ids.length === 2) socket.write(encodeFrame({ type: Frame.Type.DONT_HAVE, id: ids[1] }))
        },
        onBody: () => {},
        onBodyEnd: () => {}
      }, 0)
      socket.on('data', (chunk: Uint8Array) => { reader.push(chunk) })
      socket.write(encodeFrame({ type: Frame.Type.READY }))
    })
  }

  for (const early of [false, true]) {
    it(early
      ? 'a DONT_HAVE ahead of older wants is taken for a want that allowed it (the control)'
      : 'a DONT_HAVE ahead of older wants, for a want that did not allow it, closes the connection with a protocol error', async () => {
      const server = await outOfOrderServer()
      const [first, second] = [await randomBlock(100), await randomBlock(100)]
      const conn = await openBulkConnection(server, await generateKeyPair('Ed25519'), { stallTimeout: 2_000 })
      try {
        const one = conn.request(first.cid, { signal: AbortSignal.timeout(10_000) })
        const two = conn.request(second.cid, { signal: AbortSignal.timeout(10_000), earlyDontHave: early })
        if (early) {
          assert.deepEqual(await two, { kind: 'dont-have' })
          assert.equal(conn.closed, false)
          // the first want is still waiting for its answer, which never comes: the stall timeout ends it
          await assert.rejects(one, { name: 'BulkStalledError' })
        } else {
          await assert.rejects(two, { name: 'BulkProtocolError', message: /out of order/ })
          await assert.rejects(one, { name: 'BulkProtocolError', message: /out of order/ })
          assert.equal(conn.closed, true)
        }
      } finally {
        conn.close()
        server.close()
      }
    })
  }
})

describe('bulk channel: a block ahead of older wants (any_order)', () => {
  /** Reads two WANTs and answers the second first, with its block, then the first with its block */
  async function blockFirstServer (blocks: TestBlock[]): Promise<Awaited<ReturnType<typeof rogueBulkServer>>> {
    return rogueBulkServer(await generateKeyPair('Ed25519'), socket => {
      const ids: number[] = []
      const send = (id: number, bytes: Uint8Array): void => {
        socket.write(encodeFrame({ type: Frame.Type.BLOCK, id, length: bytes.byteLength }))
        socket.write(bytes)
      }
      const reader = new FrameReader({
        onFrame: (frame) => {
          if (frame.type !== Frame.Type.WANT) return
          ids.push(frame.id)
          if (ids.length === 2) {
            send(ids[1], blocks[1].bytes)
            send(ids[0], blocks[0].bytes)
          }
        },
        onBody: () => {},
        onBodyEnd: () => {}
      }, 0)
      socket.on('data', (chunk: Uint8Array) => { reader.push(chunk) })
      socket.write(encodeFrame({ type: Frame.Type.READY }))
    })
  }

  const cases = [
    { name: 'is taken for a want that allowed it', first: {}, second: { anyOrder: true }, ok: true },
    { name: 'is taken when every older want allowed being passed', first: { anyOrder: true }, second: {}, ok: true },
    { name: 'closes the connection with a protocol error otherwise (an early DONT_HAVE allows no block)', first: {}, second: { earlyDontHave: true }, ok: false }
  ]
  for (const c of cases) {
    it(c.name, async () => {
      const blocks = [await randomBlock(100), await randomBlock(100)]
      const server = await blockFirstServer(blocks)
      const conn = await openBulkConnection(server, await generateKeyPair('Ed25519'), { stallTimeout: 2_000 })
      try {
        const answers = [
          conn.request(blocks[0].cid, { signal: AbortSignal.timeout(10_000), ...c.first }),
          conn.request(blocks[1].cid, { signal: AbortSignal.timeout(10_000), ...c.second })
        ]
        if (c.ok) {
          const got = await Promise.all(answers)
          for (let i = 0; i < 2; i++) {
            const answer = got[i]
            assert.equal(answer.kind, 'block')
            assert.deepEqual(new Uint8Array(answer.kind === 'block' ? answer.bytes : []), new Uint8Array(blocks[i].bytes), 'each answer is the block asked under its id')
          }
          assert.equal(conn.closed, false)
        } else {
          await assert.rejects(answers[1], { name: 'BulkProtocolError', message: /out of order/ })
          await assert.rejects(answers[0], { name: 'BulkProtocolError', message: /out of order/ })
          assert.equal(conn.closed, true)
        }
      } finally {
        conn.close()
        server.close()
      }
    })
  }
})
