import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { MAX_STREAMING_IMPORTS, Uploads } from '../src/uploads.js'
import { removeDir, tempDir } from './helpers.js'
import type { UploadSession } from '../src/uploads.js'

describe('upload sessions', () => {
  let dir: string
  let uploads: Uploads
  const store = new MemoryBlockstore()

  before(async () => {
    dir = await tempDir()
    uploads = new Uploads({ dir, maxSize: 1 << 30, maxConcurrent: 16, timeout: 60_000, sweepInterval: 60_000, store })
    await uploads.start()
  })

  after(async () => {
    await uploads?.stop()
    await removeDir(dir)
  })

  it(`imports at most ${MAX_STREAMING_IMPORTS} uploads while they arrive; the others are staged only, until one ends`, async () => {
    const sessions: UploadSession[] = []
    for (let i = 0; i < MAX_STREAMING_IMPORTS + 2; i++) sessions.push(await uploads.create('ns/repo'))
    assert.equal(sessions.filter(s => s.import != null).length, MAX_STREAMING_IMPORTS)
    assert.equal(sessions[MAX_STREAMING_IMPORTS].import, undefined)

    // an abandoned streaming upload gives its place back once its import has stopped
    await uploads.remove(sessions[0])
    await new Promise(resolve => setTimeout(resolve, 10))
    const next = await uploads.create('ns/repo')
    assert.notEqual(next.import, undefined)

    // a finished one too, and it built the DAG of exactly what was appended
    const bytes = new Uint8Array(3000).fill(7)
    await uploads.append(sessions[1], (async function * () { yield bytes.subarray(0, 1000); yield bytes.subarray(1000) })())
    const built = await sessions[1].import!.finish()
    assert.equal(built.size, 3000)
    assert.ok(await store.has(built.root))
    await uploads.remove(sessions[1])
    assert.notEqual((await uploads.create('ns/repo')).import, undefined)
    assert.equal((await uploads.create('ns/repo')).import, undefined, 'and no more than that')
  })

  it('an import that fails (say the disk is full) fails the append that feeds it, and its upload stages nothing', async () => {
    const failing = new MemoryBlockstore()
    failing.put = async () => { throw new Error('ENOSPC: no space left on device') }
    const ownDir = await tempDir()
    const own = new Uploads({ dir: ownDir, maxSize: 1 << 30, maxConcurrent: 4, timeout: 60_000, sweepInterval: 60_000, store: failing })
    await own.start()
    try {
      const session = await own.create('ns/repo')
      assert.notEqual(session.import, undefined)
      const big = new Uint8Array(12 * 1024 * 1024)
      await assert.rejects(own.append(session, (async function * () { for (let i = 0; i < big.byteLength; i += 65536) yield big.subarray(i, i + 65536) })()), /ENOSPC/)
      await assert.rejects(session.import!.finish(), /ENOSPC/)
      assert.equal(session.fh, undefined, 'a streamed upload has no staging file')
      await own.remove(session)
    } finally {
      await own.stop()
      await removeDir(ownDir)
    }
  })
})
