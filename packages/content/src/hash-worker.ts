/**
 * The worker thread behind `off-thread-hash.ts`. Three kinds of job:
 *
 * - `block`: hashes the bytes it is sent and sends them back with the
 *   digest; their buffer is transferred both ways, never copied;
 * - `files`: hashes files in order as one stream, and answers with the
 *   digest and each file's size. Reads are synchronous, one file at a time,
 *   and the worker takes the `block` jobs waiting between two files, so a
 *   long read-back does not hold up the blocks being received;
 * - `stream-add` / `stream-end`: the same, one file per message, as a fetch
 *   stores a blob's leaves in order; `stream-end` answers with the digest
 *   and the sizes. A file that cannot be read ends the stream.
 * - `write`: writes a block's bytes, shared with the caller, to a new
 *   temporary file (`writeFullySync`), renames it into place and answers with the
 *   file's stamp (synchronous calls here, one message there and back, where
 *   the event loop would make ~20 trips through libuv's pool).
 *
 * @internal
 */

import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, renameSync, statSync } from 'node:fs'
import { setImmediate } from 'node:timers/promises'
import { parentPort } from 'node:worker_threads'
import { writeFullySync } from './fs-util.js'
import type { BlockJob, FilesJob, HashAnswer, StreamAddJob, StreamEndJob, WriteJob } from './off-thread-hash.js'

/** Bytes read per call, into one buffer reused for every file */
const READ_SIZE = 1024 * 1024

const buffer = Buffer.allocUnsafe(READ_SIZE)

/** Streams kept at once: one a fetch left (it failed) goes with the oldest */
const MAX_STREAMS = 256

const streams = new Map<number, { hash: ReturnType<typeof createHash>, sizes: number[] }>()

function reply (answer: HashAnswer, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(answer, transfer)
}

function failure (id: number, err: any): HashAnswer {
  return { id, error: { message: String(err?.message ?? err), ...(typeof err?.code === 'string' ? { code: err.code } : {}) } }
}

function block (job: BlockJob): void {
  try {
    const digest = createHash(job.algorithm).update(new Uint8Array(job.buffer, job.offset, job.length)).digest()
    reply({ id: job.id, digest, buffer: job.buffer }, [job.buffer])
  } catch (err) {
    reply({ ...failure(job.id, err), buffer: job.buffer }, [job.buffer])
  }
}

/** Hashes one file into `hash`; returns its size */
function hashFile (path: string, hash: ReturnType<typeof createHash>): number {
  const fd = openSync(path, 'r')
  let size = 0
  try {
    for (let n = readSync(fd, buffer, 0, READ_SIZE, null); n > 0; n = readSync(fd, buffer, 0, READ_SIZE, null)) {
      hash.update(buffer.subarray(0, n))
      size += n
    }
  } finally {
    closeSync(fd)
  }
  return size
}

async function files (job: FilesJob): Promise<HashAnswer> {
  const cancelled = new Int32Array(job.cancel)
  const hash = createHash(job.algorithm)
  const sizes: number[] = []
  for (const path of job.paths) {
    // the block jobs that came meanwhile go first
    await setImmediate()
    if (Atomics.load(cancelled, 0) !== 0) return { id: job.id, cancelled: true }
    sizes.push(hashFile(path, hash))
  }
  return { id: job.id, hex: hash.digest('hex'), sizes }
}

function streamAdd (job: StreamAddJob): HashAnswer {
  let stream = streams.get(job.stream)
  if (stream == null) {
    // a stream this worker did not start (it was restarted, or ended it) cannot go on
    if (!job.first) throw new Error(`hash stream ${job.stream} is unknown to this worker`)
    stream = { hash: createHash(job.algorithm), sizes: [] }
    streams.set(job.stream, stream)
    if (streams.size > MAX_STREAMS) streams.delete(streams.keys().next().value as number)
  }
  try {
    stream.sizes.push(hashFile(job.path, stream.hash))
  } catch (err) {
    streams.delete(job.stream)
    throw err
  }
  return { id: job.id }
}

function streamEnd (job: StreamEndJob): HashAnswer {
  const stream = streams.get(job.stream)
  streams.delete(job.stream)
  if (job.drop === true) return { id: job.id }
  if (stream == null) throw new Error(`hash stream ${job.stream} is unknown to this worker`)
  return { id: job.id, hex: stream.hash.digest('hex'), sizes: stream.sizes }
}

/** Writes the job's bytes to `tmp` (which must not exist), renames it to `path`; answers with the file's stamp */
function write (job: WriteJob): HashAnswer {
  const bytes = new Uint8Array(job.buffer, 0, job.length)
  const fd = openSync(job.tmp, 'wx')
  try {
    writeFullySync(fd, bytes, 0)
  } finally {
    closeSync(fd)
  }
  renameSync(job.tmp, job.path)
  const st = statSync(job.path, { bigint: true })
  return { id: job.id, stamp: { dev: st.dev, ino: st.ino, size: st.size, ctimeNs: st.ctimeNs, mtimeNs: st.mtimeNs } }
}

parentPort?.on('message', (job: BlockJob | FilesJob | StreamAddJob | StreamEndJob | WriteJob) => {
  switch (job.kind) {
    case 'block':
      block(job)
      return
    case 'files':
      files(job).then(reply, (err: unknown) => { reply(failure(job.id, err)) })
      return
    default:
      try {
        reply(job.kind === 'write' ? write(job) : job.kind === 'stream-add' ? streamAdd(job) : streamEnd(job))
      } catch (err) {
        reply(failure(job.id, err))
      }
  }
})
