/**
 * Outgoing Bitswap messages, encoded by hand so that block bytes are never
 * copied: the encoder emits small header chunks and references the block data,
 * and the stream muxer frames the list.
 *
 * @internal
 */

import { Uint8ArrayList } from 'uint8arraylist'
import { varintLength, writeVarint } from './message.js'

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
