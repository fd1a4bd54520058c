import { randomBytes } from 'node:crypto'
import { InvalidSwarmKeyError } from '@provenir/interface'
import { SWARM_KEY_HEADER } from './constants.js'

/**
 * Check that `bytes` is a Kubo-format swarm.key:
 *
 * ```
 * /key/swarm/psk/1.0.0/
 * /base16/
 * <64 hex digits>
 * ```
 *
 * Returns the bytes in the form @libp2p/pnet expects (the file contents).
 */
export function parseSwarmKey (bytes: Uint8Array, where = 'swarm.key'): Uint8Array {
  if (bytes.byteLength > 256) throw new InvalidSwarmKeyError(`${where}: too large (${bytes.byteLength} bytes) for a swarm.key`)
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes)
  const lines = text.split(/\r?\n/).map(l => l.trim()).filter(l => l.length > 0)
  if (lines[0] !== SWARM_KEY_HEADER) {
    throw new InvalidSwarmKeyError(`${where}: first line must be "${SWARM_KEY_HEADER}"`)
  }
  if (lines[1] !== '/base16/') {
    throw new InvalidSwarmKeyError(`${where}: only the /base16/ encoding is supported`)
  }
  if (lines.length !== 3 || !/^[0-9a-fA-F]{64}$/.test(lines[2])) {
    throw new InvalidSwarmKeyError(`${where}: third line must be 64 hex digits (a 256-bit key)`)
  }
  return new TextEncoder().encode(`${SWARM_KEY_HEADER}\n/base16/\n${lines[2].toLowerCase()}`)
}

/** Make a new random swarm.key, in the Kubo format */
export function generateSwarmKey (): Uint8Array {
  return new TextEncoder().encode(`${SWARM_KEY_HEADER}\n/base16/\n${randomBytes(32).toString('hex')}\n`)
}
