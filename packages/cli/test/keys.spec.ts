import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { publicKeyFromPem, userIdFromKey } from '@provenir/trust'
import { jsonError, runCli, snapshot, tempDir, TEST_INIT } from './helpers.js'

describe('provenir key and policy commands (real processes)', () => {
  let root: string
  let repo: string

  before(async () => {
    root = await tempDir()
    repo = path.join(root, 'repo')
    const init = await runCli(['init', ...TEST_INIT, '--json'], { repo })
    assert.equal(init.code, 0, init.stderr)
  })

  after(async () => {
    await fs.rm(root, { recursive: true, force: true })
  })

  it('key gen stores a namespace key; key ls lists it beside the node key; key export gives its UserId and PEM', async () => {
    const gen = await runCli(['key', 'gen', 'app', '--json'], { repo })
    assert.equal(gen.code, 0, gen.stderr)
    const made = JSON.parse(gen.stdout)
    assert.equal(made.name, 'app')
    assert.match(made.userId, /^k51qzi5uqu5d[a-z0-9]+$/, 'a CIDv1 libp2p-key in base36')
    assert.equal((await fs.stat(path.join(repo, 'keystore.json'))).mode & 0o777, 0o600)

    const ls = JSON.parse((await runCli(['key', 'ls', '--json'], { repo })).stdout)
    assert.deepEqual(ls.keys.map((k: any) => k.name), ['app', 'self'])
    assert.equal(ls.keys.find((k: any) => k.name === 'app').userId, made.userId)
    assert.equal(ls.keys.find((k: any) => k.name === 'self').node, true)

    const pem = await runCli(['key', 'export', 'app', '--pem'], { repo })
    assert.equal(pem.code, 0, pem.stderr)
    assert.match(pem.stdout, /^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n$/)
    assert.equal(userIdFromKey(publicKeyFromPem(pem.stdout)), made.userId, 'the PEM is the same key')
    assert.equal((await runCli(['key', 'export', 'app'], { repo })).stdout.trim(), made.userId)
  })

  it('refuses to replace the node key or an existing key, and leaves the keystore unchanged', async () => {
    const before = await snapshot(repo)
    for (const name of ['self', 'app']) {
      const res = await runCli(['key', 'gen', name, '--json'], { repo })
      assert.equal(res.code, 1)
      const err = jsonError(res)
      assert.match(err.name, /InvalidParametersError|FileExistsError/)
      assert.match(err.message, new RegExp(`"${name}"`))
    }
    const bad = await runCli(['key', 'gen', '../escape', '--json'], { repo })
    assert.equal(bad.code, 1)
    assert.deepEqual(await snapshot(repo), before)
  })

  it('key export of an unknown key names it', async () => {
    const res = await runCli(['key', 'export', 'nope', '--json'], { repo })
    assert.equal(res.code, 1)
    assert.equal(jsonError(res).name, 'KeyNotFoundError')
    assert.match(jsonError(res).message, /"nope"/)
  })

  it('policy check accepts a valid policy and names the bad field of an invalid one', async () => {
    const userId = JSON.parse((await runCli(['key', 'export', 'app', '--json'], { repo })).stdout).userId
    const good = path.join(root, 'policy.json')
    await fs.writeFile(good, JSON.stringify({
      version: 1,
      rules: [{ match: 'myns/*', mode: 'enforce', manifest: { signers: [userId] }, layers: [{ layers: 'all', signers: [userId] }] }]
    }))
    const ok = await runCli(['policy', 'check', good, '--json'])
    assert.equal(ok.code, 0, ok.stderr)
    const report = JSON.parse(ok.stdout)
    assert.equal(report.valid, true)
    assert.deepEqual(report.rules, [{ match: ['myns/*'], mode: 'enforce', manifestSigners: 1, layerEntries: 1, attestations: 0 }])

    const badFile = path.join(root, 'bad-policy.json')
    await fs.writeFile(badFile, JSON.stringify({ version: 1, rules: [{ match: 'myns/*', mode: 'strict' }] }))
    const bad = await runCli(['policy', 'check', badFile])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /bad-policy\.json: \/rules\/0\/mode must be one of enforce, audit, off/)
    assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace for a bad policy')
  })
})
