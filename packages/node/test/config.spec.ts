import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEFAULT_CONFIG, validateConfig } from '../src/index.js'

describe('validateConfig', () => {
  it('fills every field from the defaults', () => {
    assert.deepEqual(validateConfig({}), DEFAULT_CONFIG)
    assert.deepEqual(validateConfig(undefined), DEFAULT_CONFIG)
  })

  it('keeps valid settings', () => {
    const c = validateConfig({ difficulty: 12, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true, dht: { clientMode: true } })
    assert.equal(c.difficulty, 12)
    assert.deepEqual(c.listen, ['/ip4/127.0.0.1/tcp/0'])
    assert.equal(c.allowPrivateAddresses, true)
    assert.equal(c.dht.clientMode, true)
    assert.equal(c.dht.kBucketSize, DEFAULT_CONFIG.dht.kBucketSize)
  })

  const bad: Array<[string, unknown, RegExp]> = [
    ['an unknown field', { difficulty: 4, listn: [] }, /"listn" is not a known node setting/],
    ['an unknown DHT field', { dht: { client: true } }, /"dht.client" is not a known DHT setting/],
    ['a negative difficulty', { difficulty: -1 }, /"difficulty" must be an integer from 0 to 64/],
    ['a fractional difficulty', { difficulty: 1.5 }, /"difficulty"/],
    ['a difficulty as a string', { difficulty: '8' }, /"difficulty"/],
    ['listen as a string', { listen: '/ip4/0.0.0.0/tcp/1' }, /"listen" must be an array/],
    ['a bad multiaddr', { listen: ['not a multiaddr'] }, /"listen\[0\]".*not a valid multiaddr/],
    ['a bootstrap peer without /p2p/', { bootstrap: ['/ip4/1.2.3.4/tcp/4101'] }, /"bootstrap\[0\]".*must end in \/p2p\//],
    ['an unknown transport', { transports: ['quic'] }, /"transports"/],
    ['an unknown encryption', { encryption: ['plaintext'] }, /"encryption" must be a non-empty array of "tls" and\/or "noise"/],
    ['no encryption at all', { encryption: [] }, /"encryption"/],
    ['a non-boolean flag', { allowPrivateAddresses: 'yes' }, /"allowPrivateAddresses" must be true or false/],
    ['a root that is not an object', [1, 2], /\(root\)/]
  ]
  for (const [what, input, message] of bad) {
    it(`refuses ${what} with an error naming the field`, () => {
      assert.throws(() => validateConfig(input, '/tmp/x/config.json'), (err: Error) => {
        assert.equal(err.name, 'InvalidConfigError')
        assert.match(err.message, /^\/tmp\/x\/config\.json: /)
        assert.match(err.message, message)
        return true
      })
    })
  }
})
