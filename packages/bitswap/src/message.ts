/**
 * Encoding and decoding of Bitswap messages on the wire.
 *
 * Incoming messages are decoded with the protons codec in `pb/message.ts`,
 * with limits on every repeated field. Outgoing messages are encoded here by
 * hand so that block bytes are never copied: the encoder emits small header
 * chunks and references the block data, and the stream muxer frames the list.
 *
 * @internal
 */

import { CID } from 'multiformats/cid'
import { Uint8ArrayList } from 'uint8arraylist'
import { InvalidMessageError, MessageTooLargeError, TooManyEntriesError } from './errors.js'
import { Message } from './pb/message.js'
import { MAX_PREFIX_SIZE } from './constants.js'

// ---------------------------------------------------------------- varints

/** Bytes needed to encode `n` (a non-negative safe integer) as an unsigned varint */
export function varintLength (n: number): number {
  if (n < 0x80) return 1
  if (n < 0x4000) return 2
  if (n < 0x200000) return 3
  if (n < 0x10000000) return 4
  let len = 4
  n = Math.floor(n / 0x10000000)
  while (n > 0) {
    len++
    n = Math.floor(n / 0x80)
  }
  return len
}

/** Writes `n` as an unsigned varint into `buf` at `offset`; returns the new offset */
export function writeVarint (n: number, buf: Uint8Array, offset: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[offset++] = n
  return offset
}

export function encodeVarint (n: number): Uint8Array {
  const buf = new Uint8Array(varintLength(n))
  writeVarint(n, buf, 0)
  return buf
}

// ---------------------------------------------------------------- CID prefix

/** The Bitswap 1.1.0+ block prefix: uvarints of CID version, codec, multihash code and digest length */
export function cidToPrefix (cid: CID): Uint8Array {
  const parts = [cid.version, cid.code, cid.multihash.code, cid.multihash.digest.byteLength]
  const buf = new Uint8Array(parts.reduce((acc, n) => acc + varintLength(n), 0))
  let offset = 0
  for (const n of parts) {
    offset = writeVarint(n, buf, offset)
  }
  return buf
}

export interface CIDPrefix {
  version: 0 | 1
  codec: number
  hashCode: number
  digestLength: number
}

/** Parses a block prefix, refusing anything that cannot describe a CID */
export function decodePrefix (prefix: Uint8Array): CIDPrefix {
  if (prefix.byteLength === 0 || prefix.byteLength > MAX_PREFIX_SIZE) {
    throw new InvalidMessageError(`Invalid block prefix length ${prefix.byteLength}`)
  }
  const values: number[] = []
  let offset = 0
  while (offset < prefix.byteLength) {
    if (values.length === 4) {
      throw new InvalidMessageError('Block prefix has trailing bytes')
    }
    let value = 0
    let mul = 1
    let i = 0
    while (true) {
      if (offset >= prefix.byteLength || i === 8) {
        throw new InvalidMessageError('Truncated varint in block prefix')
      }
      const b = prefix[offset++]
      value += (b & 0x7f) * mul
      i++
      if ((b & 0x80) === 0) break
      mul *= 0x80
    }
    values.push(value)
  }
  if (values.length !== 4) {
    throw new InvalidMessageError('Block prefix must hold 4 values')
  }
  const [version, codec, hashCode, digestLength] = values
  if (version !== 0 && version !== 1) {
    throw new InvalidMessageError(`Unknown CID version ${version}`)
  }
  if (digestLength > 128) {
    throw new InvalidMessageError(`Digest length ${digestLength} out of range`)
  }
  if (version === 0 && (codec !== 0x70 || hashCode !== 0x12 || digestLength !== 32)) {
    throw new InvalidMessageError('CIDv0 prefix must be dag-pb, sha2-256, 32 bytes')
  }
  return { version, codec, hashCode, digestLength }
}

/** Parses a CID received in a wantlist entry or presence, within a size bound */
export function decodeCID (bytes: Uint8Array, maxSize: number): CID {
  if (bytes.byteLength === 0 || bytes.byteLength > maxSize) {
    throw new InvalidMessageError(`Invalid CID length ${bytes.byteLength}`)
  }
  try {
    return CID.decode(bytes)
  } catch (err: any) {
    throw new InvalidMessageError(`Invalid CID: ${err.message}`)
  }
}

// ---------------------------------------------------------------- decoding

export interface DecodeLimits {
  /** Largest message body in bytes */
  maxMessageSize: number
  /** Most entries in any one repeated field */
  maxEntriesPerMessage: number
}

/** Which fields of each message type hold a nested message, for {@link checkMessageShape} */
interface Shape { [field: number]: Shape | undefined }
const ENTRY: Shape = {}
const BLOCK: Shape = {}
const PRESENCE: Shape = {}
const WANTLIST: Shape = { 1: ENTRY }
const MESSAGE: Shape = { 1: WANTLIST, 3: BLOCK, 4: PRESENCE }

/**
 * Walks the protobuf fields of a message body, nested ones included, without
 * decoding them, and refuses more than `maxFields` in all. The repeated-field
 * limits do not bound the work of a decoder: 4 MiB of one-byte fields (an
 * unknown field, or `pendingBytes` set two million times) is four million
 * loop turns, 70-110 ms. A valid message has at most a few fields per entry,
 * block and presence. Groups (wire types 3 and 4) are refused: bitswap has none.
 *
 * @throws TooManyEntriesError, InvalidMessageError
 */
export function checkMessageShape (buf: Uint8Array, maxFields: number): void {
  let fields = 0
  const walk = (start: number, end: number, shape: Shape): void => {
    let pos = start
    const varint = (): number => {
      let value = 0
      let mul = 1
      for (let i = 0; i < 10; i++) {
        if (pos >= end) throw new InvalidMessageError('Truncated varint')
        const b = buf[pos++]
        value += (b & 0x7f) * mul
        if ((b & 0x80) === 0) return value
        mul *= 0x80
      }
      throw new InvalidMessageError('Varint longer than 10 bytes')
    }
    while (pos < end) {
      const tag = varint()
      if (++fields > maxFields) throw new TooManyEntriesError(`Message has more than ${maxFields} fields`)
      const wireType = tag % 8
      if (wireType === 0) {
        varint()
      } else if (wireType === 1) {
        pos += 8
      } else if (wireType === 5) {
        pos += 4
      } else if (wireType === 2) {
        const length = varint()
        if (length > end - pos) throw new InvalidMessageError('Field length beyond the end of the message')
        const nested = shape[Math.floor(tag / 8)]
        if (nested != null) walk(pos, pos + length, nested)
        pos += length
      } else {
        throw new InvalidMessageError(`Wire type ${wireType} is not allowed`)
      }
      if (pos > end) throw new InvalidMessageError('Field beyond the end of the message')
    }
  }
  walk(0, buf.byteLength, MESSAGE)
}

/**
 * Decodes one message body with limits on every repeated field, and on the
 * fields in all ({@link checkMessageShape}: 20 per entry allowed, where an
 * entry and its fields take 6 at most). Errors are
 * mapped to named errors: TooManyEntriesError or InvalidMessageError.
 */
export function decodeMessage (buf: Uint8Array | Uint8ArrayList, limits: DecodeLimits): Message {
  const n = limits.maxEntriesPerMessage
  checkMessageShape(buf instanceof Uint8Array ? buf : buf.subarray(), n * 20)
  try {
    return Message.decode(buf, {
      limits: {
        wantlist: { entries: n },
        blocks: n,
        payload: n,
        blockPresences: n
      }
    })
  } catch (err: any) {
    if (err?.name === 'MaxLengthError') {
      throw new TooManyEntriesError(`Message has more than ${n} entries in one field`)
    }
    throw new InvalidMessageError(`Could not decode message: ${err?.message ?? err}`)
  }
}

/**
 * Bytes a received chunk costs beyond its data while it is held (the view
 * object and its slot): counted, so that a peer sending its bytes in
 * one-byte chunks cannot hold a hundred times more memory than its data.
 */
export const CHUNK_OVERHEAD = 128

/**
 * Splits a byte stream into uvarint length-prefixed frames, refusing any frame
 * larger than `maxMessageSize`. Received chunks are appended as they come
 * (nothing is copied); frames are taken one at a time with {@link next}, so
 * the caller decides how many it handles at once. A frame inside one chunk is
 * a view of it; a frame across chunks is copied out once.
 */
export class LengthPrefixedDecoder {
  private chunks: Uint8Array[]
  /** index of the first chunk still held, and the offset in it */
  private head: number
  private offset: number
  private length: number
  private readonly maxMessageSize: number
  private readonly maxPrefixBytes: number

  constructor (maxMessageSize: number) {
    this.chunks = []
    this.head = 0
    this.offset = 0
    this.length = 0
    this.maxMessageSize = maxMessageSize
    this.maxPrefixBytes = varintLength(maxMessageSize)
  }

  /** Bytes held: data not yet taken as frames */
  get bufferedBytes (): number {
    return this.length
  }

  /** Memory held, counting each chunk's overhead ({@link CHUNK_OVERHEAD}) */
  get heldBytes (): number {
    return this.length + (this.chunks.length - this.head) * CHUNK_OVERHEAD
  }

  /** Adds received bytes; O(1) per chunk */
  append (data: Uint8Array | Uint8ArrayList): void {
    if (data instanceof Uint8Array) {
      if (data.byteLength > 0) this.chunks.push(data)
      this.length += data.byteLength
      return
    }
    for (const chunk of data) {
      if (chunk.byteLength === 0) continue
      this.chunks.push(chunk)
      this.length += chunk.byteLength
    }
  }

  /**
   * The next whole frame, or undefined when more bytes are needed.
   *
   * @throws MessageTooLargeError when a length prefix is over the limit (or too long)
   * @throws InvalidMessageError for a non-minimal length prefix
   */
  next (): Uint8Array | undefined {
    const prefix = this.readPrefix()
    if (prefix == null) return undefined
    if (prefix.value > this.maxMessageSize) {
      throw new MessageTooLargeError(`Message of ${prefix.value} bytes exceeds the limit of ${this.maxMessageSize}`)
    }
    if (this.length < prefix.length + prefix.value) return undefined
    this.skip(prefix.length)
    return this.take(prefix.value)
  }

  /** Appends `data` and returns every frame it completed (for trusted input: a peer's goes through {@link next}) */
  push (data: Uint8Array | Uint8ArrayList): Uint8Array[] {
    this.append(data)
    const frames: Uint8Array[] = []
    for (let frame = this.next(); frame != null; frame = this.next()) frames.push(frame)
    return frames
  }

  private byteAt (index: number): number {
    let at = this.offset + index
    for (let c = this.head; c < this.chunks.length; c++) {
      const chunk = this.chunks[c]
      if (at < chunk.byteLength) return chunk[at]
      at -= chunk.byteLength
    }
    return -1
  }

  private readPrefix (): { value: number, length: number } | undefined {
    let value = 0
    let mul = 1
    for (let i = 0; i < this.maxPrefixBytes; i++) {
      if (i >= this.length) return undefined
      const b = this.byteAt(i)
      value += (b & 0x7f) * mul
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) throw new InvalidMessageError('Non-minimal varint length prefix')
        return { value, length: i + 1 }
      }
      mul *= 0x80
    }
    throw new MessageTooLargeError(`Length prefix longer than ${this.maxPrefixBytes} bytes`)
  }

  private skip (n: number): void {
    this.length -= n
    while (n > 0) {
      const chunk = this.chunks[this.head]
      const left = chunk.byteLength - this.offset
      if (n < left) {
        this.offset += n
        return
      }
      n -= left
      this.dropHead()
    }
  }

  private take (n: number): Uint8Array {
    const first = this.chunks[this.head]
    if (n === 0) return EMPTY
    if (first != null && first.byteLength - this.offset >= n) {
      const frame = first.subarray(this.offset, this.offset + n)
      this.skip(n)
      return frame
    }
    const frame = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const chunk = this.chunks[this.head]
      const part = chunk.subarray(this.offset, this.offset + Math.min(n - filled, chunk.byteLength - this.offset))
      frame.set(part, filled)
      filled += part.byteLength
      this.skip(part.byteLength)
    }
    return frame
  }

  private dropHead (): void {
    this.chunks[this.head] = EMPTY
    this.head++
    this.offset = 0
    if (this.head === this.chunks.length) {
      this.chunks = []
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head)
      this.head = 0
    }
  }
}

const EMPTY = new Uint8Array(0)

// ---------------------------------------------------------------- encoding

export type WantType = 'block' | 'have'

export interface OutgoingWantlistEntry {
  /** The CID's bytes */
  bytes: Uint8Array
  priority: number
  cancel: boolean
  wantType: WantType
  sendDontHave: boolean
}

export interface OutgoingBlock {
  prefix: Uint8Array
  data: Uint8Array
}

export interface OutgoingPresence {
  cid: Uint8Array
  type: 'have' | 'dont-have'
}

/**
 * A message under construction. Tracks its encoded size so callers can stop
 * adding before it exceeds the message size limit.
 */
export class OutgoingMessage {
  full: boolean
  readonly entries: OutgoingWantlistEntry[]
  readonly blocks: OutgoingBlock[]
  readonly presences: OutgoingPresence[]
  pendingBytes: number
  private wantlistBodySize: number
  private bodySize: number

  constructor (full = false) {
    this.full = full
    this.entries = []
    this.blocks = []
    this.presences = []
    this.pendingBytes = 0
    this.wantlistBodySize = full ? 2 : 0
    this.bodySize = 0
  }

  get isEmpty (): boolean {
    return this.entries.length === 0 && this.blocks.length === 0 && this.presences.length === 0 && !this.full
  }

  /** The encoded size of the message body (without its length prefix) */
  get size (): number {
    let size = this.bodySize
    if (this.entries.length > 0 || this.full) {
      size += 1 + varintLength(this.wantlistBodySize) + this.wantlistBodySize
    }
    if (this.pendingBytes > 0) {
      size += 1 + varintLength(this.pendingBytes)
    }
    return size
  }

  /** The size this message would have after adding a wantlist entry */
  static entrySize (entry: OutgoingWantlistEntry): number {
    const body = entryBodySize(entry)
    return 1 + varintLength(body) + body
  }

  static blockSize (block: OutgoingBlock): number {
    const body = blockBodySize(block)
    return 1 + varintLength(body) + body
  }

  static presenceSize (presence: OutgoingPresence): number {
    const body = presenceBodySize(presence)
    return 1 + varintLength(body) + body
  }

  /** Size of the message after adding an item of encoded size `itemSize` to the wantlist (allows for the wantlist header growing) */
  sizeWithEntry (itemSize: number): number {
    const wl = this.wantlistBodySize + itemSize
    const before = (this.entries.length > 0 || this.full) ? 1 + varintLength(this.wantlistBodySize) + this.wantlistBodySize : 0
    return this.size - before + 1 + varintLength(wl) + wl
  }

  addEntry (entry: OutgoingWantlistEntry): void {
    this.entries.push(entry)
    this.wantlistBodySize += OutgoingMessage.entrySize(entry)
  }

  addBlock (block: OutgoingBlock): void {
    this.blocks.push(block)
    this.bodySize += OutgoingMessage.blockSize(block)
  }

  addPresence (presence: OutgoingPresence): void {
    this.presences.push(presence)
    this.bodySize += OutgoingMessage.presenceSize(presence)
  }

  /** Total bytes of block data carried */
  get blockBytes (): number {
    let n = 0
    for (const b of this.blocks) n += b.data.byteLength
    return n
  }

  /**
   * Encodes the message with its uvarint length prefix. Block data is
   * referenced, not copied.
   */
  encode (): Uint8ArrayList {
    const size = this.size
    const out = new Uint8ArrayList()
    const scratch = new ScratchWriter(out)
    scratch.varint(size)
    if (this.entries.length > 0 || this.full) {
      scratch.byte(0x0a)
      scratch.varint(this.wantlistBodySize)
      for (const entry of this.entries) {
        scratch.byte(0x0a)
        scratch.varint(entryBodySize(entry))
        scratch.byte(0x0a)
        scratch.varint(entry.bytes.byteLength)
        scratch.bytes(entry.bytes)
        if (entry.priority !== 0) {
          scratch.byte(0x10)
          scratch.varint(entry.priority)
        }
        if (entry.cancel) {
          scratch.byte(0x18)
          scratch.byte(1)
        }
        if (entry.wantType === 'have') {
          scratch.byte(0x20)
          scratch.byte(1)
        }
        if (entry.sendDontHave) {
          scratch.byte(0x28)
          scratch.byte(1)
        }
      }
      if (this.full) {
        scratch.byte(0x10)
        scratch.byte(1)
      }
    }
    for (const block of this.blocks) {
      scratch.byte(0x1a)
      scratch.varint(blockBodySize(block))
      scratch.byte(0x0a)
      scratch.varint(block.prefix.byteLength)
      scratch.bytes(block.prefix)
      scratch.byte(0x12)
      scratch.varint(block.data.byteLength)
      scratch.bytes(block.data)
    }
    for (const presence of this.presences) {
      scratch.byte(0x22)
      scratch.varint(presenceBodySize(presence))
      scratch.byte(0x0a)
      scratch.varint(presence.cid.byteLength)
      scratch.bytes(presence.cid)
      if (presence.type === 'dont-have') {
        scratch.byte(0x10)
        scratch.byte(1)
      }
    }
    if (this.pendingBytes > 0) {
      scratch.byte(0x28)
      scratch.varint(this.pendingBytes)
    }
    scratch.flush()
    return out
  }
}

function entryBodySize (entry: OutgoingWantlistEntry): number {
  let size = 1 + varintLength(entry.bytes.byteLength) + entry.bytes.byteLength
  if (entry.priority !== 0) size += 1 + varintLength(entry.priority)
  if (entry.cancel) size += 2
  if (entry.wantType === 'have') size += 2
  if (entry.sendDontHave) size += 2
  return size
}

function blockBodySize (block: OutgoingBlock): number {
  return 1 + varintLength(block.prefix.byteLength) + block.prefix.byteLength +
    1 + varintLength(block.data.byteLength) + block.data.byteLength
}

function presenceBodySize (presence: OutgoingPresence): number {
  return 1 + varintLength(presence.cid.byteLength) + presence.cid.byteLength +
    (presence.type === 'dont-have' ? 2 : 0)
}

/** Byte arrays up to this size are copied into the scratch buffer; larger ones are referenced */
const INLINE_LIMIT = 4096
const SCRATCH_SIZE = 16 * 1024

/** Collects small writes in a scratch buffer and references large byte arrays */
class ScratchWriter {
  private readonly out: Uint8ArrayList
  private buf: Uint8Array
  private pos: number
  private start: number

  constructor (out: Uint8ArrayList) {
    this.out = out
    this.buf = new Uint8Array(SCRATCH_SIZE)
    this.pos = 0
    this.start = 0
  }

  private ensure (n: number): void {
    if (this.pos + n <= this.buf.byteLength) return
    this.flush()
    this.buf = new Uint8Array(Math.max(SCRATCH_SIZE, n))
    this.pos = 0
    this.start = 0
  }

  byte (b: number): void {
    this.ensure(1)
    this.buf[this.pos++] = b
  }

  varint (n: number): void {
    this.ensure(10)
    this.pos = writeVarint(n, this.buf, this.pos)
  }

  bytes (data: Uint8Array): void {
    if (data.byteLength > INLINE_LIMIT) {
      this.flush()
      this.out.append(data)
      return
    }
    this.ensure(data.byteLength)
    this.buf.set(data, this.pos)
    this.pos += data.byteLength
  }

  flush (): void {
    if (this.pos > this.start) {
      this.out.append(this.buf.subarray(this.start, this.pos))
      this.start = this.pos
    }
  }
}
