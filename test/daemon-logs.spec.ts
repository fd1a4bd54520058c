/**
 * What the daemon's log shows at its default level (no DEBUG): JSON lines
 * (stderr is no terminal here) at info and above; a pull that fails, through
 * the RPC API (`provenir image pull`) and through the registry gateway,
 * appears once with its cause; no secret does. `--log-level` moves the
 * threshold.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DaemonProcess, keepDaemonLogs, runCli, runJson, TEST_INIT, waitFor } from './daemon-helpers.js'

keepDaemonLogs(import.meta.url)

const TOKEN = 'logs-test-token-8c1d5e3a9f20'
// an image no peer holds
const MISSING = `sha256:${'ab'.repeat(32)}`

/** The JSON records of a daemon's stderr; every line must be one */
function records (daemon: DaemonProcess): any[] {
  return daemon.stderr.split('\n').filter(l => l.trim() !== '').map(l => {
    try {
      return JSON.parse(l)
    } catch {
      assert.fail(`a log line that is not JSON: ${l}`)
    }
  })
}

/** The error records that mention `text` */
function errorsAbout (daemon: DaemonProcess, text: string): any[] {
  return records(daemon).filter(r => r.level >= 50 && JSON.stringify(r).includes(text))
}

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
    // logged once, as one error record with the error in `err`
    const errors = errorsAbout(daemon, '/api/v0/image/pull')
    assert.equal(errors.length, 1, `one error record for the failed pull: ${JSON.stringify(errors)}`)
    assert.equal(errors[0].err.type, 'ManifestNotFoundError')
    assert.ok(errors[0].err.message.includes(`no provider of manifest ${MISSING}`))
  })

  it('logs JSON lines at info by default: the start and each request, nothing at debug', async () => {
    const all = records(daemon)
    assert.ok(all.length > 0)
    assert.ok(all.every(r => r.level >= 30), 'nothing below info')
    assert.ok(all.some(r => r.level === 30 && r.component === 'provenir:daemon' && /^started /.test(r.msg)), 'the start is at info')
    await waitFor('the access-log line of the failed pull', async () =>
      records(daemon).find(r => r.level === 30 && r.component === 'provenir:rpc' && r.route === '/api/v0/image/pull' && r.method === 'POST'))
    assert.ok(typeof all[0].time === 'string' && typeof all[0].pid === 'number')
  })

  it('a pull through the gateway of an image no peer holds is logged with its cause', async () => {
    const res = await fetch(`${gateway}/v2/acme/missing/manifests/${MISSING}`, { signal: AbortSignal.timeout(60_000) })
    assert.equal(res.status, 404)
    const line = await waitFor('the failed gateway pull in the daemon\'s log', async () =>
      daemon.stderr.split('\n').find(l => l.includes('provenir:gateway') && l.includes(`the pull of acme/missing@${MISSING} failed`)))
    assert.match(line, /ManifestNotFoundError/, `the error is named: ${line}`)
    assert.ok(line.includes(`no provider of manifest ${MISSING} in the swarm`), `the cause is given: ${line}`)
    const errors = errorsAbout(daemon, `acme/missing@${MISSING}`)
    assert.equal(errors.length, 1, `one error record for the failed gateway pull: ${JSON.stringify(errors)}`)
    // and the access log names the route, not the path
    const access = await waitFor('the access-log line of the gateway pull', async () =>
      records(daemon).find(r => r.component === 'provenir:gateway' && r.route === '/v2/<name>/manifests/<reference>' && r.status === 404))
    assert.ok(!JSON.stringify(access).includes('acme/missing'), 'no path in the access log')
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
    await waitFor('the access-log line of the push', async () =>
      records(daemon).find(r => r.component === 'provenir:gateway' && r.method === 'PUT' && r.status === 400))
    assert.ok(daemon.stderr.length > 0, 'the daemon logged something')
    assert.ok(!daemon.stderr.includes(TOKEN) && !daemon.stdout.includes(TOKEN), 'the token is not in the log')
    const keystore = JSON.parse(await fs.readFile(path.join(repo, 'keystore.json'), 'utf8'))
    for (const secret of JSON.stringify(keystore).match(/[A-Za-z0-9+/=_-]{40,}/g) ?? []) {
      assert.ok(!daemon.stderr.includes(secret), 'no key material in the log')
    }
  })
})

describe('the daemon\'s --log-level', { timeout: 180_000 }, () => {
  let root: string
  const daemons: DaemonProcess[] = []

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-log-level-'))
  })

  after(async () => {
    for (const d of daemons) {
      await d.stop()
      d.kill()
    }
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  async function start (name: string, args: string[], token?: string): Promise<DaemonProcess> {
    const repo = path.join(root, name)
    await runJson(repo, ['init', ...TEST_INIT])
    if (token != null) {
      const configFile = path.join(repo, 'config.json')
      const config = JSON.parse(await fs.readFile(configFile, 'utf8'))
      config.gateway.token = token
      await fs.writeFile(configFile, JSON.stringify(config, null, 2))
    }
    const { DEBUG: _, ...env } = process.env
    process.env = env
    const d = new DaemonProcess(repo, args)
    daemons.push(d)
    await d.ready()
    return d
  }

  it('warn suppresses info, and still logs a failed pull with its cause', async () => {
    const d = await start('warn', ['--log-level', 'warn'])
    const res = await runCli(d.repo, ['image', 'pull', MISSING])
    assert.notEqual(res.code, 0)
    const error = await waitFor('the failed pull in the log', async () => errorsAbout(d, '/api/v0/image/pull')[0])
    assert.equal(error.err.type, 'ManifestNotFoundError')
    assert.ok(records(d).every(r => r.level >= 40), `nothing below warn: ${d.stderr}`)
  })

  it('debug shows the components\' debug lines, and still no token', async () => {
    const d = await start('debug', ['--log-level', 'debug'], TOKEN)
    const line = await waitFor('a debug line of the gateway', async () => records(d).find(r => r.level === 20 && r.component === 'provenir:gateway' && /^listening on/.test(r.msg)))
    assert.ok(line != null)
    assert.ok(records(d).some(r => r.level === 30), 'info too')
    // a push refused for a wrong token, and one with the token that fails: both logged at debug, neither with the token
    const gateway = d.events().find(e => e.event === 'ready').gateway
    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN}`, `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`]) {
      const res = await fetch(`${gateway}/v2/acme/app/manifests/v1`, { method: 'PUT', headers: { authorization, 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: '{}', signal: AbortSignal.timeout(30_000) })
      assert.ok(res.status >= 400)
    }
    await waitFor('the three refusals in the log', async () => records(d).filter(r => r.component === 'provenir:gateway' && r.method === 'PUT' && r.status >= 400).length >= 3 ? true : undefined)
    assert.ok(records(d).some(r => r.level === 20 && r.component === 'provenir:gateway' && /PUT .*manifests/.test(r.msg)), 'the refusals are logged at debug')
    assert.ok(!d.stderr.includes(TOKEN) && !d.stdout.includes(TOKEN), 'the token is not in the log')
    assert.ok(!d.stderr.includes(Buffer.from(`x:${TOKEN}`).toString('base64')), 'nor its Basic form')
  })

  it('an unknown level is refused by name before the daemon starts', async () => {
    const repo = path.join(root, 'bad')
    await runJson(repo, ['init', ...TEST_INIT])
    const res = await runCli(repo, ['daemon', '--log-level', 'loud'])
    assert.notEqual(res.code, 0)
    assert.match(res.stderr, /--log-level: "loud" is not a log level/)
  })
})
