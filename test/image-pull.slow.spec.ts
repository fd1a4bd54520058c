/**
 * An image across processes, as operators run it: daemon A imports the large
 * test image with `provenir image import`, daemon B (which held nothing)
 * pulls it by manifest digest with `provenir image pull` through the DHT and
 * bitswap, then exports it; the export is identical to the original and
 * skopeo reads it.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { RpcClient } from '@provenir/cli'
import { DaemonProcess, TEST_INIT, keepDaemonLogs, runCli, runJson, tempDir, waitFor } from './daemon-helpers.js'
import { assertLayoutMatches, buildFixtures, duBytes, rssOf, skopeoInspect } from './image-helpers.js'
import type { Fixture } from './image-helpers.js'
import type { ProgressLine } from '@provenir/cli'

keepDaemonLogs(import.meta.url)

const LONG = 5 * 60_000

describe('provenir image import / pull / export across two daemons (real processes, the large image)', () => {
  let root: string
  let repoA: string
  let repoB: string
  let a: DaemonProcess
  let b: DaemonProcess
  let peerIdA: string
  let peerIdB: string
  let bootstrapA: string
  let large: Fixture
  let small: Fixture
  const spawned: DaemonProcess[] = []

  before(async () => {
    ({ large, small } = await buildFixtures('all'))
    root = await tempDir()
    repoA = path.join(root, 'a')
    repoB = path.join(root, 'b')
    const initA = await runCli(repoA, ['init', ...TEST_INIT])
    assert.equal(initA.code, 0, initA.stderr)
    a = new DaemonProcess(repoA)
    spawned.push(a)
    await a.ready()
    const idA = await runJson(repoA, ['id'])
    peerIdA = idA.peerId
    bootstrapA = idA.addresses[0]
    const initB = await runCli(repoB, ['init', ...TEST_INIT, '--bootstrap', bootstrapA])
    assert.equal(initB.code, 0, initB.stderr)
    b = new DaemonProcess(repoB)
    spawned.push(b)
    await b.ready()
    peerIdB = (await runJson(repoB, ['id'])).peerId
    await waitFor('B to connect to A', async () => {
      const peers = await runJson(repoB, ['peers'])
      return peers.peers.some((p: { peerId: string }) => p.peerId === peerIdA) ? true : undefined
    })
  })

  after(async () => {
    for (const d of spawned) d.kill()
    await Promise.all(spawned.map(async d => d.exited))
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it('`image import <oci layout>` on A lists the image under its manifest digest', async (t) => {
    const started = Date.now()
    // a relative path: the CLI resolves it before sending it to the daemon
    const res = await runCli(repoA, ['image', 'import', path.relative(process.cwd(), large.oci), '--json'], LONG)
    assert.equal(res.code, 0, res.stderr)
    t.diagnostic(`import of the large image on A: ${Date.now() - started} ms`)
    const out = JSON.parse(res.stdout)
    assert.equal(out.format, 'oci')
    assert.equal(out.images.length, 1)
    assert.equal(out.images[0].digest, large.digest)
    assert.deepEqual(out.images[0].tags, ['v1'])
    assert.equal(out.images[0].blobs, 5, 'manifest, config, three layers')
    assert.ok(out.images[0].size > 300_000_000)
    const ls = await runJson(repoA, ['image', 'ls'])
    assert.deepEqual(ls.images.map((i: { digest: string }) => i.digest), [large.digest])
  })

  it('`providers <digest> --json` on B lists A', async () => {
    const found = await waitFor('B to find A as a provider of the manifest', async () => {
      const res = await runJson(repoB, ['providers', large.digest])
      return res.providers.find((p: { peerId: string }) => p.peerId === peerIdA)
    }, 60_000)
    assert.ok(found.addrs.length > 0, 'the provider comes with addresses')
    assert.ok(found.addrs.every((ma: string) => ma.startsWith('/ip4/127.0.0.1/')), `loopback addresses: ${found.addrs}`)
  })

  it('`image pull <digest>` on B (which held nothing) fetches the whole image from A', async (t) => {
    assert.deepEqual((await runJson(repoB, ['image', 'ls'])).images, [], 'B holds nothing before the pull')
    const pid = b.child.pid!
    const baseline = await rssOf(pid)
    let maxRss = 0
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const r = await rssOf(pid)
        if (r != null && r.rss > maxRss) maxRss = r.rss
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    })()
    const started = Date.now()
    let res
    try {
      res = await runCli(repoB, ['image', 'pull', large.digest, '--json'], LONG)
    } finally {
      sampling = false
      await sampler
    }
    const ms = Date.now() - started
    assert.equal(res.code, 0, res.stderr)
    const out = JSON.parse(res.stdout)
    assert.equal(out.image.digest, large.digest)
    assert.deepEqual(out.image.tags, [], 'a pull by digest carries no tags')
    assert.equal(out.image.blobs, 5)
    const peak = await rssOf(pid)
    t.diagnostic(`cross-process pull of the large image (${out.image.size} bytes) A -> B: ${ms} ms (CLI process included); B's RSS ${((baseline?.rss ?? 0) / 1048576).toFixed(0)} MiB before, sampled max ${(maxRss / 1048576).toFixed(0)} MiB during, VmHWM ${((peak?.peak ?? 0) / 1048576).toFixed(0)} MiB`)
    const ls = await runJson(repoB, ['image', 'ls'])
    assert.deepEqual(ls.images.map((i: { digest: string }) => i.digest), [large.digest])
  })

  it('`image export <digest> <dir>` on B gives the original manifest and blobs, and skopeo reads it', async () => {
    const dir = path.join(root, 'export-b')
    const res = await runCli(repoB, ['image', 'export', large.digest, dir, '--tag', 'v1', '--json'], LONG)
    assert.equal(res.code, 0, res.stderr)
    assert.equal(JSON.parse(res.stdout).path, dir)
    const checked = await assertLayoutMatches(dir, large.oci, large.digest)
    assert.equal(checked.length, 5)
    const inspected = await skopeoInspect(`oci:${dir}:v1`)
    assert.equal(inspected.Digest, large.digest)
    assert.equal(inspected.Layers.length, 3)
  })

  it('after the pull, A finds B as a provider too (B provides what it fetched)', async () => {
    await waitFor('A to find B as a provider of the manifest', async () => {
      const res = await runJson(repoA, ['providers', large.digest])
      return res.providers.some((p: { peerId: string }) => p.peerId === peerIdB) ? true : undefined
    }, 60_000)
  })

  it('`gc` on B removes nothing an image pins', async () => {
    const gc = await runJson(repoB, ['gc'])
    assert.equal(gc.removed, 0)
    assert.equal(gc.bytes, 0)
    const dir = path.join(root, 'export-b-after-gc')
    const res = await runCli(repoB, ['image', 'export', large.digest, dir, '--json'], LONG)
    assert.equal(res.code, 0, res.stderr)
    await assertLayoutMatches(dir, large.oci, large.digest)
  })

  it('`image import <docker-archive>` of the small image works through the CLI (format detected)', async () => {
    const res = await runCli(repoA, ['image', 'import', small.dockerArchive, '--json'], LONG)
    assert.equal(res.code, 0, res.stderr)
    const out = JSON.parse(res.stdout)
    assert.equal(out.format, 'docker-archive')
    assert.equal(out.images.length, 1)
    assert.deepEqual(out.images[0].tags, ['docker.io/provenir/small:v1'])
    // the docker-archive's manifest as skopeo generates it
    const raw = await skopeoInspect(`docker-archive:${small.dockerArchive}`)
    assert.equal(out.images[0].digest, raw.Digest)
    const ls = await runJson(repoA, ['image', 'ls'])
    assert.ok(ls.images.some((i: { digest: string }) => i.digest === out.images[0].digest))
  })

  it('closing a pull\'s request (Ctrl-C) stops the pull in the daemon; pulling again resumes and completes', async () => {
    const repoC = path.join(root, 'c')
    const init = await runCli(repoC, ['init', ...TEST_INIT, '--bootstrap', bootstrapA])
    assert.equal(init.code, 0, init.stderr)
    const c = new DaemonProcess(repoC)
    spawned.push(c)
    await c.ready()
    const blocks = path.join(repoC, 'content', 'blocks')
    const client = await RpcClient.fromRepo(repoC)
    const controller = new AbortController()
    let seen = 0
    await assert.rejects(client.stream<unknown, ProgressLine>('/api/v0/image/pull', {
      body: { digest: large.digest },
      signal: controller.signal,
      timeout: LONG,
      // cancel once some 20 MB have arrived
      onProgress: (line) => { seen = line.bytes; if (line.bytes > 20_000_000) controller.abort() }
    }), (err: Error) => err.name === 'AbortError')
    assert.ok(seen > 20_000_000)
    // the daemon stopped fetching: its store stops growing, short of the image
    const settled = await waitFor('C\'s block store to stop growing', async () => {
      const before = await duBytes(blocks)
      await new Promise(resolve => setTimeout(resolve, 1_000))
      const after = await duBytes(blocks)
      return after === before ? after : undefined
    }, 30_000)
    assert.ok(settled < 300_000_000, `the pull stopped part way (${settled} bytes stored)`)
    assert.deepEqual((await runJson(repoC, ['image', 'ls'])).images, [], 'a cancelled pull lists nothing')
    const res = await runCli(repoC, ['image', 'pull', large.digest, '--json'], LONG)
    assert.equal(res.code, 0, res.stderr)
    assert.equal(JSON.parse(res.stdout).image.digest, large.digest)
    await c.stop()
  })

  it('errors come back named: a malformed digest, an image B does not hold, an export over an existing directory', async () => {
    const bad = await runCli(repoB, ['image', 'pull', 'sha256:1234', '--json'])
    assert.equal(bad.code, 1)
    assert.equal(JSON.parse(bad.stderr.trim().split('\n').pop()!).error.name, 'InvalidParametersError')
    const missing = await runCli(repoB, ['image', 'export', small.digest, path.join(root, 'never'), '--json'])
    assert.equal(missing.code, 1)
    assert.equal(JSON.parse(missing.stderr.trim().split('\n').pop()!).error.name, 'ImageNotFoundError')
    const exists = await runCli(repoB, ['image', 'export', large.digest, path.join(root, 'export-b'), '--json'])
    assert.equal(exists.code, 1)
    assert.equal(JSON.parse(exists.stderr.trim().split('\n').pop()!).error.name, 'OutputExistsError')
  })
})
