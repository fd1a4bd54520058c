/**
 * The store's limits (`storage` in the daemon's config.json): a maximum size
 * and two watermarks. Above the high watermark, content no pin protects is
 * evicted, least recently used first, down to the low watermark.
 */

import { InvalidConfigError } from '@provenir/interface'
import { DEFAULT_HIGH_WATERMARK, DEFAULT_LOW_WATERMARK, MAX_STORAGE_SIZE } from './constants.js'

export interface StorageConfig {
  /**
   * The most bytes of blocks the store should hold, or `null` for no limit.
   * A number of bytes, or a string with a unit (`"20GB"`, `"512MiB"`; KB,
   * MB, GB, TB are powers of 1000, KiB… powers of 1024).
   *
   * Off by default: only cache (images fetched for a client, not pulled,
   * pushed or imported on purpose) and unpinned blocks can be evicted, and
   * a daemon cannot know how much of its disk the operator gives it.
   *
   * @default null
   */
  maxSize: number | null
  /**
   * Eviction starts when the store passes this fraction of `maxSize`.
   *
   * @default DEFAULT_HIGH_WATERMARK (0.9)
   */
  highWatermark: number
  /**
   * Eviction stops once the store is at or below this fraction of `maxSize`.
   *
   * @default DEFAULT_LOW_WATERMARK (0.8)
   */
  lowWatermark: number
}

export const DEFAULT_STORAGE_CONFIG: StorageConfig = Object.freeze({
  maxSize: null,
  highWatermark: DEFAULT_HIGH_WATERMARK,
  lowWatermark: DEFAULT_LOW_WATERMARK
})

const KEYS = new Set(Object.keys(DEFAULT_STORAGE_CONFIG))
const UNITS: Record<string, number> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 }

/** Bytes from a number or a string such as `"20GB"` or `"1.5 GiB"`; undefined when it is neither */
export function parseSize (value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined
  if (typeof value !== 'string' || value.length > 32) return undefined
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value)
  if (match == null) return undefined
  const unit = UNITS[match[2].toUpperCase()]
  if (unit == null) return undefined
  return Math.floor(Number(match[1]) * unit)
}

/**
 * Validates the `storage` section over the defaults, naming `where` and the
 * field in errors.
 *
 * @throws InvalidConfigError
 */
export function validateStorageConfig (input: unknown, where = 'config'): StorageConfig {
  const fail = (field: string, why: string): never => { throw new InvalidConfigError(`${where}: "storage.${field}" ${why}`) }
  if (input == null) return { ...DEFAULT_STORAGE_CONFIG }
  if (typeof input !== 'object' || Array.isArray(input)) throw new InvalidConfigError(`${where}: "storage" must be an object`)
  const obj = input as Record<string, unknown>
  for (const key of Object.keys(obj)) {
    if (!KEYS.has(key)) fail(key, `is not a known storage setting (known: ${[...KEYS].join(', ')})`)
  }
  const out: StorageConfig = { ...DEFAULT_STORAGE_CONFIG }
  if (obj.maxSize !== undefined && obj.maxSize !== null) {
    const size = parseSize(obj.maxSize)
    if (size == null || size < 1 || size > MAX_STORAGE_SIZE) fail('maxSize', `must be null or a size from 1 byte to 1 PiB (bytes, or a string like "20GB" or "512MiB"); got ${JSON.stringify(obj.maxSize)}`)
    out.maxSize = size as number
  }
  for (const field of ['highWatermark', 'lowWatermark'] as const) {
    const value = obj[field]
    if (value === undefined) continue
    if (typeof value !== 'number' || !(value > 0 && value <= 1)) fail(field, `must be a fraction of maxSize above 0 and at most 1; got ${JSON.stringify(value)}`)
    out[field] = value as number
  }
  if (out.lowWatermark >= out.highWatermark) fail('lowWatermark', `(${out.lowWatermark}) must be below "storage.highWatermark" (${out.highWatermark})`)
  return out
}
