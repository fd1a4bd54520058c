import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEFAULT_CONFIG } from '@provenir/node'
import { createRepoConfig, formatApiAddress, parseApiAddress, serializeConfig, validateRepoConfig } from '../src/index.js'

const FILE = '/home/me/.provenir/config.json'
const TLS_DEFAULT = { enabled: 'auto', cert: null, key: null, ca: null }

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
      apiTls: TLS_DEFAULT,
      gateway: { listen: '127.0.0.1:5000', requireTokenOnLoopback: false, signingKey: 'self', tls: TLS_DEFAULT },
      naming: { pins: {}, registries: [], defaultRegistry: null, dns: { servers: [], timeoutMs: 5000 }, registry: { serve: false, allowClaims: true, bindings: {} }, cacheTtlMs: 30000 },
      storage: { maxSize: null, highWatermark: 0.9, lowWatermark: 0.8 },
      upstream: { registries: [], dockerHub: true, tagTtlMs: 300000 }
    })
    assert.deepEqual(createRepoConfig(), config)
  })

  it('validates the storage section, naming the field; a size may carry a unit', () => {
    assert.deepEqual(validateRepoConfig({ version: 1, storage: { maxSize: '20GB', lowWatermark: 0.5 } }, FILE).storage, { maxSize: 20e9, highWatermark: 0.9, lowWatermark: 0.5 })
    assert.throws(() => validateRepoConfig({ version: 1, storage: { maxSize: 'lots' } }, FILE), (err: Error) => err.name === 'InvalidConfigError' && err.message.includes('"storage.maxSize"'))
    assert.throws(() => validateRepoConfig({ version: 1, storage: { highWatermark: 0.5, lowWatermark: 0.7 } }, FILE), (err: Error) => err.name === 'InvalidConfigError' && err.message.includes('"storage.lowWatermark"'))
  })

  it('validates the gateway section, naming the field', () => {
    assert.equal(validateRepoConfig({ version: 1, gateway: { listen: null } }, FILE).gateway.listen, null)
    assert.equal(validateRepoConfig({ version: 1, gateway: { signingKey: null } }, FILE).gateway.signingKey, null)
    assert.equal(validateRepoConfig({ version: 1, gateway: { signingKey: 'release' } }, FILE).gateway.signingKey, 'release')
    const token = 'a-token-of-enough-length'
    assert.deepEqual(validateRepoConfig({ version: 1, gateway: { listen: '0.0.0.0:5000', token } }, FILE).gateway, { listen: '0.0.0.0:5000', token, requireTokenOnLoopback: false, signingKey: 'self', tls: TLS_DEFAULT })
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

  it('validates the TLS sections (gateway.tls, apiTls), naming the field', () => {
    const tls = { enabled: true, cert: 'certs/gw.crt', key: '/etc/provenir/gw.key', ca: 'certs/ca.crt' }
    assert.deepEqual(validateRepoConfig({ version: 1, gateway: { tls } }, FILE).gateway.tls, tls)
    assert.deepEqual(validateRepoConfig({ version: 1, apiTls: { enabled: false } }, FILE).apiTls, { ...TLS_DEFAULT, enabled: false })
    const token = 'a-token-of-enough-length'
    const bad: Array<[object, RegExp]> = [
      [{ gateway: { tls: { enabled: 'yes' } } }, /"gateway\.tls\.enabled" must be "auto", true or false/],
      [{ gateway: { tls: { cert: 'a.crt' } } }, /"gateway\.tls\.key" must be set with "gateway\.tls\.cert"/],
      [{ gateway: { tls: { key: 'a.key' } } }, /"gateway\.tls\.cert" must be set with "gateway\.tls\.key"/],
      [{ gateway: { tls: { ca: 'ca.crt' } } }, /"gateway\.tls\.ca" is for a configured "gateway\.tls\.cert"/],
      [{ gateway: { tls: { cert: '', key: 'a.key' } } }, /"gateway\.tls\.cert" must be a file path/],
      [{ gateway: { tls: { certificate: 'a' } } }, /"gateway\.tls\.certificate" is not a known TLS setting/],
      [{ gateway: { tls: 'on' } }, /"gateway\.tls" must be an object/],
      [{ gateway: { listen: '0.0.0.0:5000', token, tls: { enabled: false } } }, /"gateway\.tls\.enabled" is false but the server listens beyond loopback \(0\.0\.0\.0\)/],
      [{ api: '0.0.0.0:5101', apiTls: { enabled: false } }, /"apiTls\.enabled" is false but the server listens beyond loopback/],
      [{ apiTls: { cert: 'x'.repeat(5000), key: 'k' } }, /"apiTls\.cert" must be a file path \(1 to 4096 characters\)/]
    ]
    for (const [input, message] of bad) {
      assert.throws(() => validateRepoConfig({ version: 1, ...input }, FILE), (err: Error) => {
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
