import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { generateKeyPair } from '@libp2p/crypto/keys'
import all from 'it-all'
import { SEND_SLOT_LEASE } from '../../src/swarm/bulk/constants.js'
import { encodeFrame, Frame, FrameReader } from '../../src/swarm/bulk/frames.js'
import { SendSlots } from '../../src/swarm/bulk/send-slots.js'
import { bulkCredentials, clientOptions } from '../../src/swarm/bulk/tls.js'
import { bulkNode, connect, openBulkConnection, randomBlock, rogueBulkServer, storeBlocks, transportOf, waitUntil } from './helpers.js'
import type { BulkTestNode, TestBlock } from './helpers.js'
import type { PrivateKey } from '@libp2p/interface'
import type { TLSSocket } from 'node:tls'

const tick = async (ms = 0): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/**
 * A raw client of `provider` that asks for `blocks` (its wants taking QUEUED
 * frames, or not) once the server's READY came, and records the frames and
 * block bytes it reads. With `reading` false it reads nothing after READY:
 * once the kernel's buffers are full the block being written to it never
 * drains, and holds its upload slot until the lease runs out.
 */
async function rawClient (provider: BulkTestNode, key: PrivateKey, blocks: TestBlock[], queuedOk: boolean, reading = true): Promise<{ frames: Frame[], bytes: number, socket: TLSSocket }> {
  const socket = tlsConnect({ ...clientOptions(await bulkCredentials(key)), ...provider.services.bulk.address! })
  socket.on('error', () => {})
  const seen = { frames: [] as Frame[], bytes: 0, socket }
  const reader = new FrameReader({
    onFrame: (frame) => { seen.frames.push(frame) },
    onBody: (piece) => { seen.bytes += piece.byteLength },
    onBodyEnd: () => {}
  }, 4 << 20)
  socket.on('data', (chunk: Uint8Array) => { reader.push(chunk) })
  await waitUntil('READY', () => seen.frames.length > 0)
  if (!reading) socket.pause()
  blocks.forEach((b, i) => socket.write(encodeFrame({ type: Frame.Type.WANT, id: i + 1, cid: b.cid.bytes, queuedOk })))
  return seen
}

/**
 * Makes `provider` (one upload slot) busy: a client that reads nothing holds
 * the slot with the first of `large`, and a reading client's block (the
 * last of `large`) waits in the line. Returns both clients' sockets.
 */
async function lineUp (provider: BulkTestNode, keys: PrivateKey[], large: TestBlock[]): Promise<TLSSocket[]> {
  const hog = (await rawClient(provider, keys[0], large.slice(0, -1), true, false)).socket
  await waitUntil('the hog to hold the slot', () => provider.services.bulk.served().blocks >= 1)
  const waiting = (await rawClient(provider, keys[1], large.slice(-1), true)).socket
  await waitUntil('a block waiting for the slot', () => provider.services.bulk.served().queued >= 1)
  return [hog, waiting]
}

describe('bulk channel: upload slots', () => {
  it('grants slots in the order asked, never more at once than it has; a lease that runs out passes the slot on', async () => {
    const slots = new SendSlots(2, 200)
    const tickets = Array.from({ length: 5 }, () => slots.take())
    assert.deepEqual(tickets.map(t => t.ready), [true, true, false, false, false])
    assert.deepEqual(slots.state, { busy: 2, waiting: 3 })
    const order: number[] = []
    tickets.forEach((t, i) => { void t.granted.then(() => order.push(i)) })
    // one that leaves the line is never granted
    tickets[3].release()
    tickets[0].release()
    tickets[0].release()
    await tick()
    assert.deepEqual(order, [0, 1, 2])
    assert.deepEqual(slots.state, { busy: 2, waiting: 1 })
    // tickets 1 and 2 never give their slots back: their leases do, and ticket 4 starts
    await tick(250)
    assert.deepEqual(order, [0, 1, 2, 4])
    assert.deepEqual(slots.state, { busy: 1, waiting: 0 })
    // released after their leases ran out: nothing is given back twice
    tickets[1].release()
    tickets[2].release()
    assert.deepEqual(slots.state, { busy: 1, waiting: 0 })
    tickets[4].release()
    assert.deepEqual(slots.state, { busy: 0, waiting: 0 })
    assert.equal(slots.take().ready, true)
  })

  it('a block waits for the slot a stuck client holds, its client told so (QUEUED) and not taking the wait for a stall; an older client is sent its block at once', async () => {
    const hogKey = await generateKeyPair('Ed25519')
    const waiterKey = await generateKeyPair('Ed25519')
    const olderKey = await generateKeyPair('Ed25519')
    const provider = await bulkNode({ bulk: { sendSlots: 1, queuedInterval: 200 } })
    const peers = await Promise.all([hogKey, waiterKey, olderKey].map(async privateKey => bulkNode({ privateKey })))
    let hog: TLSSocket | undefined
    try {
      // more than loopback's socket buffers take: the hog's writes stop draining
      const large = await storeBlocks(provider.blockstore, 16, 2 << 20)
      const [wanted, dropped] = await storeBlocks(provider.blockstore, 2, 256 * 1024)
      await Promise.all(peers.map(async p => { await connect(p, provider) }))
      hog = (await rawClient(provider, hogKey, large, true, false)).socket
      await waitUntil('the hog to hold the slot', () => provider.services.bulk.served().blocks >= 2)
      await tick(300)

      // an older client's wants carry no queued_ok: its block goes out beside the slot's
      const older = await rawClient(provider, olderKey, [wanted], false)
      await waitUntil('the older client\'s block', () => older.bytes === wanted.bytes.byteLength, 3_000)
      assert.deepEqual(older.frames.map(f => f.type), [Frame.Type.READY, Frame.Type.BLOCK])
      older.socket.destroy()

      // a client whose stall timeout is shorter than the hog's lease still gets its block, after the
      // lease; the block it cancelled while it waited is not sent
      const conn = await openBulkConnection(provider, waiterKey, { stallTimeout: 1_000 })
      try {
        const sent = provider.services.bulk.served().blocks
        const start = Date.now()
        const cancelled = conn.request(dropped.cid, { signal: AbortSignal.timeout(300) })
        cancelled.catch(() => {})
        const answer = await conn.request(wanted.cid, { signal: AbortSignal.timeout(SEND_SLOT_LEASE + 5_000) })
        const waited = Date.now() - start
        assert.equal(answer.kind, 'block')
        assert.deepEqual(new Uint8Array((answer as { bytes: Uint8Array }).bytes), new Uint8Array(wanted.bytes))
        assert.ok(waited >= 1_500, `it waited for the slot past its stall timeout (${waited} ms)`)
        assert.ok(waited < SEND_SLOT_LEASE + 2_000, `the lease passed the slot on (${waited} ms)`)
        await assert.rejects(cancelled, { name: 'TimeoutError' })
        assert.equal(provider.services.bulk.served().blocks, sent + 1, 'the want cancelled while it waited was answered DONT_HAVE')
      } finally {
        conn.close()
      }
      assert.ok(provider.services.bulk.served().queued >= 1, 'the wait is counted')
    } finally {
      hog?.destroy()
      await Promise.all([provider.stop(), ...peers.map(async p => { await p.stop() })])
    }
  })

  it('a want with no block to send is answered at once, not after a block that waits for an upload slot', async () => {
    const hogKey = await generateKeyPair('Ed25519')
    const waiterKey = await generateKeyPair('Ed25519')
    const provider = await bulkNode({ bulk: { sendSlots: 1, queuedInterval: 200 } })
    const peers = await Promise.all([hogKey, waiterKey].map(async privateKey => bulkNode({ privateKey })))
    let hog: TLSSocket | undefined
    try {
      const large = await storeBlocks(provider.blockstore, 16, 2 << 20)
      const [first] = await storeBlocks(provider.blockstore, 1, 256 * 1024)
      const [missing, late] = await Promise.all([randomBlock(100), randomBlock(100)])
      await Promise.all(peers.map(async p => { await connect(p, provider) }))
      hog = (await rawClient(provider, hogKey, large, true, false)).socket
      await waitUntil('the hog to hold the slot', () => provider.services.bulk.served().blocks >= 2)
      await tick(300)

      const conn = await openBulkConnection(provider, waiterKey)
      try {
        const signal = AbortSignal.timeout(SEND_SLOT_LEASE + 5_000)
        const start = Date.now()
        // asked in one tick: the server reads the second ahead while the first waits for the slot
        const blocks = [conn.request(first.cid, { signal }), conn.request(missing.cid, { signal, earlyDontHave: true })]
        const early = await blocks[1]
        const earlyAt = Date.now() - start
        // asked while the server's connection waits to send the first block
        await tick(300)
        const lateStart = Date.now()
        const lateAnswer = await conn.request(late.cid, { signal, earlyDontHave: true })
        const lateAt = Date.now() - lateStart
        const got = await blocks[0]
        const blockAt = Date.now() - start
        assert.equal(early.kind, 'dont-have')
        assert.equal(lateAnswer.kind, 'dont-have')
        assert.equal(got.kind, 'block')
        assert.ok(blockAt >= 1_500, `the first block waited for the slot (${blockAt} ms)`)
        assert.ok(earlyAt < 1_000, `the DONT_HAVE read ahead came before the waiting block (${earlyAt} ms)`)
        assert.ok(lateAt < 1_000, `the DONT_HAVE asked during the wait came before the waiting block (${lateAt} ms)`)
      } finally {
        conn.close()
      }
    } finally {
      hog?.destroy()
      await Promise.all([provider.stop(), ...peers.map(async p => { await p.stop() })])
    }
  })

  it('a want that takes busy is answered so at once while a block waits for a slot, and waits its turn without it', async () => {
    const keys = await Promise.all([0, 1, 2].map(async () => generateKeyPair('Ed25519')))
    const provider = await bulkNode({ bulk: { sendSlots: 1, busyLine: 1, queuedInterval: 200 } })
    const peers = await Promise.all(keys.map(async privateKey => bulkNode({ privateKey })))
    const sockets: TLSSocket[] = []
    try {
      const large = await storeBlocks(provider.blockstore, 9, 2 << 20)
      const [wanted] = await storeBlocks(provider.blockstore, 1, 256 * 1024)
      await Promise.all(peers.map(async p => { await connect(p, provider) }))
      sockets.push(...await lineUp(provider, keys, large))

      const conn = await openBulkConnection(provider, keys[2])
      try {
        const start = Date.now()
        const busy = await conn.request(wanted.cid, { busyOk: true, earlyDontHave: true, signal: AbortSignal.timeout(3_000) })
        assert.deepEqual(busy, { kind: 'dont-have', busy: true })
        assert.ok(Date.now() - start < 1_000, `answered at once (${Date.now() - start} ms)`)
        assert.equal(provider.services.bulk.served().busy, 1)
        // without busy_ok it joins the line: after the waiting block, once the hog's lease ran out
        const block = await conn.request(wanted.cid, { signal: AbortSignal.timeout(SEND_SLOT_LEASE + 5_000) })
        assert.equal(block.kind, 'block')
        assert.deepEqual(new Uint8Array((block as { bytes: Uint8Array }).bytes), new Uint8Array(wanted.bytes))
        assert.equal(provider.services.bulk.served().busy, 1)
      } finally {
        conn.close()
      }
    } finally {
      sockets.forEach(s => s.destroy())
      await Promise.all([provider.stop(), ...peers.map(async p => { await p.stop() })])
    }
  })

  it('a puller sets aside a block its server is busy with, and fetches the next from another peer meanwhile', async () => {
    const keys = await Promise.all([0, 1].map(async () => generateKeyPair('Ed25519')))
    const origin = await bulkNode({ bulk: { sendSlots: 1, busyLine: 1, queuedInterval: 200 } })
    const holder = await bulkNode()
    const puller = await bulkNode()
    const clients = await Promise.all(keys.map(async privateKey => bulkNode({ privateKey })))
    const sockets: TLSSocket[] = []
    try {
      const large = await storeBlocks(origin.blockstore, 9, 2 << 20)
      const [first] = await storeBlocks(origin.blockstore, 1, 256 * 1024)
      // only the holder has the second
      const [second] = await storeBlocks(holder.blockstore, 1, 256 * 1024)
      await Promise.all([...clients, puller].map(async p => { await connect(p, origin) }))
      await connect(puller, holder)
      sockets.push(...await lineUp(origin, keys, large))

      // one block in flight at a time: the second can come before the first only if the first is set aside
      const session = transportOf(puller).createSession({ peers: [origin.peerId, holder.peerId], window: 1, initialWindow: 1 })
      const start = Date.now()
      const at = new Map<string, number>()
      for await (const block of session.want([first.cid, second.cid], { signal: AbortSignal.timeout(SEND_SLOT_LEASE + 10_000) })) {
        at.set(block.cid.toString(), Date.now() - start)
      }
      session.close()
      const firstAt = at.get(first.cid.toString())
      const secondAt = at.get(second.cid.toString())
      assert.ok(firstAt != null && secondAt != null, 'both blocks came')
      assert.ok(secondAt < 2_000, `the second block came from the holder while the first was set aside (${secondAt} ms)`)
      assert.ok(firstAt > secondAt, `the first came after (${firstAt} ms)`)
      assert.ok(origin.services.bulk.served().busy >= 1, 'the origin said busy')
      assert.deepEqual(new Uint8Array(Buffer.concat(await all(puller.blockstore.get(first.cid)))), new Uint8Array(first.bytes))
    } finally {
      sockets.forEach(s => s.destroy())
      await Promise.all([origin, holder, puller, ...clients].map(async n => { await n.stop() }))
    }
  })

  it('a server that answers nothing but QUEUED is left after queuedTimeout; a QUEUED for a want not in flight is a protocol error', async () => {
    const forever = await rogueBulkServer(await generateKeyPair('Ed25519'), socket => {
      const timers: Array<ReturnType<typeof setInterval>> = []
      const reader = new FrameReader({
        onFrame: (frame) => {
          if (frame.type === Frame.Type.WANT) timers.push(setInterval(() => { socket.write(encodeFrame({ type: Frame.Type.QUEUED, id: frame.id })) }, 100))
        },
        onBody: () => {},
        onBodyEnd: () => {}
      }, 0)
      socket.on('data', (chunk: Uint8Array) => { reader.push(chunk) })
      socket.on('close', () => { timers.forEach(t => { clearInterval(t) }) })
      socket.write(encodeFrame({ type: Frame.Type.READY }))
    })
    const stray = await rogueBulkServer(await generateKeyPair('Ed25519'), socket => {
      socket.write(encodeFrame({ type: Frame.Type.READY }))
      socket.once('data', () => { socket.write(encodeFrame({ type: Frame.Type.QUEUED, id: 99 })) })
    })
    try {
      const block = await randomBlock(100)
      const conn = await openBulkConnection(forever, await generateKeyPair('Ed25519'), { stallTimeout: 500, queuedTimeout: 1_500 })
      const start = Date.now()
      await assert.rejects(conn.request(block.cid), { name: 'BulkStalledError', message: /only that they wait for its upload/ })
      const waited = Date.now() - start
      assert.ok(waited >= 1_400, `QUEUED kept the connection past its stall timeout (${waited} ms)`)

      const strayConn = await openBulkConnection(stray, await generateKeyPair('Ed25519'))
      await assert.rejects(strayConn.request(block.cid), { name: 'BulkProtocolError', message: /QUEUED for 99/ })
    } finally {
      forever.close()
      stray.close()
    }
  })
})
