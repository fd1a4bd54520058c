/**
 * The highest seq seen per (UserId, repo). A record with a lower seq is a
 * rollback: it was validly signed once, but the owner has since published a
 * newer one, and replaying it would freeze or roll back the repository.
 */

import { Key, type Datastore } from 'interface-datastore'
import { RollbackError } from './errors.js'
import type { AbortOptions } from '@libp2p/interface'

export interface SeqStore {
  /** The highest seq seen for (owner, repo), if any */
  get(owner: string, repo: string, options?: AbortOptions): Promise<number | undefined>
  /**
   * Records `seq` for (owner, repo) if it is the highest yet. An equal seq is
   * accepted (a republish of the same record).
   *
   * @throws RollbackError when a higher seq was seen before
   */
  observe(owner: string, repo: string, seq: number, options?: AbortOptions): Promise<void>
}

function rollback (owner: string, repo: string, seq: number, highest: number): RollbackError {
  return new RollbackError(`seq ${seq} of ${owner}/${repo} is below seq ${highest}, already seen: refusing a rollback`)
}

/** A SeqStore in memory, bounded: the oldest entries are forgotten past `maxEntries`. */
export class MemorySeqStore implements SeqStore {
  private readonly seen = new Map<string, number>()
  private readonly maxEntries: number

  /** @param maxEntries - @default 100_000 */
  constructor (maxEntries = 100_000) {
    this.maxEntries = maxEntries
  }

  async get (owner: string, repo: string): Promise<number | undefined> {
    return this.seen.get(`${owner}/${repo}`)
  }

  async observe (owner: string, repo: string, seq: number): Promise<void> {
    const k = `${owner}/${repo}`
    const highest = this.seen.get(k)
    if (highest != null && seq < highest) throw rollback(owner, repo, seq, highest)
    if (highest == null && this.seen.size >= this.maxEntries) {
      const oldest = this.seen.keys().next().value
      if (oldest != null) this.seen.delete(oldest)
    }
    this.seen.set(k, seq)
  }
}

/**
 * A SeqStore over an `interface-datastore` Datastore (the node's level
 * datastore), so the highest seq survives a restart. Keys are
 * `<prefix>/<UserId>/<repo>`, values the seq as decimal text. Updates of one
 * (UserId, repo) are serialised in this process.
 */
export class DatastoreSeqStore implements SeqStore {
  private readonly datastore: Datastore
  private readonly prefix: string
  private readonly locks = new Map<string, Promise<void>>()

  /** @param prefix - @default '/provenir-naming/seq' */
  constructor (datastore: Datastore, prefix = '/provenir-naming/seq') {
    this.datastore = datastore
    this.prefix = prefix
  }

  private key (owner: string, repo: string): Key {
    return new Key(`${this.prefix}/${owner}/${repo}`)
  }

  async get (owner: string, repo: string, options?: AbortOptions): Promise<number | undefined> {
    const key = this.key(owner, repo)
    if (!(await this.datastore.has(key, options))) return undefined
    const value = Number(new TextDecoder().decode(await this.datastore.get(key, options)))
    return Number.isSafeInteger(value) ? value : undefined
  }

  async observe (owner: string, repo: string, seq: number, options?: AbortOptions): Promise<void> {
    const k = `${owner}/${repo}`
    const previous = this.locks.get(k) ?? Promise.resolve()
    const run = previous.then(async () => {
      const highest = await this.get(owner, repo, options)
      if (highest != null && seq < highest) throw rollback(owner, repo, seq, highest)
      if (highest !== seq) await this.datastore.put(this.key(owner, repo), new TextEncoder().encode(String(seq)), options)
    })
    const settled = run.catch(() => {})
    this.locks.set(k, settled)
    try {
      await run
    } finally {
      if (this.locks.get(k) === settled) this.locks.delete(k)
    }
  }
}
