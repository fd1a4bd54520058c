import { verifyNodeId, assertDifficulty, nodeIdDifficulty } from './verify.js'
import type { ComponentLogger, ConnectionGater, Logger, MultiaddrConnection, PeerId } from '@libp2p/interface'

/** Which way a refused connection was going. */
export type RefusalDirection = 'inbound' | 'outbound'

export interface DifficultyGaterInit {
  /** The swarm difficulty (c1), an integer from 0 to 64. 0 refuses nobody. */
  difficulty: number

  /** Each refusal is logged through `logger.forComponent('provenir:gater')`. */
  logger?: ComponentLogger

  /** Called once for each refusal, after it is counted. Errors it throws are logged and ignored. */
  onRefuse?(peer: PeerId, direction: RefusalDirection): void
}

/**
 * A libp2p ConnectionGater that refuses every peer whose NodeId is below the
 * swarm difficulty, plus the count of its refusals.
 */
export interface DifficultyGater extends ConnectionGater {
  /** The difficulty (c1) the gater enforces */
  readonly difficulty: number
  /** Refusals so far, by direction */
  readonly refusals: { inbound: number, outbound: number }
}

class DifficultyGaterImpl implements DifficultyGater {
  readonly difficulty: number
  readonly refusals = { inbound: 0, outbound: 0 }
  private readonly log?: Logger
  private readonly onRefuse?: (peer: PeerId, direction: RefusalDirection) => void

  constructor (init: DifficultyGaterInit) {
    assertDifficulty(init.difficulty)
    this.difficulty = init.difficulty
    this.log = init.logger?.forComponent('provenir:gater')
    this.onRefuse = init.onRefuse
  }

  /** Outbound, before any dial to a peer whose id is known. */
  denyDialPeer (peerId: PeerId): boolean {
    return this.deny(peerId, 'outbound', 'dial')
  }

  /** Inbound, once the encryption handshake has revealed the remote PeerId. */
  denyInboundEncryptedConnection (peerId: PeerId, _maConn: MultiaddrConnection): boolean {
    return this.deny(peerId, 'inbound', 'encrypted connection')
  }

  /** Outbound, once the handshake has revealed the PeerId (covers dials to a bare multiaddr). */
  denyOutboundEncryptedConnection (peerId: PeerId, _maConn: MultiaddrConnection): boolean {
    return this.deny(peerId, 'outbound', 'encrypted connection')
  }

  private deny (peerId: PeerId, direction: RefusalDirection, stage: string): boolean {
    if (verifyNodeId(peerId, this.difficulty)) {
      return false
    }
    this.refusals[direction]++
    this.log?.('refused %s %s with %p: its NodeId has %d leading zero bits, the swarm requires %d',
      direction, stage, peerId, nodeIdDifficulty(peerId), this.difficulty)
    try {
      this.onRefuse?.(peerId, direction)
    } catch (err: unknown) {
      this.log?.error('onRefuse threw for %p - %e', peerId, err)
    }
    return true
  }
}

/**
 * A connection gater for the S/Kademlia static puzzle: libp2p consults it
 * before dialing a peer (`denyDialPeer`) and after the noise handshake of
 * every inbound and outbound connection (`deny*EncryptedConnection`), and it
 * refuses every peer whose NodeId has fewer than `difficulty` leading zero
 * bits. A refused peer never gets a connection, so it never enters the
 * routing table through one.
 *
 * @example
 *
 * ```ts
 * const gater = difficultyGater({ difficulty: 16, logger: defaultLogger() })
 * const node = await createLibp2p({ connectionGater: gater, ... })
 * ```
 *
 * @throws InvalidParametersError when `difficulty` is out of range
 */
export function difficultyGater (init: DifficultyGaterInit): DifficultyGater {
  return new DifficultyGaterImpl(init)
}
