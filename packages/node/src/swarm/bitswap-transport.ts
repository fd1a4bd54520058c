/**
 * Bitswap behind the transport seam: the libp2p service registration and
 * the `BlockTransport` adapter over it. This is the only module of the node
 * that imports `@provenir/bitswap`; every other part of the node asks the
 * transport interface (`transport.ts`).
 */

import { bitswap, NoHonestProviderError as BitswapNoHonestProviderError, SessionStalledError } from '@provenir/bitswap'
import { BlocksUnavailableError, NoHonestProviderError } from '../errors.js'
import type { BlockTransport, TransportBlock, TransportSession, TransportSessionInit, TransportWantOptions } from './transport.js'
import type { Bitswap, BitswapComponents, BitswapInit } from '@provenir/bitswap'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export type { Bitswap }

/** The libp2p service factory for `services.bitswap` */
export function bitswapService (init: BitswapInit): (components: BitswapComponents) => Bitswap {
  return bitswap(init)
}

/** Bitswap's "nobody delivered" and "only liars hold it" become the seam's own classes; anything else passes as it is */
function translate (err: unknown): unknown {
  if (err instanceof SessionStalledError) return new BlocksUnavailableError(err.message, { cause: err })
  if (err instanceof BitswapNoHonestProviderError) return new NoHonestProviderError(err.message, { cause: err })
  return err
}

class BitswapSession implements TransportSession {
  readonly #session: ReturnType<Bitswap['createSession']>

  constructor (session: ReturnType<Bitswap['createSession']>) {
    this.#session = session
  }

  async * want (cids: Iterable<CID> | AsyncIterable<CID>, options?: TransportWantOptions): AsyncGenerator<TransportBlock, void, undefined> {
    try {
      yield * this.#session.want(cids, options)
    } catch (err) {
      throw translate(err)
    }
  }

  addPeer (peer: Parameters<TransportSession['addPeer']>[0]): void {
    this.#session.addPeer(peer)
  }

  peers (): ReturnType<TransportSession['peers']> {
    return this.#session.peers()
  }

  close (): void {
    this.#session.close()
  }
}

/** The bitswap service as a {@link BlockTransport} */
export function bitswapTransport (service: Bitswap): BlockTransport {
  return {
    name: 'bitswap',
    createSession: (init: TransportSessionInit = {}) => new BitswapSession(service.createSession(init)),
    want: async (cid, options) => {
      try {
        return await service.want(cid, options)
      } catch (err) {
        throw translate(err)
      }
    },
    // bitswap stores what it fetches; its want reads a held block from the store
    hold: async (cid, options) => {
      try {
        await service.want(cid, options)
      } catch (err) {
        throw translate(err)
      }
    }
  }
}

/** Bitswap's bad-peer mechanism, for another transport (the bulk channel) to share */
export interface BadPeerHooks {
  /** Penalise `peer` for a wrong block received elsewhere, and disconnect it */
  onBadPeer(peer: PeerId, reason: string): void
  /** True while bitswap bans `peer` for a bad block */
  isBanned(peer: PeerId): boolean
}

/**
 * The bad-peer hooks over a bitswap service that exists only once libp2p is
 * built (the bulk channel is its sibling service): a peer that lies over one
 * channel is cut off on both.
 */
export function bitswapBadPeers (service: () => Bitswap): BadPeerHooks {
  return {
    onBadPeer: (peer, reason) => { service().reportBadBlock(peer, reason) },
    isBanned: (peer) => service().isBanned(peer)
  }
}
