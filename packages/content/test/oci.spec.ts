import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MAX_MANIFEST_SIZE } from '../src/constants.js'
import {
  checkManifestConfig, computeDigest, isDigest, parseDigest, parseImageConfig, parseManifest, verifyDigest,
  MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST
} from '../src/oci.js'
import {
  artifactManifest, dockerConfig, dockerConfigBytes, dockerForeignLayer, dockerManifest, dockerManifestBytes, dockerManifestList,
  emptyDescriptor, enc, ociConfig, ociConfigBytes, ociIndex, ociManifest, ociManifestBytes
} from './oci-fixtures.js'

/** A deep copy of `doc`, changed by `change`. */
function mutate<T> (doc: T, change: (copy: any) => void): T {
  const copy = structuredClone(doc)
  change(copy)
  return copy
}

const SHA256_EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const SHA512_EMPTY = 'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e'

describe('digests', () => {
  it('parseDigest splits sha256 and sha512 digests', () => {
    assert.deepEqual(parseDigest(SHA256_EMPTY), { algorithm: 'sha256', encoded: SHA256_EMPTY.slice(7) })
    assert.deepEqual(parseDigest(SHA512_EMPTY), { algorithm: 'sha512', encoded: SHA512_EMPTY.slice(7) })
  })

  it('parseDigest refuses malformed digests and other algorithms with DigestInvalidError', () => {
    const bad: unknown[] = [
      SHA256_EMPTY.toUpperCase(), // algorithm and hex must be lowercase
      'sha256:' + SHA256_EMPTY.slice(7).toUpperCase(),
      SHA256_EMPTY.slice(0, -1), // 63 hex
      SHA256_EMPTY + '0', // 65 hex
      SHA512_EMPTY.slice(0, -2),
      'sha256:' + 'g'.repeat(64),
      'sha384:' + 'a'.repeat(96), // not registered by OCI
      'md5:d41d8cd98f00b204e9800998ecf8427e',
      'blake3:' + 'a'.repeat(64),
      SHA256_EMPTY.slice(7), // no algorithm
      SHA256_EMPTY + '\n',
      ' ' + SHA256_EMPTY,
      '',
      ':',
      42,
      null
    ]
    for (const digest of bad) {
      assert.throws(() => parseDigest(digest), { name: 'DigestInvalidError' }, `accepted ${JSON.stringify(digest)}`)
      assert.equal(isDigest(digest), false)
    }
  })

  it('sha512 can be refused where a format allows only sha256', () => {
    assert.throws(() => parseDigest(SHA512_EMPTY, { allowSha512: false }), { name: 'DigestInvalidError' })
    assert.equal(isDigest(SHA256_EMPTY, { allowSha512: false }), true)
  })

  it('computeDigest matches the known sha256 and sha512 of empty input', () => {
    assert.equal(computeDigest(new Uint8Array()), SHA256_EMPTY)
    assert.equal(computeDigest(new Uint8Array(), 'sha512'), SHA512_EMPTY)
  })

  it('verifyDigest returns the digest of matching bytes and throws DigestMismatchError otherwise', () => {
    assert.equal(verifyDigest(new Uint8Array(), SHA256_EMPTY), SHA256_EMPTY)
    assert.equal(verifyDigest(new Uint8Array(), SHA512_EMPTY), SHA512_EMPTY)
    assert.throws(() => verifyDigest(new Uint8Array([0]), SHA256_EMPTY), { name: 'DigestMismatchError' })
    assert.throws(() => verifyDigest(new Uint8Array(), 'sha256:abc'), { name: 'DigestInvalidError' })
  })
})

describe('parseManifest: valid documents', () => {
  it('parses an OCI image manifest, returning its digest, size and fields', () => {
    const parsed = parseManifest(ociManifestBytes)
    assert.equal(parsed.kind, 'manifest')
    assert.equal(parsed.mediaType, MEDIA_TYPE_OCI_MANIFEST)
    assert.equal(parsed.digest, computeDigest(ociManifestBytes))
    assert.equal(parsed.size, ociManifestBytes.byteLength)
    assert.ok(parsed.kind === 'manifest')
    assert.equal(parsed.manifest.layers.length, 2)
    assert.equal(parsed.manifest.config.digest, computeDigest(ociConfigBytes))
    assert.equal(parsed.manifest.annotations?.['org.opencontainers.image.base.name'], 'gcr.io/distroless/base-debian12:nonroot')
  })

  it('parses a multi-arch OCI index with its attestation entry', () => {
    const bytes = enc(ociIndex)
    const parsed = parseManifest(bytes, { mediaType: MEDIA_TYPE_OCI_INDEX })
    assert.equal(parsed.kind, 'index')
    assert.ok(parsed.kind === 'index')
    assert.equal(parsed.mediaType, MEDIA_TYPE_OCI_INDEX)
    assert.equal(parsed.digest, computeDigest(bytes))
    assert.deepEqual(parsed.index.manifests.map(m => `${m.platform?.os}/${m.platform?.architecture}${m.platform?.variant != null ? '/' + m.platform.variant : ''}`),
      ['linux/amd64', 'linux/arm64/v8', 'linux/arm/v7', 'unknown/unknown'])
    assert.equal(parsed.index.manifests[0].digest, computeDigest(ociManifestBytes))
    assert.equal(parsed.index.manifests[3].annotations?.['vnd.docker.reference.type'], 'attestation-manifest')
  })

  it('parses a Docker schema 2 manifest', () => {
    const parsed = parseManifest(dockerManifestBytes, { mediaType: MEDIA_TYPE_DOCKER_MANIFEST })
    assert.equal(parsed.kind, 'manifest')
    assert.equal(parsed.mediaType, MEDIA_TYPE_DOCKER_MANIFEST)
    assert.ok(parsed.kind === 'manifest')
    assert.equal(parsed.manifest.config.mediaType, MEDIA_TYPE_DOCKER_CONFIG)
    assert.equal(parsed.manifest.layers[0].size, 3_408_729)
  })

  it('parses a Docker manifest list with a Windows entry and keeps os.version', () => {
    const parsed = parseManifest(enc(dockerManifestList))
    assert.equal(parsed.kind, 'index')
    assert.equal(parsed.mediaType, MEDIA_TYPE_DOCKER_MANIFEST_LIST)
    assert.ok(parsed.kind === 'index')
    assert.equal(parsed.index.manifests.length, 4)
    assert.equal(parsed.index.manifests[3].platform?.['os.version'], '10.0.20348.2227')
  })

  it('parses a Docker manifest with a foreign layer that has urls', () => {
    const parsed = parseManifest(enc(mutate(dockerManifest, m => { m.layers.unshift(dockerForeignLayer) })))
    assert.ok(parsed.kind === 'manifest')
    assert.deepEqual(parsed.manifest.layers[0].urls, dockerForeignLayer.urls)
  })

  it('parses an OCI 1.1 artifact: empty config with embedded data, artifactType and subject', () => {
    const parsed = parseManifest(enc(artifactManifest))
    assert.ok(parsed.kind === 'manifest')
    assert.equal(parsed.manifest.artifactType, 'application/spdx+json')
    assert.equal(parsed.manifest.subject?.digest, computeDigest(ociManifestBytes))
  })

  it('accepts sha512 digests in OCI documents', () => {
    const doc = mutate(ociManifest, m => { m.layers[0].digest = SHA512_EMPTY })
    assert.ok(parseManifest(enc(doc)).kind === 'manifest')
  })

  it('infers the type of an OCI document without mediaType, from options or from its shape', () => {
    const manifest = mutate(ociManifest, m => { delete m.mediaType })
    const index = mutate(ociIndex, m => { delete m.mediaType })
    assert.equal(parseManifest(enc(manifest)).mediaType, MEDIA_TYPE_OCI_MANIFEST)
    assert.equal(parseManifest(enc(index)).mediaType, MEDIA_TYPE_OCI_INDEX)
    assert.equal(parseManifest(enc(manifest), { mediaType: MEDIA_TYPE_OCI_MANIFEST }).kind, 'manifest')
  })

  it('accepts a Content-Type with parameters', () => {
    assert.equal(parseManifest(ociManifestBytes, { mediaType: `${MEDIA_TYPE_OCI_MANIFEST}; charset=utf-8` }).kind, 'manifest')
  })

  it('keeps unknown fields, as the spec requires', () => {
    const parsed = parseManifest(enc(mutate(ociManifest, m => { m['x-vendor'] = { anything: 1 } })))
    assert.ok(parsed.kind === 'manifest')
    assert.deepEqual((parsed.manifest as unknown as Record<string, unknown>)['x-vendor'], { anything: 1 })
  })
})

describe('parseManifest: digests and size limit', () => {
  it('passes when expectedDigest matches, and uses its algorithm for the returned digest', () => {
    assert.equal(parseManifest(ociManifestBytes, { expectedDigest: computeDigest(ociManifestBytes) }).digest, computeDigest(ociManifestBytes))
    const sha512 = computeDigest(ociManifestBytes, 'sha512')
    assert.equal(parseManifest(ociManifestBytes, { expectedDigest: sha512 }).digest, sha512)
  })

  it('throws DigestMismatchError when expectedDigest does not match', () => {
    assert.throws(() => parseManifest(ociManifestBytes, { expectedDigest: SHA256_EMPTY }), { name: 'DigestMismatchError' })
  })

  it('throws DigestInvalidError for a malformed expectedDigest', () => {
    assert.throws(() => parseManifest(ociManifestBytes, { expectedDigest: 'sha256:1234' }), { name: 'DigestInvalidError' })
  })

  it('accepts exactly 4 MiB and refuses one byte more with ManifestTooLargeError, before parsing', () => {
    const padded = new Uint8Array(MAX_MANIFEST_SIZE).fill(0x20) // JSON allows trailing whitespace
    padded.set(ociManifestBytes)
    assert.equal(parseManifest(padded).size, MAX_MANIFEST_SIZE)
    const over = new Uint8Array(MAX_MANIFEST_SIZE + 1).fill(0xff) // not even UTF-8: it must not get as far as parsing
    assert.throws(() => parseManifest(over), { name: 'ManifestTooLargeError' })
  })

  it('honours a smaller maxSize', () => {
    assert.throws(() => parseManifest(ociManifestBytes, { maxSize: 100 }), { name: 'ManifestTooLargeError' })
  })
})

describe('parseManifest: refused documents', () => {
  const invalid = (doc: unknown, options = {}): void => {
    assert.throws(() => parseManifest(enc(doc), options), { name: 'ManifestInvalidError' })
  }
  const digestInvalid = (doc: unknown): void => {
    assert.throws(() => parseManifest(enc(doc)), { name: 'DigestInvalidError' })
  }

  it('refuses bytes that are not a UTF-8 JSON object', () => {
    assert.throws(() => parseManifest(new TextEncoder().encode('{"schemaVersion": 2,')), { name: 'ManifestInvalidError' })
    assert.throws(() => parseManifest(new Uint8Array([0x7b, 0xff, 0x7d])), { name: 'ManifestInvalidError' })
    assert.throws(() => parseManifest(new TextEncoder().encode('[]')), { name: 'ManifestInvalidError' })
    assert.throws(() => parseManifest(new TextEncoder().encode('null')), { name: 'ManifestInvalidError' })
  })

  it('refuses a schemaVersion other than 2', () => {
    invalid(mutate(ociManifest, m => { m.schemaVersion = 3 }))
    invalid(mutate(ociManifest, m => { m.schemaVersion = '2' }))
    invalid(mutate(ociManifest, m => { delete m.schemaVersion }))
  })

  it('refuses Docker schema 1 and unknown media types with UnsupportedMediaTypeError', () => {
    const schema1 = { schemaVersion: 1, name: 'library/alpine', tag: 'latest', architecture: 'amd64', fsLayers: [], history: [] }
    assert.throws(() => parseManifest(enc(schema1)), { name: 'UnsupportedMediaTypeError' })
    assert.throws(() => parseManifest(ociManifestBytes, { mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }), { name: 'UnsupportedMediaTypeError' })
    assert.throws(() => parseManifest(ociManifestBytes, { mediaType: 'application/json' }), { name: 'UnsupportedMediaTypeError' })
    assert.throws(() => parseManifest(enc(mutate(ociManifest, m => { m.mediaType = 'application/vnd.oci.artifact.manifest.v1+json' }))), { name: 'UnsupportedMediaTypeError' })
  })

  it('refuses a document whose mediaType disagrees with the one it was given as', () => {
    invalid(ociManifest, { mediaType: MEDIA_TYPE_DOCKER_MANIFEST })
    invalid(dockerManifestList, { mediaType: MEDIA_TYPE_OCI_INDEX })
  })

  it('refuses Docker documents without their required mediaType field', () => {
    invalid(mutate(dockerManifest, m => { delete m.mediaType }), { mediaType: MEDIA_TYPE_DOCKER_MANIFEST })
    invalid(mutate(dockerManifestList, m => { delete m.mediaType }), { mediaType: MEDIA_TYPE_DOCKER_MANIFEST_LIST })
  })

  it('refuses a document with no mediaType and neither config nor manifests', () => {
    invalid({ schemaVersion: 2, layers: [] })
  })

  it('refuses ambiguous documents that carry both manifest and index fields', () => {
    invalid(mutate(ociManifest, m => { m.manifests = [] }))
    invalid(mutate(ociIndex, m => { m.layers = [] }))
    invalid(mutate(ociIndex, m => { m.config = ociManifest.config }))
  })

  it('refuses missing or mistyped config and layers', () => {
    invalid(mutate(ociManifest, m => { delete m.config }))
    invalid(mutate(ociManifest, m => { delete m.layers }))
    invalid(mutate(ociManifest, m => { m.layers = {} }))
    invalid(mutate(ociIndex, m => { delete m.manifests }))
    invalid(mutate(ociManifest, m => { m.config = [] }))
  })

  it('refuses bad descriptor sizes', () => {
    invalid(mutate(ociManifest, m => { m.layers[0].size = -1 }))
    invalid(mutate(ociManifest, m => { m.layers[0].size = 1.5 }))
    invalid(mutate(ociManifest, m => { m.layers[0].size = '1024' }))
    invalid(mutate(ociManifest, m => { m.layers[0].size = 2 ** 53 }))
    invalid(mutate(ociManifest, m => { delete m.config.size }))
  })

  it('refuses bad descriptor media types', () => {
    invalid(mutate(ociManifest, m => { delete m.layers[1].mediaType }))
    invalid(mutate(ociManifest, m => { m.layers[1].mediaType = 'tar+gzip' }))
    invalid(mutate(ociManifest, m => { m.layers[1].mediaType = 'application/vnd oci' }))
    invalid(mutate(ociManifest, m => { m.artifactType = 'not a media type' }))
  })

  it('refuses bad descriptor digests with DigestInvalidError', () => {
    digestInvalid(mutate(ociManifest, m => { delete m.layers[0].digest }))
    digestInvalid(mutate(ociManifest, m => { m.layers[0].digest = m.layers[0].digest.toUpperCase() }))
    digestInvalid(mutate(ociManifest, m => { m.config.digest = 'sha256:abcd' }))
    digestInvalid(mutate(ociIndex, m => { m.manifests[1].digest = 'md5:d41d8cd98f00b204e9800998ecf8427e' }))
  })

  it('refuses sha512 digests in Docker documents, which use sha256 only', () => {
    digestInvalid(mutate(dockerManifest, m => { m.layers[0].digest = SHA512_EMPTY }))
    digestInvalid(mutate(dockerManifestList, m => { m.manifests[0].digest = SHA512_EMPTY }))
  })

  it('refuses bad urls and annotations', () => {
    invalid(mutate(dockerManifest, m => { m.layers[0].urls = 'https://example.com/blob' }))
    invalid(mutate(dockerManifest, m => { m.layers[0].urls = ['not a url'] }))
    invalid(mutate(ociManifest, m => { m.annotations['org.opencontainers.image.version'] = 2 }))
    invalid(mutate(ociManifest, m => { m.layers[0].annotations = ['a'] }))
    invalid(mutate(ociIndex, m => { m.annotations = 'v1' }))
  })

  it('refuses platforms where they do not belong or that lack architecture or os', () => {
    invalid(mutate(ociManifest, m => { m.layers[0].platform = { architecture: 'amd64', os: 'linux' } }))
    invalid(mutate(ociIndex, m => { delete m.manifests[0].platform.os }))
    invalid(mutate(ociIndex, m => { m.manifests[1].platform.architecture = '' }))
    invalid(mutate(ociIndex, m => { m.manifests[1].platform['os.features'] = 'win32k' }))
  })

  it('requires a platform on every Docker manifest list entry, but not on an OCI index entry', () => {
    invalid(mutate(dockerManifestList, m => { delete m.manifests[2].platform }))
    assert.equal(parseManifest(enc(mutate(ociIndex, m => { delete m.manifests[2].platform }))).kind, 'index')
  })

  it('refuses an empty config without artifactType', () => {
    invalid(mutate(artifactManifest, m => { delete m.artifactType }))
  })

  it('checks embedded descriptor data against size and digest', () => {
    invalid(mutate(artifactManifest, m => { m.config.data = 'e30' })) // not padded base64
    invalid(mutate(artifactManifest, m => { m.config.data = 'e30geyB9' })) // 6 bytes, size 2
    assert.throws(() => parseManifest(enc(mutate(artifactManifest, m => { m.config.data = 'W10=' }))), { name: 'DigestMismatchError' }) // "[]"
    assert.equal(emptyDescriptor.data, Buffer.from('{}').toString('base64'))
  })

  it('refuses a bad subject', () => {
    invalid(mutate(artifactManifest, m => { m.subject = { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: m.subject.digest } }))
  })
})

describe('parseImageConfig', () => {
  it('parses an OCI image config', () => {
    const parsed = parseImageConfig(ociConfigBytes, { expectedDigest: ociManifest.config.digest })
    assert.equal(parsed.digest, ociManifest.config.digest)
    assert.equal(parsed.config.architecture, 'amd64')
    assert.deepEqual(parsed.config.config?.Entrypoint, ['/app/server'])
    assert.equal(parsed.config.rootfs.diff_ids.length, 2)
    assert.equal(parsed.config.history?.[2].empty_layer, true)
  })

  it('parses a Docker container config with null fields', () => {
    const parsed = parseImageConfig(dockerConfigBytes, { mediaType: MEDIA_TYPE_DOCKER_CONFIG })
    assert.equal(parsed.mediaType, MEDIA_TYPE_DOCKER_CONFIG)
    assert.equal(parsed.config.config?.Entrypoint, null)
    assert.deepEqual(parsed.config.config?.Cmd, ['/bin/sh'])
  })

  it('refuses a config with a different digest, or a media type that is not a config', () => {
    assert.throws(() => parseImageConfig(ociConfigBytes, { expectedDigest: SHA256_EMPTY }), { name: 'DigestMismatchError' })
    assert.throws(() => parseImageConfig(ociConfigBytes, { mediaType: MEDIA_TYPE_OCI_MANIFEST }), { name: 'UnsupportedMediaTypeError' })
  })

  it('refuses configs that break the schema', () => {
    const invalid = (doc: unknown): void => {
      assert.throws(() => parseImageConfig(enc(doc)), { name: 'ManifestInvalidError' })
    }
    invalid(mutate(ociConfig, c => { delete c.architecture }))
    invalid(mutate(ociConfig, c => { c.os = '' }))
    invalid(mutate(ociConfig, c => { delete c.rootfs }))
    invalid(mutate(ociConfig, c => { c.rootfs.type = 'layer' }))
    invalid(mutate(ociConfig, c => { c.rootfs.diff_ids = 'sha256:00' }))
    invalid(mutate(ociConfig, c => { c.created = 'June 1st' }))
    invalid(mutate(ociConfig, c => { c.config.Env = 'PATH=/bin' }))
    invalid(mutate(ociConfig, c => { c.config.ExposedPorts = { '80/tcp': true } }))
    invalid(mutate(ociConfig, c => { c.history[0].empty_layer = 'yes' }))
    invalid(mutate(ociConfig, c => { c.config.Labels = { a: 1 } }))
    assert.throws(() => parseImageConfig(enc(mutate(ociConfig, c => { c.rootfs.diff_ids[1] = 'sha256:xyz' }))), { name: 'DigestInvalidError' })
    assert.throws(() => parseImageConfig(enc(mutate(dockerConfig, c => { c.rootfs.diff_ids[0] = SHA512_EMPTY })), { mediaType: MEDIA_TYPE_DOCKER_CONFIG }), { name: 'DigestInvalidError' })
  })

  it('checkManifestConfig accepts a matching pair and refuses a layer count that differs from the diff ids', () => {
    const manifest = parseManifest(ociManifestBytes)
    assert.ok(manifest.kind === 'manifest')
    const config = parseImageConfig(ociConfigBytes)
    checkManifestConfig(manifest.manifest, config.config)
    const short = mutate(manifest.manifest, m => { m.layers.pop() })
    assert.throws(() => checkManifestConfig(short, config.config), { name: 'ManifestInvalidError' })
    const artifact = parseManifest(enc(artifactManifest))
    assert.ok(artifact.kind === 'manifest')
    assert.throws(() => checkManifestConfig(artifact.manifest, config.config), { name: 'ManifestInvalidError' })
  })
})
