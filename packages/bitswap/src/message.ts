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

/**
 * Reads an unsigned varint of at most `maxBytes` bytes from `list` at `offset`.
 * Returns `undefined` when more bytes are needed.
 */
function readVarint (list: Uint8ArrayList, offset: number, maxBytes: number): { value: number, length: number } | undefined {
  let value = 0
  let mul = 1
  for (let i = 0; i < maxBytes; i++) {
    if (offset + i >= list.byteLength) {
      return undefined
    }
    const b = list.get(offset + i)
    value += (b & 0x7f) * mul
    if ((b & 0x80) === 0) {
      if (i > 0 && b === 0) {
        throw new InvalidMessageError('Non-minimal varint length prefix')
      }
      return { value, length: i + 1 }
    }
    mul *= 0x80
  }
  throw new MessageTooLargeError(`Length prefix longer than ${maxBytes} bytes`)
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

/**
 * Decodes one message body with limits on every repeated field. Errors are
 * mapped to named errors: TooManyEntriesError or InvalidMessageError.
 */
export function decodeMessage (buf: Uint8Array | Uint8ArrayList, limits: DecodeLimits): Message {
  const n = limits.maxEntriesPerMessage
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
 * Splits a byte stream into uvarint length-prefixed frames, refusing any frame
 * larger than `maxMessageSize`. Holds at most one partial frame.
 */
export class LengthPrefixedDecoder {
  private readonly buffer: Uint8ArrayList
  private readonly maxMessageSize: number
  private readonly maxPrefixBytes: number

  constructor (maxMessageSize: number) {
    this.buffer = new Uint8ArrayList()
    this.maxMessageSize = maxMessageSize
    this.maxPrefixBytes = varintLength(maxMessageSize)
  }

  /** Bytes held while waiting for the rest of a frame */
  get bufferedBytes (): number {
    return this.buffer.byteLength
  }

  /**
   * Appends `data` and returns the frames it completed. Each frame is a
   * contiguous Uint8Array (a view where the frame arrived in one chunk).
   */
  push (data: Uint8Array | Uint8ArrayList): Uint8Array[] {
    this.buffer.append(data)
    const frames: Uint8Array[] = []
    while (this.buffer.byteLength > 0) {
      const prefix = readVarint(this.buffer, 0, this.maxPrefixBytes)
      if (prefix == null) {
        break
      }
      if (prefix.value > this.maxMessageSize) {
        throw new MessageTooLargeError(`Message of ${prefix.value} bytes exceeds the limit of ${this.maxMessageSize}`)
      }
      const end = prefix.length + prefix.value
      if (this.buffer.byteLength < end) {
        break
      }
      frames.push(this.buffer.subarray(prefix.length, end))
      this.buffer.consume(end)
    }
    return frames
  }
}

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
