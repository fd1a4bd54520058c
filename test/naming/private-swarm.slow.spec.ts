/**
 * A private swarm as operators build it, with real daemon processes on
 * 127.0.0.1: A runs `swarm init` (swarm.key, A as the default registry, a
 * bundle), imports the small real image and publishes it with `name
 * publish`. B runs `swarm join <bundle>`, resolves the image by A's UserId,
 * and after A's owner claims a link name at A (`registry claim`), pulls it by
 * that name and exports it: the export is the original image. C holds another
 * swarm.key and bootstraps to A: it connects to nobody and resolves nothing.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DaemonProcess, TEST_INIT, keepDaemonLogs, runCli, runJson, tempDir, waitFor } from '../daemon-helpers.js'
import { assertLayoutMatches, buildFixtures } from '../image-helpers.js'
import type { Fixture } from '../image-helpers.js'

keepDaemonLogs(import.meta.url)

async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>(resolve => server.close(() => { resolve() }))
  return port
}

/** TEST_INIT with a fixed listen port, so the bundle's bootstrap address stays valid across restarts */
function initWithPort (port: number): string[] {
  const args = [...TEST_INIT]
  args[args.indexOf('--listen') + 1] = `/ip4/127.0.0.1/tcp/${port}`
  return args
}

async function peerIds (repo: string): Promise<string[]> {
  return (await runJson(repo, ['peers'])).peers.map((p: { peerId: string }) => p.peerId)
}

describe('a private swarm: swarm init / join, name publish / resolve, registry claim, image pull by name (real daemons)', { timeout: 10 * 60_000 }, () => {
  let root: string
  let repoA: string
  let repoB: string
  let repoC: string
  let a: DaemonProcess
  let b: DaemonProcess
  let c: DaemonProcess
  let idA: string
  let idB: string
  let addrA: string
  let bundleFile: string
  let owner: string
  let small: Fixture
  const spawned: DaemonProcess[] = []

  before(async () => {
    ({ small } = await buildFixtures('small'))
    root = await tempDir()
    repoA = path.join(root, 'a')
    repoB = path.join(root, 'b')
    repoC = path.join(root, 'c')
    bundleFile = path.join(root, 'lab.bundle.json')
    const init = await runCli(repoA, ['init', ...initWithPort(await freePort())])
    assert.equal(init.code, 0, init.stderr)
  })

  after(async () => {
    for (const d of spawned) d.kill()
    await Promise.all(spawned.map(async d => d.exited))
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it('`swarm init --name lab` on A writes swarm.key and a 0600 bundle naming A as the default registry', async () => {
    const res = await runJson(repoA, ['swarm', 'init', '--name', 'lab', '--output', bundleFile])
    assert.equal(res.createdSwarmKey, true)
    assert.equal((await fs.stat(bundleFile)).mode & 0o777, 0o600)
    assert.equal((await fs.stat(path.join(repoA, 'swarm.key'))).mode & 0o777, 0o600)
    const bundle = JSON.parse(await fs.readFile(bundleFile, 'utf8'))
    idA = res.nodeId
    assert.equal(bundle.name, 'lab')
    assert.equal(bundle.defaultRegistry, idA)
    assert.equal(bundle.difficulty, 4)
    assert.equal(bundle.swarmKey, await fs.readFile(path.join(repoA, 'swarm.key'), 'utf8'))
    assert.equal(bundle.bootstrap.length, 1)
    addrA = bundle.bootstrap[0]
    assert.match(addrA, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${idA}$`))
    const config = JSON.parse(await fs.readFile(path.join(repoA, 'config.json'), 'utf8'))
    assert.equal(config.naming.registry.serve, true)
    // a second init does not overwrite the bundle
    const again = await runCli(repoA, ['swarm', 'init', '--name', 'lab', '--output', bundleFile, '--json'])
    assert.equal(again.code, 1)
    assert.equal(JSON.parse(again.stderr).error.name, 'FileExistsError')

    a = new DaemonProcess(repoA)
    spawned.push(a)
    await a.ready()
    const ready = a.events().find(e => e.event === 'ready')
    assert.equal(ready.privateSwarm, true)
    assert.equal(ready.namingRegistry, true)
  })

  it('`swarm join <bundle>` on B writes swarm.key, bootstrap, difficulty and the registry; B connects to A', async () => {
    const init = await runCli(repoB, ['init', ...TEST_INIT])
    assert.equal(init.code, 0, init.stderr)
    const res = await runJson(repoB, ['swarm', 'join', bundleFile])
    assert.equal(res.name, 'lab')
    assert.deepEqual(res.bootstrap, [addrA])
    assert.equal(res.defaultRegistry, addrA, 'the registry is named by its bootstrap address')
    assert.equal(await fs.readFile(path.join(repoB, 'swarm.key'), 'utf8'), await fs.readFile(path.join(repoA, 'swarm.key'), 'utf8'))
    b = new DaemonProcess(repoB)
    spawned.push(b)
    await b.ready()
    idB = (await runJson(repoB, ['id'])).peerId
    await waitFor('B to connect to A', async () => (await peerIds(repoB)).includes(idA) ? true : undefined, 60_000)
  })

  it('A imports the small image (OCI layout, ref v1) and `name publish small --tag v1=<digest>` signs and publishes it', async () => {
    owner = (await runJson(repoA, ['key', 'gen', 'alice'])).userId
    const imported = await runJson(repoA, ['image', 'import', small.oci])
    assert.equal(imported.images[0].digest, small.digest)
    assert.deepEqual(imported.images[0].tags, ['v1'])
    // a bare OCI ref name names no repository: publish says how to name the tag
    const untagged = await runCli(repoA, ['name', 'publish', 'small', '--json'])
    assert.equal(untagged.code, 1)
    assert.match(JSON.parse(untagged.stderr).error.message, /no image this node holds is tagged small:<tag>.*--tag <tag>=<digest>/)
    const res = await runJson(repoA, ['name', 'publish', 'small', '--tag', `v1=${small.digest}`])
    assert.equal(res.owner, owner)
    assert.equal(res.key, 'alice')
    assert.equal(res.repo, 'small')
    assert.equal(res.seq, 1)
    assert.deepEqual(res.tags, { v1: small.digest })
    assert.match(res.documentCid, /^bafk/)
    // the readable form names the same things
    const text = await runCli(repoA, ['name', 'publish', 'small', '--tag', `v1=${small.digest}`])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, new RegExp(`Published ${owner}/small at seq 2`))
  })

  it('B resolves <UserId>/small:v1 to the manifest digest, with the owner and seq', async () => {
    const res = await waitFor<any>('B to resolve the pointer', async () => runJson(repoB, ['name', 'resolve', `${owner}/small:v1`]), 60_000)
    assert.equal(res.manifestDigest, small.digest)
    assert.equal(res.owner, owner)
    assert.equal(res.seq, 2)
    const missing = await runCli(repoB, ['name', 'resolve', `${owner}/small:v9`, '--json'])
    assert.equal(missing.code, 1)
    assert.equal(JSON.parse(missing.stderr).error.name, 'TagNotFoundError')
    const bad = await runCli(repoB, ['name', 'resolve', 'Not/A/Valid/Ref'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /^Error: .*is not \[registry\/\]namespace\/repo/)
    assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace')
  })

  it('A\'s owner claims "alice" at A (`registry claim --output`); B verifies the binding offline', async () => {
    const bindingFile = path.join(root, 'alice.binding.json')
    const res = await runJson(repoA, ['registry', 'claim', 'alice', '--registry', idA, '--output', bindingFile])
    assert.equal(res.name, 'alice')
    assert.equal(res.userId, owner)
    assert.equal(res.registry, idA)
    const verified = await runJson(repoB, ['name', 'verify', bindingFile, '--registry', idA, '--name', 'alice'])
    assert.equal(verified.valid, true)
    assert.equal(verified.userId, owner)
    const wrong = await runCli(repoB, ['name', 'verify', bindingFile, '--registry', idB, '--json'])
    assert.equal(wrong.code, 1)
    assert.equal(JSON.parse(wrong.stderr).error.name, 'BindingInvalidError')
    // someone else cannot take the name
    await runJson(repoB, ['key', 'gen', 'mallory'])
    const taken = await runCli(repoB, ['registry', 'claim', 'alice', '--registry', addrA, '--json'])
    assert.equal(taken.code, 1)
    assert.equal(JSON.parse(taken.stderr).error.name, 'NameTakenError')
  })

  it('B resolves alice/small:v1 through its default registry A (--explain), pulls it by name, and the export is the original image', async () => {
    const explained = await runJson(repoB, ['name', 'resolve', 'alice/small:v1', '--explain'])
    assert.equal(explained.manifestDigest, small.digest)
    assert.equal(explained.owner, owner)
    assert.equal(explained.answers.length, 1)
    assert.equal(explained.answers[0].kind, 'default')
    assert.equal(explained.answers[0].registry, idA)
    assert.equal(explained.answers[0].winner, true)
    const text = await runCli(repoB, ['name', 'resolve', 'alice/small:v1', '--explain'])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, new RegExp(`\\* default registry ${idA}: ${owner}`))

    assert.deepEqual((await runJson(repoB, ['image', 'ls'])).images, [], 'B holds nothing before the pull')
    const pulled = await runJson(repoB, ['image', 'pull', 'alice/small:v1'])
    assert.equal(pulled.image.digest, small.digest)
    assert.equal(pulled.resolved.owner, owner)
    assert.equal(pulled.resolved.manifestDigest, small.digest)
    const out = path.join(root, 'b-export')
    const exported = await runJson(repoB, ['image', 'export', pulled.image.digest, out])
    assert.equal(exported.image.digest, small.digest)
    await assertLayoutMatches(out, small.oci, small.digest)
  })

  it('C, with another swarm.key and A as bootstrap, connects to nobody and resolves nothing', async (t) => {
    const init = await runCli(repoC, ['init', ...TEST_INIT, '--bootstrap', addrA])
    assert.equal(init.code, 0, init.stderr)
    const gen = await runCli(repoC, ['swarm', 'key', 'gen'])
    assert.equal(gen.code, 0, gen.stderr)
    const config = JSON.parse(await fs.readFile(path.join(repoC, 'config.json'), 'utf8'))
    config.naming.defaultRegistry = addrA
    await fs.writeFile(path.join(repoC, 'config.json'), JSON.stringify(config))
    c = new DaemonProcess(repoC)
    spawned.push(c)
    await c.ready()
    const idC = (await runJson(repoC, ['id'])).peerId

    let started = Date.now()
    const byName = await runCli(repoC, ['name', 'resolve', 'alice/small:v1', '--json'], 120_000)
    t.diagnostic(`C: name resolve by link name failed after ${Date.now() - started} ms`)
    assert.equal(byName.code, 1)
    const nameErr = JSON.parse(byName.stderr).error
    assert.equal(nameErr.name, 'NameNotFoundError')
    assert.match(nameErr.message, /no pin or registry knows the name alice/)
    started = Date.now()
    const byId = await runCli(repoC, ['name', 'resolve', `${owner}/small:v1`], 120_000)
    t.diagnostic(`C: name resolve by UserId failed after ${Date.now() - started} ms`)
    assert.equal(byId.code, 1)
    assert.match(byId.stderr, /^Error: /)
    assert.doesNotMatch(byId.stderr, /\n\s+at /, 'no stack trace')
    const pull = await runCli(repoC, ['image', 'pull', `${owner}/small:v1`, '--json'], 120_000)
    assert.equal(pull.code, 1)

    assert.deepEqual(await peerIds(repoC), [], 'C has no connection')
    assert.ok(!(await peerIds(repoA)).includes(idC), 'A has no connection to C')
    assert.ok(!(await peerIds(repoB)).includes(idC), 'B has no connection to C')
  })
})
