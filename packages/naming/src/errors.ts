/**
 * Error classes of the naming package. Each condition has its own class,
 * identified by `.name`; check it with `isError(err, 'RollbackError')` or
 * `err.name === 'RollbackError'`, not `instanceof`.
 */

import { ProvenirError } from '@provenir/interface'

/** A document, pointer record, claim or binding is malformed or breaks a bound. */
export class RecordInvalidError extends ProvenirError {
  static override name = 'RecordInvalidError'
  override name = 'RecordInvalidError'
}

/** A signature does not verify: the record was altered after signing, or the keyid is not the signer's. */
export class RecordSignatureError extends ProvenirError {
  static override name = 'RecordSignatureError'
  override name = 'RecordSignatureError'
}

/** The record verifies, but under a key other than the one that owns it (a forgery). */
export class RecordSignerMismatchError extends ProvenirError {
  static override name = 'RecordSignerMismatchError'
  override name = 'RecordSignerMismatchError'
}

/** The record's expiry is past. */
export class RecordExpiredError extends ProvenirError {
  static override name = 'RecordExpiredError'
  override name = 'RecordExpiredError'
}

/** The record is for another owner or repository than the one asked for. */
export class OwnerMismatchError extends ProvenirError {
  static override name = 'OwnerMismatchError'
  override name = 'OwnerMismatchError'
}

/** The record's seq is below the highest seq already seen for this (UserId, repo). */
export class RollbackError extends ProvenirError {
  static override name = 'RollbackError'
  override name = 'RollbackError'
}

/** An image reference cannot be parsed. */
export class ReferenceInvalidError extends ProvenirError {
  static override name = 'ReferenceInvalidError'
  override name = 'ReferenceInvalidError'
}

/** No pin, registry or default registry knows a link name. */
export class NameNotFoundError extends ProvenirError {
  static override name = 'NameNotFoundError'
  override name = 'NameNotFoundError'
  /** Every source's answer, when the resolver was explaining (`NameAnswer[]`) */
  answers?: unknown[]
}

/** A registry already binds the name to another UserId. */
export class NameTakenError extends ProvenirError {
  static override name = 'NameTakenError'
  override name = 'NameTakenError'
}

/** A claim is malformed, not signed by its UserId, for another registry, stale, or replayed. */
export class ClaimInvalidError extends ProvenirError {
  static override name = 'ClaimInvalidError'
  override name = 'ClaimInvalidError'
}

/** A binding does not verify against the registry it is said to come from. */
export class BindingInvalidError extends ProvenirError {
  static override name = 'BindingInvalidError'
  override name = 'BindingInvalidError'
}

/** A registry answered with an error or a malformed message. */
export class RegistryError extends ProvenirError {
  static override name = 'RegistryError'
  override name = 'RegistryError'
}

/** No pointer record was found for a (UserId, repo). */
export class RepositoryNotFoundError extends ProvenirError {
  static override name = 'RepositoryNotFoundError'
  override name = 'RepositoryNotFoundError'
}

/** The repository document has no such tag or image. */
export class TagNotFoundError extends ProvenirError {
  static override name = 'TagNotFoundError'
  override name = 'TagNotFoundError'
}

/** A DNS TXT lookup failed, timed out, or found no `provenir=` record. */
export class DnsLookupError extends ProvenirError {
  static override name = 'DnsLookupError'
  override name = 'DnsLookupError'
}

/** Several namespace keys could sign and the request named none of them. */
export class AmbiguousKeyError extends ProvenirError {
  static override name = 'AmbiguousKeyError'
  override name = 'AmbiguousKeyError'
}
