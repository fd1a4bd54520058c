/**
 * Error classes of the node package: the content service, its sources and
 * the swarm pull. Each condition has its own class, identified by `.name`;
 * `@provenir/interface`'s `ERROR_TABLE` maps each to an HTTP status and an
 * OCI code for the gateway and the RPC API.
 */

import { ProvenirError } from '@provenir/interface'

/** No source has the manifest or index asked for (by digest or by tag), or it was deleted */
export class ManifestNotFoundError extends ProvenirError {
  static override name = 'ManifestNotFoundError'
  override name = 'ManifestNotFoundError'
}

/** No source has the blob asked for, or the repository asked through holds no link to it */
export class BlobNotFoundError extends ProvenirError {
  static override name = 'BlobNotFoundError'
  override name = 'BlobNotFoundError'
}

/** A repository the node has never held a manifest in */
export class RepositoryUnknownError extends ProvenirError {
  static override name = 'RepositoryUnknownError'
  override name = 'RepositoryUnknownError'
}

/** A manifest (or index) pushed names blobs (or manifests) the repository does not hold */
export class ManifestReferenceError extends ProvenirError {
  static override name = 'ManifestReferenceError'
  override name = 'ManifestReferenceError'
  /** The missing digests; the first is the spec's `detail.digest` */
  readonly digests: string[]
  readonly detail: { digest: string, digests: string[] }

  constructor (message: string, digests: string[]) {
    super(message)
    this.digests = digests
    this.detail = { digest: digests[0], digests }
  }
}

/** A blob delete of a blob that is part of an image: delete the image's manifest instead */
export class BlobInUseError extends ProvenirError {
  static override name = 'BlobInUseError'
  override name = 'BlobInUseError'
}

/** A blob's block DAG breaks its bounds or holds a block that is neither raw nor dag-pb */
export class BlobDagInvalidError extends ProvenirError {
  static override name = 'BlobDagInvalidError'
  override name = 'BlobDagInvalidError'
}

/**
 * No peer delivered the blocks asked for in time: no provider of them was
 * found, or none that was asked sent anything (a transport's stall)
 */
export class BlocksUnavailableError extends ProvenirError {
  static override name = 'BlocksUnavailableError'
  override name = 'BlocksUnavailableError'
}

/** No provider of an image answered with its record (the DAG roots of its blobs and its statements) */
export class ImageRecordNotFoundError extends ProvenirError {
  static override name = 'ImageRecordNotFoundError'
  override name = 'ImageRecordNotFoundError'
}

/** An image index has no manifest for the platform asked for */
export class PlatformNotFoundError extends ProvenirError {
  static override name = 'PlatformNotFoundError'
  override name = 'PlatformNotFoundError'
}

/** A pull by digest found an image index where it looked for an image manifest (the caller fetches the index itself) */
export class ImageIndexFoundError extends ProvenirError {
  static override name = 'ImageIndexFoundError'
  override name = 'ImageIndexFoundError'
}
