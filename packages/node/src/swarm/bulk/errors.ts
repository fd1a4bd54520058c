/**
 * The bulk channel's error classes, each identified by `.name`. None of
 * them reaches a caller of the transport: a want whose bulk request fails
 * for any of these reasons goes to another peer or to the fallback
 * transport. They name causes in logs and in tests.
 */

import { ProvenirError } from '@provenir/interface'

/** The peer's certificate is missing, malformed, or not signed by the key of the PeerId expected */
export class BulkAuthenticationError extends ProvenirError {
  static override name = 'BulkAuthenticationError'
  override name = 'BulkAuthenticationError'
}

/** The server closed the connection before READY: the client holds no live libp2p connection to it, is banned, or is over a bound */
export class BulkRefusedError extends ProvenirError {
  static override name = 'BulkRefusedError'
  override name = 'BulkRefusedError'
}

/** The other end broke the protocol: an oversized or malformed frame, an answer to nothing asked, too many requests */
export class BulkProtocolError extends ProvenirError {
  static override name = 'BulkProtocolError'
  override name = 'BulkProtocolError'
}

/** A block's bytes do not hash to the CID it was sent for */
export class BulkBadBlockError extends ProvenirError {
  static override name = 'BulkBadBlockError'
  override name = 'BulkBadBlockError'
}

/**
 * This node could not take a received block in (its hash worker failed):
 * no fault of the peer's, which is not backed off or blamed for it
 */
export class BulkLocalError extends ProvenirError {
  static override name = 'BulkLocalError'
  override name = 'BulkLocalError'
}

/** A connection with requests in flight received nothing for the stall timeout */
export class BulkStalledError extends ProvenirError {
  static override name = 'BulkStalledError'
  override name = 'BulkStalledError'
}

/** The connection closed (by either end, or the network) while requests were in flight */
export class BulkConnectionClosedError extends ProvenirError {
  static override name = 'BulkConnectionClosedError'
  override name = 'BulkConnectionClosedError'
}

/** The peer has no usable bulk channel now (none announced, backing off after a failure, or banned) */
export class BulkUnavailableError extends ProvenirError {
  static override name = 'BulkUnavailableError'
  override name = 'BulkUnavailableError'
}
