/**
 * The last step of resolution, upstream registries, with a stub of
 * `@provenir/registry-client`'s Upstreams: which references go where, the
 * order pins -> provenir registries -> upstreams, and what explain shows.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { userIdFromKey } from '@provenir/trust'
import { planResolution, summariseImageResolution } from '../src/index.js'
import { MANIFEST, ROOT, newKey } from './fixtures.js'
import { keysOf, world } from './service-fixtures.js'
import type { UpstreamNameAnswer, UpstreamNames, UpstreamResolved } from '../src/index.js'
import type { ImageRecord } from '@provenir/content'

const UP_DIGEST = `sha256:${'e'.repeat(64)}`

/** Upstreams that know `docker.io/library/small:v1` and `quay.io/org/app:1`, and record what they were asked */
function stubUpstreams (down = false): UpstreamNames & { asked: string[] } {
  const known: Record<string, string> = { 'docker.io/library/small:v1': UP_DIGEST, 'quay.io/org/app:1': UP_DIGEST }
  const hosts = ['quay.io', 'docker.io']
  const route = (name: { host?: string, path: string }): Array<{ host: string, repository: string }> =>
    name.host != null ? [{ host: name.host, repository: name.path }] : [{ host: 'docker.io', repository: name.path.includes('/') ? name.path : `library/${name.path}` }]
  const one = (host: string, repository: string, reference: string): UpstreamNameAnswer => {
    if (down) return { host, repository, error: Object.assign(new Error(`registry ${host} cannot be reached`), { name: 'UpstreamUnavailableError' }) }
    const digest = known[`${host}/${repository}:${reference}`]
    if (digest == null) return { host, repository, error: Object.assign(new Error(`registry ${host} has no ${repository}:${reference}`), { name: 'UpstreamNotFoundError' }) }
    const resolved: UpstreamResolved = { host, repository, tag: reference, digest, endpoint: `https://${host}/`, from: 'upstream' }
    return { host, repository, resolved }
  }
  const asked: string[] = []
  return {
    asked,
    has: (host) => hosts.includes(host),
    async resolve (name, reference) {
      const answers = route(name).map(t => { asked.push(`${t.host}/${t.repository}:${reference}`); return one(t.host, t.repository, reference) })
      const found = answers.find(a => a.resolved != null)?.resolved
      if (found == null) throw answers[0].error as Error
      return found
    },
    async explain (name, reference) {
      return route(name).map(t => { asked.push(`${t.host}/${t.repository}:${reference}`); return one(t.host, t.repository, reference) })
    }
  }
}

describe('planning a resolution', () => {
  const up = { has: (host: string) => host === 'docker.io' || host === 'quay.io' }
  it('sends a configured host upstream alone, a provenir name to provenir then upstream, anything else upstream', () => {
    assert.deepEqual(planResolution('docker.io/library/small:v1', up), { upstream: { name: { host: 'docker.io', path: 'library/small', tag: 'v1' }, reference: 'v1' } })
    const plan = planResolution('library/small', up)
    assert.equal(plan.provenir?.namespace, 'library')
    assert.deepEqual(plan.upstream, { name: { path: 'library/small' }, reference: 'latest' })
    assert.deepEqual(planResolution('alpine@sha256:' + 'a'.repeat(64), up).upstream?.reference, 'sha256:' + 'a'.repeat(64))
    assert.equal(planResolution('registry.example.org/acme/app:v1', up).upstream, undefined, 'a provenir domain registry is not an upstream')
    assert.equal(planResolution('127.0.0.1:5590/library/small:v1', up).upstream?.name.host, '127.0.0.1:5590', 'an unconfigured host is the upstreams\' to refuse')
    assert.throws(() => planResolution('alpine', undefined), { name: 'ReferenceInvalidError' }, 'without upstreams only provenir names parse')
  })
})

describe('resolving through upstream registries', () => {
  it('asks the upstreams for a name no provenir source knows, and says why provenir did not answer', async () => {
    const upstream = stubUpstreams()
    const w = world(await newKey(), [], { upstream })
    const names = await w.start()
    try {
      const res = await names.resolveImage('library/small:v1')
      assert.equal(res.upstream?.digest, UP_DIGEST)
      assert.equal(res.provenirError?.name, 'NameNotFoundError')
      assert.deepEqual(upstream.asked, ['docker.io/library/small:v1'])
      const summary = summariseImageResolution(res)
      assert.equal(summary.kind, 'upstream')
      assert.deepEqual(summary.kind === 'upstream' && [summary.host, summary.repository, summary.manifestDigest, summary.provenir?.name], ['docker.io', 'library/small', UP_DIGEST, 'NameNotFoundError'])
      // one word, Docker Hub's library/
      await assert.rejects(names.resolveImage('alpine'), { name: 'UpstreamNotFoundError', message: /docker\.io has no library\/alpine:latest/ })
    } finally {
      await names.stop()
    }
  })

  it('sends a configured host to its registry alone: no provenir source is asked', async () => {
    const upstream = stubUpstreams()
    const w = world(await newKey(), [], { upstream })
    const names = await w.start({ pins: {} })
    try {
      const res = await names.resolveImage('quay.io/org/app:1')
      assert.deepEqual([res.upstream?.host, res.upstream?.repository, res.provenirError], ['quay.io', 'org/app', undefined])
      assert.equal(w.dht.gets, 0)
    } finally {
      await names.stop()
    }
  })

  it('lets a provenir name win over the upstreams: pins first', async () => {
    const acme = await newKey()
    const image: ImageRecord = {
      manifestDigest: MANIFEST as ImageRecord['manifestDigest'],
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      tags: ['small:v1'],
      blobs: [{ digest: MANIFEST as ImageRecord['manifestDigest'], size: 10, root: ROOT, mediaType: 'application/vnd.oci.image.manifest.v1+json' }]
    }
    const upstream = stubUpstreams()
    const w = world(await newKey(), [image], { upstream })
    const names = await w.start({ keys: keysOf({ acme }), pins: { library: userIdFromKey(acme) } })
    try {
      await names.publish({ repo: 'small' })
      const res = await names.resolveImage('library/small:v1')
      assert.equal(res.provenir?.resolution.manifestDigest, MANIFEST)
      assert.deepEqual(upstream.asked, [], 'the upstreams are not asked when provenir answers')
      // explain asks every source and shows the upstream's answer too
      const explained = summariseImageResolution(await names.resolveImage('library/small:v1', { explain: true }))
      assert.deepEqual(explained.answers?.map(a => [a.kind, a.winner, a.userId ?? a.digest]), [['pin', true, userIdFromKey(acme)], ['upstream', false, UP_DIGEST]])
    } finally {
      await names.stop()
    }
  })

  it('explains a name provenir does not know: every provenir answer, then every upstream\'s, the upstream winning', async () => {
    const w = world(await newKey(), [], { upstream: stubUpstreams() })
    const names = await w.start()
    try {
      const summary = summariseImageResolution(await names.resolveImage('library/small:v1', { explain: true }))
      assert.deepEqual(summary.answers?.map(a => [a.kind, a.winner, a.digest]), [['upstream', true, UP_DIGEST]])
    } finally {
      await names.stop()
    }
  })

  it('fails naming both kinds of source when neither knows, as the upstream\'s error', async () => {
    const upstream = stubUpstreams(true)
    const w = world(await newKey(), [], { upstream })
    const names = await w.start()
    try {
      await assert.rejects(names.resolveImage('library/small:v1'), (err: Error) => {
        assert.equal(err.name, 'UpstreamUnavailableError')
        assert.match(err.message, /no pin or registry knows the name library; then registry docker\.io cannot be reached/)
        return true
      })
      // a UserId namespace names a key, never a registry path: no fall-through
      const owner = userIdFromKey(await newKey())
      const asked = upstream.asked.length
      await assert.rejects(names.resolveImage(`${owner}/small:v1`), (err: Error) => !err.name.startsWith('Upstream'))
      assert.equal(upstream.asked.length, asked)
    } finally {
      await names.stop()
    }
  })
})
