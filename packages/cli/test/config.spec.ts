import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEFAULT_CONFIG } from '@provenir/node'
import { createRepoConfig, formatApiAddress, parseApiAddress, serializeConfig, validateRepoConfig } from '../src/index.js'

const FILE = '/home/me/.provenir/config.json'

function rejects (input: unknown, ...mentions: string[]): void {
  assert.throws(() => validateRepoConfig(input, FILE), (err: Error) => {
    assert.equal(err.name, 'InvalidConfigError')
    assert.ok(err.message.startsWith(`${FILE}: `), err.message)
    for (const m of mentions) assert.ok(err.message.includes(m), `${err.message} names ${m}`)
    return true
  })
}

describe('config.json validation', () => {
  it('fills the defaults', () => {
    const config = validateRepoConfig({ version: 1 }, FILE)
    assert.deepEqual(config, {
      version: 1,
      node: DEFAULT_CONFIG,
      api: '127.0.0.1:5101',
      gateway: { listen: '127.0.0.1:5000', requireTokenOnLoopback: false, signingKey: 'self' },
      naming: { pins: {}, registries: [], defaultRegistry: null, dns: { servers: [], timeoutMs: 5000 }, registry: { serve: false, allowClaims: true, bindings: {} }, cacheTtlMs: 30000 },
      upstream: { registries: [], dockerHub: true, tagTtlMs: 300000 }
    })
    assert.deepEqual(createRepoConfig(), config)
  })

  it('validates the gateway section, naming the field', () => {
    assert.equal(validateRepoConfig({ version: 1, gateway: { listen: null } }, FILE).gateway.listen, null)
    assert.equal(validateRepoConfig({ version: 1, gateway: { signingKey: null } }, FILE).gateway.signingKey, null)
    assert.equal(validateRepoConfig({ version: 1, gateway: { signingKey: 'release' } }, FILE).gateway.signingKey, 'release')
    const token = 'a-token-of-enough-length'
    assert.deepEqual(validateRepoConfig({ version: 1, gateway: { listen: '0.0.0.0:5000', token } }, FILE).gateway, { listen: '0.0.0.0:5000', token, requireTokenOnLoopback: false, signingKey: 'self' })
    const bad: Array<[unknown, RegExp]> = [
      [{ listen: '0.0.0.0:5000' }, /"gateway\.listen" is not a loopback address \(0\.0\.0\.0\), so "gateway\.token" is required/],
      [{ listen: 'nowhere' }, /"gateway\.listen" must be "host:port"/],
      [{ token: 'short' }, /"gateway\.token" must be 16 to 512 printable ASCII characters/],
      [{ requireTokenOnLoopback: true }, /"gateway\.requireTokenOnLoopback" needs "gateway\.token"/],
      [{ port: 5000 }, /"gateway\.port" is not a known gateway setting/],
      [{ signingKey: '../self' }, /"gateway\.signingKey" must be the name of a keystore key/],
      ['on', /"gateway" must be an object/]
    ]
    for (const [gateway, message] of bad) {
      assert.throws(() => validateRepoConfig({ version: 1, gateway }, FILE), (err: Error) => {
        assert.equal(err.name, 'InvalidConfigError')
        assert.match(err.message, message)
        return true
      })
    }
  })

  it('round-trips what it writes', () => {
    const config = createRepoConfig({ node: { listen: ['/ip4/127.0.0.1/tcp/0'], difficulty: 4 }, api: '127.0.0.1:0' })
    assert.deepEqual(validateRepoConfig(JSON.parse(JSON.stringify(config)), FILE), config)
  })

  it('refuses what is wrong, naming the file and the field', () => {
    rejects([], '(root)')
    rejects(null, '(root)')
    rejects({ version: 1, extra: true }, '"extra"')
    rejects({ node: {} }, '"version"')
    rejects({ version: '1' }, '"version"')
    rejects({ version: 1, node: [] }, '"node"')
    rejects({ version: 1, node: { nope: 1 } }, '"node.nope"')
    rejects({ version: 1, node: { dht: { clientmode: true } } }, '"node.dht.clientmode"')
    rejects({ version: 1, node: { maxConnections: 0 } }, '"node.maxConnections"')
    rejects({ version: 1, node: { transports: ['udp'] } }, '"node.transports"')
    rejects({ version: 1, api: '127.0.0.1' }, '"api"')
    rejects({ version: 1, api: 'example.com:80' }, '"api"', 'IP address')
    rejects({ version: 1, api: '127.0.0.1:70000' }, '"api"', '65535')
  })

  it('validates the upstream section, naming the file and the field, and round-trips it as written', () => {
    const upstream = { registries: [{ host: 'quay.io', credentials: { authFile: '/etc/provenir/auth.json' } }, { host: '127.0.0.1:5590', ca: 'ca.pem', unqualified: true }], dockerHub: false, tagTtlMs: 1000 }
    const config = validateRepoConfig({ version: 1, upstream }, FILE)
    assert.deepEqual(config.upstream, {
      registries: [
        { host: 'quay.io', endpoints: ['https://quay.io'], credentials: { authFile: '/etc/provenir/auth.json' }, unqualified: false },
        { host: '127.0.0.1:5590', endpoints: ['https://127.0.0.1:5590'], ca: 'ca.pem', unqualified: true }
      ],
      dockerHub: false,
      tagTtlMs: 1000
    })
    assert.deepEqual(validateRepoConfig(JSON.parse(serializeConfig(config)), FILE), config)
    rejects({ version: 1, upstream: { registries: [{ host: 'quay.io', endpoint: 'x' }] } }, '"upstream.registries.0.endpoint"')
    rejects({ version: 1, upstream: { dockerhub: false } }, '"upstream.dockerhub"')
  })

  it('parses and formats API addresses', () => {
    assert.deepEqual(parseApiAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 })
    assert.deepEqual(parseApiAddress('[::1]:5101'), { host: '::1', port: 5101 })
    assert.deepEqual(parseApiAddress('localhost:80'), { host: 'localhost', port: 80 })
    assert.equal(formatApiAddress({ host: '::1', port: 5101 }), '[::1]:5101')
    assert.equal(formatApiAddress({ host: '127.0.0.1', port: 1 }), '127.0.0.1:1')
    assert.throws(() => parseApiAddress('::1:5101'), { name: 'InvalidConfigError' })
  })
})
