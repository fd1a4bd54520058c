/**
 * The bulk channel in real daemons: B pulls an image from A over A's bulk
 * channel (the layers' bytes leave A over it, not over bitswap), and the
 * same pull from a provider that runs no bulk channel comes over bitswap;
 * either way B's export is identical to the original.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DaemonProcess, TEST_INIT, keepDaemonLogs, runCli, runJson, tempDir, waitFor } from './daemon-helpers.js'
import { assertLayoutMatches, blobPath, buildFixtures } from './image-helpers.js'
import type { Fixture } from './image-helpers.js'

keepDaemonLogs(import.meta.url)

const LONG = 3 * 60_000

/** A counter's value in a Prometheus text exposition (0 when absent) */
function metric (text: string, name: string, labels = ''): number {
  const line = text.split('\n').find(l => l.startsWith(`${name}${labels} `))
  return line != null ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0
}

async function metrics (api: string): Promise<string> {
  const res = await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(10_000) })
  assert.equal(res.status, 200)
  return res.text()
}

interface Pair {
  a: DaemonProcess
  b: DaemonProcess
  apiA: string
  apiB: string
  repoA: string
  repoB: string
}

describe('a pull between two daemons over the bulk channel, and over bitswap from a provider without one', { timeout: 5 * 60_000 }, () => {
  let root: string
  let small: Fixture
  let layerBytes: number
  const spawned: DaemonProcess[] = []

  /** A (its config's node section merged with `nodeA`) holding the small image, and B bootstrapped to it and connected */
  async function pair (name: string, nodeA: Record<string, unknown> = {}): Promise<Pair> {
    const repoA = path.join(root, `${name}-a`)
    const repoB = path.join(root, `${name}-b`)
    const initA = await runCli(repoA, ['init', ...TEST_INIT])
    assert.equal(initA.code, 0, initA.stderr)
    const configFile = path.join(repoA, 'config.json')
    const config = JSON.parse(await fs.readFile(configFile, 'utf8'))
    config.node = { ...config.node, ...nodeA }
    await fs.writeFile(configFile, JSON.stringify(config, null, 2))
    const a = new DaemonProcess(repoA)
    spawned.push(a)
    const apiA = await a.ready()
    const idA = await runJson(repoA, ['id'])
    const imported = await runCli(repoA, ['image', 'import', small.oci, '--json'], LONG)
    assert.equal(imported.code, 0, imported.stderr)
    const initB = await runCli(repoB, ['init', ...TEST_INIT, '--bootstrap', idA.addresses[0]])
    assert.equal(initB.code, 0, initB.stderr)
    const b = new DaemonProcess(repoB)
    spawned.push(b)
    const apiB = await b.ready()
    await waitFor('B to find A as a provider of the image', async () => {
      const found = await runJson(repoB, ['providers', small.digest])
      return found.providers.some((p: { peerId: string }) => p.peerId === idA.peerId) ? true : undefined
    }, 60_000)
    return { a, b, apiA, apiB, repoA, repoB }
  }

  /** B pulls the image, exports it, and the export matches the original byte for byte */
  async function pullAndCheck (p: Pair, name: string): Promise<void> {
    assert.deepEqual((await runJson(p.repoB, ['image', 'ls'])).images, [], 'B holds nothing before the pull')
    const res = await runCli(p.repoB, ['image', 'pull', small.digest, '--json'], LONG)
    assert.equal(res.code, 0, res.stderr)
    assert.equal(JSON.parse(res.stdout).image.digest, small.digest)
    const dir = path.join(root, `${name}-export`)
    const exported = await runCli(p.repoB, ['image', 'export', small.digest, dir, '--json'], LONG)
    assert.equal(exported.code, 0, exported.stderr)
    const checked = await assertLayoutMatches(dir, small.oci, small.digest)
    assert.ok(checked.length >= 2, 'the config and the layers')
  }

  before(async () => {
    ({ small } = await buildFixtures('small'))
    root = await tempDir()
    const manifest = JSON.parse(await fs.readFile(blobPath(small.oci, small.digest), 'utf8'))
    layerBytes = manifest.layers.reduce((n: number, l: { size: number }) => n + l.size, 0)
    assert.ok(layerBytes > 1_000_000, 'the small image has megabytes of layers')
  })

  after(async () => {
    for (const d of spawned) d.kill()
    await Promise.all(spawned.map(async d => d.exited))
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it('B pulls from A over the bulk channel: the layers leave A over it, and the export is identical', async (t) => {
    const p = await pair('bulk')
    await pullAndCheck(p, 'bulk')
    const [textA, textB] = await Promise.all([metrics(p.apiA), metrics(p.apiB)])
    const bulkSent = metric(textA, 'provenir_bulk_events_total', '{event="bytes-sent"}')
    const bitswapSent = metric(textA, 'provenir_bitswap_data_sent_bytes_total')
    t.diagnostic(`A sent ${bulkSent} bytes over the bulk channel and ${bitswapSent} over bitswap (layers: ${layerBytes} bytes)`)
    assert.ok(bulkSent >= layerBytes, `every layer byte left A over the bulk channel (${bulkSent} < ${layerBytes})`)
    assert.ok(bitswapSent < layerBytes, `the layers did not also go over bitswap (${bitswapSent} bytes)`)
    assert.ok(metric(textA, 'provenir_bulk_events_total', '{event="admitted"}') >= 1, 'A admitted B over its bulk listener')
    assert.equal(metric(textB, 'provenir_bitswap_bad_blocks_total'), 0)
    await Promise.all([p.a.stop(), p.b.stop()])
  })

  it('the same pull from a provider whose bulk channel is off comes over bitswap, and the export is identical', async (t) => {
    const p = await pair('fallback', { bulk: { enabled: false } })
    await pullAndCheck(p, 'fallback')
    const [textA, textB] = await Promise.all([metrics(p.apiA), metrics(p.apiB)])
    const bitswapSent = metric(textA, 'provenir_bitswap_data_sent_bytes_total')
    t.diagnostic(`A (no bulk channel) sent ${bitswapSent} bytes over bitswap (layers: ${layerBytes} bytes)`)
    assert.ok(!textA.includes('provenir_bulk_events_total{'), 'A runs no bulk channel')
    assert.ok(bitswapSent >= layerBytes, `every layer byte left A over bitswap (${bitswapSent} < ${layerBytes})`)
    assert.ok(metric(textB, 'provenir_bitswap_data_received_bytes_total') >= layerBytes, 'B received the layers over bitswap')
    await Promise.all([p.a.stop(), p.b.stop()])
  })
})
