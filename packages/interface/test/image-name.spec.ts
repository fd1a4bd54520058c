import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { canonicalHost, formatImageName, hostOfMirrorPrefix, isRegistryHost, mirrorPrefix, parseImageName, repositoryOnHost } from '../src/index.js'

const DIGEST = `sha256:${'a'.repeat(64)}`

describe('image names', () => {
  it('tells a registry host from a path component by Docker\'s rule', () => {
    assert.deepEqual(parseImageName('quay.io/org/app:1'), { host: 'quay.io', path: 'org/app', tag: '1' })
    assert.deepEqual(parseImageName('127.0.0.1:5590/library/small:v1'), { host: '127.0.0.1:5590', path: 'library/small', tag: 'v1' })
    assert.deepEqual(parseImageName('localhost/app'), { host: 'localhost', path: 'app' })
    assert.deepEqual(parseImageName('[::1]:5000/app@' + DIGEST), { host: '[::1]:5000', path: 'app', digest: DIGEST })
    assert.deepEqual(parseImageName('docker.io/library/small:v1'), { host: 'docker.io', path: 'library/small', tag: 'v1' })
    assert.deepEqual(parseImageName('alpine'), { path: 'alpine' })
    assert.deepEqual(parseImageName('library/alpine:3.20'), { path: 'library/alpine', tag: '3.20' })
    assert.deepEqual(parseImageName('org/team/app:1@' + DIGEST), { path: 'org/team/app', tag: '1', digest: DIGEST })
  })

  it('refuses what no registry accepts, naming the part', () => {
    assert.throws(() => parseImageName(''), { name: 'InvalidParametersError' })
    assert.throws(() => parseImageName('Alpine'), { name: 'InvalidParametersError', message: /repository path/ })
    assert.throws(() => parseImageName('quay.io/Org/app'), { name: 'InvalidParametersError', message: /repository path/ })
    assert.throws(() => parseImageName('app:bad tag'), { name: 'InvalidParametersError', message: /not a tag/ })
    assert.throws(() => parseImageName('app@sha256:12'), { name: 'InvalidParametersError', message: /not a digest/ })
    assert.throws(() => parseImageName('host:99999/app'), { name: 'InvalidParametersError', message: /registry host/ })
    assert.throws(() => parseImageName(`quay.io/${'a'.repeat(260)}`), { name: 'InvalidParametersError' })
  })

  it('normalises Docker Hub as Docker does', () => {
    assert.equal(canonicalHost('index.docker.io'), 'docker.io')
    assert.equal(canonicalHost('Docker.IO'), 'docker.io')
    assert.equal(canonicalHost('quay.io'), 'quay.io')
    assert.equal(repositoryOnHost('docker.io', 'alpine'), 'library/alpine')
    assert.equal(repositoryOnHost('index.docker.io', 'org/app'), 'org/app')
    assert.equal(repositoryOnHost('quay.io', 'alpine'), 'alpine')
    assert.ok(isRegistryHost('registry.example.org:5000'))
    assert.ok(!isRegistryHost('exa mple.org'))
    assert.equal(formatImageName({ host: 'quay.io', path: 'org/app', tag: '1', digest: DIGEST }), `quay.io/org/app:1@${DIGEST}`)
  })

  it('writes a host as a mirror path prefix and reads it back', () => {
    assert.equal(mirrorPrefix('docker.io'), 'docker.io')
    assert.equal(mirrorPrefix('index.docker.io'), 'docker.io')
    assert.equal(mirrorPrefix('127.0.0.1:5590'), '127.0.0.1_5590')
    assert.equal(mirrorPrefix('[::1]:5000'), undefined)
    assert.equal(hostOfMirrorPrefix('127.0.0.1_5590'), '127.0.0.1:5590')
    assert.equal(hostOfMirrorPrefix('quay.io'), 'quay.io')
    assert.equal(hostOfMirrorPrefix('library'), undefined)
    assert.ok(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(mirrorPrefix('registry.example.org:5000') ?? ''), 'a valid path component')
  })
})
