import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, afterEach, beforeEach, describe, it } from 'node:test'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { PeerCacheDatastore } from '../src/peer-cache-datastore.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('PeerCacheDatastore (peer records in memory, written behind to level)', () => {
  let root: string
  let dir: string
  let level: LevelDatastore

  beforeEach(async () => {
    root ??= await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-peer-cache-'))
    dir = await fs.mkdtemp(path.join(root, 'ds-'))
    level = new LevelDatastore(dir)
    await level.open()
  })

  afterEach(async () => {
    await level.close().catch(() => {})
  })

  after(async () => {
    await fs.rm(root, { recursive: true, force: true })
  })

  it('answers a peer record from memory and writes it to level at the next flush, not at the put', async () => {
    const ds = new PeerCacheDatastore(level, { flushInterval: 60_000 })
    const key = new Key('/peers/abc')
    await ds.put(key, bytes('one'))
    assert.equal(text(await ds.get(key)), 'one')
    assert.equal(await ds.has(key), true)
    assert.equal(await level.has(key), false, 'not written yet')
    assert.equal(ds.unflushed, 1)
    await ds.put(key, bytes('two'))
    await ds.flush()
    assert.equal(ds.unflushed, 0)
    assert.equal(text(await level.get(key)), 'two', 'the last value was written')
    await ds.close()
  })

  it('writes behind on its own after the flush interval', async () => {
    const ds = new PeerCacheDatastore(level, { flushInterval: 50 })
    const key = new Key('/peers/timed')
    await ds.put(key, bytes('v'))
    for (let i = 0; i < 100 && !(await level.has(key)); i++) await new Promise(resolve => setTimeout(resolve, 20))
    assert.equal(text(await level.get(key)), 'v')
    await ds.close()
  })

  it('reads a record level already holds, and sends every other key straight to level', async () => {
    const peer = new Key('/peers/old')
    await level.put(peer, bytes('from disk'))
    const ds = new PeerCacheDatastore(level, { flushInterval: 60_000 })
    assert.equal(text(await ds.get(peer)), 'from disk')
    const other = new Key('/dht/record/x')
    await ds.put(other, bytes('dht'))
    assert.equal(text(await level.get(other)), 'dht', 'a key outside /peers/ is written at once')
    assert.equal(ds.unflushed, 0)
    await assert.rejects(ds.get(new Key('/peers/missing')), { name: 'NotFoundError' })
    await ds.close()
  })

  it('a query sees records not yet flushed (it flushes first), and a delete removes a record from both', async () => {
    const ds = new PeerCacheDatastore(level, { flushInterval: 60_000 })
    await ds.put(new Key('/peers/a'), bytes('A'))
    await ds.put(new Key('/peers/b'), bytes('B'))
    const seen: string[] = []
    for await (const { key, value } of ds.query({ prefix: '/peers/' })) seen.push(`${key.toString()}=${text(value)}`)
    assert.deepEqual(seen.sort(), ['/peers/a=A', '/peers/b=B'])
    const keys: string[] = []
    for await (const key of ds.queryKeys({ prefix: '/peers/' })) keys.push(key.toString())
    assert.deepEqual(keys.sort(), ['/peers/a', '/peers/b'])
    await ds.put(new Key('/peers/a'), bytes('A2'))
    await ds.delete(new Key('/peers/a'))
    await ds.flush()
    assert.equal(await ds.has(new Key('/peers/a')), false)
    assert.equal(await level.has(new Key('/peers/a')), false, 'the pending write of a deleted record is dropped')
    // a delete while a write-behind of the record is under way lands after it
    await ds.put(new Key('/peers/b'), bytes('B2'))
    const flushing = ds.flush()
    await ds.delete(new Key('/peers/b'))
    await flushing
    assert.equal(await level.has(new Key('/peers/b')), false, 'deleted after the write-behind')
    await ds.close()
  })

  it('a query of other keys (kad-dht\'s providers) writes no peer record first', async () => {
    const ds = new PeerCacheDatastore(level, { flushInterval: 60_000 })
    await ds.put(new Key('/peers/a'), bytes('A'))
    await ds.put(new Key('/dht/provider/x/p1'), bytes('1'))
    const seen: string[] = []
    for await (const { key } of ds.query({ prefix: '/dht/provider/x' })) seen.push(key.toString())
    for await (const key of ds.queryKeys({ prefix: '/dht/' })) seen.push(key.toString())
    assert.deepEqual(seen, ['/dht/provider/x/p1', '/dht/provider/x/p1'])
    assert.equal(ds.unflushed, 1, 'the peer record is still pending')
    assert.equal(await level.has(new Key('/peers/a')), false)
    // a query whose prefix covers the peers, or has none, flushes
    for (const prefix of ['/pe', '/peers/a', undefined]) {
      await ds.put(new Key('/peers/a'), bytes(`A${prefix ?? ''}`))
      assert.equal(ds.unflushed, 1)
      for await (const _ of ds.queryKeys(prefix == null ? {} : { prefix })) { /* drain */ }
      assert.equal(ds.unflushed, 0, `flushed by a query of ${prefix ?? 'every key'}`)
    }
    await ds.close()
  })

  it('close writes what is pending, so the records survive reopening level', async () => {
    const ds = new PeerCacheDatastore(level, { flushInterval: 60_000 })
    await ds.put(new Key('/peers/kept'), bytes('kept'))
    await ds.close()
    await level.close()
    level = new LevelDatastore(dir)
    await level.open()
    assert.equal(text(await level.get(new Key('/peers/kept'))), 'kept')
  })

  it('past maxEntries it forgets written records (they are read from level again), never unwritten ones', async () => {
    const ds = new PeerCacheDatastore(level, { flushInterval: 60_000, maxEntries: 2 })
    for (const name of ['p1', 'p2', 'p3', 'p4']) await ds.put(new Key(`/peers/${name}`), bytes(name))
    // all four are unwritten: none may be forgotten
    for (const name of ['p1', 'p2', 'p3', 'p4']) assert.equal(text(await ds.get(new Key(`/peers/${name}`))), name)
    await ds.flush()
    await level.put(new Key('/peers/p1'), bytes('p1 on disk'))
    // another put evicts the least recently used written records down to the bound
    await ds.put(new Key('/peers/p5'), bytes('p5'))
    assert.equal(text(await ds.get(new Key('/peers/p1'))), 'p1 on disk', 'p1 was forgotten and read from level again')
    assert.equal(text(await ds.get(new Key('/peers/p5'))), 'p5')
    await ds.close()
  })

  it('a failed write-behind is reported, kept, and written at the next flush', async () => {
    let fail = true
    const errors: Error[] = []
    const flaky = new Proxy(level, {
      get (target, prop, receiver) {
        if (prop !== 'batch') return Reflect.get(target, prop, receiver)
        return () => {
          const batch = target.batch()
          return {
            put: (k: Key, v: Uint8Array) => { batch.put(k, v) },
            delete: (k: Key) => { batch.delete(k) },
            commit: async () => {
              if (fail) throw new Error('disk full')
              await batch.commit()
            }
          }
        }
      }
    })
    const ds = new PeerCacheDatastore(flaky, { flushInterval: 60_000, onError: (err) => { errors.push(err) } })
    const key = new Key('/peers/retry')
    await ds.put(key, bytes('r'))
    await ds.flush()
    assert.equal(errors.length, 1)
    assert.match(errors[0].message, /disk full/)
    assert.equal(ds.unflushed, 1, 'still to be written')
    assert.equal(await level.has(key), false)
    fail = false
    await ds.flush()
    assert.equal(ds.unflushed, 0)
    assert.equal(text(await level.get(key)), 'r')
    await ds.close()
  })
})
