import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, manifestBlobs, readLayout, removeDir, skopeo, startGatewayPair } from './helpers.js'
import type { GatewayPair } from './helpers.js'

const LARGE = join(FIXTURES, 'large/oci')

describe('skopeo against the gateway (large image, ~315 MB)', () => {
  let pair: GatewayPair
  let a: GatewayPair['a']
  let b: GatewayPair['b']
  let out: string
  let original: GatewayPair['original']

  before(async () => {
    pair = await startGatewayPair('large')
    ;({ a, b, out, original } = pair)
  })

  after(async () => {
    await pair?.stop()
  })

  it('pushes to A, pulls back from A, then cold-pulls by digest through B; every digest identical', async () => {
    const digest = original.manifestDigest
    const wanted = [digest, ...await manifestBlobs(LARGE, digest)]
    const push = await skopeo('copy', '--dest-tls-verify=false', `oci:${LARGE}:v1`, `docker://${a.hostPort}/myns/large:v1`)
    const warm = await skopeo('copy', '--src-tls-verify=false', `docker://${a.hostPort}/myns/large:v1`, `oci:${join(out, 'a')}:v1`)
    const fromA = await readLayout(join(out, 'a'))
    assert.equal(fromA.manifestDigest, digest)
    for (const d of wanted) assert.equal(fromA.blobs.get(d), d, `blob ${d} intact from A`)
    await removeDir(join(out, 'a'))

    const cold = await skopeo('copy', '--src-tls-verify=false', `docker://${b.hostPort}/myns/large@${digest}`, `oci:${join(out, 'b')}:v1`)
    const fromB = await readLayout(join(out, 'b'))
    assert.equal(fromB.manifestDigest, digest)
    for (const d of wanted) assert.equal(fromB.blobs.get(d), d, `blob ${d} intact through B`)
    const warmB = await skopeo('copy', '--src-tls-verify=false', `docker://${b.hostPort}/myns/large@${digest}`, `oci:${join(out, 'b2')}:v1`)
    const inspect = JSON.parse((await skopeo('inspect', '--tls-verify=false', `docker://${a.hostPort}/myns/large:v1`)).stdout)
    assert.equal(inspect.Digest, digest)
    const tags = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${a.hostPort}/myns/large`)).stdout)
    assert.deepEqual(tags.Tags, ['v1'])
    console.log(`large image: push ${push.ms.toFixed(0)} ms, warm pull from A ${warm.ms.toFixed(0)} ms, cold pull through B ${cold.ms.toFixed(0)} ms, warm pull from B ${warmB.ms.toFixed(0)} ms, test process max RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`)
  })
})
