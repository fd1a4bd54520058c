/**
 * Crash safety of imports, with real processes: the importing daemon is
 * killed with SIGKILL at random points of an import of the large test image,
 * 20 times. After each restart no partial image is listed, and an image that
 * is not listed is not served; a listed one exports complete and verified.
 * At the end a re-import completes and exports identical to the original.
 */
import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { RpcClient } from '@provenir/cli'
import { DaemonProcess, TEST_INIT, fileExists, keepDaemonLogs, runCli, runJson, tempDir } from './daemon-helpers.js'
import { assertLayoutMatches, buildFixtures, duBytes } from './image-helpers.js'
import type { Fixture } from './image-helpers.js'
import type { ProgressLine } from '@provenir/cli'

keepDaemonLogs(import.meta.url)

const KILLS = 20
const LONG = 5 * 60_000

describe('kill -9 of the importing daemon (real processes, the large image)', () => {
  let root: string
  let large: Fixture
  const spawned: DaemonProcess[] = []
  let repoCount = 0

  async function newRepo (): Promise<string> {
    const repo = path.join(root, `repo-${repoCount++}`)
    const init = await runCli(repo, ['init', ...TEST_INIT])
    assert.equal(init.code, 0, init.stderr)
    return repo
  }

  async function startDaemon (repo: string): Promise<DaemonProcess> {
    const d = new DaemonProcess(repo)
    spawned.push(d)
    await d.ready()
    return d
  }

  /**
   * After a restart: the large image is either absent (and not served) or
   * listed complete (and exports verified). Returns whether it is listed.
   */
  async function assertConsistent (repo: string, label: string): Promise<boolean> {
    const ls = await runJson(repo, ['image', 'ls'])
    assert.ok(ls.images.length <= 1, `${label}: at most the one image is listed`)
    const dir = path.join(root, `check-${randomInt(1e9)}`)
    if (ls.images.length === 0) {
      const res = await runCli(repo, ['image', 'export', large.digest, dir, '--json'])
      assert.equal(res.code, 1, `${label}: an image that is not listed is not exported`)
      assert.equal(JSON.parse(res.stderr.trim().split('\n').pop()!).error.name, 'ImageNotFoundError', label)
      assert.equal(await fileExists(dir), false, `${label}: nothing was written`)
      return false
    }
    const [image] = ls.images
    assert.equal(image.digest, large.digest, label)
    assert.equal(image.blobs, 5, `${label}: the listed image has every blob`)
    const res = await runCli(repo, ['image', 'export', large.digest, dir, '--json'], LONG)
    assert.equal(res.code, 0, `${label}: the listed image exports: ${res.stderr}`)
    await assertLayoutMatches(dir, large.oci, large.digest)
    await fs.rm(dir, { recursive: true, force: true })
    return true
  }

  before(async () => {
    ({ large } = await buildFixtures('large'))
    root = await tempDir()
  })

  after(async () => {
    for (const d of spawned) d.kill()
    await Promise.all(spawned.map(async d => d.exited))
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it(`${KILLS} kills at random points of an import leave no partial image listed or served`, async (t) => {
    let repo = await newRepo()
    let daemon = await startDaemon(repo)
    // one whole import first, to aim the kills at the import's own duration on this machine
    let firstBytes = 0
    const calibration = await RpcClient.fromRepo(repo)
    await calibration.stream<unknown, ProgressLine>('/api/v0/image/import', {
      body: { path: large.oci },
      timeout: LONG,
      onProgress: (line) => { if (line.bytes > 0 && firstBytes === 0) firstBytes = Date.now() }
    })
    const importMs = Date.now() - firstBytes
    const maxDelay = Math.max(100, Math.min(1500, importMs))
    t.diagnostic(`an uninterrupted import of the large image takes ${importMs} ms from its first stored bytes; kills fall 50-${maxDelay} ms into an import`)
    await daemon.stop()
    repo = await newRepo()
    daemon = await startDaemon(repo)
    let partial = 0
    let complete = 0
    const delays: number[] = []
    for (let i = 0; i < KILLS; i++) {
      const client = await RpcClient.fromRepo(repo)
      const { promise: writing, resolve: startedWriting } = Promise.withResolvers<void>()
      const contentBefore = await duBytes(path.join(repo, 'content', 'blocks'))
      const call = client.stream<unknown, ProgressLine>('/api/v0/image/import', {
        body: { path: large.oci },
        timeout: LONG,
        // the daemon reports bytes as it stores them: the import is under way
        onProgress: (line) => { if (line.bytes > 0) startedWriting() }
      }).then(() => 'finished', (err: Error) => err.name)
      const early = await Promise.race([writing.then(() => undefined), call])
      assert.equal(early, undefined, `kill ${i}: the import started writing (it ended with ${early} first)`)
      // the randomness is the test: a random point of the import
      const delay = randomInt(50, maxDelay + 1)
      delays.push(delay)
      await new Promise(resolve => setTimeout(resolve, delay))
      daemon.child.kill('SIGKILL')
      const exit = await daemon.exited
      assert.equal(exit.signal, 'SIGKILL')
      const outcome = await call
      assert.ok(await duBytes(path.join(repo, 'content', 'blocks')) >= contentBefore)

      daemon = await startDaemon(repo)
      const listed = await assertConsistent(repo, `after kill ${i} (${delay} ms in, client saw ${outcome})`)
      if (outcome === 'finished') assert.ok(listed, `kill ${i}: an import the daemon reported done survives the kill`)
      if (listed) {
        complete++
        // start the next round on an empty repo, so that it kills a first import again
        await daemon.stop()
        repo = await newRepo()
        daemon = await startDaemon(repo)
      } else {
        partial++
      }
    }
    t.diagnostic(`${KILLS} kills: ${partial} left the image absent, ${complete} after it was complete; delays ${delays.join(',')} ms`)
    assert.ok(partial > 0, 'at least one kill hit an import in progress')

    // the repo now holds the leftovers of a killed import: gc collects them, and a re-import completes
    const gc = await runJson(repo, ['gc'])
    t.diagnostic(`gc after the last kill removed ${gc.removed} blocks (${gc.bytes} bytes), ${gc.strays} stray files`)
    const res = await runCli(repo, ['image', 'import', large.oci, '--json'], LONG)
    assert.equal(res.code, 0, res.stderr)
    assert.equal(JSON.parse(res.stdout).images[0].digest, large.digest)
    // and a restart keeps it
    await daemon.stop()
    daemon = await startDaemon(repo)
    assert.equal(await assertConsistent(repo, 'after the re-import and a restart'), true)
    await daemon.stop()
  })
})
