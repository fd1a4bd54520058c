/**
 * NodeIds from text that came from outside (DHT keys, references, bindings,
 * DNS TXT records): the length is checked before anything decodes the text,
 * because @libp2p/peer-id's base58 decoding takes time quadratic in the
 * length (100,000 characters took 8 s).
 *
 * @internal
 */

import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidParametersError } from '@provenir/interface'
import { MAX_NODE_ID_LENGTH } from './constants.js'
import type { PeerId } from '@libp2p/interface'

/** @throws InvalidParametersError when `text` is not a PeerId (or is longer than any NodeId) */
export function parseNodeId (text: string): PeerId {
  if (text.length > MAX_NODE_ID_LENGTH) {
    throw new InvalidParametersError(`${JSON.stringify(text.slice(0, 64))}... (${text.length} characters) is not a NodeId: at most ${MAX_NODE_ID_LENGTH} characters`)
  }
  try {
    return peerIdFromString(text)
  } catch (err: unknown) {
    throw new InvalidParametersError(`${JSON.stringify(text)} is not a NodeId: ${(err as Error).message}`, { cause: err })
  }
}
