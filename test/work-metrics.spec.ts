/**
 * The daemon's work metrics move when the work happens (real daemons, the
 * CLI, skopeo): an import, a push through the gateway, a pull by a second
 * daemon, a name publish and its resolutions. Each series is read from
 * /metrics before and after, and moves by exactly what the work was (bytes
 * are the image's size) wherever that is deterministic.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { keepDaemonLogs, runCli, runJson, runTool, startDaemonPair, waitFor } from './daemon-helpers.js'
import type { DaemonPair, DaemonProcess } from './daemon-helpers.js'
import { writeLayout } from './image-helpers.js'

keepDaemonLogs(import.meta.url)

const PUSHED_LAYER = 768 * 1024 + 5



function apiOf (d: DaemonProcess): string {
  const api: string = d.events().find(e => e.event === 'ready').api
  return api.startsWith('http') ? api : `http://${api}`
}

type Scrape = Array<{ name: string, labels: Record<string, string>, value: number }>

async function scrape (d: DaemonProcess): Promise<Scrape> {
  const text = await (await fetch(`${apiOf(d)}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  const out: Scrape = []
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m == null) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2]
    out.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return out
}

/** The value of the series `name` whose labels include `labels`; 0 when there is none yet (and `absentIsZero`) */
function value (s: Scrape, name: string, labels: Record<string, string> = {}, absentIsZero = false): number {
  const found = s.filter(x => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
  if (found.length === 0 && absentIsZero) return 0
  assert.equal(found.length, 1, `one series ${name}${JSON.stringify(labels)}: ${JSON.stringify(found)}`)
  return found[0].value
}

function delta (before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  return value(after, name, labels) - value(before, name, labels, true)
}

describe('the work metrics move when the work happens (real daemons)', { timeout: 5 * 60_000 }, () => {
  let pair: DaemonPair
  let imported: { digest: string, size: number, manifest: number }

  before(async () => {
    pair = await startDaemonPair()
    imported = await writeLayout(path.join(pair.root, 'layout-imported'), 1024 * 1024 + 17, 'example/imported:1')
    await writeLayout(path.join(pair.root, 'layout-pushed'), PUSHED_LAYER, 'v1')
  })

  after(async () => {
    await pair?.stop()
  })

  it('an import counts one import and the image\'s bytes', async () => {
    const before = await scrape(pair.a)
    const res = await runJson(pair.repoA, ['image', 'import', path.join(pair.root, 'layout-imported')])
    assert.equal(res.images[0].digest, imported.digest)
    const after = await scrape(pair.a)
    assert.equal(delta(before, after, 'provenir_imports_total', { result: 'ok' }), 1)
    assert.equal(delta(before, after, 'provenir_imports_total', { result: 'error' }), 0)
    assert.equal(delta(before, after, 'provenir_import_bytes_total'), imported.size)
    // the store's own gauges moved with it
    assert.ok(value(after, 'provenir_store_size_bytes') >= value(before, 'provenir_store_size_bytes') + imported.size)
  })

  it('a push through the gateway counts one push, its bytes, and the gateway\'s requests by route and status', async () => {
    const gateway = new URL(pair.a.events().find(e => e.event === 'ready').gateway).host
    const before = await scrape(pair.a)
    const push = await runTool('skopeo', ['copy', '--dest-tls-verify=false', `oci:${path.join(pair.root, 'layout-pushed')}:v1`, `docker://${gateway}/acme/pushed:v1`])
    assert.equal(push.code, 0, push.stderr)
    const after = await waitFor('the push\'s access-log metrics', async () => {
      const s = await scrape(pair.a)
      return value(s, 'provenir_gateway_requests_total', { method: 'PUT', route: '/v2/<name>/manifests/<reference>', status: '201' }, true) > 0 ? s : undefined
    })
    // the image as skopeo pushed it (it gzips a layer that is not gzip): the manifest stored, and the sizes it names
    const raw = new Uint8Array(await (await fetch(`http://${gateway}/v2/acme/pushed/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' }, signal: AbortSignal.timeout(30_000) })).arrayBuffer())
    const stored = JSON.parse(new TextDecoder().decode(raw))
    const blobBytes = [stored.config, ...stored.layers].reduce((n: number, d: { size: number }) => n + d.size, 0)
    assert.ok(stored.layers[0].size >= PUSHED_LAYER, 'the layer is ours')
    assert.equal(delta(before, after, 'provenir_pushes_total'), 1)
    assert.equal(delta(before, after, 'provenir_push_bytes_total', { kind: 'manifest' }), raw.byteLength)
    assert.equal(delta(before, after, 'provenir_push_bytes_total', { kind: 'blob' }), blobBytes)
    assert.equal(delta(before, after, 'provenir_gateway_requests_total', { method: 'PUT', route: '/v2/<name>/manifests/<reference>', status: '201' }), 1)
    assert.equal(delta(before, after, 'provenir_gateway_request_duration_seconds_count', { method: 'PUT', route: '/v2/<name>/manifests/<reference>' }), 1)
    // the two blobs went up in uploads: each ends with a PUT to its upload
    assert.equal(delta(before, after, 'provenir_gateway_requests_total', { method: 'PUT', route: '/v2/<name>/blobs/uploads/<id>', status: '201' }), 2)
    // no raw path became a label
    assert.ok(!after.some(x => x.name === 'provenir_gateway_requests_total' && x.labels.route.includes('acme')), 'routes are patterns')
  })

  it('a pull by the second daemon counts one pull, its duration, and the image\'s bytes from the swarm', async () => {
    await waitFor('B to find a provider', async () => (await runJson(pair.repoB, ['providers', imported.digest])).providers.length > 0 ? true : undefined, 60_000)
    const before = await scrape(pair.b)
    const res = await runCli(pair.repoB, ['image', 'pull', imported.digest])
    assert.equal(res.code, 0, res.stderr)
    const after = await scrape(pair.b)
    assert.equal(delta(before, after, 'provenir_pulls_total', { result: 'ok' }), 1)
    assert.equal(delta(before, after, 'provenir_pull_duration_seconds_count', { result: 'ok' }), 1)
    assert.equal(delta(before, after, 'provenir_pull_bytes_total', { source: 'swarm' }), imported.size)
    assert.equal(delta(before, after, 'provenir_pull_bytes_total', { source: 'local' }), 0)
    // a pull of what no one holds counts as not-found
    const missing = await runCli(pair.repoB, ['image', 'pull', `sha256:${'cd'.repeat(32)}`])
    assert.notEqual(missing.code, 0)
    const later = await scrape(pair.b)
    assert.equal(delta(after, later, 'provenir_pulls_total', { result: 'not-found' }), 1)
  })

  it('a gateway read counts its bytes by the source that served them', async () => {
    const gateway = pair.a.events().find(e => e.event === 'ready').gateway
    const before = await scrape(pair.a)
    const res = await fetch(`${gateway}/v2/acme/pushed/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' }, signal: AbortSignal.timeout(30_000) })
    assert.equal(res.status, 200)
    const body = new Uint8Array(await res.arrayBuffer())
    assert.ok(body.byteLength > 0)
    const after = await waitFor('the read counted', async () => {
      const s = await scrape(pair.a)
      return delta(before, s, 'provenir_gateway_requests_total', { method: 'GET', route: '/v2/<name>/manifests/<reference>', status: '200' }) === 1 ? s : undefined
    })
    assert.equal(delta(before, after, 'provenir_pull_bytes_total', { source: 'local' }), body.byteLength)
  })

  it('a name publish and its resolutions count by result, the second resolution as a cache hit', async () => {
    await runJson(pair.repoA, ['key', 'gen', 'owner'])
    const before = await scrape(pair.a)
    const published = await runJson(pair.repoA, ['name', 'publish', 'app', '--tag', `v1=${imported.digest}`])
    const afterPublish = await scrape(pair.a)
    const where = published.peers > 0 ? 'dht' : 'local'
    assert.equal(delta(before, afterPublish, 'provenir_name_publishes_total', { result: where }), 1)
    assert.equal(delta(before, afterPublish, 'provenir_name_publishes_total', { result: 'error' }), 0)
    for (let i = 0; i < 2; i++) {
      const resolved = await runJson(pair.repoA, ['name', 'resolve', `${published.owner}/app:v1`])
      assert.equal(resolved.manifestDigest, imported.digest)
    }
    const after = await scrape(pair.a)
    assert.equal(delta(afterPublish, after, 'provenir_name_resolutions_total', { result: 'ok' }), 2)
    assert.equal(delta(afterPublish, after, 'provenir_name_cache_hits_total'), 1)
    const missing = await runCli(pair.repoA, ['name', 'resolve', `${published.owner}/nothing:v1`])
    assert.notEqual(missing.code, 0)
    const later = await scrape(pair.a)
    assert.equal(delta(after, later, 'provenir_name_resolutions_total', { result: 'ok' }), 0)
    assert.equal(delta(after, later, 'provenir_name_resolutions_total', { result: 'not-found' }) + delta(after, later, 'provenir_name_resolutions_total', { result: 'error' }), 1)
  })
})
