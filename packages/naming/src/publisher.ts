/**
 * Publishing and republishing an owner's repositories.
 *
 * Each publish signs a new document and a new pointer record with the next
 * seq (one above the highest this owner has published or seen), stores the
 * document as a block, and puts the pointer in the DHT. Republishing does the
 * same with the last published content, so that the expiry moves forward and
 * the records stay in the DHT; every republish therefore has a new seq.
 *
 * A publish that fails uses no seq: the seq is taken (recorded in the
 * SeqStore) only once the record is stored somewhere, by the caller's
 * `commit` (its own record store) or, without one, by `putRecord`.
 */

import { repeatingTask, type RepeatingTask } from '@libp2p/utils'
import { InvalidParametersError } from '@provenir/interface'
import { userIdFromKey, type UserId } from '@provenir/trust'
import { equals } from 'uint8arrays/equals'
import { DEFAULT_RECORD_LIFETIME, DEFAULT_REPUBLISH_INTERVAL, PUBLISH_TIMEOUT } from './constants.js'
import { createRepoDocument, signRepoDocument, type ImageLike, type RepoImage } from './document.js'
import { repoKey, signRepoPointer } from './pointer.js'
import { MemorySeqStore, type SeqStore } from './seq-store.js'
import type { AbortOptions, ComponentLogger, Logger, PrivateKey, Startable } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { CID } from 'multiformats/cid'

/** Stores (and provides) a block */
export type BlockPutter = (cid: CID, bytes: Uint8Array, options: AbortOptions) => Promise<void>

/** Puts a DHT record; returns how many peers stored it */
export type RecordPutter = (key: Uint8Array, value: Uint8Array, options: AbortOptions) => Promise<number>

export interface RepoContent {
  images?: ImageLike[] | Record<string, RepoImage>
  tags?: Record<string, string>
  statements?: Record<string, Array<string | CID>>
}

/** A signed document and pointer, before the pointer is put anywhere */
export interface SignedRepoRecord {
  owner: UserId
  repo: string
  seq: number
  expires: string
  documentCid: CID
  pointer: Uint8Array
}

export interface PublishOptions extends AbortOptions {
  /**
   * Stores the signed record locally once its document block is stored, and
   * before the pointer goes to the DHT. The seq is taken once it resolves; if
   * it throws, the publish fails and uses no seq.
   */
  commit?(record: SignedRepoRecord, options: AbortOptions): Promise<void>
}

export interface PublishResult {
  owner: UserId
  repo: string
  seq: number
  documentCid: CID
  pointer: Uint8Array
  /** peers that stored the pointer */
  peers: number
}

export interface RepoPublisherInit {
  /** The namespace key */
  key: PrivateKey
  putBlock: BlockPutter
  putRecord: RecordPutter
  /** Shared with the node's validator, so a publish never goes below a seq seen in the DHT */
  seqStore?: SeqStore
  /** @default DEFAULT_RECORD_LIFETIME (48 h) */
  lifetime?: number
  /** @default DEFAULT_REPUBLISH_INTERVAL (4 h) */
  republishInterval?: number
  logger?: ComponentLogger
}

export class RepoPublisher implements Startable {
  readonly owner: UserId
  private readonly init: RepoPublisherInit
  private readonly seqStore: SeqStore
  private readonly content = new Map<string, RepoContent>()
  private readonly task: RepeatingTask
  private readonly log?: Logger
  private started = false
  private queue: Promise<unknown> = Promise.resolve()

  constructor (init: RepoPublisherInit) {
    const lifetime = init.lifetime ?? DEFAULT_RECORD_LIFETIME
    const interval = init.republishInterval ?? DEFAULT_REPUBLISH_INTERVAL
    if (!(interval > 0) || !(lifetime > interval)) throw new InvalidParametersError('RepoPublisher: the republish interval must be positive and shorter than the record lifetime')
    this.init = init
    this.owner = userIdFromKey(init.key)
    this.seqStore = init.seqStore ?? new MemorySeqStore()
    this.log = init.logger?.forComponent('provenir:naming:publisher')
    this.task = repeatingTask(async (options) => { await this.republish(options) }, interval, { timeout: PUBLISH_TIMEOUT })
  }

  isStarted (): boolean { return this.started }

  async start (): Promise<void> {
    this.task.start()
    this.started = true
  }

  async stop (): Promise<void> {
    this.task.stop()
    this.started = false
  }

  /** Publishes `content` as the new state of `repo`, and remembers it for republishing. */
  async publish (repo: string, content: RepoContent, options: PublishOptions = {}): Promise<PublishResult> {
    const run = this.queue.then(async () => this.publishNow(repo, content, options))
    this.queue = run.catch(() => {})
    const result = await run
    this.content.set(repo, content)
    return result
  }

  /** Republishes every repository published through this publisher. */
  async republish (options: AbortOptions = {}): Promise<PublishResult[]> {
    const out: PublishResult[] = []
    for (const [repo, content] of this.content) {
      try {
        out.push(await this.publish(repo, content, options))
      } catch (err: unknown) {
        this.log?.error('republishing %s/%s failed - %e', this.owner, repo, err)
      }
    }
    return out
  }

  private async publishNow (repo: string, content: RepoContent, options: PublishOptions): Promise<PublishResult> {
    const signal = AbortSignal.any([AbortSignal.timeout(PUBLISH_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
    const seq = ((await this.seqStore.get(this.owner, repo, { signal })) ?? 0) + 1
    const lifetime = this.init.lifetime ?? DEFAULT_RECORD_LIFETIME
    const expires = new Date(Date.now() + lifetime).toISOString()
    const signed = await signRepoDocument(createRepoDocument({ owner: this.owner, repo, ...content, seq, expires }), this.init.key)
    await this.init.putBlock(signed.cid, signed.bytes, { signal })
    const pointer = await signRepoPointer({ repo, seq, doc: signed.cid, expires }, this.init.key)
    let peers: number
    if (options.commit != null) {
      await options.commit({ owner: this.owner, repo, seq, expires, documentCid: signed.cid, pointer }, { signal })
      await this.seqStore.observe(this.owner, repo, seq, { signal })
      peers = await this.init.putRecord(repoKey(this.owner, repo), pointer, { signal })
    } else {
      peers = await this.init.putRecord(repoKey(this.owner, repo), pointer, { signal })
      await this.seqStore.observe(this.owner, repo, seq, { signal })
    }
    this.log?.('published %s/%s seq %d (%c) to %d peers', this.owner, repo, seq, signed.cid, peers)
    return { owner: this.owner, repo, seq, documentCid: signed.cid, pointer, peers }
  }
}

/** A RecordPutter over kad-dht: counts the peers that answered PUT_VALUE with the same value */
export function dhtRecordPutter (dht: Pick<KadDHT, 'put'>): RecordPutter {
  return async (key, value, options) => {
    let peers = 0
    for await (const event of dht.put(key, value, options)) {
      if (event.name === 'PEER_RESPONSE' && event.record != null && equals(event.record.value, value)) peers++
    }
    return peers
  }
}
