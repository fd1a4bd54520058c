/**
 * Upload sessions. Each session is one file in the staging directory,
 * written with appends and hashed (sha256) as the bytes arrive, so a closing
 * PUT checks the digest without reading the file again. Only a verified file
 * is imported into the blockstore, so a crash leaves no visible half-blob:
 * `start()` removes every staging file of an earlier run (sessions live in
 * memory), and a sweeper removes sessions untouched for `timeout` ms.
 */

import { createHash, randomUUID } from 'node:crypto'
import { mkdir, open, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { OciError } from './errors.js'
import type { FileHandle } from 'node:fs/promises'
import type { Hash } from 'node:crypto'

/** Session ids (and staging file names) are random UUIDs */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export interface UploadSession {
  readonly id: string
  readonly name: string
  readonly path: string
  /** bytes received so far */
  size: number
  readonly hash: Hash
  fh: FileHandle
  updated: number
  busy: boolean
}

export interface UploadsInit {
  dir: string
  maxSize: number
  maxConcurrent: number
  timeout: number
  sweepInterval: number
}

export class Uploads {
  readonly #init: UploadsInit
  readonly #sessions = new Map<string, UploadSession>()
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
    this.#timer = setInterval(() => { void this.sweep() }, this.#init.sweepInterval)
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
    const fh = await open(path, 'wx')
    const session: UploadSession = { id, name, path, size: 0, hash: createHash('sha256'), fh, updated: Date.now(), busy: false }
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
   * else is a 416). Bytes are written, then hashed, chunk by chunk, so after an
   * interrupted request the session holds exactly what arrived, and a GET of
   * its status tells the client where to resume.
   */
  async append (session: UploadSession, body: AsyncIterable<Uint8Array>, start?: number): Promise<number> {
    if (session.busy || (start != null && start !== session.size)) {
      throw rangeError(session, `chunk starts at ${start ?? '?'}, the upload holds ${session.size} bytes`)
    }
    session.busy = true
    let received = 0
    try {
      for await (const chunk of body) {
        if (session.size + chunk.byteLength > this.#init.maxSize) {
          throw new OciError('SIZE_INVALID', 413, `an upload may hold at most ${this.#init.maxSize} bytes`)
        }
        let offset = 0
        while (offset < chunk.byteLength) {
          const { bytesWritten } = await session.fh.write(chunk, offset, chunk.byteLength - offset, session.size + offset)
          offset += bytesWritten
        }
        session.hash.update(chunk)
        session.size += chunk.byteLength
        received += chunk.byteLength
        session.updated = Date.now()
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
    await session.fh.close().catch(() => {})
  }

  async remove (session: UploadSession): Promise<void> {
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
