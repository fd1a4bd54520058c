/**
 * Decoding Bitswap messages from the wire: varints, CID prefixes, and the
 * protons codec in `pb/message.ts` behind a shape check with limits on every
 * repeated field. The length-prefixed framing of the stream is framing.ts;
 * encoding outgoing messages is outgoing.ts.
 *
 * @internal
 */

import { CID } from 'multiformats/cid'
import { Uint8ArrayList } from 'uint8arraylist'
import { InvalidMessageError, TooManyEntriesError } from './errors.js'
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
