import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeImageRecord, encodeImageRecord } from '../src/index.js'
import type { ImageRecord } from '@provenir/content'

const D = (c: string): ImageRecord['manifestDigest'] => `sha256:${c.repeat(64)}` as ImageRecord['manifestDigest']
const ROOT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

const record: ImageRecord = {
  manifestDigest: D('a'),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  blobs: [
    { digest: D('a'), size: 500, root: ROOT, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    { digest: D('b'), size: 3_000_000, root: ROOT, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }
  ]
}

const enc = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o))

describe('image records on the wire', () => {
  it('round-trips a record', () => {
    assert.deepEqual(decodeImageRecord(encodeImageRecord(record), record.manifestDigest), record)
  })

  const bad: Array<[string, Uint8Array, RegExp]> = [
    ['bytes that are not JSON', new TextEncoder().encode('{nope'), /not JSON/],
    ['a record for another image', encodeImageRecord({ ...record, manifestDigest: D('c') }), /not for sha256:a/],
    ['a blob without a valid digest', enc({ ...record, blobs: [{ ...record.blobs[0], digest: 'md5:abc' }] }), /blobs\[0\]\.digest/],
    ['a negative size', enc({ ...record, blobs: [{ ...record.blobs[0], size: -1 }] }), /blobs\[0\]\.size/],
    ['a root that is not a CID', enc({ ...record, blobs: [{ ...record.blobs[0], root: 'not-a-cid' }] }), /blobs\[0\]\.root/],
    ['too many blobs', enc({ ...record, blobs: Array.from({ length: 1027 }, () => record.blobs[0]) }), /at most 1026 entries/],
    ['an oversized record', new Uint8Array(1024 * 1024 + 1), /over 1048576 bytes/]
  ]
  for (const [what, bytes, message] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(() => decodeImageRecord(bytes, record.manifestDigest), (err: Error) => {
        assert.equal(err.name, 'ImageRecordInvalidError')
        assert.match(err.message, message)
        return true
      })
    })
  }
})
