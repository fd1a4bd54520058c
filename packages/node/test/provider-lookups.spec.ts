import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { MAX_SHARED_PROVIDERS, ProviderLookups } from '../src/swarm/provider-lookups.js'
import type { PeerId } from '@libp2p/interface'

const A = CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')
const B = CID.parse('bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi')

async function peers (n: number): Promise<PeerId[]> {
  return Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

const tick = async (): Promise<void> => new Promise(resolve => setTimeout(resolve, 5))

/**
 * A DHT whose queries yield what the test hands them: `emit(peer, i)` gives
 * query i (the last one by default) a provider, `emit(null)` ends it and
 * `emit(error)` fails it.
 */
function fakeDht () {
  const queries: Array<{ cid: CID, signal: AbortSignal, push: (p: PeerId | Error | null) => void }> = []
  return {
    queries,
    find: (cid: CID, { signal }: { signal: AbortSignal }): AsyncIterable<PeerId> => {
      const items: Array<PeerId | Error | null> = []
      let wake: (() => void) | undefined
      queries.push({ cid, signal, push: (p) => { items.push(p); wake?.() } })
      signal.addEventListener('abort', () => wake?.(), { once: true })
      return (async function * () {
        while (true) {
          if (signal.aborted) throw new Error('query aborted')
          const item = items.shift()
          if (item === undefined) {
            await new Promise<void>(resolve => { wake = resolve })
            continue
          }
          if (item === null) return
          if (item instanceof Error) throw item
          yield item
        }
      })()
    },
    emit (p: PeerId | Error | null, i = queries.length - 1): void { queries[i].push(p) }
  }
}

async function take (it: AsyncIterable<PeerId>, n: number): Promise<string[]> {
  const out: string[] = []
  if (n === 0) return out
  for await (const p of it) {
    out.push(p.toString())
    if (out.length >= n) break
  }
  return out
}

async function all (it: AsyncIterable<PeerId>): Promise<string[]> {
  const out: string[] = []
  for await (const p of it) out.push(p.toString())
  return out
}

describe('ProviderLookups: concurrent lookups of one CID share a DHT query', () => {
  it('a lookup that joins a running query gets the providers found before it joined, then the new ones', async () => {
    const dht = fakeDht()
    const lookups = new ProviderLookups(dht.find)
    const ps = await peers(3)
    const signal = new AbortController().signal
    const first = all(lookups.find(A, { signal }))
    await tick()
    dht.emit(ps[0])
    dht.emit(ps[1])
    await tick()
    const second = all(lookups.find(A, { signal }))
    await tick()
    dht.emit(ps[2])
    dht.emit(null)
    const want = ps.map(p => p.toString())
    assert.deepEqual(await first, want)
    assert.deepEqual(await second, want)
    assert.equal(dht.queries.length, 1, 'one query for both lookups')
    assert.equal(lookups.started, 1)
  })

  it('a provider named twice by the query is handed on once', async () => {
    const dht = fakeDht()
    const lookups = new ProviderLookups(dht.find)
    const [p] = await peers(1)
    const got = all(lookups.find(A, { signal: new AbortController().signal }))
    await tick()
    dht.emit(p)
    dht.emit(p)
    dht.emit(null)
    assert.deepEqual(await got, [p.toString()])
  })

  it('lookups of different CIDs run their own queries', async () => {
    const dht = fakeDht()
    const lookups = new ProviderLookups(dht.find)
    const signal = new AbortController().signal
    const a = all(lookups.find(A, { signal }))
    const b = all(lookups.find(B, { signal }))
    await tick()
    assert.deepEqual(dht.queries.map(q => q.cid.toString()), [A.toString(), B.toString()])
    dht.emit(null, 0)
    dht.emit(null, 1)
    await Promise.all([a, b])
  })

  it('a lookup after the query ended starts a new query (no stale answer)', async () => {
    const dht = fakeDht()
    const lookups = new ProviderLookups(dht.find)
    const ps = await peers(2)
    const signal = new AbortController().signal
    const first = all(lookups.find(A, { signal }))
    await tick()
    dht.emit(ps[0])
    dht.emit(null)
    assert.deepEqual(await first, [ps[0].toString()])
    await tick()
    const second = all(lookups.find(A, { signal }))
    await tick()
    assert.equal(dht.queries.length, 2)
    dht.emit(ps[1])
    dht.emit(null)
    assert.deepEqual(await second, [ps[1].toString()], 'only what the new query found')
  })

  it('the query stops once every lookup that joined it stopped, and the next lookup starts anew', async () => {
    const dht = fakeDht()
    const lookups = new ProviderLookups(dht.find)
    const ps = await peers(2)
    const signal = new AbortController().signal
    const one = take(lookups.find(A, { signal }), 1)
    const two = take(lookups.find(A, { signal }), 2)
    await tick()
    dht.emit(ps[0])
    assert.deepEqual(await one, [ps[0].toString()])
    await tick()
    assert.equal(dht.queries[0].signal.aborted, false, 'a lookup still reads it')
    dht.emit(ps[1])
    assert.deepEqual(await two, ps.map(p => p.toString()))
    await tick()
    assert.equal(dht.queries[0].signal.aborted, true, 'nobody reads it: stopped')
    const three = take(lookups.find(A, { signal }), 1)
    await tick()
    assert.equal(dht.queries.length, 2, 'a new query, not the stopped one')
    dht.emit(ps[1])
    assert.deepEqual(await three, [ps[1].toString()])
  })

  it('a caller whose signal aborts stops reading; the others go on', async () => {
    const dht = fakeDht()
    const lookups = new ProviderLookups(dht.find)
    const ps = await peers(2)
    const quitting = new AbortController()
    const quitter = all(lookups.find(A, { signal: quitting.signal }))
    const stayer = all(lookups.find(A, { signal: new AbortController().signal }))
    await tick()
    dht.emit(ps[0])
    await tick()
    quitting.abort()
    assert.deepEqual(await quitter, [ps[0].toString()], 'ends without an error, at once')
    dht.emit(ps[1])
    dht.emit(null)
    assert.deepEqual(await stayer, ps.map(p => p.toString()))
    assert.equal(dht.queries[0].signal.aborted, false, 'the query ran to its end for the one still reading')
  })

  it('the query\'s error reaches every lookup after the providers it found', async () => {
    const dht = fakeDht()
    const lookups = new ProviderLookups(dht.find)
    const [p] = await peers(1)
    const signal = new AbortController().signal
    const seen: string[][] = [[], []]
    const read = async (i: number): Promise<void> => {
      for await (const peer of lookups.find(A, { signal })) seen[i].push(peer.toString())
    }
    const reads = [read(0), read(1)]
    await tick()
    dht.emit(p)
    dht.emit(new Error('dht down'))
    for (const r of reads) await assert.rejects(r, /dht down/)
    assert.deepEqual(seen, [[p.toString()], [p.toString()]])
  })

  it(`stops the query at ${MAX_SHARED_PROVIDERS} providers`, async () => {
    const dht = fakeDht()
    const lookups = new ProviderLookups(dht.find)
    const ps = await peers(MAX_SHARED_PROVIDERS + 1)
    const got = all(lookups.find(A, { signal: new AbortController().signal }))
    await tick()
    for (const p of ps) dht.emit(p)
    assert.equal((await got).length, MAX_SHARED_PROVIDERS)
  })
})
