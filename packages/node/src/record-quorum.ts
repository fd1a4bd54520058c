/**
 * The image record of a pull by digest, from more than one provider.
 *
 * A provider's record is a hint: every blob is checked against its digest
 * and every statement against its signature. But a pull that trusted the
 * first answer alone could be failed by one provider: a stale record (it
 * pulled the image before a signature was attached) or a forged one (no
 * statements, or a decoy DAG root) would fail an `enforce` policy or a
 * blob's digest check although every other provider holds the right one.
 * So the pull asks up to RECORD_QUORUM providers, merges their statements,
 * and keeps every root they name for a blob, most named first, to fall back
 * on when one fails its digest.
 */

import { CID } from 'multiformats/cid'
import { MAX_IMAGE_STATEMENTS } from '@provenir/content'
import type { PeerId } from '@libp2p/interface'
import type { ImageRecord } from '@provenir/content'

/** Providers whose records a pull merges (asked at once) */
export const RECORD_QUORUM = 3

/** Once the first record is in, how long the providers already asked may still answer, in ms */
export const RECORD_GRACE = 300

export interface FindRecordsOptions {
  signal: AbortSignal
  /** @default RECORD_QUORUM */
  quorum?: number
  /** @default RECORD_GRACE */
  grace?: number
}

type Event =
  { kind: 'peer', result: IteratorResult<PeerId> } |
  { kind: 'answer', id: number, peer: PeerId, record?: ImageRecord } |
  { kind: 'grace' } |
  { kind: 'stop' }

/**
 * Asks the candidates, in order and up to `quorum` at once, for their
 * record, until the first record is in; then waits for the providers
 * already asked, at most `grace` ms. Returns the records in once `quorum`
 * are in, once every provider asked has answered (or `grace` is over) after
 * the first record, once the candidates are exhausted and every answer is
 * in, or once `options.signal` aborts (a lookup that ran out of time: the
 * caller checks its own signal). A provider that fails or has no
 * record is replaced by the next candidate. `ask` and `candidates` get a
 * signal that aborts when no more answers are wanted. `peers` are those
 * that answered with a record, in the order of `records`.
 */
export async function findRecords (candidates: (signal: AbortSignal) => AsyncIterable<PeerId>, ask: (peer: PeerId, signal: AbortSignal) => Promise<ImageRecord | undefined>, options: FindRecordsOptions): Promise<{ records: ImageRecord[], peers: PeerId[], asked: number }> {
  const quorum = Math.max(1, options.quorum ?? RECORD_QUORUM)
  const grace = options.grace ?? RECORD_GRACE
  const done = new AbortController()
  const signal = AbortSignal.any([options.signal, done.signal])
  const iterator = candidates(signal)[Symbol.asyncIterator]()
  const records: ImageRecord[] = []
  const answered: PeerId[] = []
  const tried = new Set<string>()
  const pending = new Map<number, Promise<Event>>()
  let next: Promise<Event> | undefined
  let exhausted = false
  let ids = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let deadline: Promise<Event> | undefined
  const aborted = new Promise<Event>(resolve => {
    if (options.signal.aborted) resolve({ kind: 'stop' })
    else options.signal.addEventListener('abort', () => { resolve({ kind: 'stop' }) }, { once: true })
  })
  try {
    while (records.length < quorum) {
      // once a record is in, only the providers already asked may still add theirs: a lookup
      // still looking for more does not hold the pull up
      const asking = records.length === 0
      if (asking && !exhausted && next == null && pending.size < quorum) {
        // a lookup that failed has no more candidates: the providers asked still answer
        next = iterator.next().then(result => ({ kind: 'peer' as const, result }), () => ({ kind: 'peer' as const, result: { done: true, value: undefined } as const }))
      }
      if (!asking && pending.size === 0) break
      const waits: Array<Promise<Event>> = [...pending.values()]
      if (asking && next != null) waits.push(next)
      if (deadline != null) waits.push(deadline)
      if (waits.length === 0) break
      const event = await Promise.race([...waits, aborted])
      if (event.kind === 'grace' || event.kind === 'stop') break
      if (event.kind === 'peer') {
        next = undefined
        if (event.result.done === true) {
          exhausted = true
          continue
        }
        const peer = event.result.value
        if (tried.has(peer.toString())) continue
        tried.add(peer.toString())
        const id = ids++
        pending.set(id, ask(peer, signal).then(record => ({ kind: 'answer' as const, id, peer, record }), () => ({ kind: 'answer' as const, id, peer })))
        continue
      }
      pending.delete(event.id)
      if (event.record != null) {
        records.push(event.record)
        answered.push(event.peer)
        deadline ??= new Promise<Event>(resolve => { timer = setTimeout(() => { resolve({ kind: 'grace' }) }, grace) })
      }
    }
  } finally {
    clearTimeout(timer)
    done.abort()
    // a lookup still running stops on `signal`; its generator then finishes
    void Promise.resolve(iterator.return?.()).catch(() => {})
  }
  return { records, peers: answered, asked: tried.size }
}

/** What a pull takes from several providers' records of one image */
export interface MergedRecord {
  /** Statement CIDs, those named by more records first, at most MAX_IMAGE_STATEMENTS */
  statements: string[]
  /** Each blob's candidate DAG roots, those named by more records first */
  roots: Map<string, CID[]>
}

/** Items in order of how many lists name them, then of first appearance */
function byVotes (lists: string[][]): string[] {
  const votes = new Map<string, { count: number, first: number }>()
  let position = 0
  for (const list of lists) {
    for (const item of new Set(list)) {
      const v = votes.get(item)
      if (v == null) votes.set(item, { count: 1, first: position++ })
      else v.count++
    }
  }
  return [...votes.entries()].sort((a, b) => (b[1].count - a[1].count) || (a[1].first - b[1].first)).map(([item]) => item)
}

/**
 * Merges the records of one image, in the order they arrived. A statement or
 * root named by more providers comes first, so a lone provider's padding
 * cannot push the others' out of the statement cap or put its root first.
 * Unparseable roots are dropped.
 */
export function mergeRecords (records: ImageRecord[]): MergedRecord {
  const statements = byVotes(records.map(r => (r.statements ?? []).slice(0, MAX_IMAGE_STATEMENTS))).slice(0, MAX_IMAGE_STATEMENTS)
  const digests = new Set(records.flatMap(r => r.blobs.map(b => b.digest)))
  const roots = new Map<string, CID[]>()
  for (const digest of digests) {
    const named = byVotes(records.map(r => r.blobs.filter(b => b.digest === digest).map(b => b.root)))
    const cids: CID[] = []
    for (const root of named) {
      try {
        cids.push(CID.parse(root))
      } catch {}
    }
    if (cids.length > 0) roots.set(digest, cids)
  }
  return { statements, roots }
}
