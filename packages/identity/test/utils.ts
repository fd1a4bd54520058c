import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { nodeIdDifficulty } from '../src/index.js'
import type { ComponentLogger, Logger, PeerId, PrivateKey } from '@libp2p/interface'

/** Grind Ed25519 keys on this thread until one has exactly `bits` leading zero bits. */
export async function keyWithExactDifficulty (bits: number): Promise<{ key: PrivateKey, peerId: PeerId }> {
  if (bits > 14) throw new RangeError('keyWithExactDifficulty: at most 14 bits in a test')
  while (true) {
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key)
    if (nodeIdDifficulty(peerId) === bits) return { key, peerId }
  }
}

export interface LogLine { component: string, level: 'log' | 'error' | 'trace', args: unknown[] }

/** A ComponentLogger that records every line, for asserting on. */
export function stubLogger (): ComponentLogger & { lines: LogLine[] } {
  const lines: LogLine[] = []
  const make = (component: string): Logger => {
    const log = (formatter: unknown, ...args: unknown[]): void => { lines.push({ component, level: 'log', args: [formatter, ...args] }) }
    return Object.assign(log, {
      error: (formatter: unknown, ...args: unknown[]): void => { lines.push({ component, level: 'error', args: [formatter, ...args] }) },
      trace: (formatter: unknown, ...args: unknown[]): void => { lines.push({ component, level: 'trace', args: [formatter, ...args] }) },
      enabled: true,
      newScope: (name: string): Logger => make(`${component}:${name}`)
    })
  }
  return { lines, forComponent: make }
}

/** How many worker threads (each holds a MessagePort resource) are alive in this process. */
export function liveMessagePorts (): number {
  return process.getActiveResourcesInfo().filter(r => r === 'MessagePort').length
}
