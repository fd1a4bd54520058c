/**
 * The naming config (a daemon's `naming` section) and the service's helpers:
 * what is accepted, that each wrong value is refused with an error naming
 * the source and the field, registry specs, tags of recorded names, and the
 * resolution cache.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { userIdFromKey } from '@provenir/trust'
import { ResolutionCache, parseRegistrySpec, tagFor, validateNamingConfig } from '../src/index.js'
import type { Resolution } from '../src/index.js'

const FILE = '/home/me/.provenir/config.json'

const nodeKey = await generateKeyPair('Ed25519')
const NODE_ID = peerIdFromPrivateKey(nodeKey).toString()
const OTHER_ID = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
const USER_ID = userIdFromKey(await generateKeyPair('Ed25519'))
const RSA_ID = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'

function naming (value: unknown): ReturnType<typeof validateNamingConfig> {
  return validateNamingConfig(value, FILE)
}

function refusesNaming (value: unknown, field: string, why: RegExp): void {
  assert.throws(() => naming(value), (err: Error) => {
    assert.equal(err.name, 'InvalidConfigError')
    assert.ok(err.message.startsWith(`${FILE}: "${field}" `), err.message)
    assert.match(err.message, why)
    return true
  })
}

describe('validateNamingConfig (a daemon\'s naming section)', () => {
  it('accepts every registry form, pins, DNS servers and the registry service, and keeps them as written', () => {
    const input = {
      pins: { aweiteka: USER_ID },
      registries: [NODE_ID, `/ip4/127.0.0.1/tcp/4101/p2p/${OTHER_ID}`, 'registry.example.org'],
      defaultRegistry: 'names.example.org',
      dns: { servers: ['127.0.0.1:5353', '[::1]:53', '10.0.0.1'], timeoutMs: 2000 },
      registry: { serve: true, allowClaims: false, bindings: { lab: USER_ID } },
      cacheTtlMs: 0
    }
    assert.deepEqual(naming(input), input)
    // and it round-trips through JSON
    assert.deepEqual(naming(JSON.parse(JSON.stringify(naming(input)))), input)
  })

  it('parses registry specs into NodeId (with addresses) or domain', () => {
    assert.deepEqual(parseRegistrySpec(NODE_ID), { kind: 'node', nodeId: NODE_ID, addrs: [] })
    const ma = `/ip4/127.0.0.1/tcp/4101/p2p/${NODE_ID}`
    assert.deepEqual(parseRegistrySpec(ma), { kind: 'node', nodeId: NODE_ID, addrs: [ma] })
    assert.deepEqual(parseRegistrySpec('registry.example.org'), { kind: 'domain', domain: 'registry.example.org' })
  })

  it('refuses each wrong value, naming the field', () => {
    refusesNaming('on', 'naming', /must be an object/)
    refusesNaming({ pin: {} }, 'naming.pin', /is not a known setting/)
    refusesNaming({ pins: { Bad_Name: USER_ID } }, 'naming.pins.Bad_Name', /is not a link name/)
    refusesNaming({ pins: { good: NODE_ID } }, 'naming.pins.good', /must be a UserId/)
    refusesNaming({ registries: NODE_ID }, 'naming.registries', /must be an array/)
    refusesNaming({ registries: ['not a registry'] }, 'naming.registries.0', /NodeId.*multiaddr.*domain/)
    refusesNaming({ registries: [RSA_ID] }, 'naming.registries.0', /Ed25519 NodeId/)
    refusesNaming({ registries: ['/ip4/127.0.0.1/tcp/4101'] }, 'naming.registries.0', /must end in \/p2p\/<Ed25519 NodeId>/)
    refusesNaming({ registries: ['/ip4/999.0.0.1/tcp/1'] }, 'naming.registries.0', /not a valid multiaddr/)
    refusesNaming({ registries: [NODE_ID, `/ip4/127.0.0.1/tcp/1/p2p/${NODE_ID}`] }, 'naming.registries.1', /a second time/)
    refusesNaming({ registries: Array.from({ length: 33 }, (_, i) => `r${i}.example.org`) }, 'naming.registries', /at most 32/)
    refusesNaming({ defaultRegistry: 42 }, 'naming.defaultRegistry', /must be a NodeId/)
    refusesNaming({ dns: { servers: ['dns.example.org:53'] } }, 'naming.dns.servers.0', /IP address/)
    refusesNaming({ dns: { servers: ['127.0.0.1:0'] } }, 'naming.dns.servers.0', /port must be from 1/)
    refusesNaming({ dns: { servers: '127.0.0.1' } }, 'naming.dns.servers', /must be an array/)
    refusesNaming({ dns: { timeoutMs: 10 } }, 'naming.dns.timeoutMs', /from 100 to 60000/)
    refusesNaming({ dns: { timeout: 10 } }, 'naming.dns.timeout', /is not a known setting/)
    refusesNaming({ registry: { serve: 'yes' } }, 'naming.registry.serve', /true or false/)
    refusesNaming({ registry: { bindings: { x: 'nobody' } } }, 'naming.registry.bindings.x', /must be a UserId/)
    refusesNaming({ cacheTtlMs: -1 }, 'naming.cacheTtlMs', /from 0 to/)
  })
})

describe('naming helpers', () => {
  it('finds the tag of a repo in an image\'s recorded names', () => {
    assert.equal(tagFor('provenir/small:v1', 'small'), 'v1')
    assert.equal(tagFor('small:latest', 'small'), 'latest')
    assert.equal(tagFor('localhost:5000/provenir/small:v2', 'small'), 'v2')
    assert.equal(tagFor('localhost:5000/small', 'small'), undefined)
    assert.equal(tagFor('provenir/large:v1', 'small'), undefined)
    assert.equal(tagFor('v1', 'small'), undefined)
  })

  it('caches a resolution until its time to live or the document\'s expiry, bounded in size', () => {
    let now = 1_000_000
    const cache = new ResolutionCache(30_000, 2, () => now)
    const res = (expires: number): Resolution => ({ document: { expires: new Date(expires).toISOString() } }) as unknown as Resolution
    cache.set('a/b', res(now + 60_000))
    assert.ok(cache.get('a/b') != null)
    now += 30_000
    assert.equal(cache.get('a/b'), undefined, 'gone after the TTL')
    cache.set('a/c', res(now + 1_000))
    now += 1_000
    assert.equal(cache.get('a/c'), undefined, 'gone once the document expires')
    cache.set('x/1', res(now + 60_000))
    cache.set('x/2', res(now + 60_000))
    cache.set('x/3', res(now + 60_000))
    assert.equal(cache.get('x/1'), undefined, 'the oldest entry is dropped beyond the bound')
    assert.ok(cache.get('x/3') != null)
    const off = new ResolutionCache(0)
    off.set('a/b', res(Date.now() + 60_000))
    assert.equal(off.get('a/b'), undefined, 'a TTL of 0 caches nothing')
  })
})
