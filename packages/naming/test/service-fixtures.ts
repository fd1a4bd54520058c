/**
 * Stub components for the naming service: a DHT that behaves as kad-dht does
 * without peers (a query waits until its signal aborts), a routing table
 * whose size a test sets and whose `peer:add` it fires, and stores in
 * memory. Everything the service does through them is recorded.
 */

import { MemoryDatastore } from 'datastore-core'
import { sha256 } from 'multiformats/hashes/sha2'
import { naming } from '../src/index.js'
import { silentLogger } from './fixtures.js'
import type { Naming, NamingComponents, NamingInit, NamespaceKeys } from '../src/index.js'
import type { AbortOptions, PrivateKey } from '@libp2p/interface'
import type { ImageRecord } from '@provenir/content'
import type { CID } from 'multiformats/cid'

const decoder = new TextDecoder()

async function untilAborted (signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal == null) return
    if (signal.aborted) { reject(signal.reason); return }
    signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
  })
}

/** A routing table: `size` is set by the test; `peerJoins()` fires `peer:add` as kad-dht's does */
export class StubPeers extends EventTarget {
  size = 0
  peerJoins (): void {
    this.size++
    this.dispatchEvent(new Event('peer:add'))
  }
}

/** A DHT in memory: with no peers a query waits for its signal, as kad-dht does; `failPuts` makes puts throw */
export class StubDht {
  readonly records = new Map<string, Uint8Array>()
  readonly puts: string[] = []
  gets = 0
  failPuts = false
  /** peers that take each put */
  takers = 3

  constructor (private readonly peers: StubPeers) {}

  async * get (key: Uint8Array, options: AbortOptions = {}): AsyncGenerator<any> {
    this.gets++
    if (this.peers.size === 0) await untilAborted(options.signal)
    const value = this.records.get(decoder.decode(key))
    if (value != null) yield { name: 'VALUE', value }
  }

  async * put (key: Uint8Array, value: Uint8Array, options: AbortOptions = {}): AsyncGenerator<any> {
    this.puts.push(decoder.decode(key))
    if (this.peers.size === 0) await untilAborted(options.signal)
    if (this.failPuts) throw new Error('the put failed')
    this.records.set(decoder.decode(key), value)
    for (let i = 0; i < this.takers; i++) yield { name: 'PEER_RESPONSE', record: { value } }
  }
}

/** A document store and block getter over one map; `pinned` is what the service keeps pinned */
export class StubBlocks {
  readonly bytes = new Map<string, Uint8Array>()
  readonly pinned = new Set<string>()
  readonly pins = {
    pin: async (cid: CID) => { this.pinned.add(cid.toString()) },
    unpin: async (cid: CID) => { this.pinned.delete(cid.toString()) }
  }

  async put (cid: CID, bytes: Uint8Array): Promise<CID> {
    this.bytes.set(cid.toString(), bytes)
    return cid
  }

  async get (cid: CID): Promise<Uint8Array> {
    const bytes = this.bytes.get(cid.toString())
    if (bytes == null) throw Object.assign(new Error(`no block ${cid.toString()}`), { name: 'NotFoundError' })
    if (!(await sha256.digest(bytes)).bytes.every((b, i) => b === cid.multihash.bytes[i])) throw new Error('block does not match its CID')
    return bytes
  }
}

export function keysOf (keys: Record<string, PrivateKey>): NamespaceKeys {
  return {
    list: async () => Object.keys(keys),
    get: async (name) => {
      const key = keys[name]
      if (key == null) throw Object.assign(new Error(`no key named ${name}`), { name: 'KeyNotFoundError' })
      return key
    }
  }
}

/** An image index holding `records` */
export function imagesOf (records: ImageRecord[]): NamingComponents['images'] {
  return {
    ls: async function * () { yield * records },
    get: async (digest: string) => records.find(r => r.manifestDigest === digest)
  } as unknown as NamingComponents['images']
}

export interface World {
  peers: StubPeers
  dht: StubDht
  blocks: StubBlocks
  datastore: MemoryDatastore
  components: NamingComponents
  start(init?: NamingInit): Promise<Naming>
}

export function world (nodeKey: PrivateKey, images: ImageRecord[], over: Partial<NamingComponents> = {}): World {
  const peers = new StubPeers()
  const dht = new StubDht(peers)
  const blocks = new StubBlocks()
  const datastore = new MemoryDatastore()
  const seen = new Map<string, number>()
  const components: NamingComponents = {
    privateKey: nodeKey,
    logger: silentLogger,
    registrar: { handle: async () => {}, unhandle: async () => {} },
    dialer: { dialProtocol: async () => { throw Object.assign(new Error('unreachable'), { name: 'DialError' }) } },
    dht: dht as unknown as NamingComponents['dht'],
    dhtPeers: peers as unknown as NamingComponents['dhtPeers'],
    seqStore: {
      get: async (o, r) => seen.get(`${o}/${r}`),
      observe: async (o, r, seq) => {
        const highest = seen.get(`${o}/${r}`)
        if (highest != null && seq < highest) throw Object.assign(new Error('rollback'), { name: 'RollbackError' })
        seen.set(`${o}/${r}`, seq)
      }
    },
    datastore,
    blocks,
    blockstore: blocks as unknown as NamingComponents['blockstore'],
    images: imagesOf(images),
    ...over
  }
  return {
    peers,
    dht,
    blocks,
    datastore,
    components,
    start: async (init = {}) => {
      const service = naming(init)(components)
      await service.start()
      return service
    }
  }
}

/** Polls `fn` until it returns something, or fails after `ms` */
export async function eventually<T> (what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await fn()
    if (value != null) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
