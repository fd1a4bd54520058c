/**
 * One DHT query for concurrent lookups of the same CID's providers.
 *
 * A pull asks for its manifest's providers three times over: to learn soon
 * that nobody holds the manifest (`discoverManifest`), to fill its transport
 * session, and for candidates to ask for the image record. The first two
 * start in the same tick, the third once the manifest is in; each was its
 * own kad-dht query, a GET_PROVIDERS to every peer it reaches. kad-dht's own
 * code was a quarter of a lab rollout's pullers' CPU over their first 15 s,
 * and much of the peer store's and the stream muxer's work besides
 * (BENCHMARKS.md, "The rollout by phase; a pull's DHT lookups").
 *
 * Here a lookup of a CID whose query is running joins it: it is given the
 * providers found so far, then each new one, and ends when the query ends
 * (or throws its error) or when its own signal aborts. A lookup of a CID
 * whose query has ended starts a new query, so nobody is handed a stale
 * answer. The query stops once every lookup that joined it has stopped
 * (ended its iteration or had its signal abort), as a lone lookup's query
 * did, or once it found MAX_SHARED_PROVIDERS.
 */

import type { ProvidersFunction } from './transport.js'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** Providers one shared query collects before it stops (every caller wants fewer) */
export const MAX_SHARED_PROVIDERS = 64

class Query {
  readonly found: PeerId[] = []
  readonly #seen = new Set<string>()
  readonly stop = new AbortController()
  done = false
  error?: Error
  joined = 0
  #waiters: Array<() => void> = []

  add (peer: PeerId): boolean {
    const key = peer.toString()
    if (this.#seen.has(key)) return false
    this.#seen.add(key)
    this.found.push(peer)
    this.#wake()
    return true
  }

  end (error?: Error): void {
    this.done = true
    this.error = error
    this.#wake()
  }

  /** Resolves when a provider is found, the query ends, or `signal` aborts */
  async changed (signal: AbortSignal): Promise<void> {
    if (signal.aborted) return
    await new Promise<void>(resolve => {
      const done = (): void => {
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.#waiters.push(done)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  #wake (): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }
}

export class ProviderLookups {
  readonly #find: ProvidersFunction
  readonly #running = new Map<string, Query>()
  /** Queries started, for tests and logs */
  started = 0

  constructor (find: ProvidersFunction) {
    this.#find = find
  }

  /** A `ProvidersFunction` whose concurrent lookups of one CID share a query */
  readonly find: ProvidersFunction = (cid, options) => this.#lookup(cid, options.signal)

  async * #lookup (cid: CID, signal: AbortSignal): AsyncGenerator<PeerId> {
    const key = cid.toString()
    let query = this.#running.get(key)
    if (query == null) {
      query = this.#start(key, cid)
    }
    query.joined++
    try {
      for (let i = 0; ; ) {
        // a caller whose signal aborted has stopped reading: its lookup ends
        if (signal.aborted) return
        if (i < query.found.length) {
          yield query.found[i++]
          continue
        }
        if (query.done) {
          if (query.error != null) throw query.error
          return
        }
        await query.changed(signal)
      }
    } finally {
      query.joined--
      if (query.joined === 0 && !query.done) {
        // nobody is reading: the query stops, and the next lookup starts its own
        if (this.#running.get(key) === query) this.#running.delete(key)
        query.stop.abort()
      }
    }
  }

  #start (key: string, cid: CID): Query {
    const query = new Query()
    this.#running.set(key, query)
    this.started++
    const ended = (err?: Error): void => {
      // a lookup from now on starts a new query
      if (this.#running.get(key) === query) this.#running.delete(key)
      query.end(err)
    }
    void (async () => {
      for await (const peer of this.#find(cid, { signal: query.stop.signal })) {
        query.add(peer)
        if (query.found.length >= MAX_SHARED_PROVIDERS) break
      }
    })().then(() => { ended() }, (err: Error) => {
      // a query stopped because nobody reads it ends quietly
      ended(query.stop.signal.aborted ? undefined : err)
    })
    return query
  }
}
