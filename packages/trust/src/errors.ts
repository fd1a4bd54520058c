/**
 * Error classes of the trust package. Each condition has its own class,
 * identified by `.name`; check it with `isError(err, 'SignatureInvalidError')`
 * from `@provenir/interface` rather than `instanceof`.
 */

import { ProvenirError } from '@provenir/interface'
import type { VerificationReport } from './verify-image.js'

/** A DSSE envelope (or Sigstore bundle) is malformed, too large, or breaks a bound. */
export class EnvelopeInvalidError extends ProvenirError {
  static override name = 'EnvelopeInvalidError'
  override name = 'EnvelopeInvalidError'
}

/** A signature does not verify over the envelope's PAE with the key its keyid names. */
export class SignatureInvalidError extends ProvenirError {
  static override name = 'SignatureInvalidError'
  override name = 'SignatureInvalidError'
}

/** A keyid (UserId) is not a CIDv1 libp2p-key in base36 holding an Ed25519 public key. */
export class KeyIdInvalidError extends ProvenirError {
  static override name = 'KeyIdInvalidError'
  override name = 'KeyIdInvalidError'
}

/** The key that signed is not the key that was expected (a bundle's hint, a required signer). */
export class KeyIdMismatchError extends ProvenirError {
  static override name = 'KeyIdMismatchError'
  override name = 'KeyIdMismatchError'
}

/** A payload is not a valid in-toto Statement v1 (or not the predicate that was expected). */
export class StatementInvalidError extends ProvenirError {
  static override name = 'StatementInvalidError'
  override name = 'StatementInvalidError'
}

/** A statement does not name the digest of the object it is being checked against. */
export class SubjectMismatchError extends ProvenirError {
  static override name = 'SubjectMismatchError'
  override name = 'SubjectMismatchError'
}

/** A build recipe (Dockerfile) or image history cannot be turned into provenance. */
export class RecipeInvalidError extends ProvenirError {
  static override name = 'RecipeInvalidError'
  override name = 'RecipeInvalidError'
}

/** A policy.json does not match the policy schema; the message names the field. */
export class PolicyInvalidError extends ProvenirError {
  static override name = 'PolicyInvalidError'
  override name = 'PolicyInvalidError'
}

/** An image breaks a rule of an `enforce` policy; the message names the object and the rule. */
export class PolicyViolationError extends ProvenirError {
  static override name = 'PolicyViolationError'
  override name = 'PolicyViolationError'

  /** The full report the violation was found in */
  readonly report: VerificationReport

  constructor (message: string, report: VerificationReport) {
    super(message)
    this.report = report
  }
}
