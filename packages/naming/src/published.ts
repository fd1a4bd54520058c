/**
 * What this node publishes, per (UserId, repo): the content (to republish it,
 * also after a restart), the signed pointer record (which answers
 * resolutions on this node before the DHT is asked, so a name works with no
 * peer), and whether the DHT still has to take it.
 *
 * Kept in memory and, with a datastore, under
 * `/provenir-naming/published/<UserId>/<repo>` as JSON.
 */

import { isUserId } from '@provenir/trust'
import { Key } from 'interface-datastore'
import { base64 } from 'multiformats/bases/base64'
import { NAMING_MAX_PUBLISHED } from './constants.js'
import { isRepoName } from './signed.js'
import type { AbortOptions, PrivateKey } from '@libp2p/interface'
import type { UserId } from '@provenir/trust'
import type { Datastore } from 'interface-datastore'

const PUBLISHED_PREFIX = '/provenir-naming/published'

/** The content of a published repository, as the document holds it */
export interface PublishedContent {
  images: Record<string, { mediaType: string, blobs: Array<{ digest: string, size: number, root: string }> }>
  tags: Record<string, string>
  statements?: Record<string, string[]>
}

/** One published repository, as stored */
export interface PublishedRecord {
  /** Name of the namespace key that signs it */
  key: string
  repo: string
  content: PublishedContent
  documentCid: string
  /** The signed pointer record (base64) and its seq; a record without them is republished at start before it answers here */
  pointer?: string
  seq?: number
}

/** A published repository in memory */
export interface PublishedEntry {
  owner: UserId
  record: PublishedRecord
  /** The signed pointer's bytes, when the record has one */
  pointer?: Uint8Array
  /** The key, once read from the key source */
  key?: PrivateKey
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class PublishedRecords {
  private readonly entries = new Map<string, PublishedEntry>()

  constructor (private readonly datastore?: Datastore) {}

  get size (): number { return this.entries.size }

  get (owner: string, repo: string): PublishedEntry | undefined {
    return this.entries.get(`${owner}/${repo}`)
  }

  all (): PublishedEntry[] {
    return [...this.entries.values()]
  }

  /** Reads what the datastore holds (at most NAMING_MAX_PUBLISHED); a record that does not parse is skipped */
  async load (options: AbortOptions = {}): Promise<PublishedEntry[]> {
    if (this.datastore == null) return []
    for await (const { key, value } of this.datastore.query({ prefix: PUBLISHED_PREFIX }, options)) {
      if (this.entries.size >= NAMING_MAX_PUBLISHED) break
      const [owner, repo] = key.toString().slice(PUBLISHED_PREFIX.length + 1).split('/')
      const record = parseRecord(value)
      if (!isUserId(owner) || repo !== record?.repo) continue
      this.entries.set(`${owner}/${repo}`, entryOf(owner, record))
    }
    return this.all()
  }

  /**
   * Stores `record` as what `owner` publishes for its repo, in memory and in
   * the datastore. Returns the document CID it replaces, if another.
   */
  async put (owner: UserId, record: PublishedRecord, key: PrivateKey, options: AbortOptions = {}): Promise<string | undefined> {
    const id = `${owner}/${record.repo}`
    const previous = this.entries.get(id)?.record.documentCid
    await this.datastore?.put(new Key(`${PUBLISHED_PREFIX}/${id}`), encoder.encode(JSON.stringify(record)), options)
    this.entries.set(id, { ...entryOf(owner, record), key })
    return previous !== record.documentCid ? previous : undefined
  }
}

function entryOf (owner: UserId, record: PublishedRecord): PublishedEntry {
  const entry: PublishedEntry = { owner, record }
  if (record.pointer != null) entry.pointer = base64.baseDecode(record.pointer)
  return entry
}

function parseRecord (value: Uint8Array): PublishedRecord | undefined {
  try {
    const r = JSON.parse(decoder.decode(value))
    if (typeof r?.key !== 'string' || !isRepoName(r.repo) || typeof r.documentCid !== 'string' || typeof r.content !== 'object' || r.content == null) return undefined
    if (r.pointer != null && typeof r.pointer !== 'string') return undefined
    return r
  } catch {
    return undefined
  }
}

/** A pointer's bytes as a record stores them */
export function encodePointer (pointer: Uint8Array): string {
  return base64.baseEncode(pointer)
}
