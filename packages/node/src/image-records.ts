import { lpStream } from '@libp2p/utils'
import { isDigest, MAX_IMAGE_LAYERS, MAX_IMAGE_STATEMENTS } from '@provenir/content'
import { InvalidParametersError, parseJson, ProvenirError } from '@provenir/interface'
import { CID } from 'multiformats/cid'
import type { ComponentLogger, Logger, PeerId, Startable, Stream, Connection } from '@libp2p/interface'
import type { ImageRecord } from '@provenir/content'
import type { AbortOptions } from '@libp2p/interface'

/**
 * Ask a peer for the record of an image it holds: the map from each blob's
 * OCI digest to the root CID of its block DAG. Blobs of one chunk need no
 * record (their CID is derived from the digest); larger blobs do, since a
 * DAG's root cannot be computed without the bytes.
 *
 * The record is a hint, not a trust anchor: the puller fetches each root and
 * checks the blob's bytes against the digest in the (content-addressed)
 * manifest before it marks the blob complete. The naming and trust layers
 * sign the same map inside the repository document.
 */
export const IMAGE_RECORD_PROTOCOL = '/provenir/image-record/1.0.0'

/** Largest record accepted or sent, in bytes */
export const MAX_IMAGE_RECORD_SIZE = 1024 * 1024

/** Most blobs in one record: the manifest, the config and at most MAX_IMAGE_LAYERS layers */
export const MAX_IMAGE_RECORD_BLOBS = MAX_IMAGE_LAYERS + 2

/** Time for one request and its answer, in ms */
export const IMAGE_RECORD_TIMEOUT = 10_000

/** Largest request (a length-prefixed digest), in bytes */
export const MAX_IMAGE_RECORD_REQUEST = 256

/** Requests served at once over all peers; a stream past it is reset at once */
export const MAX_IMAGE_RECORD_SERVES = 64

/**
 * Longest CID string in a record, checked before it is parsed: a base58 CID
 * (`Qm...`, `z...`) decodes in time quadratic in its length, and a real one
 * is under 100 characters
 */
export const MAX_CID_STRING_LENGTH = 256

/** A CID string from the wire, or undefined when it is not one (or is too long to be one) */
function parseCidString (value: unknown): CID | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CID_STRING_LENGTH) return undefined
  try {
    return CID.parse(value)
  } catch {
    return undefined
  }
}

export class ImageRecordInvalidError extends ProvenirError {
  static override name = 'ImageRecordInvalidError'
  override name = 'ImageRecordInvalidError'
}

/** The node is serving as many image record requests as it will at once */
export class ImageRecordBusyError extends ProvenirError {
  static override name = 'ImageRecordBusyError'
  override name = 'ImageRecordBusyError'
}

/** Encode a record for the wire: the content package's image record, as JSON */
export function encodeImageRecord (record: ImageRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    manifestDigest: record.manifestDigest,
    mediaType: record.mediaType,
    blobs: record.blobs.map(b => ({ digest: b.digest, size: b.size, root: b.root, mediaType: b.mediaType })),
    ...(record.statements != null && record.statements.length > 0 ? { statements: record.statements } : {})
  }))
}

/** Parse and check a record from the wire; every field is bounded */
export function decodeImageRecord (bytes: Uint8Array, expectedDigest: string): ImageRecord {
  if (bytes.byteLength > MAX_IMAGE_RECORD_SIZE) throw new ImageRecordInvalidError(`image record over ${MAX_IMAGE_RECORD_SIZE} bytes`)
  let obj: any
  try {
    obj = parseJson(bytes)
  } catch (err: any) {
    throw new ImageRecordInvalidError(`image record is not JSON: ${err.message}`)
  }
  if (obj == null || typeof obj !== 'object' || obj.manifestDigest !== expectedDigest) {
    throw new ImageRecordInvalidError(`image record is not for ${expectedDigest}`)
  }
  if (typeof obj.mediaType !== 'string' || obj.mediaType.length > 256) throw new ImageRecordInvalidError('image record "mediaType" must be a string')
  if (!Array.isArray(obj.blobs) || obj.blobs.length > MAX_IMAGE_RECORD_BLOBS) {
    throw new ImageRecordInvalidError(`image record "blobs" must be an array of at most ${MAX_IMAGE_RECORD_BLOBS} entries`)
  }
  const blobs = obj.blobs.map((b: any, i: number) => {
    if (b == null || typeof b.digest !== 'string' || !isDigest(b.digest)) throw new ImageRecordInvalidError(`image record blobs[${i}].digest is not a digest`)
    if (!Number.isSafeInteger(b.size) || b.size < 0) throw new ImageRecordInvalidError(`image record blobs[${i}].size is not a size`)
    if (typeof b.mediaType !== 'string' || b.mediaType.length > 256) throw new ImageRecordInvalidError(`image record blobs[${i}].mediaType must be a string`)
    if (parseCidString(b.root) == null) throw new ImageRecordInvalidError(`image record blobs[${i}].root is not a CID`)
    return { digest: b.digest, size: b.size, root: b.root as string, mediaType: b.mediaType }
  })
  let statements: string[] | undefined
  if (obj.statements != null) {
    if (!Array.isArray(obj.statements) || obj.statements.length > MAX_IMAGE_STATEMENTS) {
      throw new ImageRecordInvalidError(`image record "statements" must be an array of at most ${MAX_IMAGE_STATEMENTS} CIDs`)
    }
    statements = obj.statements.map((s: unknown, i: number) => {
      const cid = parseCidString(s)
      if (cid == null) throw new ImageRecordInvalidError(`image record statements[${i}] is not a CID`)
      return cid.toString()
    })
  }
  return { manifestDigest: obj.manifestDigest, mediaType: obj.mediaType, blobs, ...(statements != null && statements.length > 0 ? { statements } : {}) }
}

export interface ImageRecordsComponents {
  registrar: { handle(protocol: string, handler: (stream: Stream, connection: Connection) => void | Promise<void>, options?: { maxInboundStreams?: number }): Promise<void>, unhandle(protocol: string): Promise<void> }
  connectionManager: { openStream(peer: PeerId, protocol: string, options?: AbortOptions): Promise<Stream> }
  logger: ComponentLogger
}

export interface ImageRecordsInit {
  /** Looks up a record this node holds */
  lookup?(manifestDigest: string): Promise<ImageRecord | undefined>
}

/**
 * Serves and fetches image records over {@link IMAGE_RECORD_PROTOCOL}.
 * A request is one length-prefixed digest; the answer is one length-prefixed
 * JSON record, or an empty message when the node holds no such image.
 */
export class ImageRecords implements Startable {
  private readonly components: ImageRecordsComponents
  private readonly log: Logger
  lookup?: (manifestDigest: string) => Promise<ImageRecord | undefined>
  private started = false
  /** Requests being served now, over all peers */
  private serving = 0

  constructor (components: ImageRecordsComponents, init: ImageRecordsInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('provenir:image-records')
    this.lookup = init.lookup
  }

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(IMAGE_RECORD_PROTOCOL, (stream) => {
      void this.serve(stream)
    }, { maxInboundStreams: 32 })
    this.started = true
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(IMAGE_RECORD_PROTOCOL)
    this.started = false
  }

  private async serve (stream: Stream): Promise<void> {
    // 32 streams per connection, times every connection, is more than a node
    // should answer at once: past a node-wide bound, a request is refused
    if (this.serving >= MAX_IMAGE_RECORD_SERVES) {
      this.log('refusing an image record request: %d are being served', this.serving)
      stream.abort(new ImageRecordBusyError(`${this.serving} image record requests are being served`))
      return
    }
    this.serving++
    const signal = AbortSignal.timeout(IMAGE_RECORD_TIMEOUT)
    try {
      // the request is one short frame: a peer that sends more is not buffered past it
      const lp = lpStream(stream, { maxDataLength: MAX_IMAGE_RECORD_REQUEST, maxBufferSize: MAX_IMAGE_RECORD_REQUEST + 16 })
      const digest = new TextDecoder().decode((await lp.read({ signal })).subarray())
      const record = isDigest(digest) ? await this.lookup?.(digest) : undefined
      await lp.write(record == null ? new Uint8Array(0) : encodeImageRecord(record), { signal })
      await stream.close({ signal })
    } catch (err: any) {
      this.log('image record request failed - %e', err)
      stream.abort(err)
    } finally {
      this.serving--
    }
  }

  /** Ask `peer` for the record of `manifestDigest`; undefined when it has none */
  async fetch (peer: PeerId, manifestDigest: string, options: AbortOptions = {}): Promise<ImageRecord | undefined> {
    if (!isDigest(manifestDigest)) throw new InvalidParametersError(`not a digest: ${manifestDigest}`)
    const signal = AbortSignal.any([AbortSignal.timeout(IMAGE_RECORD_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
    const stream = await this.components.connectionManager.openStream(peer, IMAGE_RECORD_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_IMAGE_RECORD_SIZE, maxBufferSize: MAX_IMAGE_RECORD_SIZE + 16 })
      await lp.write(new TextEncoder().encode(manifestDigest), { signal })
      const answer = (await lp.read({ signal })).subarray()
      await stream.close({ signal })
      return answer.byteLength === 0 ? undefined : decodeImageRecord(answer, manifestDigest)
    } catch (err: any) {
      stream.abort(err)
      throw err
    }
  }
}

export function imageRecords (init: ImageRecordsInit = {}): (components: ImageRecordsComponents) => ImageRecords {
  return (components) => new ImageRecords(components, init)
}
