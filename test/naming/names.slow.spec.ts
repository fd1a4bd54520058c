/**
 * Names across real daemon processes (public swarm on 127.0.0.1): two
 * registries (`daemon --registry`), an owner with two namespace keys that
 * claims the same link name at each registry with a different key, and a
 * client whose config lists the registries in priority order.
 *
 * - r1 serves because of `daemon --registry`, r2 because of its config.
 * - `name publish` takes its tags from the image index (`docker.io/provenir/small:v1`).
 * - `name resolve --explain` shows both answers, in priority order, the
 *   first one winning.
 * - `registry claim --output` and `name verify` round-trip; an altered
 *   binding or the wrong registry is refused.
 * - An owner whose datastore was lost publishes above the seq the DHT holds.
 * - A restarted owner republishes what it published.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DaemonProcess, TEST_INIT, keepDaemonLogs, runCli, runJson, tempDir, waitFor } from '../daemon-helpers.js'
import { buildFixtures } from '../image-helpers.js'
import type { Fixture } from '../image-helpers.js'

keepDaemonLogs(import.meta.url)

async function connected (repo: string, peerId: string): Promise<true | undefined> {
  const peers = await runJson(repo, ['peers'])
  return peers.peers.some((p: { peerId: string }) => p.peerId === peerId) ? true : undefined
}

describe('name publish / resolve --explain, registry claim / name verify, seq after a lost datastore (real daemons)', { timeout: 10 * 60_000 }, () => {
  let root: string
  const repos: Record<'r1' | 'r2' | 'owner' | 'client', string> = { r1: '', r2: '', owner: '', client: '' }
  const ids: Record<string, string> = {}
  const addrs: Record<string, string> = {}
  let k1: string
  let k2: string
  let small: Fixture
  let imageDigest: string
  let owner: DaemonProcess
  const spawned: DaemonProcess[] = []

  async function start (name: keyof typeof repos, args: string[] = []): Promise<DaemonProcess> {
    const d = new DaemonProcess(repos[name], args)
    spawned.push(d)
    await d.ready()
    const id = await runJson(repos[name], ['id'])
    ids[name] = id.peerId
    addrs[name] = id.addresses[0]
    return d
  }

  async function init (name: keyof typeof repos, extra: string[] = []): Promise<void> {
    repos[name] = path.join(root, name)
    const res = await runCli(repos[name], ['init', ...TEST_INIT, ...extra])
    assert.equal(res.code, 0, res.stderr)
  }

  async function editConfig (name: keyof typeof repos, edit: (config: any) => void): Promise<void> {
    const file = path.join(repos[name], 'config.json')
    const config = JSON.parse(await fs.readFile(file, 'utf8'))
    edit(config)
    await fs.writeFile(file, JSON.stringify(config, null, 2))
  }

  before(async () => {
    ({ small } = await buildFixtures('small'))
    root = await tempDir()
    // r1 serves by the command-line flag, r2 by its config
    await init('r1')
    const r1 = await start('r1', ['--registry'])
    assert.equal(r1.events().find(e => e.event === 'ready').namingRegistry, true)
    await init('r2', ['--bootstrap', addrs.r1])
    await editConfig('r2', c => { c.naming = { registry: { serve: true } } })
    await start('r2')
    await init('owner', ['--bootstrap', addrs.r1])
    owner = await start('owner')
    await init('client', ['--bootstrap', addrs.r1])
    await editConfig('client', c => { c.naming = { registries: [addrs.r1, addrs.r2] } })
    await start('client')
    for (const name of ['r2', 'owner', 'client'] as const) {
      await waitFor(`${name} to connect to r1`, async () => connected(repos[name], ids.r1), 60_000)
    }
  })

  after(async () => {
    for (const d of spawned) d.kill()
    await Promise.all(spawned.map(async d => d.exited))
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it('`name publish` needs --key when the keystore holds two namespace keys, and takes the tags from the image index', async () => {
    const none = await runCli(repos.owner, ['name', 'publish', 'small', '--json'])
    assert.equal(none.code, 1)
    assert.equal(JSON.parse(none.stderr).error.name, 'KeyNotFoundError')
    k1 = (await runJson(repos.owner, ['key', 'gen', 'k1'])).userId
    k2 = (await runJson(repos.owner, ['key', 'gen', 'k2'])).userId
    const imported = await runJson(repos.owner, ['image', 'import', small.dockerArchive])
    imageDigest = imported.images[0].digest
    assert.deepEqual(imported.images[0].tags, ['docker.io/provenir/small:v1'])
    const two = await runCli(repos.owner, ['name', 'publish', 'small'])
    assert.equal(two.code, 1)
    assert.match(two.stderr, /^Error: the keystore holds 2 namespace keys \(k1, k2\); choose one with --key/)
    const bad = await runCli(repos.owner, ['name', 'publish', 'Small', '--key', 'k1'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /"repo" must be a repository name/)
    const badTag = await runCli(repos.owner, ['name', 'publish', 'small', '--key', 'k1', '--tag', 'v1=nope'])
    assert.equal(badTag.code, 1)
    assert.match(badTag.stderr, /--tag.*must be <tag>=<manifest digest>/)

    const p1 = await runJson(repos.owner, ['name', 'publish', 'small', '--key', 'k1'])
    assert.equal(p1.owner, k1)
    assert.deepEqual(p1.tags, { v1: imageDigest })
    assert.equal(p1.seq, 1)
    assert.ok(p1.peers > 0, 'some DHT peers stored the pointer')
    const p2 = await runJson(repos.owner, ['name', 'publish', 'small', '--key', 'k2'])
    assert.equal(p2.owner, k2)
    assert.equal(p2.seq, 1)
  })

  it('`registry claim` binds "acme" to k1 at r1 and to k2 at r2; `name verify` validates each binding offline and refuses an altered one', async () => {
    const b1 = path.join(root, 'acme-r1.json')
    const b2 = path.join(root, 'acme-r2.json')
    const c1 = await runJson(repos.owner, ['registry', 'claim', 'acme', '--registry', addrs.r1, '--key', 'k1', '--output', b1])
    assert.deepEqual([c1.name, c1.userId, c1.registry, c1.seq], ['acme', k1, ids.r1, 1])
    const c2 = await runJson(repos.owner, ['registry', 'claim', 'acme', '--registry', addrs.r2, '--key', 'k2', '--output', b2])
    assert.deepEqual([c2.name, c2.userId, c2.registry], ['acme', k2, ids.r2])
    // a second claim of the same name by the same key gives back the same binding
    const again = await runJson(repos.owner, ['registry', 'claim', 'acme', '--registry', addrs.r1, '--key', 'k1'])
    assert.deepEqual(again.binding, c1.binding)

    const v1 = await runJson(repos.client, ['name', 'verify', b1, '--registry', ids.r1, '--name', 'acme'])
    assert.deepEqual([v1.valid, v1.userId], [true, k1])
    const text = await runCli(repos.client, ['name', 'verify', b2, '--registry', ids.r2])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, new RegExp(`UserId: +${k2}`))
    const crossed = await runCli(repos.client, ['name', 'verify', b2, '--registry', ids.r1, '--json'])
    assert.equal(crossed.code, 1)
    assert.equal(JSON.parse(crossed.stderr).error.name, 'BindingInvalidError')
    // alter the payload: name it k2's instead of k1's
    const envelope = JSON.parse(await fs.readFile(b1, 'utf8'))
    const payload = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'))
    payload.userId = k2
    envelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64')
    const altered = path.join(root, 'altered.json')
    await fs.writeFile(altered, JSON.stringify(envelope))
    const refused = await runCli(repos.client, ['name', 'verify', altered, '--registry', ids.r1, '--json'])
    assert.equal(refused.code, 1)
    assert.match(JSON.parse(refused.stderr).error.name, /^(BindingInvalidError|RecordSignatureError)$/)
  })

  it('`name resolve --explain` on the client shows both registries\' answers in priority order, r1 winning', async () => {
    const res = await runJson(repos.client, ['name', 'resolve', 'acme/small:v1', '--explain'])
    assert.equal(res.owner, k1)
    assert.equal(res.manifestDigest, imageDigest)
    assert.equal(res.name.userId, k1)
    assert.deepEqual(res.answers.map((a: any) => [a.kind, a.registry, a.priority, a.userId, a.winner]), [
      ['registry', ids.r1, 0, k1, true],
      ['registry', ids.r2, 1, k2, false]
    ])
    const text = await runCli(repos.client, ['name', 'resolve', 'acme/small:v1', '--explain'])
    assert.equal(text.code, 0, text.stderr)
    const lines = text.stdout.split('\n')
    const first = lines.findIndex(l => l.includes(`registry ${ids.r1} (priority 0): ${k1}`))
    const second = lines.findIndex(l => l.includes(`registry ${ids.r2} (priority 1): ${k2}`))
    assert.ok(first !== -1 && second > first, text.stdout)
    assert.ok(lines[first].trimStart().startsWith('*'), 'the winner is marked')
    assert.ok(!lines[second].trimStart().startsWith('*'))
    // a registry named in the reference is asked alone
    const direct = await runJson(repos.client, ['name', 'resolve', `${ids.r2}/acme/small:v1`])
    assert.equal(direct.owner, k2)
    // an unknown name: every source said no
    const unknown = await runCli(repos.client, ['name', 'resolve', 'nobody/small', '--json'])
    assert.equal(unknown.code, 1)
    assert.equal(JSON.parse(unknown.stderr).error.name, 'NameNotFoundError')
  })

  it('an owner whose datastore was lost reads the seq from the DHT and publishes above it', async () => {
    const before = await runJson(repos.client, ['name', 'resolve', `${k1}/small:v1`])
    assert.equal(before.seq, 1)
    assert.equal((await owner.stop()).code, 0)
    await fs.rm(path.join(repos.owner, 'datastore'), { recursive: true, force: true })
    owner = new DaemonProcess(repos.owner)
    spawned.push(owner)
    await owner.ready()
    await waitFor('the owner to reconnect to r1', async () => connected(repos.owner, ids.r1), 60_000)
    const published = await runJson(repos.owner, ['name', 'publish', 'small', '--key', 'k1'])
    assert.equal(published.seq, 2, 'one above the seq the swarm holds, not 1 again')
    const after = await waitFor<any>('the client to see seq 2', async () => {
      const r = await runJson(repos.client, ['name', 'resolve', `${k1}/small@${imageDigest}`])
      return r.seq === 2 ? r : undefined
    }, 60_000)
    assert.equal(after.manifestDigest, imageDigest)
  })

  it('a restarted owner republishes what it published (the next seq), without a new `name publish`', async () => {
    assert.equal((await owner.stop()).code, 0)
    owner = new DaemonProcess(repos.owner)
    spawned.push(owner)
    await owner.ready()
    // --explain: asks the DHT again rather than the client's resolution cache
    const republished = await waitFor<any>('the client to see the republished seq 3', async () => {
      const r = await runJson(repos.client, ['name', 'resolve', `${k1}/small:v1`, '--explain'])
      return r.seq === 3 ? r : undefined
    }, 90_000)
    assert.equal(republished.manifestDigest, imageDigest)
    assert.equal(republished.cached, false)
  })
})
