import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { importDockerArchive } from '@provenir/content'
import { FIXTURES, gunzipSha256, run, sha256File, manifestBlobs, readLayout, removeDir, skopeo, startGateway, startGatewayPair } from './helpers.js'
import type { GatewayPair } from './helpers.js'
import type { Swarm } from '@provenir/testbed'

const SMALL = join(FIXTURES, 'small/oci')

describe('skopeo against the gateway (small image)', () => {
  let pair: GatewayPair
  let swarm: Swarm
  let a: GatewayPair['a']
  let b: GatewayPair['b']
  let out: string
  let original: GatewayPair['original']

  before(async () => {
    pair = await startGatewayPair('small')
    ;({ swarm, a, b, out, original } = pair)
  })

  after(async () => {
    await pair?.stop()
  })

  it('pushes with skopeo copy, pulls back byte-identical, and inspect and list-tags work', async () => {
    const push = await skopeo('copy', '--dest-tls-verify=false', `oci:${SMALL}:v1`, `docker://${a.hostPort}/myns/small:v1`)
    const pulled = join(out, 'a')
    const pull = await skopeo('copy', '--src-tls-verify=false', `docker://${a.hostPort}/myns/small:v1`, `oci:${pulled}:v1`)
    console.log(`small image: skopeo push ${push.ms.toFixed(0)} ms, pull ${pull.ms.toFixed(0)} ms`)
    const back = await readLayout(pulled)
    assert.equal(back.manifestDigest, original.manifestDigest, 'the manifest digest is unchanged')
    const wanted = [original.manifestDigest, ...await manifestBlobs(SMALL, original.manifestDigest)]
    for (const digest of wanted) assert.equal(back.blobs.get(digest), digest, `blob ${digest} came back with its own sha256`)

    const inspect = JSON.parse((await skopeo('inspect', '--tls-verify=false', `docker://${a.hostPort}/myns/small:v1`)).stdout)
    assert.equal(inspect.Digest, original.manifestDigest)
    assert.equal(inspect.Layers.length, 2)
    const tags = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${a.hostPort}/myns/small`)).stdout)
    assert.deepEqual(tags.Tags, ['v1'])
  })

  it('node B, holding nothing, serves the image by digest through the swarm', async () => {
    const digest = original.manifestDigest
    assert.equal(await swarm.nodes[1].images!.has(digest), false, 'B starts without the image')
    const pulled = join(out, 'b')
    const pull = await skopeo('copy', '--src-tls-verify=false', `docker://${b.hostPort}/myns/small@${digest}`, `oci:${pulled}:v1`)
    console.log(`small image: cold pull through node B ${pull.ms.toFixed(0)} ms`)
    const back = await readLayout(pulled)
    assert.equal(back.manifestDigest, digest)
    for (const d of [digest, ...await manifestBlobs(SMALL, digest)]) assert.equal(back.blobs.get(d), d, `blob ${d} intact through B`)
    assert.equal(await swarm.nodes[1].images!.has(digest), true, 'B now holds the image')
    const inspect = JSON.parse((await skopeo('inspect', '--tls-verify=false', `docker://${b.hostPort}/myns/small@${digest}`)).stdout)
    assert.equal(inspect.Digest, digest)
    // B knows the repository now, but no tags: tags need naming (a repository document)
    const tags = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${b.hostPort}/myns/small`)).stdout)
    assert.deepEqual(tags.Tags, [])
  })

  it('pushes a docker-archive, and the image pulls back intact', async () => {
    const archive = join(FIXTURES, 'small/docker-archive.tar')
    const original = JSON.parse((await skopeo('inspect', '--raw', `docker-archive:${archive}`)).stdout)
    const originalConfig = JSON.parse((await skopeo('inspect', '--config', '--raw', `docker-archive:${archive}`)).stdout)
    await skopeo('copy', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${a.hostPort}/myns/archived:v1`)
    // skopeo gzips the archive's uncompressed layers on the way to a registry, so the
    // manifest changes; the config (with the layers' diff ids) must not
    const remote = JSON.parse((await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${a.hostPort}/myns/archived:v1`)).stdout)
    assert.equal(remote.config.digest, original.config.digest, 'the config is the archive\'s')
    // pull into a dir: layout, which keeps the manifest as served (oci: would convert it)
    const pulled = join(out, 'archived')
    await skopeo('copy', '--src-tls-verify=false', `docker://${a.hostPort}/myns/archived:v1`, `dir:${pulled}`)
    const manifest = JSON.parse(await readFile(join(pulled, 'manifest.json'), 'utf8'))
    assert.deepEqual(manifest, remote)
    assert.equal(await sha256File(join(pulled, manifest.config.digest.slice(7))), original.config.digest)
    const diffIds: string[] = []
    for (const layer of manifest.layers) {
      assert.equal(await sha256File(join(pulled, layer.digest.slice(7))), layer.digest, `layer ${layer.digest} intact`)
      diffIds.push(await gunzipSha256(join(pulled, layer.digest.slice(7))))
    }
    assert.deepEqual(diffIds, originalConfig.rootfs.diff_ids, 'every layer uncompresses to the archive\'s layer')
  })

  it('with a token configured, skopeo push is refused without it and accepted with --dest-registry-token', async () => {
    const token = 'skopeo-token-0123456789abcdef'
    const locked = await startGateway(swarm.nodes[0], { token })
    try {
      const refused = await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${SMALL}:v1`, `docker://${locked.hostPort}/myns/locked:v1`])
      assert.notEqual(refused.code, 0)
      assert.match(refused.stderr, /401|unauthorized|authentication required/i)
      await skopeo('copy', '--dest-tls-verify=false', '--dest-registry-token', token, `oci:${SMALL}:v1`, `docker://${locked.hostPort}/myns/locked:v1`)
      await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', `provenir:${token}`, `oci:${SMALL}:v1`, `docker://${locked.hostPort}/myns/locked:v2`)
      const tags = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${locked.hostPort}/myns/locked`)).stdout)
      assert.deepEqual(tags.Tags, ['v1', 'v2'], 'reads stay open')
    } finally {
      await locked.gateway.close()
      await removeDir(locked.dir)
    }
  })

  it('serves an image imported outside the gateway under its recorded tag (docker-archive RepoTags)', async () => {
    const node = swarm.nodes[0]
    const [image] = await importDockerArchive(join(FIXTURES, 'small/docker-archive.tar'), node.blockstore!, node.images!)
    assert.ok(image.tags?.includes('docker.io/provenir/small:v1'), `recorded tags: ${image.tags}`)
    const inspect = JSON.parse((await skopeo('inspect', '--tls-verify=false', '--no-tags', `docker://${a.hostPort}/provenir/small:v1`)).stdout)
    assert.equal(inspect.Digest, image.manifestDigest)
  })
})
