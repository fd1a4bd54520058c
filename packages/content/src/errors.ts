/**
 * Error classes of the content package.
 *
 * Each condition has its own class, identified by `.name` (callers and tests
 * check the name, not `instanceof`, which breaks with two copies of a package).
 * A block that is simply absent is reported with `NotFoundError` from
 * `interface-store`, the name every IPFS library already recognises.
 */

import { ProvenirError } from '@provenir/interface'

/** A block is larger than the blockstore accepts (2 MiB by default). */
export class BlockTooLargeError extends ProvenirError {
  static override name = 'BlockTooLargeError'
  override name = 'BlockTooLargeError'
}

/** A block's bytes do not hash to the multihash in its CID (corrupt on disk, or forged by a peer). */
export class BlockVerificationError extends ProvenirError {
  static override name = 'BlockVerificationError'
  override name = 'BlockVerificationError'
}

/** A CID uses a hash function the blockstore cannot verify, so the block is refused. */
export class UnsupportedHashError extends ProvenirError {
  static override name = 'UnsupportedHashError'
  override name = 'UnsupportedHashError'
}

/** A blockstore was used before `open()` or after `close()`. */
export class BlockstoreNotOpenError extends ProvenirError {
  static override name = 'BlockstoreNotOpenError'
  override name = 'BlockstoreNotOpenError'
}

/** An OCI digest string is malformed or uses an algorithm the spec does not allow here (defined with the grammar in @provenir/interface). */
export { DigestInvalidError } from '@provenir/interface'

/** Content does not hash to the digest it was expected to have. */
export class DigestMismatchError extends ProvenirError {
  static override name = 'DigestMismatchError'
  override name = 'DigestMismatchError'
}

/** A manifest, index or config document is not valid JSON or breaks the OCI / Docker schema. */
export class ManifestInvalidError extends ProvenirError {
  static override name = 'ManifestInvalidError'
  override name = 'ManifestInvalidError'
}

/** A manifest is larger than the limit accepted before parsing (4 MiB by default). */
export class ManifestTooLargeError extends ProvenirError {
  static override name = 'ManifestTooLargeError'
  override name = 'ManifestTooLargeError'
}

/** A document declares (or was sent with) a media type this parser does not handle. */
export class UnsupportedMediaTypeError extends ProvenirError {
  static override name = 'UnsupportedMediaTypeError'
  override name = 'UnsupportedMediaTypeError'
}

/** A blob has more or fewer bytes than it was declared to have. */
export class BlobSizeMismatchError extends ProvenirError {
  static override name = 'BlobSizeMismatchError'
  override name = 'BlobSizeMismatchError'
}

/** A CID given as a blob's root is neither a raw block nor a UnixFS file. */
export class NotABlobError extends ProvenirError {
  static override name = 'NotABlobError'
  override name = 'NotABlobError'
}

/** An OCI image layout directory is malformed: no `oci-layout` or `index.json`, a bad version, or a missing blob. */
export class ImageLayoutInvalidError extends ProvenirError {
  static override name = 'ImageLayoutInvalidError'
  override name = 'ImageLayoutInvalidError'
}

/** A docker-archive (`docker save`) tarball is malformed: a bad tar header, a bad `manifest.json`, a missing or unsafe entry. */
export class ArchiveInvalidError extends ProvenirError {
  static override name = 'ArchiveInvalidError'
  override name = 'ArchiveInvalidError'
}

/** A tarball ends before its last entry does, or without the end-of-archive marker. */
export class ArchiveTruncatedError extends ProvenirError {
  static override name = 'ArchiveTruncatedError'
  override name = 'ArchiveTruncatedError'
}

/** An input passes one of the import bounds: entries in an archive or index, layers in an image, or a blob's size. */
export class InputLimitError extends ProvenirError {
  static override name = 'InputLimitError'
  override name = 'InputLimitError'
}

/** No image with this manifest digest is in the image index. */
export class ImageNotFoundError extends ProvenirError {
  static override name = 'ImageNotFoundError'
  override name = 'ImageNotFoundError'
}

/** An image's blocks are not all in the blockstore (collected during an import, or lost), so it cannot be listed or exported. */
export class ImageIncompleteError extends ProvenirError {
  static override name = 'ImageIncompleteError'
  override name = 'ImageIncompleteError'
}

/** An export's destination already exists and is not an empty directory. */
export class OutputExistsError extends ProvenirError {
  static override name = 'OutputExistsError'
  override name = 'OutputExistsError'
}
