/**
 * The daemon end to end: real `provenir` processes, as an operator runs them.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DEFAULT_DIFFICULTY } from '@provenir/interface'
import { DaemonProcess, TEST_INIT, fileExists, getJson, keepDaemonLogs, runCli, runJson, tempDir, waitFor } from './daemon-helpers.js'

keepDaemonLogs(import.meta.url)

/** True when this process can listen on host:port (then it closes it again) */
async function canBind (host: string, port: number): Promise<boolean> {
  const server = createServer()
  return new Promise(resolve => {
    server.once('error', () => { resolve(false) })
    server.listen(port, host, () => { server.close(() => { resolve(true) }) })
  })
}

/** True when something accepts TCP connections on host:port */
async function listening (host: string, port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = connect({ host, port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
}

describe('provenir daemon (real processes)', () => {
  let root: string
  let repoA: string
  let repoB: string
  let a: DaemonProcess
  let b: DaemonProcess | undefined
  let apiA: string
  let peerIdA: string
  let addrsA: string[]
  const spawned: DaemonProcess[] = []

  function start (repo: string): DaemonProcess {
    const d = new DaemonProcess(repo)
    spawned.push(d)
    return d
  }

  before(async () => {
    root = await tempDir()
    repoA = path.join(root, 'a')
    repoB = path.join(root, 'b')
    const init = await runCli(repoA, ['init', ...TEST_INIT])
    assert.equal(init.code, 0, init.stderr)
  })

  after(async () => {
    for (const d of spawned) d.kill()
    await Promise.all(spawned.map(async d => d.exited))
    await fs.rm(root, { recursive: true, force: true })
  })

  it('starts, writes <repo>/api and answers /healthz', async () => {
    a = start(repoA)
    apiA = await a.ready()
    const health = await getJson(`${apiA}/healthz`)
    assert.equal(health.status, 'ok')
    peerIdA = health.peerId
    assert.match(await fs.readFile(path.join(repoA, 'api'), 'utf8'), /^127\.0\.0\.1:\d+\n$/)

    const ready = a.events().find(e => e.event === 'ready')
    assert.equal(ready.peerId, peerIdA)
    assert.equal(ready.api, apiA)
  })

  it('`provenir id --json` (a real process) reports the daemon\'s NodeId and listen addresses', async () => {
    const id = await runJson(repoA, ['id'])
    assert.equal(id.peerId, peerIdA)
    assert.equal(id.online, true)
    assert.ok(id.difficulty >= 4)
    assert.equal(id.swarmDifficulty, 4)
    assert.ok(id.addresses.length > 0)
    addrsA = id.addresses
    assert.deepEqual(addrsA, a.events().find(e => e.event === 'ready').addresses)
    for (const addr of addrsA) {
      // the real port the node bound, not the configured tcp/0
      const m = /^\/ip4\/127\.0\.0\.1\/tcp\/(\d+)\/p2p\/(.+)$/.exec(addr)
      assert.ok(m != null, addr)
      assert.equal(m[2], peerIdA)
      assert.notEqual(m[1], '0')
      assert.equal(await listening('127.0.0.1', Number(m[1])), true, `${addr} accepts connections`)
    }
  })

  it('/metrics returns Prometheus text with provenir and libp2p metrics', async () => {
    const res = await fetch(`${apiA}/metrics`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
    const text = await res.text()
    assert.match(text, /^# TYPE provenir_gater_refused_total counter$/m)
    assert.match(text, /^provenir_gater_refused_total\{direction="inbound"\} 0$/m)
    assert.match(text, /^# TYPE libp2p_\w+ (counter|gauge)$/m)
    assert.match(text, /^process_cpu_user_seconds_total \d/m)
  })

  it('a second daemon bootstrapped to the first connects, and `provenir peers --json` lists each one', async () => {
    const init = await runCli(repoB, ['init', ...TEST_INIT, '--bootstrap', addrsA[0]])
    assert.equal(init.code, 0, init.stderr)
    b = start(repoB)
    const apiB = await b.ready()
    const peerIdB = (await getJson(`${apiB}/healthz`)).peerId

    // poll the API until the bootstrap dial has happened, then ask the CLI
    await waitFor('B to connect to A', async () => {
      const { peers } = await getJson(`${apiB}/api/v0/peers`)
      return peers.some((p: any) => p.peerId === peerIdA) ? true : undefined
    })
    const fromB = await runJson(repoB, ['peers'])
    const aSeenByB = fromB.peers.find((p: any) => p.peerId === peerIdA)
    assert.ok(aSeenByB != null, JSON.stringify(fromB))
    assert.ok(aSeenByB.addrs.some((addr: string) => addrsA.some(x => x.startsWith(addr.split('/p2p/')[0]))), JSON.stringify(aSeenByB))

    await waitFor('A to list B', async () => {
      const { peers } = await getJson(`${apiA}/api/v0/peers`)
      return peers.some((p: any) => p.peerId === peerIdB) ? true : undefined
    })
    const fromA = await runJson(repoA, ['peers'])
    assert.ok(fromA.peers.some((p: any) => p.peerId === peerIdB), JSON.stringify(fromA))

    // A records B in its peer store, which lives in the datastore
    await waitFor('A to store B in its peer store', async () => {
      const { peers } = await getJson(`${apiA}/api/v0/peerstore`)
      return peers.some((p: any) => p.peerId === peerIdB && p.addrs.length > 0) ? true : undefined
    })

    // SIGINT stops as gracefully as SIGTERM
    const exit = await b.stop('SIGINT')
    assert.deepEqual(exit, { code: 0, signal: null }, b.stderr)
    assert.equal(await fileExists(path.join(repoB, 'api')), false)
  })

  it('SIGTERM: exits 0 and removes the api file', async () => {
    const exit = await a.stop('SIGTERM')
    assert.deepEqual(exit, { code: 0, signal: null }, a.stderr)
    assert.equal(await fileExists(path.join(repoA, 'api')), false)
    assert.deepEqual(a.events().map(e => e.event), ['ready', 'stopping', 'stopped'])

    // with the daemon gone, id reads the repo and says so
    const id = await runJson(repoA, ['id'])
    assert.equal(id.peerId, peerIdA)
    assert.equal(id.online, false)
    assert.deepEqual(id.addresses, ['/ip4/127.0.0.1/tcp/0'])
    const peers = await runCli(repoA, ['peers', '--json'])
    assert.equal(peers.code, 1)
    assert.equal(JSON.parse(peers.stderr).error.name, 'DaemonNotRunningError')
  })

  it('restarts with the same NodeId and the peer store it had', async () => {
    const peerIdB = JSON.parse((await runCli(repoB, ['id', '--json'])).stdout).peerId
    a = start(repoA)
    apiA = await a.ready()
    assert.equal((await getJson(`${apiA}/healthz`)).peerId, peerIdA)
    assert.equal((await runJson(repoA, ['id'])).peerId, peerIdA)
    const { peers } = await getJson(`${apiA}/api/v0/peerstore`)
    assert.ok(peers.some((p: any) => p.peerId === peerIdB), `B is still in A's peer store: ${JSON.stringify(peers)}`)

    const exit = await a.stop('SIGTERM')
    assert.equal(exit.code, 0, a.stderr)
  })

  it('refuses to start a second daemon on the same repo', async () => {
    a = start(repoA)
    await a.ready()
    const second = await runCli(repoA, ['daemon', '--json'])
    assert.equal(second.code, 1)
    assert.equal(JSON.parse(second.stderr).error.name, 'DaemonAlreadyRunningError')
    // the running daemon's api file is untouched
    assert.equal(await fileExists(path.join(repoA, 'api')), true)
    // nor may init --force replace the identity under it
    const init = await runCli(repoA, ['init', ...TEST_INIT, '--force', '--json'])
    assert.equal(init.code, 1)
    assert.equal(JSON.parse(init.stderr).error.name, 'DaemonAlreadyRunningError')
    assert.equal((await runJson(repoA, ['id'])).peerId, peerIdA)
    assert.equal((await a.stop()).code, 0)
  })
})

describe('provenir daemon on a fresh machine', () => {
  let root: string
  let d: DaemonProcess | undefined
  let busy: string | undefined

  before(async () => {
    root = await tempDir()
    // the embedded defaults listen on tcp/4101, serve the RPC API on
    // 127.0.0.1:5101 and the registry gateway on 127.0.0.1:5000; this test
    // needs those ports free
    for (const [host, port] of [['0.0.0.0', 4101], ['127.0.0.1', 5101], ['127.0.0.1', 5000]] as const) {
      if (!await canBind(host, port)) busy = `${host}:${port} is in use`
    }
  })

  after(async () => {
    d?.kill()
    await d?.exited
    await fs.rm(root, { recursive: true, force: true })
  })

  it('creates the repo on first start (embedded defaults), then runs', async (t) => {
    if (busy != null) {
      t.skip(busy)
      return
    }
    const repo = path.join(root, 'fresh')
    // the defaults listen on 0.0.0.0, where mDNS would multicast onto the host's network: tests send
    // nothing beyond loopback (test/lan.spec.ts runs mDNS in namespaces it makes)
    d = new DaemonProcess(repo, ['--no-mdns'])
    const api = await d.ready()
    assert.equal(api, 'http://127.0.0.1:5101')
    const id = await runJson(repo, ['id'])
    assert.equal(id.online, true)
    assert.equal(id.peerId, (await getJson(`${api}/healthz`)).peerId)
    assert.equal(id.swarmDifficulty, DEFAULT_DIFFICULTY)
    assert.ok(id.difficulty >= DEFAULT_DIFFICULTY)
    assert.deepEqual((await fs.readdir(repo)).sort(), ['api', 'config.json', 'content', 'datastore', 'gateway', 'keystore.json', 'tls'])
    // the embedded defaults include the registry gateway on loopback
    const v2 = await fetch('http://127.0.0.1:5000/v2/')
    assert.equal(v2.status, 200)
    assert.equal(v2.headers.get('docker-distribution-api-version'), 'registry/2.0')
    // the init result, then the ready event
    const events = d.events()
    assert.equal(events[0].event, 'initialised')
    assert.equal(events[0].peerId, id.peerId)
    assert.equal(events[0].keystore, path.join(repo, 'keystore.json'))
    assert.equal(events[1].event, 'ready')
    assert.deepEqual(events[1].lan, { dht: true, mdns: false }, 'the LAN DHT runs by default; --no-mdns turned mDNS off')
    assert.equal((await d.stop()).code, 0)
  })
})
