/**
 * The registry client's named errors. Every one names the registry (its
 * host, and the endpoint when one was reached); none ever holds a secret.
 */

import { ProvenirError } from '@provenir/interface'

/** A registry could not be reached, or kept failing (connection, timeouts, 5xx) after every retry and endpoint */
export class UpstreamUnavailableError extends ProvenirError {
  static override name = 'UpstreamUnavailableError'
  override name = 'UpstreamUnavailableError'
}

/** A registry refused the request for want of credentials, or refused the credentials given (401, 403) */
export class UpstreamAuthError extends ProvenirError {
  static override name = 'UpstreamAuthError'
  override name = 'UpstreamAuthError'
}

/** A registry does not hold the repository, manifest, tag or blob (404) */
export class UpstreamNotFoundError extends ProvenirError {
  static override name = 'UpstreamNotFoundError'
  override name = 'UpstreamNotFoundError'
}

/** A registry answered with something that breaks the protocol (a bad header, a malformed token or list, an answer over its bound) */
export class UpstreamResponseError extends ProvenirError {
  static override name = 'UpstreamResponseError'
  override name = 'UpstreamResponseError'
}

/** Bytes from a registry do not match the digest they were asked by */
export class UpstreamDigestMismatchError extends ProvenirError {
  static override name = 'UpstreamDigestMismatchError'
  override name = 'UpstreamDigestMismatchError'
}

/** A registry's TLS certificate did not verify against the configured CA (or the system's); never retried */
export class UpstreamTlsError extends ProvenirError {
  static override name = 'UpstreamTlsError'
  override name = 'UpstreamTlsError'
}

/** A name asks for a registry host that the upstream config does not list */
export class UpstreamNotConfiguredError extends ProvenirError {
  static override name = 'UpstreamNotConfiguredError'
  override name = 'UpstreamNotConfiguredError'
}

/** A credentials file cannot be read or parsed, or a credential helper failed */
export class CredentialsError extends ProvenirError {
  static override name = 'CredentialsError'
  override name = 'CredentialsError'
}
