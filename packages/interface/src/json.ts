/**
 * JSON from outside the node, parsed within bounds. `JSON.parse` itself is
 * linear, but its cost per byte depends on the shape: 4 MiB of `[],` took
 * 294 ms to parse (1.4 million arrays), 4 MiB of one string 16 ms. And a
 * document nested 100,000 deep parses, then overflows the stack of whatever
 * walks it recursively. So the text is scanned first (a few ms per MiB) and
 * refused, before `JSON.parse`, when it is nested deeper than `maxDepth` or
 * holds more than `maxValues` values.
 */

import { JsonLimitError } from './errors.js'

/** Deepest nesting of arrays and objects accepted @default 64 */
export const MAX_JSON_DEPTH = 64

/**
 * Most values (containers, and items separated by commas) in one document.
 * The largest real documents (an OCI config with 4,096 history steps, an
 * index of a few thousand platforms) hold tens of thousands; a budget of
 * 100,000 bounds JSON.parse at ~20 ms for any shape.
 *
 * @default 100000
 */
export const MAX_JSON_VALUES = 100_000

export interface JsonLimits {
  /** @default MAX_JSON_DEPTH */
  maxDepth?: number
  /** @default MAX_JSON_VALUES */
  maxValues?: number
}

const OPEN_OBJECT = 0x7b
const OPEN_ARRAY = 0x5b
const CLOSE_OBJECT = 0x7d
const CLOSE_ARRAY = 0x5d
const COMMA = 0x2c
const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * Throws JsonLimitError when `input` (JSON text, or its UTF-8 bytes) nests
 * deeper or holds more values than the limits. It does not check the
 * syntax: JSON.parse does that after. In UTF-8 every byte of a multi-byte
 * character is >= 0x80, so scanning bytes finds the same structure as
 * scanning characters.
 */
export function checkJsonShape (input: string | Uint8Array, limits: JsonLimits = {}): void {
  const maxDepth = limits.maxDepth ?? MAX_JSON_DEPTH
  const maxValues = limits.maxValues ?? MAX_JSON_VALUES
  const bytes = typeof input !== 'string'
  const length = bytes ? input.byteLength : input.length
  let depth = 0
  let values = 1
  let inString = false
  for (let i = 0; i < length; i++) {
    const c = bytes ? input[i] : input.charCodeAt(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
      continue
    }
    if (c === QUOTE) {
      inString = true
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > maxDepth) throw new JsonLimitError(`JSON nested deeper than ${maxDepth} levels`)
      if (++values > maxValues) throw new JsonLimitError(`JSON holds more than ${maxValues} values`)
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--
    } else if (c === COMMA) {
      if (++values > maxValues) throw new JsonLimitError(`JSON holds more than ${maxValues} values`)
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Parses JSON text, or UTF-8 bytes (refusing invalid UTF-8), after
 * {@link checkJsonShape}.
 *
 * @throws JsonLimitError when the document is too deep or holds too many values
 * @throws TypeError for invalid UTF-8, SyntaxError for invalid JSON (callers name them)
 */
export function parseJson (input: string | Uint8Array, limits: JsonLimits = {}): unknown {
  checkJsonShape(input, limits)
  return JSON.parse(typeof input === 'string' ? input : utf8.decode(input))
}

/**
 * A value from outside, named in an error: a string (cut to 100
 * characters), a number, a boolean or null, or else its kind. Never
 * stringified whole: a value nested a hundred thousand deep overflows
 * JSON.stringify's stack (or takes tens of ms to stringify), and a long one
 * would fill the log.
 */
export function describeValue (v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 100 ? `${v.slice(0, 100)}…` : v)
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return String(v)
  return Array.isArray(v) ? 'an array' : `a${typeof v === 'object' ? 'n object' : ` ${typeof v}`}`
}
