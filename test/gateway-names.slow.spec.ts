/**
 * The gateway with names, across two daemons: skopeo pushes the small real
 * image to A's gateway by tag; A signs it with its node key and publishes the
 * repository document under that key's namespace. B, which holds nothing,
 * serves `<A's UserId>/<repo>:<tag>` to skopeo: the gateway resolves the name
 * through the DHT, pulls the image with the signed document's record, and
 * the copy is the original.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { keepDaemonLogs, runCli, runJson, runTool, startDaemonPair, waitFor } from './daemon-helpers.js'
import type { DaemonPair, DaemonProcess } from './daemon-helpers.js'
import { assertLayoutMatches, buildFixtures } from './image-helpers.js'
import type { Fixture } from './image-helpers.js'

keepDaemonLogs(import.meta.url)

async function skopeo (...args: string[]): ReturnType<typeof runTool> {
  return runTool('skopeo', args)
}

function gatewayOf (d: DaemonProcess): string {
  return d.events().find(e => e.event === 'ready').gateway.replace(/^http:\/\//, '')
}

describe('gateway pushes publish names, and another node\'s gateway pulls by name (real daemons, skopeo)', { timeout: 5 * 60_000 }, () => {
  let pair: DaemonPair
  let root: string
  let repoA: string
  let repoB: string
  let a: DaemonProcess
  let b: DaemonProcess
  let owner: string
  let small: Fixture

  before(async () => {
    ({ small } = await buildFixtures('small'))
    pair = await startDaemonPair()
    ;({ root, repoA, repoB, a, b } = pair)
    owner = (await runJson(repoA, ['key', 'ls'])).keys.find((k: { name: string }) => k.name === 'self').userId
  })

  after(async () => {
    await pair?.stop()
  })

  it('a skopeo push by tag to A publishes <UserId>/app:v1, which resolves on B', async () => {
    const push = await skopeo('copy', '--dest-tls-verify=false', `oci:${small.oci}:v1`, `docker://${gatewayOf(a)}/acme/app:v1`)
    assert.equal(push.code, 0, push.stderr)
    // the push is answered before the publish (in the background) completes
    const resolved = await waitFor('B to resolve the pushed name', async () => {
      const res = await runCli(repoB, ['name', 'resolve', `${owner}/app:v1`, '--json'])
      return res.code === 0 ? JSON.parse(res.stdout) : undefined
    })
    assert.equal(resolved.manifestDigest, small.digest)
    assert.equal(resolved.owner, owner)
  })

  it('B, holding nothing, serves the image by name to skopeo: inspect, then copy, identical to the original', async () => {
    const gw = gatewayOf(b)
    const inspect = await skopeo('inspect', '--tls-verify=false', `docker://${gw}/${owner}/app:v1`)
    assert.equal(inspect.code, 0, inspect.stderr)
    assert.equal(JSON.parse(inspect.stdout).Digest, small.digest)
    const out = path.join(root, 'out')
    const copy = await skopeo('copy', '--src-tls-verify=false', `docker://${gw}/${owner}/app:v1`, `oci:${out}:v1`)
    assert.equal(copy.code, 0, copy.stderr)
    await assertLayoutMatches(out, small.oci, small.digest)
    // the image came with A's signatures
    const verified = await runJson(repoB, ['verify', small.digest, '--policy', await policyFile(root, owner), '--reference', `${owner}/app:v1`])
    assert.equal(verified.report.passed, true, JSON.stringify(verified.report.checks))
  })

  it('tags/list on B includes the tags of the signed repository document, which B holds no tag of', async () => {
    const res = await fetch(`http://${gatewayOf(b)}/v2/${owner}/app/tags/list`)
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { name: `${owner}/app`, tags: ['v1'] })
    assert.equal((await fetch(`http://${gatewayOf(b)}/v2/${owner}/nothing/tags/list`)).status, 404, 'a name with no document is unknown')
  })

  it('an unknown tag of a known name is MANIFEST_UNKNOWN, with the reason', async () => {
    const res = await fetch(`http://${gatewayOf(b)}/v2/${owner}/app/manifests/nosuchtag`)
    assert.equal(res.status, 404)
    const body = await res.json() as { errors: Array<{ code: string, message: string }> }
    assert.equal(body.errors[0].code, 'MANIFEST_UNKNOWN')
    assert.match(body.errors[0].message, /nosuchtag/)
  })
})

async function policyFile (root: string, signer: string): Promise<string> {
  const file = path.join(root, 'policy.json')
  await fs.writeFile(file, JSON.stringify({ version: 1, rules: [{ match: '**', manifest: { signers: [signer] }, layers: [{ layers: 'all', signers: [signer] }] }] }))
  return file
}
