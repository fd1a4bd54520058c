import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MAX_IMAGE_STATEMENTS } from '@provenir/content'
import { findRecords, mergeRecords } from '../src/record-quorum.js'
import type { PeerId } from '@libp2p/interface'
import type { ImageRecord } from '@provenir/content'

const DIGEST = `sha256:${'a'.repeat(64)}` as ImageRecord['manifestDigest']
const LAYER = `sha256:${'b'.repeat(64)}` as ImageRecord['manifestDigest']
const ROOT_A = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'
const ROOT_B = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

function record (root: string, statements: string[] = []): ImageRecord {
  return { manifestDigest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', blobs: [{ digest: LAYER, size: 3 << 20, root, mediaType: 'application/vnd.oci.image.layer.v1.tar' }], ...(statements.length > 0 ? { statements } : {}) }
}

async function peers (n: number): Promise<PeerId[]> {
  return Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms)
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason) }, { once: true })
})

/** A provider: answers `record` (or nothing, or an error) after `delay` ms */
interface Fake { delay: number, record?: ImageRecord, fail?: boolean }

function asker (fakes: Map<string, Fake>, log: { asked: string[], aborted: string[] }) {
  return async (peer: PeerId, signal: AbortSignal): Promise<ImageRecord | undefined> => {
    log.asked.push(peer.toString())
    const fake = fakes.get(peer.toString())!
    try {
      await sleep(fake.delay, signal)
    } catch (err) {
      log.aborted.push(peer.toString())
      throw err
    }
    if (fake.fail === true) throw new Error('no answer')
    return fake.record
  }
}

describe('findRecords: the image record from several providers', () => {
  it('asks `quorum` providers at once and returns when all of them answered', async () => {
    const ps = await peers(5)
    const fakes = new Map(ps.map((p, i) => [p.toString(), { delay: 10 * i, record: record(ROOT_A) }]))
    const log = { asked: [] as string[], aborted: [] as string[] }
    const { records, asked } = await findRecords(async function * () { yield * ps }, asker(fakes, log), { signal: AbortSignal.timeout(5_000) })
    assert.equal(records.length, 3)
    assert.equal(asked, 3)
    assert.deepEqual(log.asked, ps.slice(0, 3).map(String))
  })

  it('replaces a provider that fails or has no record with the next candidate', async () => {
    const ps = await peers(5)
    const fakes = new Map<string, Fake>([
      [ps[0].toString(), { delay: 5, fail: true }],
      [ps[1].toString(), { delay: 5 }],
      [ps[2].toString(), { delay: 5, record: record(ROOT_A) }],
      [ps[3].toString(), { delay: 5, record: record(ROOT_A) }],
      [ps[4].toString(), { delay: 5, record: record(ROOT_B) }]
    ])
    const log = { asked: [] as string[], aborted: [] as string[] }
    const { records, peers: answered, asked } = await findRecords(async function * () { yield * ps; yield ps[2] }, asker(fakes, log), { signal: AbortSignal.timeout(5_000) })
    assert.equal(records.length, 3)
    assert.equal(asked, 5, 'each peer is asked once')
    assert.deepEqual(answered.map(String).sort(), ps.slice(2).map(String).sort(), 'the peers that answered with a record')
    assert.deepEqual(records.map(r => r.blobs[0].root).sort(), [ROOT_A, ROOT_A, ROOT_B].sort())
  })

  it('a candidate lookup that fails leaves the providers it named to answer', async () => {
    const ps = await peers(2)
    const fakes = new Map<string, Fake>([
      [ps[0].toString(), { delay: 30, record: record(ROOT_A) }],
      [ps[1].toString(), { delay: 60, record: record(ROOT_A) }]
    ])
    const log = { asked: [] as string[], aborted: [] as string[] }
    const { records, asked } = await findRecords(async function * () {
      yield * ps
      throw new Error('the DHT lookup failed')
    }, asker(fakes, log), { signal: AbortSignal.timeout(5_000), grace: 1_000 })
    assert.equal(asked, 2)
    assert.equal(records.length, 2, 'both providers asked answered')
  })

  it('waits `grace` ms after the first record for the others, then stops asking (and stops the lookup)', async () => {
    const ps = await peers(3)
    const fakes = new Map<string, Fake>([
      [ps[0].toString(), { delay: 0, record: record(ROOT_A) }],
      [ps[1].toString(), { delay: 40, record: record(ROOT_A) }],
      [ps[2].toString(), { delay: 5_000, record: record(ROOT_B) }]
    ])
    const log = { asked: [] as string[], aborted: [] as string[] }
    let lookupStopped = false
    const started = Date.now()
    const { records } = await findRecords(async function * (signal) {
      yield * ps
      // a DHT lookup that finds nobody more: it runs until it is stopped
      await sleep(10_000, signal).catch(() => { lookupStopped = true })
    }, asker(fakes, log), { signal: AbortSignal.timeout(5_000), grace: 200, quorum: 4 })
    const took = Date.now() - started
    assert.equal(records.length, 2)
    assert.ok(took >= 190 && took < 2_000, `returned after the grace period (${took} ms)`)
    await sleep(20)
    assert.deepEqual(log.aborted, [ps[2].toString()], 'the answer still pending was called off')
    assert.ok(lookupStopped, 'the lookup was stopped')
  })

  it('returns nothing when no candidate has a record, and what it has when its signal aborts', async () => {
    const ps = await peers(2)
    const none = new Map<string, Fake>(ps.map(p => [p.toString(), { delay: 1 }]))
    const log = { asked: [] as string[], aborted: [] as string[] }
    assert.deepEqual((await findRecords(async function * () { yield * ps }, asker(none, log), { signal: AbortSignal.timeout(5_000) })).records, [])

    const slow = new Map<string, Fake>(ps.map(p => [p.toString(), { delay: 10_000, record: record(ROOT_A) }]))
    const started = Date.now()
    const { records, asked } = await findRecords(async function * () { yield * ps }, asker(slow, log), { signal: AbortSignal.timeout(100) })
    assert.deepEqual(records, [])
    assert.equal(asked, 2)
    assert.ok(Date.now() - started < 2_000)
  })
})

describe('mergeRecords', () => {
  it('puts the roots and statements more providers name first', () => {
    const merged = mergeRecords([record(ROOT_B, ['s-forged']), record(ROOT_A, ['s-1', 's-2']), record(ROOT_A, ['s-2', 's-1'])])
    assert.deepEqual(merged.roots.get(LAYER)?.map(String), [ROOT_A, ROOT_B])
    assert.deepEqual(merged.statements, ['s-1', 's-2', 's-forged'])
  })

  it('a record padded with statements cannot push the others\' out of the cap; a bad root is dropped', () => {
    const padded = record('not a cid', Array.from({ length: MAX_IMAGE_STATEMENTS }, (_, i) => `junk-${i}`))
    const merged = mergeRecords([padded, record(ROOT_A, ['real']), record(ROOT_A, ['real'])])
    assert.equal(merged.statements.length, MAX_IMAGE_STATEMENTS)
    assert.equal(merged.statements[0], 'real')
    assert.deepEqual(merged.roots.get(LAYER)?.map(String), [ROOT_A])
  })
})
