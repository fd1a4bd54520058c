import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encodeEnvelope, signEnvelope, userIdFromKey } from '@provenir/trust'
import { MemoryDatastore } from 'datastore-core/memory'
import {
  DatastoreSeqStore, MemorySeqStore, REPO_POINTER_PAYLOAD_TYPE, createRepoValidator, parseRepoKey, repoKey, repoSelector,
  repoValidator, signRepoPointer, verifyRepoPointer, type SeqStore
} from '../src/index.js'
import { ROOT, alterPayload, newKey } from './fixtures.js'

describe('DHT pointer record', () => {
  it('round-trips under /provenir-repo/<UserId>/<repo> and stays small', async () => {
    const key = await newKey()
    const owner = userIdFromKey(key)
    const k = repoKey(owner, 'myapp')
    assert.equal(new TextDecoder().decode(k), `/provenir-repo/${owner}/myapp`)
    assert.deepEqual(parseRepoKey(k), { owner, repo: 'myapp' })
    const value = await signRepoPointer({ repo: 'myapp', seq: 5, doc: ROOT }, key)
    assert.ok(value.byteLength < 1024, `pointer is ${value.byteLength} bytes`)
    const p = await verifyRepoPointer(k, value)
    assert.equal(p.seq, 5)
    assert.equal(p.doc, ROOT)
    await repoValidator(k, value)
  })

  it('refuses a record signed by another key (forged), under the owner\'s key', async () => {
    const owner = await newKey()
    const mallory = await newKey()
    const k = repoKey(userIdFromKey(owner), 'myapp')
    // mallory's own, valid record placed under the owner's key
    const malloryRecord = await signRepoPointer({ repo: 'myapp', seq: 100, doc: ROOT }, mallory)
    await assert.rejects(repoValidator(k, malloryRecord), { name: 'RecordSignerMismatchError' })
    // mallory's signature with the owner's keyid and payload
    const payload = { owner: userIdFromKey(owner), repo: 'myapp', seq: 100, expires: new Date(Date.now() + 60_000).toISOString(), doc: ROOT }
    const env = await signEnvelope(new TextEncoder().encode(JSON.stringify(payload)), REPO_POINTER_PAYLOAD_TYPE, mallory)
    env.signatures[0].keyid = userIdFromKey(owner)
    await assert.rejects(repoValidator(k, encodeEnvelope(env)), { name: 'RecordSignatureError' })
  })

  it('refuses a record altered after signing, or moved to another repo', async () => {
    const key = await newKey()
    const owner = userIdFromKey(key)
    const value = await signRepoPointer({ repo: 'myapp', seq: 5, doc: ROOT }, key)
    const altered = alterPayload(value, p => { p.seq = 6 })
    await assert.rejects(repoValidator(repoKey(owner, 'myapp'), altered), { name: 'RecordSignatureError' })
    await assert.rejects(repoValidator(repoKey(owner, 'other'), value), { name: 'OwnerMismatchError' })
  })

  it('refuses an expired record', async () => {
    const key = await newKey()
    const value = await signRepoPointer({ repo: 'myapp', seq: 5, doc: ROOT, lifetime: 1000, now: Date.now() - 2000 }, key)
    await assert.rejects(repoValidator(repoKey(userIdFromKey(key), 'myapp'), value), { name: 'RecordExpiredError' })
  })

  it('refuses bad keys and oversize values', async () => {
    const key = await newKey()
    const value = await signRepoPointer({ repo: 'myapp', seq: 5, doc: ROOT }, key)
    await assert.rejects(repoValidator(new TextEncoder().encode('/provenir-repo/notauser/myapp'), value), { name: 'RecordInvalidError' })
    await assert.rejects(repoValidator(new TextEncoder().encode(`/provenir-repo/${userIdFromKey(key)}/myapp/extra`), value), { name: 'RecordInvalidError' })
    await assert.rejects(repoValidator(repoKey(userIdFromKey(key), 'myapp'), new Uint8Array(10 * 1024 + 1)), { name: 'RecordInvalidError' })
  })

  it('selector keeps the highest seq, then the later expiry', async () => {
    const key = await newKey()
    const k = repoKey(userIdFromKey(key), 'myapp')
    const s4 = await signRepoPointer({ repo: 'myapp', seq: 4, doc: ROOT }, key)
    const s5 = await signRepoPointer({ repo: 'myapp', seq: 5, doc: ROOT, lifetime: 60_000 }, key)
    const s5later = await signRepoPointer({ repo: 'myapp', seq: 5, doc: ROOT, lifetime: 120_000 }, key)
    assert.equal(await repoSelector(k, [s4, s5]), 1)
    assert.equal(await repoSelector(k, [s5, s4]), 0)
    assert.equal(await repoSelector(k, [s4, s5, s5later]), 2)
    assert.equal(await repoSelector(k, [new Uint8Array([1, 2]), s4]), 1)
  })

  for (const [label, make] of [
    ['memory', () => new MemorySeqStore()],
    ['datastore', () => new DatastoreSeqStore(new MemoryDatastore())]
  ] as Array<[string, () => SeqStore]>) {
    it(`rollback: after seq 5, a real older seq 4 is refused by the validator with a ${label} SeqStore`, async () => {
      const key = await newKey()
      const owner = userIdFromKey(key)
      const k = repoKey(owner, 'myapp')
      const seq4 = await signRepoPointer({ repo: 'myapp', seq: 4, doc: ROOT }, key)
      const seq5 = await signRepoPointer({ repo: 'myapp', seq: 5, doc: ROOT }, key)
      const store = make()
      const validate = createRepoValidator({ seqStore: store })
      await validate(k, seq4)
      await validate(k, seq5)
      assert.equal(await store.get(owner, 'myapp'), 5)
      // the old record still verifies on its own: it is really the owner's
      await repoValidator(k, seq4)
      await assert.rejects(validate(k, seq4), { name: 'RollbackError' })
      // the same seq again (a republish) is fine
      await validate(k, seq5)
      // other repos are independent
      await validate(repoKey(owner, 'other'), await signRepoPointer({ repo: 'other', seq: 1, doc: ROOT }, key))
      await assert.rejects(store.observe(owner, 'myapp', 3), { name: 'RollbackError' })
    })
  }

  it('DatastoreSeqStore keeps the highest seq across instances over one datastore, and serialises updates', async () => {
    const ds = new MemoryDatastore()
    const a = new DatastoreSeqStore(ds)
    await Promise.allSettled([7, 3, 9, 1, 8].map(async s => { await a.observe('o', 'r', s) }))
    assert.equal(await a.get('o', 'r'), 9)
    const b = new DatastoreSeqStore(ds)
    await assert.rejects(b.observe('o', 'r', 8), { name: 'RollbackError' })
  })
})
