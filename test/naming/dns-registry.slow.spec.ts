/**
 * A registry named by a domain, across real daemon processes: dnsmasq on a
 * high port of 127.0.0.1 serves `_provenir.registry.test` (the registry
 * daemon's NodeId and address) and a broken `_provenir.broken.test`. The
 * owner claims a name with `registry claim --registry registry.test`; a
 * client whose config lists `broken.test` then `registry.test` resolves the
 * name, and `--explain` shows the DNS failure of the first source.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DaemonProcess, TEST_INIT, keepDaemonLogs, runCli, runJson, tempDir, waitFor } from '../daemon-helpers.js'
import { buildFixtures } from '../image-helpers.js'
import type { Fixture } from '../image-helpers.js'
import { DNSMASQ, startDnsmasq } from './fixtures.js'
import type { Dnsmasq } from './fixtures.js'

keepDaemonLogs(import.meta.url)

describe('a registry named by a domain (DNS TXT from dnsmasq), real daemons', { timeout: 5 * 60_000, skip: DNSMASQ == null ? 'dnsmasq is not installed (apt-get install dnsmasq)' : false }, () => {
  let root: string
  let dnsmasq: Dnsmasq | undefined
  let dnsServer: string
  let registryId: string
  let ownerId: string
  let small: Fixture
  const repos: Record<'registry' | 'owner' | 'client', string> = { registry: '', owner: '', client: '' }
  const spawned: DaemonProcess[] = []

  async function init (name: keyof typeof repos, extra: string[], naming?: unknown): Promise<void> {
    repos[name] = path.join(root, name)
    const res = await runCli(repos[name], ['init', ...TEST_INIT, ...extra])
    assert.equal(res.code, 0, res.stderr)
    if (naming != null) {
      const file = path.join(repos[name], 'config.json')
      const config = JSON.parse(await fs.readFile(file, 'utf8'))
      config.naming = naming
      await fs.writeFile(file, JSON.stringify(config, null, 2))
    }
  }

  async function start (name: keyof typeof repos, args: string[] = []): Promise<{ peerId: string, addresses: string[] }> {
    const d = new DaemonProcess(repos[name], args)
    spawned.push(d)
    await d.ready()
    return runJson(repos[name], ['id'])
  }

  before(async () => {
    ({ small } = await buildFixtures('small'))
    root = await tempDir()
    await init('registry', [])
    const reg = await start('registry', ['--registry'])
    registryId = reg.peerId
    dnsmasq = await startDnsmasq([
      `_provenir.registry.test,provenir=${registryId}`,
      `_provenir.registry.test,dnsaddr=${reg.addresses[0]}`,
      '_provenir.broken.test,provenir=not-a-node-id'
    ], '_provenir.registry.test')
    dnsServer = dnsmasq.server
    const dns = { servers: [dnsServer], timeoutMs: 2000 }
    await init('owner', ['--bootstrap', reg.addresses[0]], { dns })
    await start('owner')
    await init('client', ['--bootstrap', reg.addresses[0]], { registries: ['broken.test', 'registry.test'], dns })
    await start('client')
    for (const name of ['owner', 'client'] as const) {
      await waitFor(`${name} to connect to the registry`, async () => {
        const peers = await runJson(repos[name], ['peers'])
        return peers.peers.some((p: { peerId: string }) => p.peerId === registryId) ? true : undefined
      }, 60_000)
    }
  })

  after(async () => {
    for (const d of spawned) d.kill()
    await dnsmasq?.stop()
    await Promise.all(spawned.map(async d => d.exited))
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it('the owner claims "lab" at registry.test (found through DNS) and publishes', async () => {
    ownerId = (await runJson(repos.owner, ['key', 'gen', 'owner'])).userId
    const claim = await runJson(repos.owner, ['registry', 'claim', 'lab', '--registry', 'registry.test'])
    assert.deepEqual([claim.name, claim.userId, claim.registry], ['lab', ownerId, registryId])
    const broken = await runCli(repos.owner, ['registry', 'claim', 'lab', '--registry', 'broken.test', '--json'])
    assert.equal(broken.code, 1)
    const err = JSON.parse(broken.stderr).error
    assert.equal(err.name, 'DnsLookupError')
    assert.match(err.message, /_provenir\.broken\.test holds no valid provenir=<NodeId> entry/)
    const imported = await runJson(repos.owner, ['image', 'import', small.oci])
    const published = await runJson(repos.owner, ['name', 'publish', 'app', '--tag', `v1=${imported.images[0].digest}`])
    assert.equal(published.owner, ownerId)
  })

  it('the client resolves lab/app:v1 through registry.test; --explain shows broken.test\'s DNS error first', async () => {
    const res = await runJson(repos.client, ['name', 'resolve', 'lab/app:v1', '--explain'])
    assert.equal(res.owner, ownerId)
    assert.equal(res.manifestDigest, small.digest)
    assert.equal(res.answers.length, 2)
    assert.deepEqual([res.answers[0].registry, res.answers[0].error?.name, res.answers[0].winner], ['broken.test', 'DnsLookupError', false])
    assert.deepEqual([res.answers[1].registry, res.answers[1].userId, res.answers[1].winner], [registryId, ownerId, true])
    // the answer names the domain DNS found the registry by, and that the registry itself answered
    assert.deepEqual([res.answers[1].domain, res.answers[1].from, res.answers[1].source], ['registry.test', 'registry', `registry ${registryId} found by DNS at registry.test (priority 1)`])
    // a domain in the reference itself
    const direct = await runJson(repos.client, ['name', 'resolve', 'registry.test/lab/app:v1'])
    assert.equal(direct.owner, ownerId)
    assert.equal(direct.name.source, `registry ${registryId} found by DNS at registry.test (priority 0)`)
  })
})
