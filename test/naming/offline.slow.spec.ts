/**
 * Offline naming across real daemon processes: a single daemon, with no
 * peer at all, publishes a name (`name publish`, and the gateway's publish
 * after a skopeo push) and resolves it at once from its own record; a
 * second daemon started later resolves both names once the two connect,
 * the first daemon having put its records into the DHT when the peer
 * appeared.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DaemonProcess, TEST_INIT, keepDaemonLogs, runCli, runJson, runTool, tempDir, waitFor } from '../daemon-helpers.js'
import { buildFixtures } from '../image-helpers.js'
import type { Fixture } from '../image-helpers.js'

keepDaemonLogs(import.meta.url)

function gatewayOf (d: DaemonProcess): string {
  return d.events().find(e => e.event === 'ready').gateway.replace(/^http:\/\//, '')
}

describe('offline naming: a lone daemon publishes and resolves; a daemon started later resolves once they connect (real daemons)', { timeout: 5 * 60_000 }, () => {
  let root: string
  let repoA: string
  let repoB: string
  let a: DaemonProcess
  let small: Fixture
  let alice: string
  let self: string
  let digest: string
  const spawned: DaemonProcess[] = []

  before(async () => {
    ({ small } = await buildFixtures('small'))
    root = await tempDir()
    repoA = path.join(root, 'a')
    repoB = path.join(root, 'b')
    const init = await runCli(repoA, ['init', ...TEST_INIT])
    assert.equal(init.code, 0, init.stderr)
    a = new DaemonProcess(repoA)
    spawned.push(a)
    await a.ready()
  })

  after(async () => {
    for (const d of spawned) d.kill()
    await Promise.all(spawned.map(async d => d.exited))
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it('with no peer, `name publish` stores the record, succeeds with a warning, and `name resolve` answers from it', async () => {
    assert.deepEqual((await runJson(repoA, ['peers'])).peers, [], 'A has no peer')
    alice = (await runJson(repoA, ['key', 'gen', 'alice'])).userId
    digest = (await runJson(repoA, ['image', 'import', small.dockerArchive])).images[0].digest
    const published = await runJson(repoA, ['name', 'publish', 'small'])
    assert.deepEqual([published.owner, published.seq, published.peers, published.tags], [alice, 1, 0, { v1: digest }])
    assert.match(published.warning, /no DHT peers/)
    const text = await runCli(repoA, ['name', 'publish', 'small'])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stderr, /^Warning: this node has no DHT peers: the record is stored here/m)
    assert.match(text.stdout, /Published .+\/small at seq 2/, 'each publish takes the next seq')
    const resolved = await runJson(repoA, ['name', 'resolve', `${alice}/small:v1`])
    assert.deepEqual([resolved.manifestDigest, resolved.owner, resolved.seq, resolved.record], [digest, alice, 2, 'local'])
  })

  it('with no peer, a skopeo push by tag to the gateway publishes <node UserId>/<repo>, which resolves at once', async () => {
    self = (await runJson(repoA, ['key', 'ls'])).keys.find((k: { name: string }) => k.name === 'self').userId
    const push = await runTool('skopeo', ['copy', '--dest-tls-verify=false', `oci:${small.oci}:v1`, `docker://${gatewayOf(a)}/acme/app:v1`])
    assert.equal(push.code, 0, push.stderr)
    // the gateway publishes after answering the push
    const resolved = await waitFor('A to resolve the pushed name', async () => {
      const res = await runCli(repoA, ['name', 'resolve', `${self}/app:v1`, '--json'])
      return res.code === 0 ? JSON.parse(res.stdout) : undefined
    })
    assert.deepEqual([resolved.manifestDigest, resolved.owner, resolved.record], [small.digest, self, 'local'])
  })

  it('a daemon started later resolves both names once it connects to A', async () => {
    const idA = await runJson(repoA, ['id'])
    const init = await runCli(repoB, ['init', ...TEST_INIT, '--bootstrap', idA.addresses[0]])
    assert.equal(init.code, 0, init.stderr)
    const b = new DaemonProcess(repoB)
    spawned.push(b)
    await b.ready()
    await waitFor('B to connect to A', async () => {
      const peers = await runJson(repoB, ['peers'])
      return peers.peers.some((p: { peerId: string }) => p.peerId === idA.peerId) ? true : undefined
    })
    for (const [name, want] of [[`${alice}/small:v1`, digest], [`${self}/app:v1`, small.digest]]) {
      const resolved = await waitFor(`B to resolve ${name}`, async () => {
        const res = await runCli(repoB, ['name', 'resolve', name, '--json'])
        return res.code === 0 ? JSON.parse(res.stdout) : undefined
      }, 60_000)
      assert.deepEqual([resolved.manifestDigest, resolved.record], [want, 'dht'], name)
    }
    // and pulls by name what it resolved, from A
    const pulled = await runJson(repoB, ['image', 'pull', `${alice}/small:v1`])
    assert.equal(pulled.image.digest, digest)
  })
})
