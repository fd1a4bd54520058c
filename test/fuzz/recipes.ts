/**
 * Fuzz inputs as recipes: small JSON values that expand into the real input.
 * A recipe can describe a string of a million characters in a few bytes
 * (`{ r: 'z1', t: 500000 }`), so fast-check generates, shrinks and stores
 * inputs up to each parser's size limit cheaply, and a regression case kept
 * in `regressions/*.json` is as small as its recipe.
 */
import fc from 'fast-check'

/** A piece of text: literal, or a unit repeated `t` times */
export type Chunk = string | { r: string, t: number }
/** Text is its chunks, concatenated */
export type TextRecipe = Chunk[]

/** Builds text, cut at `limit` characters */
export function text (recipe: TextRecipe, limit = Infinity): string {
  let out = ''
  for (const chunk of recipe) {
    if (out.length >= limit) break
    if (typeof chunk === 'string') {
      out += chunk
    } else if (chunk.r.length > 0) {
      const room = Math.max(0, Math.min(chunk.t * chunk.r.length, limit - out.length))
      out += chunk.r.repeat(Math.ceil(room / chunk.r.length))
    }
  }
  return out.length > limit ? out.slice(0, limit) : out
}

/** Bytes are text whose characters are bytes (`\u0000`–`\u00ff`) */
export function bytes (recipe: TextRecipe, limit = Infinity): Uint8Array {
  return Buffer.from(text(recipe, limit), 'latin1')
}

export const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
export const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz'
export const GLOB = 'a-*?/._:b'
export const REFERENCE = 'abk51qzi5uqu5:/@.-_0123456789'
export const PRINTABLE = ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~'

function charFrom (alphabet: string): fc.Arbitrary<string> {
  return fc.constantFrom(...alphabet.split(''))
}

/** Characters of `alphabets`, plus some that break text (controls, quotes, surrogates, non-ASCII) */
function unitOf (alphabets: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.oneof(...alphabets.map(charFrom)) },
    { weight: 1, arbitrary: fc.constantFrom('\n', '\r', '\t', '\\', '"', '\u0000', '\u007f', '\u00e9', '\u2028', '\ud800', '\ud83d\ude00', '\ufeff') },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) }
  )
}

export interface TextOptions {
  /** Characters the text is mostly made of */
  alphabets?: string[]
  /** Longest text worth generating (the parser's size limit, or a little above) */
  limit: number
  /** Literal pieces worth mixing in (keywords, prefixes) */
  words?: string[]
}

/** Text recipes: a few chunks, each literal or a repeat, up to `limit` characters */
export function textRecipe (options: TextOptions): fc.Arbitrary<TextRecipe> {
  const unit = unitOf(options.alphabets ?? [PRINTABLE])
  const literal = fc.oneof(
    fc.string({ unit, maxLength: 24 }),
    ...(options.words != null && options.words.length > 0 ? [fc.constantFrom(...options.words)] : [])
  )
  // small counts most of the time, and counts up to the limit often enough to reach it
  const times = fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 64 }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: options.limit }) },
    { weight: 1, arbitrary: fc.constant(options.limit) }
  )
  const repeat = fc.record({ r: fc.oneof(fc.string({ unit, minLength: 1, maxLength: 4 }), ...(options.words != null && options.words.length > 0 ? [fc.constantFrom(...options.words)] : [])), t: times })
  return fc.array(fc.oneof({ weight: 2, arbitrary: literal }, { weight: 1, arbitrary: repeat }), { minLength: 1, maxLength: 5 })
}

/** Byte recipes up to `limit` bytes */
export function bytesRecipe (limit: number): fc.Arbitrary<TextRecipe> {
  const byte = fc.integer({ min: 0, max: 255 }).map(b => String.fromCharCode(b))
  const literal = fc.string({ unit: byte, maxLength: 32 })
  const times = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 256 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: limit }) })
  return fc.array(fc.oneof({ weight: 2, arbitrary: literal }, { weight: 1, arbitrary: fc.record({ r: fc.string({ unit: byte, minLength: 1, maxLength: 4 }), t: times }) }), { minLength: 1, maxLength: 6 })
}

// ---------------------------------------------------------------- JSON documents

/** A JSON value to put somewhere in a document */
export type ValueRecipe =
  { s: TextRecipe } |
  { n: number | string } |
  { b: boolean } |
  { z: null } |
  /** an array of `t` copies of a value */
  { a: ValueRecipe, t: number } |
  /** arrays (or objects) nested `d` deep */
  { d: number, o: boolean } |
  /** an object with these keys */
  { k: Array<[TextRecipe, ValueRecipe]> }

/** Where to put a value: each step picks the key (or index) at that position modulo the count */
export interface Edit {
  path: number[]
  value: ValueRecipe
  /** add under a new key instead of replacing */
  key?: TextRecipe
  /** remove the key at the path instead */
  remove?: boolean
}

export interface DocumentRecipe {
  /** which base document */
  base: number
  edits: Edit[]
  /** the serialised JSON is cut or padded here (a truncated or trailing-garbage document) */
  tail?: { cut: number } | { add: TextRecipe }
}

/**
 * Deep nesting is spliced into the JSON text after stringifying: building
 * 100,000 nested arrays as objects would overflow JSON.stringify's stack in
 * the harness, not in the parser under test.
 */
const deepValues: string[] = []

function deepPlaceholder (depth: number, object: boolean): string {
  deepValues.push(object ? `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}` : `${'['.repeat(depth)}${']'.repeat(depth)}`)
  return `__fuzz_deep_${deepValues.length - 1}__`
}

/** The length of JSON text once its deep placeholders are spliced in */
function expandedLength (json: string): number {
  let n = json.length
  for (const m of json.matchAll(/"__fuzz_deep_(\d+)__"/g)) n += (deepValues[Number(m[1])]?.length ?? 0) - m[0].length
  return n
}

export function value (recipe: ValueRecipe, limit: number): unknown {
  if ('s' in recipe) return text(recipe.s, limit)
  if ('n' in recipe) return typeof recipe.n === 'string' ? Number(recipe.n) : recipe.n
  if ('b' in recipe) return recipe.b
  if ('z' in recipe) return null
  if ('a' in recipe) {
    const one = value(recipe.a, limit)
    const size = Math.max(1, expandedLength(JSON.stringify(one) ?? ''))
    const n = Math.min(recipe.t, Math.floor(limit / size) + 1)
    // copies, not one object n times: a later edit through one element would grow every element,
    // and the serialised document by n times the edit
    return one !== null && typeof one === 'object' ? Array.from({ length: n }, () => structuredClone(one)) : new Array(n).fill(one)
  }
  if ('d' in recipe) return deepPlaceholder(Math.max(1, Math.min(recipe.d, Math.floor(limit / 6))), recipe.o)
  const out: Record<string, unknown> = {}
  for (const [k, v] of recipe.k) out[text(k, 256)] = value(v, limit)
  return out
}

function applyEdit (doc: unknown, edit: Edit, limit: number): unknown {
  const v = value(edit.value, limit)
  if (edit.path.length === 0 || doc == null || typeof doc !== 'object') return edit.remove === true ? undefined : v
  const root = doc
  let node: any = root
  for (let i = 0; i < edit.path.length; i++) {
    const keys = Array.isArray(node) ? node.map((_: unknown, j: number) => j) : Object.keys(node)
    const last = i === edit.path.length - 1
    if (keys.length === 0 || (last && edit.key != null && !Array.isArray(node))) {
      if (!Array.isArray(node) && edit.key != null) node[text(edit.key, 256)] = v
      else if (Array.isArray(node)) node.push(v)
      return root
    }
    const key = keys[edit.path[i] % keys.length]
    if (last || node[key] == null || typeof node[key] !== 'object') {
      if (edit.remove === true) {
        if (Array.isArray(node)) node.splice(key as number, 1)
        else delete node[key]
      } else {
        node[key] = v
      }
      return root
    }
    node = node[key]
  }
  return root
}

/** The document a recipe describes, as JSON text */
export function documentText (bases: unknown[], recipe: DocumentRecipe, limit: number): string {
  deepValues.length = 0
  let doc: unknown = structuredClone(bases[recipe.base % bases.length])
  for (const edit of recipe.edits) doc = applyEdit(doc, edit, limit)
  let out = JSON.stringify(doc) ?? ''
  // a document of several edits can pass its limit; twice the limit is enough to show the parser refuses it
  if (expandedLength(out) > 2 * limit + 1024) return out.slice(0, 2 * limit)
  out = out.replace(/"__fuzz_deep_(\d+)__"/g, (_, i: string) => deepValues[Number(i)] ?? 'null')
  if (recipe.tail != null) {
    if ('cut' in recipe.tail) out = out.slice(0, recipe.tail.cut % (out.length + 1))
    else out += text(recipe.tail.add, limit)
  }
  return out
}

export interface DocumentOptions {
  /** Valid documents to start from */
  bases: unknown[]
  /** Size limit of the serialised document */
  limit: number
  /** Characters strings are mostly made of */
  alphabets?: string[]
  /** Literal strings worth trying (media types, digests) */
  words?: string[]
}

export function valueRecipe (options: DocumentOptions): fc.Arbitrary<ValueRecipe> {
  const str = textRecipe({ limit: options.limit, alphabets: options.alphabets, words: options.words })
  const { value: v } = fc.letrec<{ value: ValueRecipe }>(tie => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { weight: 4, arbitrary: fc.record({ s: str }) },
      { weight: 2, arbitrary: fc.record({ n: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(2 ** 53, -1, 0, 1e308, 'NaN')) }) },
      { weight: 1, arbitrary: fc.record({ b: fc.boolean() }) },
      { weight: 1, arbitrary: fc.constant({ z: null }) },
      { weight: 1, arbitrary: fc.record({ a: tie('value'), t: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 100_000 })) }) },
      { weight: 1, arbitrary: fc.record({ d: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 200_000 })), o: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ k: fc.array(fc.tuple(textRecipe({ limit: 64, alphabets: options.alphabets, words: options.words }), tie('value')), { maxLength: 4 }) }) }
    )
  }))
  return v
}

export function documentRecipe (options: DocumentOptions): fc.Arbitrary<DocumentRecipe> {
  const edit: fc.Arbitrary<Edit> = fc.record({
    path: fc.array(fc.nat({ max: 64 }), { maxLength: 5 }),
    value: valueRecipe(options),
    key: fc.option(textRecipe({ limit: 64, alphabets: options.alphabets, words: options.words }), { nil: undefined }),
    remove: fc.option(fc.boolean(), { nil: undefined })
  }, { requiredKeys: ['path', 'value'] })
  return fc.record({
    base: fc.nat({ max: Math.max(0, options.bases.length - 1) }),
    edits: fc.array(edit, { maxLength: 4 }),
    tail: fc.option(fc.oneof(fc.record({ cut: fc.nat() }), fc.record({ add: textRecipe({ limit: 64 }) })), { nil: undefined, freq: 6 })
  }, { requiredKeys: ['base', 'edits'] })
}
