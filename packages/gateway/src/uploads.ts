/**
 * Upload sessions. The bytes of an upload are hashed (sha256) as they
 * arrive, so a closing PUT checks the digest without reading them again, and
 * either
 * - imported into the blockstore as they arrive (a StreamingImport, for up to
 *   MAX_STREAMING_IMPORTS uploads at once): the blocks stay unpinned, and
 *   bound to no digest, until the closing PUT's digest matched; or
 * - appended to one file in the staging directory, imported when the digest
 *   matched.
 * Either way a crash leaves no visible half-blob: unpinned blocks are
 * removed by `gc()`, `start()` removes every staging file of an earlier run
 * (sessions live in memory), and a sweeper removes sessions untouched for
 * `timeout` ms.
 */

import { createHash, randomUUID } from 'node:crypto'
import { mkdir, open, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { copiesOnPut, importChunks } from '@provenir/content'
import { pushable } from 'it-pushable'
import { OciError } from './errors.js'
import type { BlobWriter, ContentBlockstore } from '@provenir/content'
import type { FileHandle } from 'node:fs/promises'
import type { Hash } from 'node:crypto'
import type { CID } from 'multiformats/cid'

/** Bytes of a request body gathered before they are written to the staging file */
export const STAGING_WRITE_BATCH = 1024 * 1024

/** Writes `chunks` (`bytes` in all) at `position`, however many calls the kernel needs. */
async function writeAllAt (fh: FileHandle, chunks: Uint8Array[], bytes: number, position: number): Promise<void> {
  let written = (await fh.writev(chunks, position)).bytesWritten
  if (written === bytes) return
  // a short write: finish chunk by chunk from where it stopped
  let offset = 0
  for (const chunk of chunks) {
    let from = Math.max(0, written - offset)
    while (from < chunk.byteLength) {
      const n = (await fh.write(chunk, from, chunk.byteLength - from, position + offset + from)).bytesWritten
      from += n
      written += n
    }
    offset += chunk.byteLength
  }
}

/** Session ids (and staging file names) are random UUIDs */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export interface UploadSession {
  readonly id: string
  readonly name: string
  /** The staging file, for an upload that is not imported while it arrives */
  readonly path: string
  /** bytes received so far */
  size: number
  readonly hash: Hash
  /** The open staging file; absent for a streaming import */
  fh?: FileHandle
  updated: number
  busy: boolean
  /** The upload's DAG, built while the bytes arrive; absent for a staged upload */
  readonly import?: StreamingImport
}

/** Bytes handed to a streaming import that it has not taken yet, before an append waits for it */
export const STREAMING_IMPORT_BACKLOG = 4 * 1024 * 1024

/**
 * Uploads imported while they arrive at once. Each holds up to about 9 MiB
 * (the backlog, and the importer's 4 leaves in flight); later uploads are
 * imported from their staged file when they end. skopeo and docker send 3 to
 * 4 blobs of an image at once.
 */
export const MAX_STREAMING_IMPORTS = 4

/** Where a streaming import writes: a blockstore, whose `guard` (when it has one) keeps the blocks from `gc()` until they are pinned */
export type UploadStore = BlobWriter & { guard?: ContentBlockstore['guard'] }

/**
 * A writer over `store` that guards each block from `gc()` before it writes
 * it, and adds the guard's release to `releases`: blocks of a blob are pinned
 * only once its digest checked.
 */
export function guardingWriter (store: UploadStore, releases: Array<() => void>): BlobWriter & { copiesOnPut: boolean } {
  return {
    put: async (cid, bytes, options) => {
      if (store.guard != null) releases.push(store.guard([cid]))
      return store.put(cid, bytes, options)
    },
    // it keeps the bytes no longer than the store does
    copiesOnPut: copiesOnPut(store)
  }
}

/** What a streaming import built: unpinned, and bound to no digest until the caller checks one */
export interface StreamedBlob {
  root: CID
  size: number
  blocks: CID[]
}

/**
 * Imports an upload into the blockstore while it is still arriving, so the
 * closing PUT does not wait for a whole blob to be chunked, hashed and
 * written after the last byte. It is fed the same bytes, in the same order,
 * as the upload's hash; the gateway binds its root to a digest only after
 * that hash matched. Its blocks stay unpinned until then, so a refused or
 * abandoned upload leaves only what `gc()` removes. If it fails, the upload
 * fails with it (there is no staged copy to fall back on).
 */
export class StreamingImport {
  readonly #queue = pushable<Uint8Array>()
  readonly #result: Promise<StreamedBlob>
  readonly #guards: Array<() => void> = []
  #error?: Error
  #ended = false

  /** @param onSettled - called once, when the import has ended (built, failed or aborted) */
  constructor (store: UploadStore, onSettled?: () => void) {
    // each block is guarded from gc() before it is written, until release()
    this.#result = importChunks(this.#queue, guardingWriter(store, this.#guards))
    this.#result.then(() => onSettled?.(), (err: Error) => {
      this.#error = err
      onSettled?.()
    })
  }

  /**
   * Hands bytes on; waits while more than STREAMING_IMPORT_BACKLOG of them
   * are not yet taken. Throws the import's error once it has failed (say the
   * disk is full), so the request that brought the bytes fails.
   */
  async push (chunks: Uint8Array[]): Promise<void> {
    if (this.#error != null) throw this.#error
    if (this.#ended) return
    for (const chunk of chunks) this.#queue.push(chunk)
    if (this.#queue.readableLength > STREAMING_IMPORT_BACKLOG) {
      // a failed import stops taking bytes: stop waiting for it then
      await Promise.race([this.#queue.onEmpty(), this.#result.then(() => {}, () => {})])
      if (this.#error != null) throw this.#error
    }
  }

  /** The end of the upload: the DAG of every byte pushed, or the import's error. */
  async finish (): Promise<StreamedBlob> {
    this.#ended = true
    this.#queue.end()
    return this.#result
  }

  /** Stops the import (the upload was abandoned or failed), and releases its blocks to gc(). */
  abort (): void {
    this.release()
    if (this.#ended) return
    this.#ended = true
    this.#queue.end(new Error('upload abandoned'))
  }

  /** Lets gc() have the blocks written so far: once they are pinned, or not wanted. */
  release (): void {
    for (const release of this.#guards.splice(0)) release()
  }
}

export interface UploadsInit {
  dir: string
  maxSize: number
  maxConcurrent: number
  timeout: number
  sweepInterval: number
  /** Where uploads are imported while they arrive (see StreamingImport), up to MAX_STREAMING_IMPORTS at once; without one, only the staging file is written */
  store?: UploadStore
  /** Where a failed background sweep is reported */
  log?(message: string): void
}

export class Uploads {
  readonly #init: UploadsInit
  readonly #sessions = new Map<string, UploadSession>()
  #streaming = 0
  #timer?: ReturnType<typeof setInterval>

  constructor (init: UploadsInit) {
    this.#init = init
  }

  get dir (): string {
    return this.#init.dir
  }

  get size (): number {
    return this.#sessions.size
  }

  /** Creates the staging directory and removes what an earlier run left in it. */
  async start (): Promise<void> {
    await mkdir(this.#init.dir, { recursive: true })
    // only files named like sessions go: a misconfigured path loses nothing else
    for (const entry of await readdir(this.#init.dir)) {
      if (SESSION_ID.test(entry)) await rm(join(this.#init.dir, entry), { force: true })
    }
    this.#timer = setInterval(() => {
      // a session that could not be removed stays, and the next sweep tries it again
      this.sweep().catch((err: Error) => { this.#init.log?.(`gateway: sweeping idle uploads failed: ${err.message}`) })
    }, this.#init.sweepInterval)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    for (const session of [...this.#sessions.values()]) await this.remove(session)
  }

  /** Removes sessions idle for longer than the timeout; returns how many. */
  async sweep (now = Date.now()): Promise<number> {
    let removed = 0
    for (const session of [...this.#sessions.values()]) {
      if (!session.busy && now - session.updated > this.#init.timeout) {
        await this.remove(session)
        removed++
      }
    }
    return removed
  }

  async create (name: string): Promise<UploadSession> {
    if (this.#sessions.size >= this.#init.maxConcurrent) {
      throw new OciError('TOOMANYREQUESTS', 429, `at most ${this.#init.maxConcurrent} uploads may be open at once`)
    }
    const id = randomUUID()
    const path = join(this.#init.dir, id)
    let streaming: StreamingImport | undefined
    let fh: FileHandle | undefined
    if (this.#init.store != null && this.#streaming < MAX_STREAMING_IMPORTS) {
      this.#streaming++
      streaming = new StreamingImport(this.#init.store, () => { this.#streaming-- })
    } else {
      fh = await open(path, 'wx')
    }
    const session: UploadSession = {
      id,
      name,
      path,
      size: 0,
      hash: createHash('sha256'),
      ...(fh != null ? { fh } : {}),
      updated: Date.now(),
      busy: false,
      ...(streaming != null ? { import: streaming } : {})
    }
    this.#sessions.set(id, session)
    return session
  }

  get (name: string, id: string): UploadSession {
    const session = this.#sessions.get(id)
    if (session == null || session.name !== name) throw new OciError('BLOB_UPLOAD_UNKNOWN', 404, undefined, { uuid: id })
    return session
  }

  /**
   * Appends a request body at `start` (the session's current size; anything
   * else is a 416). Bytes are hashed and kept (written to the staging file,
   * or handed to the streaming import) a batch at a time, so after an
   * interrupted request the session holds exactly what arrived, and a GET of
   * its status tells the client where to resume.
   */
  async append (session: UploadSession, body: AsyncIterable<Uint8Array>, start?: number): Promise<number> {
    if (session.busy || (start != null && start !== session.size)) {
      throw rangeError(session, `chunk starts at ${start ?? '?'}, the upload holds ${session.size} bytes`)
    }
    session.busy = true
    let received = 0
    // a request body arrives in ~64 KiB chunks: they are kept in batches of
    // about STAGING_WRITE_BATCH (one writev to a staging file costs the event
    // loop a twentieth of one write per chunk)
    let batch: Uint8Array[] = []
    let batchBytes = 0
    const flush = async (): Promise<void> => {
      if (batchBytes === 0) return
      const chunks = batch
      const bytes = batchBytes
      batch = []
      batchBytes = 0
      if (session.fh != null) await writeAllAt(session.fh, chunks, bytes, session.size)
      for (const chunk of chunks) session.hash.update(chunk)
      session.size += bytes
      received += bytes
      session.updated = Date.now()
      await session.import?.push(chunks)
    }
    try {
      try {
        for await (const chunk of body) {
          if (session.size + batchBytes + chunk.byteLength > this.#init.maxSize) {
            throw new OciError('SIZE_INVALID', 413, `an upload may hold at most ${this.#init.maxSize} bytes`)
          }
          batch.push(chunk)
          batchBytes += chunk.byteLength
          if (batchBytes >= STAGING_WRITE_BATCH) await flush()
        }
      } finally {
        // what arrived before an interrupted request is kept, so the client can resume after it
        await flush()
      }
    } finally {
      session.busy = false
      session.updated = Date.now()
    }
    return received
  }

  /** Closes the file and forgets the session (the file stays until `discard`). */
  async close (session: UploadSession): Promise<void> {
    this.#sessions.delete(session.id)
    await session.fh?.close().catch(() => {})
  }

  async remove (session: UploadSession): Promise<void> {
    session.import?.abort()
    await this.close(session)
    await rm(session.path, { force: true })
  }
}

/** The spec's 416 for a chunk that does not continue the upload, with the current `Range`. */
export function rangeError (session: UploadSession, message: string): OciError {
  return new OciError('RANGE_INVALID', 416, message, { uuid: session.id, size: session.size }, {
    Range: `0-${Math.max(0, session.size - 1)}`,
    Location: uploadLocation(session),
    'Docker-Upload-UUID': session.id,
    'Blob-Upload-Session-ID': session.id
  })
}

export function uploadLocation (session: UploadSession): string {
  return `/v2/${session.name}/blobs/uploads/${session.id}`
}
