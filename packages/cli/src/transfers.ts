/**
 * The transfers a daemon runs (pulls through `POST /api/v0/image/pull`),
 * as the dashboard and `GET /api/v0/transfers` show them: progress, rate,
 * and how many bytes each source gave (`local`, or a swarm peer's NodeId).
 * Fed by the same progress events the pull route streams to the CLI, so the
 * page and `provenir image pull` count the same bytes.
 */
import { MAX_PEERS_DETAILED, MAX_TRANSFERS_LISTED, MAX_TRANSFER_SOURCES } from './constants.js'
import type { ProvenirNode } from '@provenir/node'

/** One transfer as the API shows it */
export interface TransferInfo {
  id: number
  kind: 'pull'
  /** Who asked: the RPC API (`provenir image pull`, the dashboard) or a registry client through the gateway */
  via: 'api' | 'gateway'
  /** The manifest digest */
  digest: string
  /** The name it was pulled by, when it was */
  reference?: string
  state: 'running' | 'done' | 'failed'
  /** ms since the epoch */
  startedAt: number
  finishedAt?: number
  /** Block bytes received so far */
  bytes: number
  /** Bytes of the manifest and its blobs, once the manifest is in */
  total?: number
  /** Bytes per second over the last few seconds (running) or on average (finished) */
  rate: number
  /** Bytes by source, most first: `local` or a peer's NodeId; `other` past MAX_TRANSFER_SOURCES */
  sources: Array<{ source: string, bytes: number }>
  /** The error's name and message, when it failed */
  error?: { name: string, message: string }
}

/** `GET /api/v0/transfers` */
export interface TransfersResponse {
  transfers: TransferInfo[]
}

/** How far back the running rate looks, in ms */
const RATE_WINDOW_MS = 5_000
/** Finished transfers kept for the listing */
const FINISHED_KEPT = 8

class Transfer {
  readonly info: TransferInfo
  readonly #sources = new Map<string, number>()
  /** (time, bytes) samples for the running rate, oldest first */
  readonly #samples: Array<[number, number]> = []

  constructor (id: number, digest: string, reference: string | undefined, via: TransferInfo['via']) {
    this.info = { id, kind: 'pull', via, digest, ...(reference != null ? { reference } : {}), state: 'running', startedAt: Date.now(), bytes: 0, rate: 0, sources: [] }
  }

  /** A progress event of the pull: its total, and each block's bytes and source */
  observe (evt: { type: string, detail?: any }): void {
    if (evt.type === 'pull:ready') {
      const ready = evt.detail as { manifest: { size: number }, blobs: Array<{ size: number }> }
      this.info.total = ready.manifest.size + ready.blobs.reduce((n, b) => n + b.size, 0)
      return
    }
    if ((evt.type !== 'bitswap:block' && evt.type !== 'bulk:block') || typeof evt.detail?.bytes !== 'number') return
    const bytes: number = evt.detail.bytes
    this.info.bytes += bytes
    let source = evt.detail.local === true || evt.detail.peer == null ? 'local' : String(evt.detail.peer)
    if (!this.#sources.has(source) && this.#sources.size >= MAX_TRANSFER_SOURCES) source = 'other'
    this.#sources.set(source, (this.#sources.get(source) ?? 0) + bytes)
    const now = Date.now()
    const last = this.#samples.at(-1)
    // one sample per 100 ms is enough for a rate over seconds, and bounds the array
    if (last == null || now - last[0] >= 100) this.#samples.push([now, this.info.bytes])
    else last[1] = this.info.bytes
    while (this.#samples.length > 2 && now - this.#samples[0][0] > RATE_WINDOW_MS) this.#samples.shift()
  }

  finish (err?: unknown): void {
    this.info.finishedAt = Date.now()
    this.info.state = err == null ? 'done' : 'failed'
    if (err != null) {
      const e = err as { name?: unknown, message?: unknown }
      this.info.error = { name: typeof e.name === 'string' ? e.name : 'Error', message: typeof e.message === 'string' ? e.message : String(err) }
    }
  }

  snapshot (): TransferInfo {
    const now = this.info.finishedAt ?? Date.now()
    let rate: number
    if (this.info.state === 'running') {
      const first = this.#samples[0]
      rate = first == null || now - first[0] <= 0 ? 0 : (this.info.bytes - first[1]) * 1000 / Math.max(now - first[0], 1000)
    } else {
      rate = this.info.bytes * 1000 / Math.max(now - this.info.startedAt, 1)
    }
    const sources = [...this.#sources.entries()].sort((a, b) => b[1] - a[1]).map(([source, bytes]) => ({ source, bytes }))
    return { ...this.info, rate: Math.round(rate), sources }
  }
}

/** A handle on one transfer the tracker follows */
export interface TrackedTransfer {
  /** Pass every progress event of the pull */
  observe(evt: { type: string, detail?: unknown }): void
  /** The pull ended: with its error, or without one */
  finish(err?: unknown): void
}

/** The transfers of one node */
export class TransferTracker {
  #next = 1
  readonly #running = new Map<number, Transfer>()
  readonly #finished: Transfer[] = []
  /** Bytes the node's pulls received through the bulk channel (bitswap's are in its ledgers) */
  bulkBytesIn = 0
  /** The same by peer, for the peers view; at most MAX_PEERS_DETAILED peers (the oldest entry gives way) */
  readonly bulkByPeer = new Map<string, number>()

  start (digest: string, reference?: string, via: TransferInfo['via'] = 'api'): TrackedTransfer {
    const transfer = new Transfer(this.#next++, digest, reference, via)
    this.#running.set(transfer.info.id, transfer)
    return {
      observe: (evt) => {
        transfer.observe(evt)
        const detail = evt.detail as { local?: boolean, bytes?: unknown } | undefined
        if (evt.type !== 'bulk:block' || detail?.local === true || typeof detail?.bytes !== 'number') return
        this.bulkBytesIn += detail.bytes
        const peer = String((evt.detail as { peer?: unknown }).peer)
        if (!this.bulkByPeer.has(peer) && this.bulkByPeer.size >= MAX_PEERS_DETAILED) this.bulkByPeer.delete(this.bulkByPeer.keys().next().value as string)
        this.bulkByPeer.set(peer, (this.bulkByPeer.get(peer) ?? 0) + detail.bytes)
      },
      finish: (err) => {
        if (!this.#running.delete(transfer.info.id)) return
        transfer.finish(err)
        this.#finished.unshift(transfer)
        this.#finished.length = Math.min(this.#finished.length, FINISHED_KEPT)
      }
    }
  }

  /** Transfers in progress (oldest first), then the latest finished, at most MAX_TRANSFERS_LISTED */
  list (): TransferInfo[] {
    return [...this.#running.values(), ...this.#finished].slice(0, MAX_TRANSFERS_LISTED).map(t => t.snapshot())
  }
}

const trackers = new WeakMap<ProvenirNode, TransferTracker>()

/** The transfer tracker of a node (one per node, shared by the routes) */
export function transfersOf (node: ProvenirNode): TransferTracker {
  let tracker = trackers.get(node)
  if (tracker == null) {
    tracker = new TransferTracker()
    trackers.set(node, tracker)
  }
  return tracker
}
