/**
 * The stream under Bitswap messages: uvarint length-prefixed frames, read
 * without copying a frame that lies inside one received chunk.
 *
 * @internal
 */

import { Uint8ArrayList } from 'uint8arraylist'
import { InvalidMessageError, MessageTooLargeError } from './errors.js'
import { varintLength } from './message.js'

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
