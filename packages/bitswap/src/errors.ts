/**
 * Error classes. Each condition has its own class, identified by `.name` so
 * callers and tests can tell them apart without `instanceof`.
 */

/** An option passed to `bitswap()` or `createSession()` is invalid */
export class InvalidConfigError extends Error {
  static name = 'InvalidConfigError'
  override name = 'InvalidConfigError'
}

/** A parameter passed to a method is invalid */
export class InvalidParametersError extends Error {
  static name = 'InvalidParametersError'
  override name = 'InvalidParametersError'
}

/** The service was used before `start()` or after `stop()` */
export class NotStartedError extends Error {
  static name = 'NotStartedError'
  override name = 'NotStartedError'
}

/** A length prefix announced a message larger than the limit */
export class MessageTooLargeError extends Error {
  static name = 'MessageTooLargeError'
  override name = 'MessageTooLargeError'
}

/** A message could not be decoded, or holds a malformed CID, prefix or enum value */
export class InvalidMessageError extends Error {
  static name = 'InvalidMessageError'
  override name = 'InvalidMessageError'
}

/** A message holds more entries in one repeated field than allowed */
export class TooManyEntriesError extends Error {
  static name = 'TooManyEntriesError'
  override name = 'TooManyEntriesError'
}

/** A block is larger than the block size limit */
export class BlockTooLargeError extends Error {
  static name = 'BlockTooLargeError'
  override name = 'BlockTooLargeError'
}

/** A CID uses a hash function with no configured hasher, so its blocks cannot be verified */
export class UnsupportedHashError extends Error {
  static name = 'UnsupportedHashError'
  override name = 'UnsupportedHashError'
}

/** A peer sent a block whose bytes do not hash to anything we asked it for */
export class BadBlockError extends Error {
  static name = 'BadBlockError'
  override name = 'BadBlockError'
}

/** A peer could not be dialled lately, so it is not dialled again until its backoff ends */
export class PeerUnreachableError extends Error {
  static name = 'PeerUnreachableError'
  override name = 'PeerUnreachableError'
}

/** An inbound stream delivered no data within the idle timeout */
export class StreamIdleTimeoutError extends Error {
  static name = 'StreamIdleTimeoutError'
  override name = 'StreamIdleTimeoutError'
}

/** A session received no block within its stall timeout while it was waiting for some */
export class SessionStalledError extends Error {
  static name = 'SessionStalledError'
  override name = 'SessionStalledError'
}

/** An operation was aborted by its signal */
export class AbortError extends Error {
  static name = 'AbortError'
  override name = 'AbortError'
}

/** An operation did not finish before its deadline */
export class TimeoutError extends Error {
  static name = 'TimeoutError'
  override name = 'TimeoutError'
}

/**
 * Every peer that had a wanted block sent bad blocks instead (and was
 * banned), and no other peer has said it holds the block since
 */
export class NoHonestProviderError extends Error {
  static name = 'NoHonestProviderError'
  override name = 'NoHonestProviderError'
}

/**
 * The unfinished messages a peer's inbound streams hold together passed
 * `maxPeerBufferedBytes`: the stream that took it over is reset, and the
 * peer penalised
 */
export class PeerBufferLimitError extends Error {
  static name = 'PeerBufferLimitError'
  override name = 'PeerBufferLimitError'
}

/**
 * The unfinished messages all inbound streams hold together passed
 * `maxBufferedBytes`: the streams holding the most are reset, with no
 * penalty (the node, not one peer, is short of room)
 */
export class NodeBufferLimitError extends Error {
  static name = 'NodeBufferLimitError'
  override name = 'NodeBufferLimitError'
}

/** A peer sent more messages per second than `maxMessageRate` allows: the stream is reset and the peer penalised */
export class MessageRateError extends Error {
  static name = 'MessageRateError'
  override name = 'MessageRateError'
}
