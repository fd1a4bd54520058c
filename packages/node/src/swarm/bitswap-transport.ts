/**
 * Bitswap behind the transport seam: the libp2p service registration and
 * the `BlockTransport` adapter over it. This is the only module of the node
 * that imports `@provenir/bitswap`; every other part of the node asks the
 * transport interface (`transport.ts`).
 */

import { bitswap, SessionStalledError } from '@provenir/bitswap'
import { BlocksUnavailableError } from '../errors.js'
import type { BlockTransport, TransportBlock, TransportSession, TransportSessionInit, TransportWantOptions } from './transport.js'
import type { Bitswap, BitswapComponents, BitswapInit } from '@provenir/bitswap'
import type { CID } from 'multiformats/cid'

export type { Bitswap }

/** The libp2p service factory for `services.bitswap` */
export function bitswapService (init: BitswapInit): (components: BitswapComponents) => Bitswap {
  return bitswap(init)
}

/** Bitswap's "nobody delivered" becomes the seam's own class; anything else passes as it is */
function translate (err: unknown): unknown {
  if (err instanceof SessionStalledError) return new BlocksUnavailableError(err.message, { cause: err })
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
    }
  }
}
