/**
 * The `naming` section of config.json and private-swarm bundles: what is
 * accepted, and that each wrong value is refused with an error naming the
 * source and the field.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateSwarmKey } from '@provenir/node'
import { userIdFromKey } from '@provenir/trust'
import { dialableAddresses } from '../src/bundle.js'
import { parseBundle, validateBundle, validateRepoConfig } from '../src/index.js'

const FILE = '/home/me/.provenir/config.json'
const BUNDLE = '/tmp/lab.json'

const nodeKey = await generateKeyPair('Ed25519')
const NODE_ID = peerIdFromPrivateKey(nodeKey).toString()
const OTHER_ID = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
const USER_ID = userIdFromKey(await generateKeyPair('Ed25519'))
const RSA_ID = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'

function naming (value: unknown): ReturnType<typeof validateRepoConfig>['naming'] {
  return validateRepoConfig({ version: 1, naming: value }, FILE).naming
}

function refusesNaming (value: unknown, field: string, why: RegExp): void {
  assert.throws(() => naming(value), (err: Error) => {
    assert.equal(err.name, 'InvalidConfigError')
    assert.ok(err.message.startsWith(`${FILE}: "${field}" `), err.message)
    assert.match(err.message, why)
    return true
  })
}

function bundle (over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    name: 'lab',
    swarmKey: new TextDecoder().decode(generateSwarmKey()),
    bootstrap: [`/ip4/127.0.0.1/tcp/4101/p2p/${NODE_ID}`],
    registries: [{ id: OTHER_ID, priority: 1 }],
    defaultRegistry: NODE_ID,
    difficulty: 8,
    ...over
  }
}

function refusesBundle (value: unknown, field: string, why: RegExp): void {
  assert.throws(() => validateBundle(value, BUNDLE), (err: Error) => {
    assert.equal(err.name, 'BundleInvalidError')
    assert.ok(err.message.startsWith(`${BUNDLE}: "${field}" `), err.message)
    assert.match(err.message, why)
    return true
  })
}

describe('config.json: the naming section', () => {
  it('is validated by @provenir/naming and round-trips through the file', () => {
    const input = {
      pins: { aweiteka: USER_ID },
      registries: [NODE_ID, `/ip4/127.0.0.1/tcp/4101/p2p/${OTHER_ID}`, 'registry.example.org'],
      defaultRegistry: 'names.example.org',
      dns: { servers: ['127.0.0.1:5353', '[::1]:53', '10.0.0.1'], timeoutMs: 2000 },
      registry: { serve: true, allowClaims: false, bindings: { lab: USER_ID } },
      cacheTtlMs: 0
    }
    assert.deepEqual(naming(input), input)
    const config = validateRepoConfig({ version: 1, naming: input }, FILE)
    assert.deepEqual(validateRepoConfig(JSON.parse(JSON.stringify(config)), FILE), config)
  })

  it('refuses a wrong value, naming the file and the field', () => {
    refusesNaming('on', 'naming', /must be an object/)
    refusesNaming({ pin: {} }, 'naming.pin', /is not a known setting/)
    refusesNaming({ registries: [RSA_ID] }, 'naming.registries.0', /Ed25519 NodeId/)
    refusesNaming({ dns: { servers: ['dns.example.org:53'] } }, 'naming.dns.servers.0', /IP address/)
  })
})

describe('private-swarm bundles', () => {
  it('accepts a complete bundle and returns it canonical', () => {
    const b = bundle()
    assert.deepEqual(validateBundle(b, BUNDLE), b)
    assert.deepEqual(parseBundle(JSON.stringify(bundle({ defaultRegistry: null })), BUNDLE).defaultRegistry, null)
  })

  it('refuses what is wrong, naming the file and the field', () => {
    refusesBundle([], '(root)', /must be a JSON object/)
    refusesBundle(bundle({ extra: 1 }), 'extra', /is not a bundle field/)
    const { difficulty: _, ...noDifficulty } = bundle()
    refusesBundle(noDifficulty, 'difficulty', /is required/)
    refusesBundle(bundle({ version: 2 }), 'version', /must be 1/)
    refusesBundle(bundle({ name: '../etc' }), 'name', /letters, digits/)
    refusesBundle(bundle({ bootstrap: [] }), 'bootstrap', /non-empty array/)
    refusesBundle(bundle({ bootstrap: ['/ip4/127.0.0.1/tcp/4101'] }), 'bootstrap.0', /ending in \/p2p\/<NodeId>/)
    refusesBundle(bundle({ bootstrap: [`/ip4/127.0.0.1/tcp/1/p2p/${RSA_ID}`] }), 'bootstrap.0', /Ed25519 NodeId/)
    refusesBundle(bundle({ registries: {} }), 'registries', /must be an array/)
    refusesBundle(bundle({ registries: [{ id: 'x', priority: 0 }] }), 'registries.0.id', /Ed25519 NodeId/)
    refusesBundle(bundle({ registries: [{ id: OTHER_ID, priority: -1 }] }), 'registries.0.priority', /integer from 0/)
    refusesBundle(bundle({ registries: [{ id: OTHER_ID, priority: 0, addrs: [] }] }), 'registries.0.addrs', /not a registry field/)
    refusesBundle(bundle({ registries: [{ id: OTHER_ID, priority: 0 }, { id: OTHER_ID, priority: 1 }] }), 'registries.1.id', /a second time/)
    refusesBundle(bundle({ defaultRegistry: 'registry.example.org' }), 'defaultRegistry', /Ed25519 NodeId/)
    refusesBundle(bundle({ difficulty: 65 }), 'difficulty', /from 0 to 64/)
    // a bad swarm key: the swarm-key parser's message, with the field
    assert.throws(() => validateBundle(bundle({ swarmKey: 'not a key' }), BUNDLE), (err: Error) => {
      assert.equal(err.name, 'BundleInvalidError')
      assert.match(err.message, /\/tmp\/lab\.json: "swarmKey"/)
      return true
    })
    assert.throws(() => parseBundle('{"version":', BUNDLE), { name: 'BundleInvalidError', message: /\/tmp\/lab\.json: not valid JSON/ })
  })

  it('bootstrap addresses come from announce, else listen, without unspecified hosts or port 0', () => {
    assert.deepEqual(dialableAddresses([], ['/ip4/0.0.0.0/tcp/4101', '/ip4/127.0.0.1/tcp/0', '/ip4/10.0.0.5/tcp/4101'], NODE_ID), [`/ip4/10.0.0.5/tcp/4101/p2p/${NODE_ID}`])
    assert.deepEqual(dialableAddresses(['/dns4/a.example.org/tcp/4101'], ['/ip4/10.0.0.5/tcp/4101'], NODE_ID), [`/dns4/a.example.org/tcp/4101/p2p/${NODE_ID}`])
    assert.deepEqual(dialableAddresses([], ['/ip4/0.0.0.0/tcp/4101'], NODE_ID), [])
  })
})
