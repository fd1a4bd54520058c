/**
 * Framing of the bulk channel: a uvarint length, a protobuf `Frame`
 * (`pb/bulk.proto`), and for a BLOCK frame that many raw bytes after it.
 *
 * Written here rather than with `it-length-prefixed` because the block's
 * bytes stay outside any message: the reader hands each piece of the TLS
 * socket's data to the receiver as a view (no copy, no buffering of a whole
 * 1 MiB message), so the receiver hashes and copies it while the rest is
 * still on the wire. The length-prefixed decoder's copy of each 1 MiB
 * message showed in the bitswap pull's profile (BENCHMARKS.md, issue 4).
 */

import { CID } from 'multiformats/cid'
import * as varint from 'uint8-varint'
import { MAX_CID_SIZE, MAX_FRAME_HEADER, MAX_HOLDERS, MAX_HOLDER_SIZE, MAX_QUEUED_REQUESTS } from './constants.js'
import { BulkProtocolError } from './errors.js'
import { Frame } from './pb/bulk.js'

export { Frame }

const FRAME_TYPES = new Set<string>([Frame.Type.READY, Frame.Type.WANT, Frame.Type.CANCEL, Frame.Type.BLOCK, Frame.Type.DONT_HAVE, Frame.Type.QUEUED, Frame.Type.HAVE])

/** One frame on the wire: its length prefix and header, ready to write before any block bytes */
export function encodeFrame (frame: Partial<Frame> & { type: Frame.Type }): Uint8Array {
  const header = Frame.encode({ id: 0, cid: new Uint8Array(0), length: 0, redirectOk: false, holders: [], earlyDontHave: false, anyOrder: false, fetching: false, queuedOk: false, busyOk: false, busy: false, havesOk: false, ...frame })
  const out = new Uint8Array(varint.encodingLength(header.byteLength) + header.byteLength)
  varint.encodeUint8Array(header.byteLength, out, 0)
  out.set(header, out.byteLength - header.byteLength)
  return out
}

/**
 * The CID a WANT frame asks for.
 *
 * @throws BulkProtocolError when its bytes are no CID
 */
export function wantedCid (frame: Frame): CID {
  try {
    return CID.decode(frame.cid)
  } catch (err: any) {
    throw new BulkProtocolError(`malformed CID in want ${frame.id}: ${err.message}`, { cause: err })
  }
}

/**
 * What a server takes of a client's frames: WANTs, at most
 * MAX_QUEUED_REQUESTS of them unanswered, and a CANCEL for each at most.
 * A client that sends more CANCELs than WANTs sends frames that ask
 * nothing: each still costs the server a header to read (tens of ms of CPU
 * per few MB), with no work asked for.
 */
export class ClientFrameRules {
  #wants = 0
  #cancels = 0

  /**
   * @param unanswered - the client's wants the server has not answered yet
   * @throws BulkProtocolError when the frame breaks a rule
   */
  check (frame: Frame, unanswered: number): void {
    if (frame.type === Frame.Type.CANCEL) {
      if (++this.#cancels > this.#wants) throw new BulkProtocolError(`a CANCEL beyond the ${this.#wants} wants sent`)
      return
    }
    if (frame.type !== Frame.Type.WANT) throw new BulkProtocolError(`a client sent a ${frame.type} frame`)
    if (unanswered >= MAX_QUEUED_REQUESTS) throw new BulkProtocolError(`more than ${MAX_QUEUED_REQUESTS} wants unanswered`)
    this.#wants++
  }
}

export interface FrameHandlers {
  /** A frame's header; for a BLOCK frame its `length` bytes come next through `onBody` */
  onFrame(frame: Frame): void
  /** A piece of the current block's bytes: a view of the socket's chunk, valid only during the call */
  onBody(piece: Uint8Array): void
  /** The current block's last byte has been passed to `onBody` */
  onBodyEnd(): void
}

/**
 * Parses frames out of a byte stream fed chunk by chunk. Every header is
 * bounded (`MAX_FRAME_HEADER`, `MAX_CID_SIZE`) and a block's length by
 * `maxBlockSize`; anything else throws `BulkProtocolError` from `push`.
 */
export class FrameReader {
  readonly #handlers: FrameHandlers
  readonly #maxBlockSize: number
  /** the length prefix and header being assembled */
  readonly #header = new Uint8Array(MAX_FRAME_HEADER + 5)
  #headerGot = 0
  /** the header's length once its prefix is complete, else -1 */
  #headerLength = -1
  #prefixLength = 0
  /** block bytes still to come for the current frame */
  #remaining = 0

  constructor (handlers: FrameHandlers, maxBlockSize: number) {
    this.#handlers = handlers
    this.#maxBlockSize = maxBlockSize
  }

  /** True between frames: nothing of a frame has been read yet */
  get idle (): boolean {
    return this.#remaining === 0 && this.#headerGot === 0
  }

  push (chunk: Uint8Array): void {
    let offset = 0
    while (offset < chunk.byteLength) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.byteLength - offset)
        this.#remaining -= n
        this.#handlers.onBody(chunk.subarray(offset, offset + n))
        offset += n
        if (this.#remaining === 0) this.#handlers.onBodyEnd()
        continue
      }
      offset = this.#readHeader(chunk, offset)
    }
  }

  /** Takes header bytes from `chunk` at `offset`; dispatches the frame once whole. Returns the new offset. */
  #readHeader (chunk: Uint8Array, offset: number): number {
    if (this.#headerLength < 0) {
      // the uvarint prefix, a byte at a time (at most 2 bytes for MAX_FRAME_HEADER)
      const byte = chunk[offset++]
      this.#header[this.#headerGot++] = byte
      if ((byte & 0x80) !== 0) {
        if (this.#headerGot >= 3) throw new BulkProtocolError(`frame header length prefix over ${this.#headerGot} bytes`)
        return offset
      }
      this.#prefixLength = this.#headerGot
      this.#headerLength = varint.decode(this.#header.subarray(0, this.#prefixLength))
      if (this.#headerLength > MAX_FRAME_HEADER) throw new BulkProtocolError(`frame header of ${this.#headerLength} bytes exceeds ${MAX_FRAME_HEADER}`)
    }
    const want = this.#prefixLength + this.#headerLength - this.#headerGot
    const n = Math.min(want, chunk.byteLength - offset)
    this.#header.set(chunk.subarray(offset, offset + n), this.#headerGot)
    this.#headerGot += n
    offset += n
    if (n === want) this.#dispatch(this.#header.subarray(this.#prefixLength, this.#prefixLength + this.#headerLength))
    return offset
  }

  #dispatch (bytes: Uint8Array): void {
    let frame: Frame
    try {
      // a copy: the decoded CID is a view of what it is decoded from, and
      // the header buffer is reused for the next frame
      frame = Frame.decode(bytes.slice(), { limits: { holders: MAX_HOLDERS } })
    } catch (err: any) {
      throw new BulkProtocolError(`malformed frame: ${err.message}`, { cause: err })
    }
    this.#headerGot = 0
    this.#headerLength = -1
    if (!FRAME_TYPES.has(frame.type)) throw new BulkProtocolError('frame of an unknown type')
    if (frame.cid.byteLength > MAX_CID_SIZE) throw new BulkProtocolError(`CID of ${frame.cid.byteLength} bytes exceeds ${MAX_CID_SIZE}`)
    if (frame.holders.length > 0 && frame.type !== Frame.Type.DONT_HAVE) throw new BulkProtocolError(`a ${frame.type} frame names no holders`)
    if (frame.holders.some(h => h.byteLength > MAX_HOLDER_SIZE)) throw new BulkProtocolError(`a holder's PeerId over ${MAX_HOLDER_SIZE} bytes`)
    if (frame.fetching && (frame.type !== Frame.Type.DONT_HAVE || frame.holders.length > 0)) throw new BulkProtocolError(`a ${frame.type} frame${frame.holders.length > 0 ? ' naming holders' : ''} carries fetching`)
    if (frame.queuedOk && frame.type !== Frame.Type.WANT) throw new BulkProtocolError(`a ${frame.type} frame carries queued_ok`)
    if (frame.busyOk && frame.type !== Frame.Type.WANT) throw new BulkProtocolError(`a ${frame.type} frame carries busy_ok`)
    if (frame.havesOk && frame.type !== Frame.Type.WANT) throw new BulkProtocolError(`a ${frame.type} frame carries haves_ok`)
    if (frame.type === Frame.Type.HAVE && (frame.id !== 0 || frame.cid.byteLength === 0)) throw new BulkProtocolError('a HAVE frame carries a CID and no id')
    if (frame.busy && (frame.type !== Frame.Type.DONT_HAVE || frame.holders.length > 0 || frame.fetching)) throw new BulkProtocolError(`a ${frame.type} frame${frame.type === Frame.Type.DONT_HAVE ? ' naming holders or fetching' : ''} carries busy`)
    if (frame.type === Frame.Type.BLOCK) {
      if (frame.length > this.#maxBlockSize) throw new BulkProtocolError(`block of ${frame.length} bytes exceeds ${this.#maxBlockSize}`)
      this.#remaining = frame.length
    } else if (frame.length !== 0) {
      throw new BulkProtocolError(`a ${frame.type} frame carries no bytes`)
    }
    this.#handlers.onFrame(frame)
    if (frame.type === Frame.Type.BLOCK && frame.length === 0) this.#handlers.onBodyEnd()
  }
}
