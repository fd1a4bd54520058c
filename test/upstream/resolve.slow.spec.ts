/**
 * `provenir name resolve` on real daemons whose upstream is the Docker Hub
 * stand-in (TLS with its CA, token auth): a reference with the registry's
 * host, a name no provenir source knows (provenir's answers, then the
 * upstream's), a private repository with credentials from an auth.json and
 * without, and a host the config does not list.
 */

import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DaemonProcess, TEST_INIT, keepDaemonLogs, runCli, runJson } from '../daemon-helpers.js'
import { ALICE, FIXTURES, startStandIn, type AccessEntry, type StandIn } from './stand-in.js'

keepDaemonLogs(import.meta.url)

const SMALL = path.join(FIXTURES, 'small', 'oci')
const DIGEST = 'sha256:46e5cc9546ec373375142efc4e9ea8f44326ce54611ae3e87d8b8d091ffc0901'

/** A test repo whose only upstream is `hub` */
async function repoWith (repo: string, hub: StandIn, credentials?: Record<string, string>): Promise<void> {
  await runJson(repo, ['init', ...TEST_INIT])
  const file = path.join(repo, 'config.json')
  const config = JSON.parse(await fs.readFile(file, 'utf8'))
  config.upstream = { registries: [{ host: hub.host, ca: hub.pki.caCert, unqualified: true, ...(credentials != null ? { credentials } : {}) }], dockerHub: false }
  await fs.writeFile(file, JSON.stringify(config, null, 2))
}

describe('name resolve through upstream registries (real daemons)', () => {
  let dir: string
  let hub: StandIn
  let withCreds: DaemonProcess
  let withoutCreds: DaemonProcess
  const repoA = (): string => path.join(dir, 'a')
  const repoB = (): string => path.join(dir, 'b')

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-upstream-resolve-'))
    hub = await startStandIn(path.join(dir, 'hub'), { images: [[SMALL, 'library/small', 'v1'], [SMALL, 'private/app', 'v1']] })
    const authFile = path.join(dir, 'auth.json')
    await fs.writeFile(authFile, JSON.stringify({ auths: { [hub.host]: { auth: Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64') } } }), { mode: 0o600 })
    await repoWith(repoA(), hub, { authFile })
    await repoWith(repoB(), hub)
    withCreds = new DaemonProcess(repoA())
    withoutCreds = new DaemonProcess(repoB())
    await Promise.all([withCreds.ready(), withoutCreds.ready()])
  })

  after(async () => {
    withCreds?.kill()
    withoutCreds?.kill()
    await Promise.all([withCreds?.exited, withoutCreds?.exited])
    await hub?.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('resolves a reference with the registry\'s host on that registry, by HEAD', async () => {
    const res = await runJson(repoA(), ['name', 'resolve', `${hub.host}/library/small:v1`])
    assert.deepEqual([res.kind, res.host, res.repository, res.tag, res.manifestDigest, res.from], ['upstream', hub.host, 'library/small', 'v1', DIGEST, 'upstream'])
    const headed = (entries: AccessEntry[]): boolean => entries.some(e => e.method === 'HEAD' && e.path === '/v2/library/small/manifests/v1')
    assert.ok(headed(await hub.accessLog(headed)))
  })

  it('explains a name no provenir source knows: the upstream answers and is marked the winner', async () => {
    const res = await runCli(repoA(), ['name', 'resolve', 'library/small:v1', '--explain'])
    assert.equal(res.code, 0, res.stderr)
    assert.match(res.stdout, new RegExp(`^library/small:v1 -> ${DIGEST}$`, 'm'))
    assert.match(res.stdout, new RegExp(`Upstream: +${hub.host.replace(/\./g, '\\.')}/library/small:v1 at https://${hub.host.replace(/\./g, '\\.')}`))
    assert.match(res.stdout, /Provenir: +no answer: no pin or registry knows the name library/)
    assert.match(res.stdout, new RegExp(`^ +\\* upstream ${hub.host.replace(/\./g, '\\.')} \\(library/small\\): ${DIGEST}$`, 'm'))
  })

  it('reads a private repository with the credentials of an auth.json, and names the registry and the missing credentials without them', async () => {
    const res = await runJson(repoA(), ['name', 'resolve', `${hub.host}/private/app:v1`])
    assert.equal(res.manifestDigest, DIGEST)
    const refused = await runCli(repoB(), ['name', 'resolve', `${hub.host}/private/app:v1`, '--json'])
    assert.equal(refused.code, 1)
    const err = JSON.parse(refused.stderr).error
    assert.equal(err.name, 'UpstreamAuthError')
    assert.match(err.message, new RegExp(`registry ${hub.host.replace(/\./g, '\\.')}`))
    assert.match(err.message, /no credentials were found for 127\.0\.0\.1:\d+ in .*auth\.json/)
  })

  it('refuses a host the config does not list, saying how to add it', async () => {
    const res = await runCli(repoA(), ['name', 'resolve', '127.0.0.1:1/library/small:v1', '--json'])
    assert.equal(res.code, 1)
    const err = JSON.parse(res.stderr).error
    assert.equal(err.name, 'UpstreamNotConfiguredError')
    assert.match(err.message, /add \{"host": "127\.0\.0\.1:1"\} to "upstream\.registries"/)
  })
})
