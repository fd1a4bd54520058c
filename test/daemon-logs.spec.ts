/**
 * What the daemon's log shows at its default level (no DEBUG): a pull that
 * fails, through the RPC API (`provenir image pull`) and through the registry
 * gateway, appears with its cause; no secret does.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DaemonProcess, runCli, runJson, TEST_INIT, waitFor } from './daemon-helpers.js'

const TOKEN = 'logs-test-token-8c1d5e3a9f20'
// an image no peer holds
const MISSING = `sha256:${'ab'.repeat(32)}`

describe('the daemon\'s log at the default level', { timeout: 180_000 }, () => {
  let root: string
  let repo: string
  let daemon: DaemonProcess
  let gateway: string

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-logs-'))
    repo = path.join(root, 'repo')
    await runJson(repo, ['init', ...TEST_INIT])
    const configFile = path.join(repo, 'config.json')
    const config = JSON.parse(await fs.readFile(configFile, 'utf8'))
    config.gateway.token = TOKEN
    await fs.writeFile(configFile, JSON.stringify(config, null, 2))
    // the test's own environment must not turn debug output on
    const { DEBUG: _, ...env } = process.env
    process.env = env
    daemon = new DaemonProcess(repo)
    await daemon.ready()
    gateway = daemon.events().find(e => e.event === 'ready').gateway
  })

  after(async () => {
    await daemon?.stop()
    daemon?.kill()
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it('a pull through the RPC API of an image no peer holds is logged with its cause', async () => {
    const res = await runCli(repo, ['image', 'pull', MISSING])
    assert.notEqual(res.code, 0)
    const line = await waitFor('the failed pull in the daemon\'s log', async () =>
      daemon.stderr.split('\n').find(l => l.includes('/api/v0/image/pull') && l.includes('failed')))
    assert.match(line, /ManifestNotFoundError/, 'the error is named')
    assert.ok(line.includes(`no provider of manifest ${MISSING} in the swarm`), `the cause is given: ${line}`)
  })

  it('a pull through the gateway of an image no peer holds is logged with its cause', async () => {
    const res = await fetch(`${gateway}/v2/acme/missing/manifests/${MISSING}`, { signal: AbortSignal.timeout(60_000) })
    assert.equal(res.status, 404)
    const line = await waitFor('the failed gateway pull in the daemon\'s log', async () =>
      daemon.stderr.split('\n').find(l => l.includes('provenir:gateway') && l.includes(`the pull of acme/missing@${MISSING} failed`)))
    assert.match(line, /ManifestNotFoundError/, `the error is named: ${line}`)
    assert.ok(line.includes(`no provider of manifest ${MISSING} in the swarm`), `the cause is given: ${line}`)
  })

  it('no secret appears: the push token sent with a request is not in the log', async () => {
    // a push that fails (a manifest whose blobs were never uploaded) is logged, with the token in its request
    const res = await fetch(`${gateway}/v2/acme/app/manifests/v1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: MISSING, size: 2 }, layers: [] }),
      signal: AbortSignal.timeout(60_000)
    })
    assert.equal(res.status, 400)
    assert.ok(daemon.stderr.length > 0, 'the daemon logged something')
    assert.ok(!daemon.stderr.includes(TOKEN) && !daemon.stdout.includes(TOKEN), 'the token is not in the log')
    const keystore = JSON.parse(await fs.readFile(path.join(repo, 'keystore.json'), 'utf8'))
    for (const secret of JSON.stringify(keystore).match(/[A-Za-z0-9+/=_-]{40,}/g) ?? []) {
      assert.ok(!daemon.stderr.includes(secret), 'no key material in the log')
    }
  })
})
