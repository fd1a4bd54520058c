import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as varint from 'uint8-varint'
import { MAX_FRAME_HEADER, MAX_HOLDERS, MAX_HOLDER_SIZE } from '../../src/swarm/bulk/constants.js'
import { encodeFrame, Frame, FrameReader } from '../../src/swarm/bulk/frames.js'

interface Seen { frames: Frame[], bodies: Uint8Array[] }

function reader (maxBlockSize = 1 << 20): { reader: FrameReader, seen: Seen } {
  const seen: Seen = { frames: [], bodies: [] }
  let parts: Uint8Array[] = []
  const reader = new FrameReader({
    onFrame: (frame) => { seen.frames.push(frame) },
    // a piece is a view valid only during the call: keep a copy
    onBody: (piece) => { parts.push(piece.slice()) },
    onBodyEnd: () => {
      seen.bodies.push(Buffer.concat(parts))
      parts = []
    }
  }, maxBlockSize)
  return { reader, seen }
}

/** The same bytes, cut into pieces of `size` */
function pieces (bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < bytes.byteLength; i += size) out.push(bytes.subarray(i, i + size))
  return out
}

describe('bulk frames', () => {
  const block = new Uint8Array(5000).map((_, i) => i % 251)
  const stream = Buffer.concat([
    encodeFrame({ type: Frame.Type.READY }),
    encodeFrame({ type: Frame.Type.WANT, id: 1, cid: new Uint8Array([1, 85, 18, 32, ...new Uint8Array(32)]) }),
    encodeFrame({ type: Frame.Type.BLOCK, id: 1, length: block.byteLength }),
    block,
    encodeFrame({ type: Frame.Type.DONT_HAVE, id: 2 }),
    encodeFrame({ type: Frame.Type.BLOCK, id: 3, length: 0 }),
    encodeFrame({ type: Frame.Type.CANCEL, id: 300000 })
  ])

  for (const size of [1, 2, 3, 7, 64, 4096, stream.byteLength]) {
    it(`reads every frame and block whole when the stream comes in pieces of ${size} bytes`, () => {
      const { reader: r, seen } = reader()
      for (const piece of pieces(stream, size)) r.push(piece)
      assert.deepEqual(seen.frames.map(f => [f.type, f.id, f.length]), [
        [Frame.Type.READY, 0, 0],
        [Frame.Type.WANT, 1, 0],
        [Frame.Type.BLOCK, 1, block.byteLength],
        [Frame.Type.DONT_HAVE, 2, 0],
        [Frame.Type.BLOCK, 3, 0],
        [Frame.Type.CANCEL, 300000, 0]
      ])
      assert.equal(seen.frames[1].cid.byteLength, 36)
      assert.deepEqual(seen.bodies.map(b => b.byteLength), [block.byteLength, 0])
      assert.deepEqual(new Uint8Array(seen.bodies[0]), block)
      assert.ok(r.idle)
    })
  }

  it('a frame\'s CID stays as it was after the next frames are read (they reuse the header buffer)', () => {
    const { reader: r, seen } = reader()
    const cids = [1, 2, 3].map(n => new Uint8Array(36).fill(n))
    r.push(Buffer.concat(cids.map((cid, i) => encodeFrame({ type: Frame.Type.WANT, id: i + 1, cid }))))
    assert.deepEqual(seen.frames.map(f => f.cid), cids)
  })

  it('refuses a block longer than the limit as soon as its header is read', () => {
    const { reader: r, seen } = reader(4096)
    assert.throws(() => { r.push(encodeFrame({ type: Frame.Type.BLOCK, id: 1, length: 4097 })) }, { name: 'BulkProtocolError' })
    assert.equal(seen.frames.length, 0)
  })

  it('refuses a header longer than MAX_FRAME_HEADER before reading it', () => {
    const { reader: r } = reader()
    assert.throws(() => { r.push(varint.encode(MAX_FRAME_HEADER + 1)) }, { name: 'BulkProtocolError' })
  })

  it('refuses a length prefix that does not end', () => {
    const { reader: r } = reader()
    assert.throws(() => { r.push(new Uint8Array([0xff, 0xff, 0xff, 0xff])) }, { name: 'BulkProtocolError' })
  })

  it('refuses a CID longer than 128 bytes, bytes after a frame that carries none, an unknown frame type and a malformed header', () => {
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.WANT, id: 1, cid: new Uint8Array(129) })) }, { name: 'BulkProtocolError' })
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.DONT_HAVE, id: 1, length: 5 })) }, { name: 'BulkProtocolError' })
    // field 1 (type) = 9: no such type
    assert.throws(() => { reader().reader.push(new Uint8Array([2, 8, 9])) }, { name: 'BulkProtocolError' })
    // field 3 (cid) announces 10 bytes, holds 1
    assert.throws(() => { reader().reader.push(new Uint8Array([3, 26, 10, 1])) }, { name: 'BulkProtocolError' })
  })

  it(`reads a DONT_HAVE's holders and a WANT's redirect_ok and early_dont_have; refuses more than ${MAX_HOLDERS} holders, one over ${MAX_HOLDER_SIZE} bytes, or holders on another frame`, () => {
    const holders = Array.from({ length: MAX_HOLDERS }, (_, i) => new Uint8Array(38).fill(i))
    const { reader: r, seen } = reader()
    r.push(Buffer.concat([encodeFrame({ type: Frame.Type.WANT, id: 7, redirectOk: true }), encodeFrame({ type: Frame.Type.DONT_HAVE, id: 7, holders })]))
    assert.equal(seen.frames[0].redirectOk, true)
    assert.equal(seen.frames[0].earlyDontHave, false, 'unset: every answer in order')
    const early = reader()
    early.reader.push(encodeFrame({ type: Frame.Type.WANT, id: 8, earlyDontHave: true }))
    assert.equal(early.seen.frames[0].earlyDontHave, true)
    assert.deepEqual(seen.frames[1].holders.map(h => [...h]), holders.map(h => [...h]))
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.DONT_HAVE, id: 1, holders: [...holders, new Uint8Array(38)] })) }, { name: 'BulkProtocolError' })
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.DONT_HAVE, id: 1, holders: [new Uint8Array(MAX_HOLDER_SIZE + 1)] })) }, { name: 'BulkProtocolError' })
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.BLOCK, id: 1, holders: [holders[0]] })) }, { name: 'BulkProtocolError' })
  })

  it('reads a DONT_HAVE\'s fetching; refuses it on another frame or beside holders', () => {
    const { reader: r, seen } = reader()
    r.push(Buffer.concat([encodeFrame({ type: Frame.Type.DONT_HAVE, id: 3, fetching: true }), encodeFrame({ type: Frame.Type.DONT_HAVE, id: 4 })]))
    assert.deepEqual(seen.frames.map(f => f.fetching), [true, false])
    for (const type of [Frame.Type.WANT, Frame.Type.CANCEL, Frame.Type.BLOCK, Frame.Type.READY]) {
      assert.throws(() => { reader().reader.push(encodeFrame({ type, id: 1, fetching: true })) }, { name: 'BulkProtocolError' }, type)
    }
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.DONT_HAVE, id: 1, fetching: true, holders: [new Uint8Array(38)] })) }, { name: 'BulkProtocolError' })
  })

  it('reads a WANT\'s queued_ok and a QUEUED frame; refuses queued_ok on another frame, and bytes or holders on a QUEUED', () => {
    const { reader: r, seen } = reader()
    r.push(Buffer.concat([encodeFrame({ type: Frame.Type.WANT, id: 3, cid: new Uint8Array(36), queuedOk: true }), encodeFrame({ type: Frame.Type.WANT, id: 4, cid: new Uint8Array(36) }), encodeFrame({ type: Frame.Type.QUEUED, id: 3 })]))
    assert.deepEqual(seen.frames.map(f => [f.type, f.id, f.queuedOk]), [[Frame.Type.WANT, 3, true], [Frame.Type.WANT, 4, false], [Frame.Type.QUEUED, 3, false]])
    for (const type of [Frame.Type.DONT_HAVE, Frame.Type.CANCEL, Frame.Type.BLOCK, Frame.Type.READY, Frame.Type.QUEUED]) {
      assert.throws(() => { reader().reader.push(encodeFrame({ type, id: 1, queuedOk: true })) }, { name: 'BulkProtocolError' }, type)
    }
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.QUEUED, id: 1, length: 10 })) }, { name: 'BulkProtocolError' })
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.QUEUED, id: 1, holders: [new Uint8Array(38)] })) }, { name: 'BulkProtocolError' })
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.QUEUED, id: 1, fetching: true })) }, { name: 'BulkProtocolError' })
  })

  it('reads a WANT\'s busy_ok and a DONT_HAVE\'s busy; refuses busy_ok on another frame, and busy on another frame or beside holders or fetching', () => {
    const { reader: r, seen } = reader()
    r.push(Buffer.concat([encodeFrame({ type: Frame.Type.WANT, id: 3, cid: new Uint8Array(36), queuedOk: true, busyOk: true }), encodeFrame({ type: Frame.Type.DONT_HAVE, id: 3, busy: true })]))
    assert.deepEqual(seen.frames.map(f => [f.type, f.id, f.busyOk, f.busy]), [[Frame.Type.WANT, 3, true, false], [Frame.Type.DONT_HAVE, 3, false, true]])
    for (const type of [Frame.Type.DONT_HAVE, Frame.Type.CANCEL, Frame.Type.BLOCK, Frame.Type.READY, Frame.Type.QUEUED]) {
      assert.throws(() => { reader().reader.push(encodeFrame({ type, id: 1, busyOk: true })) }, { name: 'BulkProtocolError' }, type)
    }
    for (const type of [Frame.Type.WANT, Frame.Type.CANCEL, Frame.Type.BLOCK, Frame.Type.READY, Frame.Type.QUEUED]) {
      assert.throws(() => { reader().reader.push(encodeFrame({ type, id: 1, busy: true })) }, { name: 'BulkProtocolError' }, type)
    }
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.DONT_HAVE, id: 1, busy: true, holders: [new Uint8Array(38)] })) }, { name: 'BulkProtocolError' })
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.DONT_HAVE, id: 1, busy: true, fetching: true })) }, { name: 'BulkProtocolError' })
  })

  it('reads a WANT\'s haves_ok and a HAVE frame; refuses haves_ok on another frame, and a HAVE with an id, no CID, bytes or holders', () => {
    const { reader: r, seen } = reader()
    r.push(Buffer.concat([encodeFrame({ type: Frame.Type.WANT, id: 3, cid: new Uint8Array(36), havesOk: true }), encodeFrame({ type: Frame.Type.HAVE, cid: new Uint8Array(36).fill(7) })]))
    assert.deepEqual(seen.frames.map(f => [f.type, f.id, f.havesOk, f.cid.byteLength]), [[Frame.Type.WANT, 3, true, 36], [Frame.Type.HAVE, 0, false, 36]])
    for (const type of [Frame.Type.DONT_HAVE, Frame.Type.CANCEL, Frame.Type.BLOCK, Frame.Type.READY, Frame.Type.QUEUED, Frame.Type.HAVE]) {
      assert.throws(() => { reader().reader.push(encodeFrame({ type, id: 1, cid: new Uint8Array(36), havesOk: true })) }, { name: 'BulkProtocolError' }, type)
    }
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.HAVE, id: 1, cid: new Uint8Array(36) })) }, { name: 'BulkProtocolError' }, 'an id')
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.HAVE })) }, { name: 'BulkProtocolError' }, 'no CID')
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.HAVE, cid: new Uint8Array(36), length: 4 })) }, { name: 'BulkProtocolError' }, 'bytes')
    assert.throws(() => { reader().reader.push(encodeFrame({ type: Frame.Type.HAVE, cid: new Uint8Array(36), holders: [new Uint8Array(38)] })) }, { name: 'BulkProtocolError' }, 'holders')
  })
})
