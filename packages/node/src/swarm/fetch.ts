import * as dagPb from '@ipld/dag-pb'
import { BlobVerifier, getBlockBytes, verifyBlob } from '@provenir/content'
import * as raw from 'multiformats/codecs/raw'
import { BlobDagInvalidError } from '../errors.js'
import { shuffle } from './shuffle.js'
import type { TransportProgressEvents, TransportSession } from './transport.js'
import type { ContentBlockstore } from '@provenir/content'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { ProgressOptions } from 'progress-events'

/** Most blocks one blob DAG may hold: a 2^53-byte blob would need far fewer at 1 MiB chunks */
export const MAX_BLOB_BLOCKS = 1 << 22

/** Most levels a blob DAG may have */
export const MAX_BLOB_DEPTH = 8

export interface FetchBlobOptions extends ProgressOptions<TransportProgressEvents> {
  signal?: AbortSignal
  /** Called once, when the first block of the blob is held locally */
  onFirstBlock?(root: CID): void
  /**
   * Finds peers that advertise the blob's root. While a multi-block blob is
   * fetched it is asked again {@link PROVIDER_REFRESH_INTERVAL} ms after each
   * lookup, twice as long after one that found no new peer (up to
   * {@link MAX_PROVIDER_REFRESH_INTERVAL}), and new peers join the session: in
   * a rollout the pullers that started earlier serve the ones that started later.
   * The lookups stop once the session knows {@link ENOUGH_BLOB_PROVIDERS} peers.
   */
  findProviders?(root: CID, options: { signal: AbortSignal }): AsyncIterable<PeerId>
  /** Called once, when the first block below the root arrives (a multi-block blob's first leaf, for the pull's timings) */
  onFirstLeaf?(): void
  /** Ask for the blocks in DAG order instead of a shuffled order (see `PullOptions.sequential`) */
  sequential?: boolean
  /** Called with each level's blocks before they are fetched: keeps them from gc() until they are pinned */
  guard?(cids: CID[]): void
}

/** How soon a blob fetch looks again for more peers holding the blob after a lookup that found one, in ms */
export const PROVIDER_REFRESH_INTERVAL = 1_000

/**
 * The longest wait between two lookups of a blob's providers, in ms: after
 * a lookup that found no new peer the wait doubles up to this. A lookup
 * every second by every puller of a 16-host rollout kept the DHT, the peer
 * store and their garbage among the daemons' largest costs.
 */
export const MAX_PROVIDER_REFRESH_INTERVAL = 8_000

/**
 * Peers a blob fetch's session knows before it stops looking for more: as
 * many uplinks as that already serve a puller at its link's rate, and one
 * more lookup only finds pullers that started later. In the lab's 16-host
 * rollout the pullers' lookups, every one of them sent to every other
 * daemon, whose answers each name every daemon to the peer store, were the
 * daemons' largest cost (BENCHMARKS.md, "The rollout's costs").
 */
export const ENOUGH_BLOB_PROVIDERS = 8

/**
 * Keep adding the providers of `root` to the session until `signal` aborts
 * or the session knows ENOUGH_BLOB_PROVIDERS peers. Each lookup is bounded
 * by 5 s.
 */
async function refreshProviders (session: TransportSession, root: CID, find: NonNullable<FetchBlobOptions['findProviders']>, signal: AbortSignal): Promise<void> {
  const known = new Set(session.peers().map(p => p.toString()))
  let wait = PROVIDER_REFRESH_INTERVAL
  while (!signal.aborted) {
    // peers the session met otherwise (the image record's providers) count too
    for (const peer of session.peers()) known.add(peer.toString())
    if (known.size >= ENOUGH_BLOB_PROVIDERS) return
    const lookup = AbortSignal.any([signal, AbortSignal.timeout(5 * PROVIDER_REFRESH_INTERVAL)])
    let found = false
    try {
      for await (const peer of find(root, { signal: lookup })) {
        if (known.has(peer.toString())) continue
        known.add(peer.toString())
        session.addPeer(peer)
        found = true
        // the rest of the lookup would cost every daemon it reaches and bring nothing needed
        if (known.size >= ENOUGH_BLOB_PROVIDERS) return
      }
    } catch {}
    wait = found ? PROVIDER_REFRESH_INTERVAL : Math.min(wait * 2, MAX_PROVIDER_REFRESH_INTERVAL)
    await new Promise<void>(resolve => {
      const t = setTimeout(resolve, wait)
      signal.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
    })
  }
}

/** A dag-pb node of a blob's DAG; bytes that hash to their CID but do not decode are a DAG this blob cannot have */
function decodeNode (bytes: Uint8Array, digest: string, cid: CID): dagPb.PBNode {
  try {
    return dagPb.decode(bytes)
  } catch (err: any) {
    throw new BlobDagInvalidError(`blob ${digest}: block ${cid} is not a dag-pb node (${err?.message})`, { cause: err })
  }
}

/**
 * Fetch every block of the blob DAG under `root` through a transport session, level by
 * level, and check the whole blob against its OCI digest: a sequential fetch
 * hashes the leaves as they arrive in order; what was not hashed then (all of
 * a shuffled fetch) is read back from the store.
 * Blocks already in the blockstore are not fetched again, so an interrupted
 * fetch resumes where it stopped. Each block was checked against its CID by
 * the transport on receipt; the final digest check is what makes the blob complete.
 *
 * Returns the CIDs of every block of the blob (for pinning).
 *
 * @throws DigestMismatchError when the blob's bytes do not hash to `digest`
 * @throws BlobSizeMismatchError when they are not `size` bytes long
 * @throws BlobDagInvalidError when the DAG is too deep, too large, or holds a block that is neither raw nor dag-pb
 * @throws BlocksUnavailableError when no peer delivers the blocks
 */
export async function fetchBlob (session: TransportSession, blockstore: ContentBlockstore, root: CID, digest: string, size: number, options: FetchBlobOptions = {}): Promise<CID[]> {
  const all: CID[] = []
  let level: CID[] = [root]
  let first = true
  let leafSeen = false
  // a blob whose root was not held is fetched whole without asking the store
  // about each block first, here or in the session
  let fresh = false
  // the whole-blob check, fed the leaves as they arrive once every inner node is held
  let verifier: BlobVerifier | undefined
  let opened = false
  // the links of the inner nodes fetched, decoded as they arrived
  const decoded = new Map<string, CID[]>()
  // the session was told of the next level as its parents landed (told), until its want of
  // that level (telling, once it is this level) begins
  let told: Array<() => void> = []
  let telling: Array<() => void> = []
  const untell = (): void => { for (const end of telling.splice(0)) end() }
  try {
    for (let depth = 0; level.length > 0; depth++) {
      if (depth > MAX_BLOB_DEPTH) throw new BlobDagInvalidError(`blob ${digest}: DAG deeper than ${MAX_BLOB_DEPTH} levels`)
      options.guard?.(level)
      untell()
      telling = told
      told = []
      const missing: CID[] = []
      if (fresh) {
        missing.push(...level)
      } else {
        for (const cid of level) {
          if (!await blockstore.has(cid, { signal: options.signal })) missing.push(cid)
        }
        if (depth === 0 && missing.length > 0) fresh = true
      }
      if (!opened && level.every(cid => cid.code === raw.code)) {
        opened = true
        // the transport stored each leaf before it handed it on: the hash worker may read its file
        verifier = await BlobVerifier.open(root, blockstore, { expectedDigest: digest, size, signal: options.signal, offeredAreStored: true })
      }
      if (missing.length > 0) {
        const stopRefresh = new AbortController()
        if (depth > 0 && options.findProviders != null) {
          void refreshProviders(session, root, options.findProviders, AbortSignal.any([stopRefresh.signal, ...(options.signal != null ? [options.signal] : [])]))
        }
        try {
          const sequential = options.sequential === true
          // in order, a sequential fetch's leaves are hashed for the digest as they arrive
          // transient: each block is hashed (or passed over) before the next is asked for, so the
          // transport may reuse its buffer: a fresh 1 MiB buffer per block costs the puller a page
          // fault per 4 KiB and the garbage collector's time
          for await (const block of session.want(depth > 0 && !sequential ? shuffle(missing) : missing, { signal: options.signal, onProgress: options.onProgress, notHeld: fresh, ordered: sequential, transient: true })) {
            // the session's want of this level has begun: it counts its blocks itself
            untell()
            verifier?.offer(block.cid, block.bytes)
            if (block.cid.code === dagPb.code) {
              // the next level, known before the store is read again, and told to the session at
              // once: a reader of the blob's first leaves (the gateway's stream, woken as this
              // node is stored) waits for the session rather than asks a peer for them itself.
              // A copy: the buffer is the transport's to reuse, and the links point into it.
              const links = decodeNode(block.bytes.slice(), digest, block.cid).Links.map(link => link.Hash)
              decoded.set(block.cid.toString(), links)
              const end = session.expect?.(links)
              if (end != null) told.push(end)
            }
            if (depth > 0 && !leafSeen) {
              leafSeen = true
              options.onFirstLeaf?.()
            }
            if (first) {
              first = false
              options.onFirstBlock?.(root)
            }
          }
        } finally {
          stopRefresh.abort()
          untell()
        }
      } else if (first) {
        first = false
        options.onFirstBlock?.(root)
      }
      const next: CID[] = []
      for (const cid of level) {
        all.push(cid)
        if (all.length > MAX_BLOB_BLOCKS) throw new BlobDagInvalidError(`blob ${digest}: more than ${MAX_BLOB_BLOCKS} blocks`)
        if (cid.code === raw.code) continue
        if (cid.code !== dagPb.code) throw new BlobDagInvalidError(`blob ${digest}: block ${cid} is neither raw nor dag-pb`)
        const links = decoded.get(cid.toString()) ?? decodeNode(await getBlockBytes(blockstore, cid, { signal: options.signal }), digest, cid).Links.map(link => link.Hash)
        decoded.delete(cid.toString())
        for (const link of links) next.push(link)
      }
      level = next
    }
  } finally {
    untell()
    for (const end of told) end()
  }
  // the whole-blob check: the leaves not hashed on arrival are read back in
  // order through the digest. Each block was already hashed against its CID
  // on receipt (by the transport), so the read does not hash blocks again.
  if (verifier != null) await verifier.finish()
  else await verifyBlob(root, blockstore, { expectedDigest: digest, size, signal: options.signal })
  return all
}

