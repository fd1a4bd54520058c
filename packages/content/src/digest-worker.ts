/**
 * The worker thread behind `digestFiles` (`file-digest.ts`): hashes files
 * in order, one job at a time, and answers each job with the digest and
 * every file's size, or the first error. Reads are synchronous: this thread
 * does nothing else, and a read needs no trip through libuv's pool.
 *
 * @internal
 */

import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'
import type { DigestJob, DigestAnswer } from './file-digest.js'

/** Bytes read per call, into one buffer reused for every file */
const READ_SIZE = 1024 * 1024

const buffer = Buffer.allocUnsafe(READ_SIZE)

function run (job: DigestJob): DigestAnswer {
  const cancelled = new Int32Array(job.cancel)
  const hash = createHash(job.algorithm)
  const sizes: number[] = []
  for (const path of job.paths) {
    if (Atomics.load(cancelled, 0) !== 0) return { id: job.id, cancelled: true }
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
    sizes.push(size)
  }
  return { id: job.id, digest: hash.digest('hex'), sizes }
}

parentPort?.on('message', (job: DigestJob) => {
  let answer: DigestAnswer
  try {
    answer = run(job)
  } catch (err: any) {
    answer = { id: job.id, error: { message: String(err?.message ?? err), ...(typeof err?.code === 'string' ? { code: err.code } : {}) } }
  }
  parentPort?.postMessage(answer)
})
