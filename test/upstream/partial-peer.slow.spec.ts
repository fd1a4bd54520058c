/**
 * A rollout's race, made deterministic: node A has fetched an upstream
 * image's manifest and config through its gateway (as a mirror client does
 * first) and not yet its layer, so A provides the manifest but has no image
 * record. Node B pulls the same image by name: its manifest comes from A
 * over the swarm, the swarm pull finds no image record and fails, and the
 * blobs come from the upstream. B must still end with the whole image
 * recorded and kept (it was fetched, then reported "not recorded").
 */

import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { keepDaemonLogs, runJson, tempDir, type DaemonProcess } from '../daemon-helpers.js'
import { startUpstreamPair } from './daemons.js'
import { pushNewImage, type MadeImage } from './push.js'
import { startStandIn, type StandIn } from './stand-in.js'

keepDaemonLogs(import.meta.url)

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

describe('an upstream image whose manifest a peer holds without its image record', () => {
  let dir: string
  let hub: StandIn
  let a: DaemonProcess
  let b: DaemonProcess
  let made: MadeImage
  const repoA = (): string => path.join(dir, 'a')
  const repoB = (): string => path.join(dir, 'b')

  before(async () => {
    dir = await tempDir()
    hub = await startStandIn(path.join(dir, 'hub'))
    made = await pushNewImage(hub, 'library/partial', 'v1')
    ;({ a, b } = await startUpstreamPair(dir, hub))
  })

  after(async () => {
    a?.kill()
    b?.kill()
    await Promise.all([a?.exited, b?.exited])
    await hub?.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('B pulls it whole: the manifest from A, the blobs from the upstream; recorded and kept, the layer asked of the upstream once', async () => {
    const base = `${(await runJson(repoA(), ['id'])).gateway}/v2/${hub.host.replace(':', '_')}/library/partial`
    const manifest = await fetch(`${base}/manifests/v1`, { headers: { accept: OCI_MANIFEST } })
    assert.equal(manifest.status, 200)
    assert.equal(manifest.headers.get('docker-content-digest'), made.digest)
    await manifest.arrayBuffer()
    const config = await fetch(`${base}/blobs/${made.config}`)
    assert.equal(config.status, 200)
    await config.arrayBuffer()
    assert.ok(!(await runJson(repoA(), ['image', 'ls'])).images.some((i: { digest: string }) => i.digest === made.digest), 'A has no image record yet')

    const pulled = await runJson(repoB(), ['image', 'pull', `${hub.host}/library/partial:v1`])
    assert.equal(pulled.image.digest, made.digest)
    const stat = await runJson(repoB(), ['repo', 'stat'])
    assert.equal(stat.images.find((i: { digest: string }) => i.digest === made.digest)?.cache, false, 'recorded and kept')
    const log = await hub.accessLog()
    const gets = (digest: string): number => log.filter(e => e.method === 'GET' && e.path === `/v2/library/partial/blobs/${digest}` && e.status === 200).length
    assert.equal(gets(made.layer), 1, 'the layer from the upstream once (by B; A never read it)')
  })
})
