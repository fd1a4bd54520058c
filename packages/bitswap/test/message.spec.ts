import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { Uint8ArrayList } from 'uint8arraylist'
import { LengthPrefixedDecoder } from '../src/framing.js'
import { cidToPrefix, decodeCID, decodeMessage, decodePrefix, encodeVarint, varintLength } from '../src/message.js'
import { OutgoingMessage } from '../src/outgoing.js'
import { Message } from '../src/pb/message.js'
import { equalBytes, makeBlocks } from './fixtures/nodes.js'

const limits = { maxMessageSize: 4 * 1024 * 1024, maxEntriesPerMessage: 8192 }

/** Strips the length prefix of an encoded message and checks it */
function body (encoded: Uint8ArrayList): Uint8Array {
  const frames = new LengthPrefixedDecoder(64 * 1024 * 1024).push(encoded)
  assert.equal(frames.length, 1)
  return frames[0]
}

describe('message encoding', () => {
  it('encodes wantlists, blocks and presences that protons decodes identically', async () => {
    const blocks = await makeBlocks(3, i => [10, 5000, 70_000][i])
    const message = new OutgoingMessage(true)
    message.addEntry({ bytes: blocks[0].cid.bytes, priority: 7, cancel: false, wantType: 'have', sendDontHave: true })
    message.addEntry({ bytes: blocks[1].cid.bytes, priority: 0, cancel: true, wantType: 'block', sendDontHave: false })
    message.addBlock({ prefix: cidToPrefix(blocks[1].cid), data: blocks[1].bytes })
    message.addBlock({ prefix: cidToPrefix(blocks[2].cid), data: blocks[2].bytes })
    message.addPresence({ cid: blocks[0].cid.bytes, type: 'have' })
    message.addPresence({ cid: blocks[2].cid.bytes, type: 'dont-have' })
    message.pendingBytes = 12345

    const encoded = message.encode()
    const bytes = body(encoded)
    assert.equal(bytes.byteLength, message.size, 'size accounting matches the encoding')
    assert.equal(encoded.byteLength, message.size + varintLength(message.size))

    const decoded = decodeMessage(bytes, limits)
    assert.equal(decoded.wantlist?.full, true)
    assert.deepEqual(decoded.wantlist?.entries.map(e => [CID.decode(e.block).toString(), e.priority, e.cancel, e.wantType, e.sendDontHave]), [
      [blocks[0].cid.toString(), 7, false, 'Have', true],
      [blocks[1].cid.toString(), 0, true, 'Block', false]
    ])
    assert.equal(decoded.payload.length, 2)
    assert.ok(equalBytes(decoded.payload[0].data, blocks[1].bytes))
    assert.ok(equalBytes(decoded.payload[1].data, blocks[2].bytes))
    assert.deepEqual(decodePrefix(decoded.payload[1].prefix), { version: 1, codec: 0x55, hashCode: 0x12, digestLength: 32 })
    assert.deepEqual(decoded.blockPresences.map(p => p.type), ['Have', 'DontHave'])
    assert.equal(decoded.pendingBytes, 12345)

    // and the same message through protons' own encoder decodes to the same object
    assert.deepEqual(Message.decode(Message.encode(decoded)), decoded)
  })

  it('references large block data instead of copying it', async () => {
    const [block] = await makeBlocks(1, 256 * 1024)
    const message = new OutgoingMessage()
    message.addBlock({ prefix: cidToPrefix(block.cid), data: block.bytes })
    const encoded = message.encode()
    const chunks = [...encoded]
    assert.ok(chunks.some(c => c === block.bytes), 'the block itself is one of the chunks')
  })

  it('encodes an empty full wantlist', () => {
    const message = new OutgoingMessage(true)
    assert.equal(message.isEmpty, false)
    const decoded = decodeMessage(body(message.encode()), limits)
    assert.equal(decoded.wantlist?.full, true)
    assert.equal(decoded.wantlist?.entries.length, 0)
  })
})

describe('message decoding limits', () => {
  it('splits a byte stream into frames wherever the chunks break', () => {
    const frames = [new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(9), new Uint8Array([7])]
    const all = new Uint8ArrayList(...frames.flatMap(f => [encodeVarint(f.byteLength), f])).subarray()
    const decoder = new LengthPrefixedDecoder(1024)
    const out: Uint8Array[] = []
    for (let i = 0; i < all.byteLength; i += 7) {
      out.push(...decoder.push(all.subarray(i, i + 7)))
    }
    assert.equal(out.length, 3)
    frames.forEach((f, i) => { assert.ok(equalBytes(out[i], f)) })
    assert.equal(decoder.bufferedBytes, 0)
  })

  it('refuses a length prefix above the limit before the body arrives', () => {
    const decoder = new LengthPrefixedDecoder(1024)
    assert.throws(() => decoder.push(encodeVarint(1025)), { name: 'MessageTooLargeError' })
    // a prefix longer than any allowed length is refused too
    assert.throws(() => new LengthPrefixedDecoder(1024).push(new Uint8Array([0xff, 0xff, 0xff, 0xff])), { name: 'MessageTooLargeError' })
  })

  it('refuses more entries in one field than allowed', () => {
    const entries = Array.from({ length: 11 }, (_, i) => ({ block: new Uint8Array([1, i]), priority: 1, cancel: false, wantType: Message.Wantlist.WantType.Block, sendDontHave: false }))
    const bytes = Message.encode({ wantlist: { entries, full: false } })
    assert.throws(() => decodeMessage(bytes, { ...limits, maxEntriesPerMessage: 10 }), { name: 'TooManyEntriesError' })
    assert.equal(decodeMessage(bytes, { ...limits, maxEntriesPerMessage: 11 }).wantlist?.entries.length, 11)
    const presences = Message.encode({ blockPresences: Array.from({ length: 3 }, () => ({ cid: new Uint8Array(1), type: Message.BlockPresenceType.Have })) })
    assert.throws(() => decodeMessage(presences, { ...limits, maxEntriesPerMessage: 2 }), { name: 'TooManyEntriesError' })
  })

  it('refuses malformed protobuf', () => {
    // field 1, wire type 2, length 100, but only 2 bytes follow
    assert.throws(() => decodeMessage(new Uint8Array([0x0a, 100, 1, 2]), limits), { name: 'InvalidMessageError' })
    // an unknown enum value for the presence type
    const bad = new Uint8Array([0x22, 5, 0x0a, 1, 0x01, 0x10, 7])
    assert.throws(() => decodeMessage(bad, limits), { name: 'InvalidMessageError' })
  })

  it('parses CID prefixes and refuses nonsense', async () => {
    const digest = await sha256.digest(new Uint8Array([1]))
    const v0 = CID.createV0(digest)
    assert.deepEqual(decodePrefix(cidToPrefix(v0)), { version: 0, codec: 0x70, hashCode: 0x12, digestLength: 32 })
    assert.throws(() => decodePrefix(new Uint8Array()), { name: 'InvalidMessageError' })
    assert.throws(() => decodePrefix(new Uint8Array([1, 0x55, 0x12])), { name: 'InvalidMessageError' })
    assert.throws(() => decodePrefix(new Uint8Array([2, 0x55, 0x12, 32])), { name: 'InvalidMessageError' })
    assert.throws(() => decodePrefix(new Uint8Array([1, 0x55, 0x12, 32, 0])), { name: 'InvalidMessageError' })
    assert.throws(() => decodePrefix(new Uint8Array([0, 0x55, 0x12, 32])), { name: 'InvalidMessageError' })
    assert.throws(() => decodePrefix(new Uint8Array([1, 0x55, 0x12, 0x80])), { name: 'InvalidMessageError' })
  })

  it('bounds and validates CIDs', async () => {
    const cid = CID.createV1(0x55, await sha256.digest(new Uint8Array([2])))
    assert.equal(decodeCID(cid.bytes, 128).toString(), cid.toString())
    assert.throws(() => decodeCID(cid.bytes, 10), { name: 'InvalidMessageError' })
    assert.throws(() => decodeCID(new Uint8Array([1, 2, 3]), 128), { name: 'InvalidMessageError' })
  })
})
