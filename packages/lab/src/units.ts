/**
 * Rates, sizes and moments as the lab's commands take them (`100mbit`,
 * `64MiB`, `5s`) and as its reports print them.
 */
import { InvalidParametersError } from '@provenir/interface'
import { MAX_RATE, MIN_RATE } from './constants.js'

const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 }
const TIME_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 }

/** The longest string any of these parsers looks at */
const MAX_INPUT = 32

function split (input: string, what: string): { value: number, unit: string } {
  const m = input.length <= MAX_INPUT ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)(?:\/s)?\s*$/i.exec(input) : null
  if (m == null) throw new InvalidParametersError(`${what} "${input.slice(0, MAX_INPUT)}" is not a number with a unit`)
  return { value: Number(m[1]), unit: m[2].toLowerCase() }
}

/**
 * A link rate in bits per second, in tc's units: `100mbit`, `1gbit`,
 * `500kbit` (`/s` may follow; a bare number is Mbit/s).
 */
export function parseRate (input: string): number {
  const { value, unit } = split(input, 'rate')
  const factor = unit === '' ? 1e6 : RATE_UNITS[unit]
  if (factor == null) throw new InvalidParametersError(`rate "${input}": unknown unit "${unit}" (use bit, kbit, mbit or gbit)`)
  const bits = Math.round(value * factor)
  if (bits < MIN_RATE || bits > MAX_RATE) {
    throw new InvalidParametersError(`rate "${input}" is outside ${formatRate(MIN_RATE)} to ${formatRate(MAX_RATE)}`)
  }
  return bits
}

/** A size in bytes: `20MB` (10^6), `64MiB` (2^20), `1000` (bytes) */
export function parseBytes (input: string): number {
  const { value, unit } = split(input, 'size')
  const factor = SIZE_UNITS[unit === '' ? 'b' : unit]
  if (factor == null) throw new InvalidParametersError(`size "${input}": unknown unit "${unit}" (use B, KB, MB, GB, KiB, MiB or GiB)`)
  return Math.round(value * factor)
}

/** A duration in ms: `5s`, `500ms`, `2m` */
export function parseDuration (input: string): number {
  const { value, unit } = split(input, 'duration')
  const factor = TIME_UNITS[unit]
  if (factor == null) throw new InvalidParametersError(`duration "${input}": use ms, s or m`)
  return Math.round(value * factor)
}

/** When a fault fires: after some time, or once a host's link has carried some bytes */
export type Trigger = { ms: number } | { bytes: number }

/** `5s` / `500ms` is a time, `20MB` / `64MiB` a byte count */
export function parseTrigger (input: string): Trigger {
  const { unit } = split(input, 'moment')
  if (TIME_UNITS[unit] != null) return { ms: parseDuration(input) }
  if (SIZE_UNITS[unit] != null) return { bytes: parseBytes(input) }
  throw new InvalidParametersError(`moment "${input}": give a time (5s, 500ms) or a size (20MB, 64MiB)`)
}

export function formatRate (bits: number): string {
  if (bits >= 1e9 && bits % 1e8 === 0) return `${bits / 1e9} Gbit/s`
  if (bits >= 1e6) return `${+(bits / 1e6).toFixed(1)} Mbit/s`
  return `${+(bits / 1e3).toFixed(1)} kbit/s`
}

/** tc's spelling of a rate */
export function tcRate (bits: number): string {
  return `${bits}bit`
}

export function formatBytes (bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`
  return `${bytes} B`
}

export function formatSeconds (seconds: number | null): string {
  return seconds == null ? '-' : `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`
}

export function formatTrigger (t: Trigger): string {
  return 'ms' in t ? `${t.ms / 1000}s` : formatBytes(t.bytes)
}
