/**
 * Storage limits with real daemons, the CLI and the gateway: with
 * `storage.maxSize` below the sum of two cached images, pulling the second
 * evicts the first (least recently used, unpinned) while a pinned image
 * survives and the store ends under its high watermark; the store's metrics
 * move with it; `repo stat` tells kept from cached; `image rm` removes an
 * image and names an unknown one; an image a gateway client fetched is cache.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { keepDaemonLogs, runCli, runJson, startDaemonPair, waitFor } from './daemon-helpers.js'
import type { DaemonPair, DaemonProcess } from './daemon-helpers.js'
import { writeLayout } from './image-helpers.js'

keepDaemonLogs(import.meta.url)

const MiB = 1024 * 1024
const MAX_SIZE = 10 * MiB
const HIGH = 0.9
// three 3.5 MiB images pass the high watermark (9 MiB); two fit under the low one (8 MiB), so a run
// evicts exactly the least recently used cached image, whether or not the newest pull still guards its
// blocks when it runs (at 0.6 it took the newest cached image too when it ran after that pull)
const LOW = 0.8



function apiOf (d: DaemonProcess): string {
  const api: string = d.events().find(e => e.event === 'ready').api
  return api.startsWith('http') ? api : `http://${api}`
}

/** One sample of the daemon's /metrics, by name and labels as written */
async function metric (d: DaemonProcess, name: string): Promise<number> {
  const text = await (await fetch(`${apiOf(d)}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  const line = text.split('\n').find(l => l.startsWith(`${name} `))
  assert.ok(line != null, `/metrics has ${name}`)
  return Number(line.split(' ').pop())
}

describe('storage limits: eviction between the watermarks, repo stat, image rm, store metrics (real daemons)', { timeout: 5 * 60_000 }, () => {
  let pair: DaemonPair
  const digests: Record<'pinned' | 'first' | 'second' | 'viaGateway', string> = { pinned: '', first: '', second: '', viaGateway: '' }

  before(async () => {
    pair = await startDaemonPair(async ({ repoB }) => {
      const file = path.join(repoB, 'config.json')
      const config = JSON.parse(await fs.readFile(file, 'utf8'))
      config.storage = { maxSize: '10MiB', highWatermark: HIGH, lowWatermark: LOW }
      await fs.writeFile(file, JSON.stringify(config, null, 2))
    })
    for (const name of Object.keys(digests) as Array<keyof typeof digests>) {
      const dir = path.join(pair.root, `layout-${name}`)
      digests[name] = (await writeLayout(dir, 3.5 * MiB, `example/${name}:1`)).digest
      await runJson(pair.repoA, ['image', 'import', dir])
    }
    for (const digest of Object.values(digests)) {
      await waitFor(`B to find a provider of ${digest}`, async () => (await runJson(pair.repoB, ['providers', digest])).providers.length > 0 ? true : undefined, 60_000)
    }
  })

  after(async () => {
    await pair?.stop()
  })

  it('pulling a second cached image past the high watermark evicts the first; the pinned one survives; the store ends under the high watermark; the metrics move', async () => {
    const { repoB, b } = pair
    await runJson(repoB, ['image', 'pull', digests.pinned])
    await runJson(repoB, ['image', 'pull', '--no-pin', digests.first])
    let stat = await runJson(repoB, ['repo', 'stat'])
    assert.equal(stat.limits.maxSize, MAX_SIZE)
    assert.equal(stat.limits.highBytes, Math.floor(MAX_SIZE * HIGH))
    assert.deepEqual([stat.pinned.images, stat.cache.images], [1, 1], 'one kept, one cached')
    assert.ok(stat.usage.bytes <= stat.limits.highBytes, 'two images fit under the high watermark')
    assert.equal(await metric(b, 'provenir_store_evictions_total'), 0)
    assert.equal(await metric(b, 'provenir_store_size_bytes'), stat.usage.bytes, 'the size metric is the store\'s usage')
    assert.equal(await metric(b, 'provenir_store_max_size_bytes'), MAX_SIZE)

    // the third image takes the store past 9 MiB: the least recently used cached image goes
    await runJson(repoB, ['image', 'pull', '--no-pin', digests.second])
    stat = await waitFor('the eviction', async () => {
      const s = await runJson(repoB, ['repo', 'stat'])
      return s.images.some((i: { digest: string }) => i.digest === digests.first) ? undefined : s
    })
    const held = stat.images.map((i: { digest: string }) => i.digest).sort()
    assert.deepEqual(held, [digests.pinned, digests.second].sort(), 'the first cached image was evicted; the pinned and the newest stay')
    assert.ok(stat.usage.bytes <= stat.limits.highBytes, `the store (${stat.usage.bytes} bytes) is under its high watermark (${stat.limits.highBytes})`)
    assert.equal((await runJson(repoB, ['image', 'ls'])).images.length, 2)
    assert.equal(await metric(b, 'provenir_store_evictions_total'), 1)
    assert.ok(await metric(b, 'provenir_store_evicted_bytes_total') >= 3.5 * MiB, 'the evicted bytes count the layer')
    assert.equal(await metric(b, 'provenir_store_size_bytes'), stat.usage.bytes)
    assert.equal(await metric(b, 'provenir_store_blocks'), stat.usage.blocks)
    assert.ok(await metric(b, 'provenir_store_gc_runs_total{reason="eviction"}') >= 1, 'eviction ran a gc first')

    // an evicted image is pulled again on demand
    const again = await runJson(repoB, ['image', 'pull', '--no-pin', digests.first])
    assert.equal(again.image.digest, digests.first)
  })

  it('an image a gateway client fetched is cache', async () => {
    const gateway: string = pair.b.events().find(e => e.event === 'ready').gateway
    const res = await fetch(`${gateway.startsWith('http') ? gateway : `http://${gateway}`}/v2/example/viagateway/manifests/${digests.viaGateway}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      signal: AbortSignal.timeout(60_000)
    })
    assert.equal(res.status, 200)
    await res.arrayBuffer()
    const stat = await waitFor('the client\'s pull to be recorded', async () => {
      const s = await runJson(pair.repoB, ['repo', 'stat'])
      return s.images.find((i: { digest: string }) => i.digest === digests.viaGateway)
    })
    assert.equal(stat.cache, true)
  })

  it('image rm removes an image by tag or digest and frees its blocks; an unknown image is ImageNotFoundError; gc counts in the metrics', async () => {
    const { repoB, b } = pair
    const before = await runJson(repoB, ['repo', 'stat'])
    const removed = await runJson(repoB, ['image', 'rm', digests.pinned])
    assert.equal(removed.digest, digests.pinned)
    assert.ok(removed.bytes >= 3.5 * MiB)
    const after = await runJson(repoB, ['repo', 'stat'])
    assert.equal(after.pinned.images, before.pinned.images - 1)
    assert.equal(after.usage.bytes, before.usage.bytes - removed.bytes)
    // by tag: A imported its images with their tags
    const byTag = await runJson(pair.repoA, ['image', 'rm', 'example/first:1'])
    assert.equal(byTag.digest, digests.first)
    assert.equal((await runJson(pair.repoA, ['image', 'ls'])).images.some((i: { digest: string }) => i.digest === digests.first), false)
    for (const ref of [digests.pinned, `sha256:${'0'.repeat(64)}`, 'example/none:1']) {
      const res = await runCli(repoB, ['image', 'rm', '--json', ref])
      assert.notEqual(res.code, 0)
      assert.equal(JSON.parse(res.stderr.trim().split('\n').pop()!).error.name, 'ImageNotFoundError', ref)
    }
    const runs = await metric(b, 'provenir_store_gc_runs_total{reason="request"}')
    await runJson(repoB, ['gc'])
    assert.equal(await metric(b, 'provenir_store_gc_runs_total{reason="request"}'), runs + 1)
  })
})
