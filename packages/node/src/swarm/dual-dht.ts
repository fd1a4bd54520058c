/**
 * The main (WAN) DHT and the LAN DHT as one `KadDHT`, as go-libp2p-kad-dht's
 * `dual` package does for Kubo: callers (pulls, naming, provides) ask it and
 * never know there are two.
 *
 * - Writes (provide, put, cancelReprovide) go to both. A DHT that has no
 *   peer yet still records a provide locally, so its reprovider announces
 *   it once peers come.
 * - Lookups go to the DHTs that have peers, or to both when neither has
 *   (kad-dht then waits for the first peer, as one DHT did).
 * - Either may fail while the other succeeds: only when every one fails does
 *   the merged operation throw (the first error).
 */

import merge from 'it-merge'
import type { KadDHT, QueryEvent, SingleKadDHT, SetModeOptions } from '@libp2p/kad-dht'
import type { AbortOptions, PeerId, RoutingOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export class DualDHT implements KadDHT {
  readonly wan: SingleKadDHT
  readonly lan: SingleKadDHT

  constructor (wan: KadDHT, lan: KadDHT) {
    this.wan = wan as SingleKadDHT
    this.lan = lan as SingleKadDHT
  }

  get k (): number { return this.wan.k }
  get a (): number { return this.wan.a }
  get d (): number { return this.wan.d }
  get validators (): KadDHT['validators'] { return this.wan.validators }
  get selectors (): KadDHT['selectors'] { return this.wan.selectors }

  /** Peers in both routing tables */
  get size (): number {
    return tableSize(this.wan) + tableSize(this.lan)
  }

  /** Both routing tables, whose `peer:add` events naming listens to */
  routingTables (): EventTarget[] {
    return [this.wan, this.lan].map(d => d.routingTable as unknown as EventTarget | undefined).filter(t => t != null)
  }

  get (key: Uint8Array, options?: RoutingOptions): AsyncIterable<QueryEvent> {
    return both(this.#lookup().map(d => d.get(key, options)))
  }

  findProviders (key: CID, options?: RoutingOptions): AsyncIterable<QueryEvent> {
    return both(this.#lookup().map(d => d.findProviders(key, options)))
  }

  findPeer (id: PeerId, options?: RoutingOptions): AsyncIterable<QueryEvent> {
    return both(this.#lookup().map(d => d.findPeer(id, options)))
  }

  getClosestPeers (key: Uint8Array, options?: RoutingOptions): AsyncIterable<QueryEvent> {
    return both(this.#lookup().map(d => d.getClosestPeers(key, options)))
  }

  provide (key: CID, options?: RoutingOptions): AsyncIterable<QueryEvent> {
    return both([this.wan.provide(key, options), this.lan.provide(key, options)])
  }

  put (key: Uint8Array, value: Uint8Array, options?: RoutingOptions): AsyncIterable<QueryEvent> {
    // a put waits for the full timeout on a DHT without peers: to the ones with peers
    return both(this.#lookup().map(d => d.put(key, value, options)))
  }

  async cancelReprovide (key: CID, options?: AbortOptions): Promise<void> {
    await settleBoth([this.wan.cancelReprovide(key, options), this.lan.cancelReprovide(key, options)])
  }

  /** The main DHT's mode: the LAN DHT always answers (it serves only private peers) */
  getMode (): 'client' | 'server' {
    return this.wan.getMode()
  }

  async setMode (mode: 'client' | 'server', options?: SetModeOptions): Promise<void> {
    await this.wan.setMode(mode, options)
  }

  async refreshRoutingTable (options?: AbortOptions): Promise<void> {
    await settleBoth([this.wan.refreshRoutingTable(options), this.lan.refreshRoutingTable(options)])
  }

  /** The DHTs worth asking: those with peers, else both (to wait for the first peer) */
  #lookup (): SingleKadDHT[] {
    const ready = [this.wan, this.lan].filter(d => tableSize(d) > 0)
    return ready.length > 0 ? ready : [this.wan, this.lan]
  }
}

function tableSize (dht: SingleKadDHT): number {
  return dht.routingTable?.size ?? 0
}

/** The events of every source as they come; throws only when every source threw */
async function * both (sources: Array<AsyncIterable<QueryEvent>>): AsyncGenerator<QueryEvent> {
  const errors: unknown[] = []
  const guarded = sources.map(async function * (source) {
    try {
      yield * source
    } catch (err) {
      errors.push(err)
    }
  })
  yield * merge(...guarded)
  if (errors.length === sources.length) throw errors[0]
}

async function settleBoth (work: Array<Promise<void>>): Promise<void> {
  const results = await Promise.allSettled(work)
  const failed = results.filter(r => r.status === 'rejected')
  if (failed.length === results.length) throw failed[0].reason
}
