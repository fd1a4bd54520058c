import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatPlatform, hostPlatform, parsePlatform } from '@provenir/interface'
import { platformsOf, selectPlatform } from '../src/platform.js'
import type { ImageIndex } from '../src/oci.js'

const entry = (digest: string, platform?: { os: string, architecture: string, variant?: string }): ImageIndex['manifests'][number] =>
  ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${digest.repeat(64)}`, size: 500, ...(platform != null ? { platform } : {}) })

const index: ImageIndex = {
  schemaVersion: 2,
  manifests: [
    entry('a', { os: 'linux', architecture: 'amd64' }),
    entry('b', { os: 'linux', architecture: 'arm', variant: 'v7' }),
    entry('c', { os: 'linux', architecture: 'arm64' }),
    entry('d'),
    entry('e', { os: 'windows', architecture: 'amd64' })
  ]
}

describe('platforms', () => {
  it('parses os/architecture[/variant] and formats it back', () => {
    assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' })
    assert.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' })
    assert.equal(formatPlatform(parsePlatform('linux/arm64/v8')), 'linux/arm64/v8')
    for (const bad of ['', 'linux', 'linux/', '/amd64', 'Linux/AMD64', 'linux/amd64/v8/x', 'linux amd64', 'a/'.repeat(100)]) {
      assert.throws(() => parsePlatform(bad), { name: 'InvalidParametersError' }, bad)
    }
  })

  it('names the host as image indexes do', () => {
    const host = hostPlatform()
    assert.equal(host.os, process.platform)
    if (process.arch === 'x64') assert.equal(host.architecture, 'amd64')
    assert.doesNotThrow(() => parsePlatform(formatPlatform(host)))
  })

  it('selects the first manifest for os and architecture, and the variant when one is asked for', () => {
    assert.equal(selectPlatform(index, parsePlatform('linux/amd64'))?.digest, index.manifests[0].digest)
    assert.equal(selectPlatform(index, parsePlatform('windows/amd64'))?.digest, index.manifests[4].digest)
    assert.equal(selectPlatform(index, parsePlatform('linux/arm'))?.digest, index.manifests[1].digest)
    assert.equal(selectPlatform(index, parsePlatform('linux/arm/v7'))?.digest, index.manifests[1].digest)
    assert.equal(selectPlatform(index, parsePlatform('linux/arm/v6')), undefined)
    // arm64 without a variant is v8
    assert.equal(selectPlatform(index, parsePlatform('linux/arm64/v8'))?.digest, index.manifests[2].digest)
    assert.equal(selectPlatform(index, parsePlatform('linux/s390x')), undefined)
    assert.equal(platformsOf(index), 'linux/amd64, linux/arm/v7, linux/arm64, windows/amd64')
    assert.equal(platformsOf({ schemaVersion: 2, manifests: [entry('d')] }), 'none named')
  })
})
