import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encodeEnvelope, signEnvelope, userIdFromKey } from '@provenir/trust'
import {
  NAME_CLAIM_PAYLOAD_TYPE, Registry, nameKey, nameSelector, nameValidator, signClaim, verifyBinding
} from '../src/index.js'
import { alterPayload, newKey, noRegistrar, silentLogger } from './fixtures.js'
import type { PrivateKey } from '@libp2p/interface'

async function makeRegistry (key?: PrivateKey, init = {}): Promise<{ registry: Registry, key: PrivateKey }> {
  key ??= await newKey()
  const registry = new Registry({ registrar: noRegistrar, logger: silentLogger, privateKey: key }, init)
  await registry.start()
  return { registry, key }
}

describe('claims and bindings', () => {
  it('a claim gives a binding that validates offline with only the registry NodeId', async () => {
    const { registry } = await makeRegistry()
    const user = await newKey()
    const binding = await registry.claim(await signClaim('aweiteka', registry.nodeId, user))
    // offline: a fresh process holding only the bytes (as JSON text) and the NodeId
    const text = new TextDecoder().decode(binding)
    const checked = await verifyBinding(text, registry.nodeId, { name: 'aweiteka' })
    assert.deepEqual({ name: checked.name, userId: checked.userId, seq: checked.seq, registry: checked.registry },
      { name: 'aweiteka', userId: userIdFromKey(user), seq: 1, registry: registry.nodeId })
    assert.deepEqual(await registry.lookup('aweiteka'), binding)
  })

  it('refuses a binding checked against another registry, altered, or for another name', async () => {
    const { registry } = await makeRegistry()
    const other = await newKey()
    const binding = await registry.bind('aweiteka', userIdFromKey(await newKey()))
    await assert.rejects(verifyBinding(binding, peerIdFromPrivateKey(other)), { name: 'BindingInvalidError' })
    const altered = alterPayload(binding, p => { p.userId = userIdFromKey(other) })
    await assert.rejects(verifyBinding(altered, registry.nodeId), (err: any) => err.name === 'BindingInvalidError' && err.cause?.name === 'RecordSignatureError')
    await assert.rejects(verifyBinding(binding, registry.nodeId, { name: 'other' }), { name: 'BindingInvalidError' })
    // a registry signing a binding that names another registry
    const { registry: r2 } = await makeRegistry(other)
    const lying = alterPayload(await r2.bind('x', userIdFromKey(other)), p => { p.registry = registry.nodeId })
    await assert.rejects(verifyBinding(lying, registry.nodeId), { name: 'BindingInvalidError' })
  })

  it('first claim wins; the same claimant gets the same binding; replays, strays and forgeries are refused', async () => {
    const { registry } = await makeRegistry()
    const alice = await newKey()
    const bob = await newKey()
    const claim = await signClaim('aweiteka', registry.nodeId, alice)
    const first = await registry.claim(claim)
    await assert.rejects(registry.claim(await signClaim('aweiteka', registry.nodeId, bob)), { name: 'NameTakenError' })
    assert.deepEqual(await registry.claim(await signClaim('aweiteka', registry.nodeId, alice)), first)
    await assert.rejects(registry.claim(claim), { name: 'ClaimInvalidError', message: /replayed/ })
    const elsewhere = await newKey()
    await assert.rejects(registry.claim(await signClaim('other', peerIdFromPrivateKey(elsewhere), alice)), { name: 'ClaimInvalidError', message: /registry/ })
    await assert.rejects(registry.claim(await signClaim('old', registry.nodeId, alice, Date.now() - 3_600_000)), { name: 'ClaimInvalidError', message: /clock/ })
    // bob signs a claim naming alice's UserId
    const payload = { name: 'stolen', userId: userIdFromKey(alice), registry: registry.nodeId, nonce: 'AAAAAAAAAAAAAAAAAAAAAA==', time: new Date().toISOString() }
    const forged = encodeEnvelope(await signEnvelope(new TextEncoder().encode(JSON.stringify(payload)), NAME_CLAIM_PAYLOAD_TYPE, bob))
    await assert.rejects(registry.claim(forged), { name: 'ClaimInvalidError' })
  })

  it('admin bindings beat claims and re-bind with a higher seq', async () => {
    const key = await newKey()
    const alice = await newKey()
    const bob = await newKey()
    const store = new (await import('../src/index.js')).MemoryBindingStore()
    const { registry: r } = await makeRegistry(key, { store })
    await r.claim(await signClaim('aweiteka', r.nodeId, alice))
    // the admin gives the name to bob: restart with config
    const { registry: r2 } = await makeRegistry(key, { store, bindings: { aweiteka: userIdFromKey(bob) } })
    const b = await verifyBinding((await r2.lookup('aweiteka'))!, r2.nodeId)
    assert.equal(b.userId, userIdFromKey(bob))
    assert.equal(b.seq, 2)
    await assert.rejects(r2.claim(await signClaim('aweiteka', r2.nodeId, alice)), { name: 'NameTakenError' })
    const { registry: closed } = await makeRegistry(undefined, { allowClaims: false })
    await assert.rejects(closed.claim(await signClaim('x', closed.nodeId, alice)), { name: 'ClaimInvalidError' })
  })

  it('DHT validator and selector for /provenir-name/<NodeId>/<name>', async () => {
    const { registry, key } = await makeRegistry()
    const alice = await newKey()
    const bob = await newKey()
    const k = nameKey(registry.nodeId, 'aweiteka')
    const b1 = await registry.bind('aweiteka', userIdFromKey(alice))
    await nameValidator(k, b1)
    const b2 = await registry.bind('aweiteka', userIdFromKey(bob))
    assert.equal(await nameSelector(k, [b1, b2]), 1)
    assert.equal(await nameSelector(k, [b2, b1]), 0)
    await assert.rejects(nameValidator(nameKey(registry.nodeId, 'other'), b1), { name: 'BindingInvalidError' })
    const { registry: r2 } = await makeRegistry()
    await assert.rejects(nameValidator(nameKey(r2.nodeId, 'aweiteka'), b1), { name: 'BindingInvalidError' })
    assert.ok(key != null)
  })

  it('a DatastoreBindingStore keeps bindings across a registry restart, so the first claim still wins', async () => {
    const { MemoryDatastore } = await import('datastore-core/memory')
    const { DatastoreBindingStore } = await import('../src/index.js')
    const ds = new MemoryDatastore()
    const key = await newKey()
    const alice = await newKey()
    const { registry: a } = await makeRegistry(key, { store: new DatastoreBindingStore(ds) })
    const first = await a.claim(await signClaim('aweiteka', a.nodeId, alice))
    const { registry: b } = await makeRegistry(key, { store: new DatastoreBindingStore(ds) })
    assert.deepEqual(await b.lookup('aweiteka'), first)
    await assert.rejects(b.claim(await signClaim('aweiteka', b.nodeId, await newKey())), { name: 'NameTakenError' })
  })
})
