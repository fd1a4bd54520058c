import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { effectiveRegistries, parseChallenges, parseReferrers, parseTokenResponse, validateUpstreamConfig, Upstreams } from '../src/index.js'

describe('WWW-Authenticate', () => {
  it('parses bearer and basic challenges, quoted values with escapes and commas', () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } }
    ])
    assert.deepEqual(parseChallenges('Basic realm="a \\"quoted\\", realm", Bearer realm="https://x/t",scope="repository:a:pull,push"'), [
      { scheme: 'basic', params: { realm: 'a "quoted", realm' } },
      { scheme: 'bearer', params: { realm: 'https://x/t', scope: 'repository:a:pull,push' } }
    ])
    assert.deepEqual(parseChallenges(['Basic realm=plain']), [{ scheme: 'basic', params: { realm: 'plain' } }])
    assert.deepEqual(parseChallenges(undefined), [])
    assert.deepEqual(parseChallenges('Bearer realm="unterminated'), [{ scheme: 'bearer', params: {} }])
  })
})

describe('token responses', () => {
  const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
  it('takes token or access_token, with the spec\'s 60 s floor', () => {
    assert.deepEqual(parseTokenResponse(enc({ token: 'abc', expires_in: 300 }), 'r'), { token: 'abc', lifetimeS: 300 })
    assert.deepEqual(parseTokenResponse(enc({ access_token: 'def', expires_in: 5 }), 'r'), { token: 'def', lifetimeS: 60 })
    assert.throws(() => parseTokenResponse(enc({}), 'r'), { name: 'UpstreamResponseError' })
    assert.throws(() => parseTokenResponse(enc({ token: 'a\r\nX-Injected: 1' }), 'r'), { name: 'UpstreamResponseError' })
    assert.throws(() => parseTokenResponse(new TextEncoder().encode('<html>'), 'r'), { name: 'UpstreamResponseError' })
  })
})

describe('referrers lists', () => {
  it('keeps well-formed descriptors only', () => {
    const good = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'b'.repeat(64)}`, size: 10, artifactType: 'x/y' }
    const list = parseReferrers(new TextEncoder().encode(JSON.stringify({ manifests: [good, { digest: 'nope' }, null] })), 'r')
    assert.deepEqual(list, [good])
    assert.throws(() => parseReferrers(new TextEncoder().encode('{}'), 'r'), { name: 'UpstreamResponseError' })
  })
})

describe('upstream config', () => {
  it('defaults to Docker Hub alone, last, for names without a host', () => {
    assert.deepEqual(validateUpstreamConfig(undefined), { registries: [], dockerHub: true, tagTtlMs: 300_000 })
    assert.deepEqual(effectiveRegistries(validateUpstreamConfig(undefined)), [{ host: 'docker.io', endpoints: ['https://registry-1.docker.io'], unqualified: true }])
    const cfg = validateUpstreamConfig({ registries: [{ host: 'quay.io' }, { host: 'Registry.Example.org:5000', endpoints: ['https://m.example.org/', 'http://10.0.0.1:5000'], unqualified: true }] })
    assert.deepEqual(effectiveRegistries(cfg).map(r => [r.host, r.endpoints, r.unqualified]), [
      ['quay.io', ['https://quay.io'], false],
      ['registry.example.org:5000', ['https://m.example.org', 'http://10.0.0.1:5000'], true],
      ['docker.io', ['https://registry-1.docker.io'], true]
    ])
    assert.deepEqual(effectiveRegistries(validateUpstreamConfig({ dockerHub: false })), [])
    const hub = validateUpstreamConfig({ registries: [{ host: 'index.docker.io', endpoints: ['https://mirror.example.org'] }] })
    assert.deepEqual(effectiveRegistries(hub), [{ host: 'docker.io', endpoints: ['https://mirror.example.org'], unqualified: true }], 'a configured Docker Hub is not added twice')
  })

  it('refuses bad fields, naming them, and never echoes a password', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ registrys: [] }, /"upstream.registrys" is not a known setting/],
      [{ registries: [{ host: 'bad host' }] }, /"upstream.registries.0.host"/],
      [{ registries: [{ host: 'a.io' }, { host: 'A.io' }] }, /"upstream.registries.1.host" names a.io a second time/],
      [{ registries: [{ host: 'a.io', endpoints: ['ftp://a.io'] }] }, /"upstream.registries.0.endpoints.0" must be an http\(s\) URL/],
      [{ registries: [{ host: 'a.io', endpoints: ['https://u:p@a.io'] }] }, /must not hold credentials/],
      [{ registries: [{ host: 'a.io', credentials: { username: 'u' } }] }, /exactly one of/],
      [{ registries: [{ host: 'a.io', credentials: { helper: 'a b' } }] }, /helper name/],
      [{ registries: [{ host: 'a.io', unqualified: 'yes' }] }, /"upstream.registries.0.unqualified" must be true or false/],
      [{ tagTtlMs: -1 }, /"upstream.tagTtlMs"/]
    ]
    for (const [input, message] of cases) assert.throws(() => validateUpstreamConfig(input, 'config.json'), { name: 'InvalidConfigError', message }, JSON.stringify(input))
    assert.throws(() => validateUpstreamConfig({ registries: [{ host: 'a.io', credentials: { username: 'u', password: 'sekrit-pw', extra: 1 } }] }), (err: Error) => {
      assert.doesNotMatch(err.message, /sekrit-pw/)
      return true
    })
  })
})

describe('routing names to upstreams', () => {
  it('sends a host to its registry and a name without one to the unqualified registries, Docker Hub\'s under library/', async () => {
    const upstreams = await Upstreams.create(validateUpstreamConfig({ registries: [{ host: 'quay.io', unqualified: true }, { host: 'ghcr.io' }] }))
    try {
      const route = (name: { host?: string, path: string }): string[] => upstreams.route(name).map(t => `${t.registry.host}/${t.repository}`)
      assert.deepEqual(route({ host: 'quay.io', path: 'org/app' }), ['quay.io/org/app'])
      assert.deepEqual(route({ host: 'index.docker.io', path: 'alpine' }), ['docker.io/library/alpine'])
      assert.deepEqual(route({ path: 'alpine' }), ['quay.io/alpine', 'docker.io/library/alpine'])
      assert.deepEqual(route({ path: 'org/app' }), ['quay.io/org/app', 'docker.io/org/app'])
      assert.throws(() => upstreams.route({ host: 'example.org', path: 'a' }), { name: 'UpstreamNotConfiguredError', message: /no upstream registry is configured for example\.org.*configured: quay\.io, ghcr\.io, docker\.io/ })
    } finally {
      await upstreams.close()
    }
  })

  it('refuses a CA file that holds no certificate, naming the field', async () => {
    await assert.rejects(Upstreams.create(validateUpstreamConfig({ registries: [{ host: 'a.io', ca: '/nonexistent/ca.pem' }] })), {
      name: 'InvalidConfigError', message: /upstream\.registries\.0\.ca: cannot read \/nonexistent\/ca\.pem/
    })
  })
})
