/**
 * Trust across processes, as operators run it: daemon A imports the small
 * real test image, signs its base layer with key "vendor", its app layer and
 * manifest with key "team", and attests its build from the config history.
 * Daemon B, which holds nothing and whose policy.json enforces exactly that,
 * pulls the image by digest: the statements come through the swarm with it,
 * and `provenir verify` on B prints the chain. A policy the image does not
 * meet refuses the pull, and nothing is kept.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { keepDaemonLogs, runCli, runJson, runTool, startDaemonPair } from './daemon-helpers.js'
import type { DaemonPair } from './daemon-helpers.js'
import { buildFixtures } from './image-helpers.js'
import type { Fixture } from './image-helpers.js'

keepDaemonLogs(import.meta.url)

describe('trust across two daemons: sign and attest on A, pull under enforce on B', { timeout: 240_000 }, () => {
  let root: string
  let repoA: string
  let repoB: string
  let small: Fixture
  let vendor: string
  let team: string
  let layers: string[]
  let pair: DaemonPair

  const policy = (signers: { base: string, rest: string, manifest: string, builder: string }): object => ({
    version: 1,
    rules: [{
      match: '**',
      mode: 'enforce',
      manifest: { signers: [signers.manifest] },
      layers: [
        { layers: 'base:1', signers: [signers.base] },
        { layers: 'rest', signers: [signers.rest] }
      ],
      attestations: [{ predicateType: 'https://slsa.dev/provenance/v1', builders: [signers.builder] }]
    }]
  })

  before(async () => {
    ({ small } = await buildFixtures('small'))
    pair = await startDaemonPair(async ({ repoA, repoB }) => {
      vendor = (await runJson(repoA, ['key', 'gen', 'vendor'])).userId
      team = (await runJson(repoA, ['key', 'gen', 'team'])).userId
      // B enforces: vendor on the base layer, team on the rest and the manifest, and team's provenance
      await fs.writeFile(path.join(repoB, 'policy.json'), JSON.stringify(policy({ base: vendor, rest: team, manifest: team, builder: team })))
    })
    ;({ root, repoA, repoB } = pair)
  })

  after(async () => {
    await pair?.stop()
  })

  it('A imports, signs (layers by two issuers, the manifest) and attests the image', async () => {
    const imported = await runJson(repoA, ['image', 'import', small.oci])
    assert.equal(imported.images[0].digest, small.digest)
    const base = await runJson(repoA, ['sign', small.digest, '--layers', '0', '--key', 'vendor'])
    layers = (await runJson(repoA, ['sign', small.digest, '--layers', '1', '--key', 'team'])).statement.subjects
    assert.deepEqual(base.statement.signers, [vendor])
    assert.equal(base.statement.predicateType, 'https://provenir.dev/signature/layer/v1')
    assert.equal(layers.length, 1)
    assert.notDeepEqual(base.statement.subjects, layers, 'the two issuers signed different layers')
    const image = await runJson(repoA, ['sign', 'v1', '--key', 'team'])
    assert.deepEqual(image.statement.subjects, [small.digest])
    const attested = await runJson(repoA, ['attest', small.digest, '--from-history', '--key', 'team'])
    assert.equal(attested.statement.predicateType, 'https://slsa.dev/provenance/v1')
    const predicate = JSON.parse(Buffer.from(attested.statement.envelope.payload, 'base64').toString()).predicate
    assert.equal(predicate.runDetails.builder.id, team)
    assert.ok(predicate.buildDefinition.externalParameters.steps.length >= 2, 'the history\'s steps')
    // a wrong key name and a layer that is not in the image are clear errors
    const noKey = await runCli(repoA, ['sign', small.digest, '--key', 'nobody'])
    assert.equal(noKey.code, 1)
    assert.match(noKey.stderr, /holds no key named "nobody"/)
    const badLayer = await runCli(repoA, ['sign', small.digest, '--layers', '7', '--key', 'team'])
    assert.equal(badLayer.code, 1)
    assert.match(badLayer.stderr, /index 7 is out of range; the image has 2 layers/)
    // A checks its own image against B's policy
    const policyFile = path.join(root, 'policy-b.json')
    await fs.writeFile(policyFile, JSON.stringify(policy({ base: vendor, rest: team, manifest: team, builder: team })))
    const verified = await runJson(repoA, ['verify', small.digest, '--policy', policyFile])
    assert.equal(verified.report.passed, true, JSON.stringify(verified.report.checks))
  })

  it('B refuses the image under a policy it does not meet, naming the object and the rule, and keeps nothing', async () => {
    const strict = path.join(root, 'strict.json')
    // the base layer must be signed by team, which only signed the app layer
    await fs.writeFile(strict, JSON.stringify(policy({ base: team, rest: team, manifest: team, builder: team })))
    const before = await runJson(repoB, ['repo', 'stat'])
    const res = await runCli(repoB, ['image', 'pull', small.digest, '--policy', strict])
    assert.equal(res.code, 1, res.stdout)
    assert.match(res.stderr, /the trust policy \(mode enforce\) refuses/)
    assert.match(res.stderr, /rules\[0\]\.layers\[0\]/)
    const ls = await runJson(repoB, ['image', 'ls'])
    assert.deepEqual(ls.images, [], 'nothing recorded')
    // and nothing stored: the manifest and the statements the pull fetched to check them are gone, not left for gc
    const after = await runJson(repoB, ['repo', 'stat'])
    assert.deepEqual([after.usage.blocks, after.usage.bytes], [before.usage.blocks, before.usage.bytes], 'the store holds what it held before the pull')
    const gc = await runJson(repoB, ['gc'])
    assert.equal(gc.removed, 0, 'gc finds nothing the refused pull left')
  })

  it('B pulls under its enforce policy, with the statements fetched through the swarm, and `verify` prints the chain', async () => {
    const pulled = await runJson(repoB, ['image', 'pull', small.digest])
    assert.equal(pulled.image.digest, small.digest)
    assert.equal(pulled.statements.length, 4)
    assert.equal(pulled.report.passed, true, JSON.stringify(pulled.report.checks))
    const res = await runCli(repoB, ['verify', small.digest])
    assert.equal(res.code, 0, res.stderr)
    assert.match(res.stdout, /PASSED/)
    for (const id of [vendor, team]) assert.ok(res.stdout.includes(id), `the chain names ${id}`)
    assert.match(res.stdout, /https:\/\/slsa\.dev\/provenance\/v1/)
    assert.ok(res.stdout.includes(layers[0]), 'the app layer is in the chain')
    for (const s of pulled.statements as Array<{ cid: string }>) {
      assert.equal(res.stdout.split(s.cid).length - 1, 1, `statement ${s.cid} is printed once`)
    }
    // against a policy it fails, verify prints the report and exits 1
    const other = path.join(root, 'other.json')
    await fs.writeFile(other, JSON.stringify(policy({ base: team, rest: team, manifest: vendor, builder: team })))
    const failed = await runCli(repoB, ['verify', small.digest, '--policy', other])
    assert.equal(failed.code, 1)
    assert.match(failed.stdout, /REFUSED/)
    assert.match(failed.stderr, /fails the trust policy/)
  })

  it('a push through A\'s registry gateway is signed by A\'s node key with no extra step', async () => {
    const gateway = pair.a.events().find(e => e.event === 'ready').gateway.replace(/^http:\/\//, '')
    const push = await runTool('skopeo', ['copy', '--dest-tls-verify=false', `oci:${small.oci}:v1`, `docker://${gateway}/acme/pushed:v2`])
    assert.equal(push.code, 0, push.stderr)
    const self = (await runJson(repoA, ['key', 'ls'])).keys.find((k: { name: string }) => k.name === 'self').userId
    const nodeSigned = path.join(root, 'node-signed.json')
    await fs.writeFile(nodeSigned, JSON.stringify({ version: 1, rules: [{ match: 'acme/*', manifest: { signers: [self] }, layers: [{ layers: 'all', signers: [self] }] }] }))
    const verified = await runJson(repoA, ['verify', small.digest, '--policy', nodeSigned, '--reference', 'acme/pushed:v2'])
    assert.equal(verified.report.passed, true, JSON.stringify(verified.report.checks))
  })
})
