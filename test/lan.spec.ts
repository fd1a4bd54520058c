/**
 * LAN by default, end to end: two daemons whose repos were made by a plain
 * `provenir init` (no bootstrap list, no `allowPrivateAddresses`; only port 0
 * for each listener) find each other with mDNS and one pulls the small test
 * image the other imported, through the LAN DHT: on two hosts of one private
 * network, and side by side on one host with loopback alone.
 *
 * mDNS multicasts, so the daemons run in network namespaces this test makes:
 * two joined by a veth pair on a private subnet, and one with loopback alone
 * (multicast routed onto lo). That is their whole network, and nothing they
 * send leaves it. It needs root (`ip netns`); run
 * by anyone else it is skipped with the reason.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { BIN, DAEMON_NODE_FLAGS, ROOT, runCli, tempDir, waitFor } from './daemon-helpers.js'
import { assertLayoutMatches, buildFixtures } from './image-helpers.js'
import type { ChildProcess } from 'node:child_process'

const exec = promisify(execFile)
const LONG = 5 * 60_000
// short names: an interface name has at most 15 characters
const TAG = `pvl${process.pid % 100_000}`
const HOSTS = [
  { ns: `${TAG}a`, veth: `${TAG}a`, address: '10.231.0.1/24' },
  { ns: `${TAG}b`, veth: `${TAG}b`, address: '10.231.0.2/24' }
]
/** One host with loopback alone, for two daemons side by side */
const LOOPBACK_HOST = `${TAG}c`

async function ip (args: string[]): Promise<void> {
  await exec('ip', args, { timeout: 30_000 })
}

/** Why this test cannot run here, or undefined */
async function unavailable (): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return `needs root for ip netns (running as uid ${process.getuid?.()})`
  try {
    await exec('ip', ['netns', 'list'], { timeout: 10_000 })
  } catch (err: any) {
    return `ip netns does not work here: ${err.message}`
  }
  return undefined
}

/**
 * Two namespaces joined by a veth pair (lo and the veth up, multicast routed
 * onto the veth), and a third with loopback alone, multicast routed onto it
 */
async function makeNetwork (): Promise<void> {
  for (const h of HOSTS) await ip(['netns', 'add', h.ns])
  await ip(['link', 'add', HOSTS[0].veth, 'netns', HOSTS[0].ns, 'type', 'veth', 'peer', 'name', HOSTS[1].veth, 'netns', HOSTS[1].ns])
  for (const h of HOSTS) {
    await ip(['-n', h.ns, 'link', 'set', 'lo', 'up'])
    await ip(['-n', h.ns, 'address', 'add', h.address, 'dev', h.veth])
    await ip(['-n', h.ns, 'link', 'set', h.veth, 'up'])
    await ip(['-n', h.ns, 'route', 'add', '224.0.0.0/4', 'dev', h.veth])
  }
  await ip(['netns', 'add', LOOPBACK_HOST])
  await ip(['-n', LOOPBACK_HOST, 'link', 'set', 'lo', 'multicast', 'on'])
  await ip(['-n', LOOPBACK_HOST, 'link', 'set', 'lo', 'up'])
  await ip(['-n', LOOPBACK_HOST, 'route', 'add', '224.0.0.0/4', 'dev', 'lo'])
}

async function removeNetwork (): Promise<void> {
  // deleting a namespace deletes the veth pair with it
  for (const ns of [...HOSTS.map(h => h.ns), LOOPBACK_HOST]) await exec('ip', ['netns', 'del', ns], { timeout: 30_000 }).catch(() => {})
}

/** The CLI inside a namespace, as a user on that host runs it */
async function cliIn (ns: string, repo: string, args: string[]): Promise<any> {
  const { stdout } = await exec('ip', ['netns', 'exec', ns, process.execPath, BIN, ...args, '--json'], { cwd: ROOT, env: { ...process.env, PROVENIR_PATH: repo }, timeout: LONG, maxBuffer: 16 * 1024 * 1024 })
  return JSON.parse(stdout)
}

class NsDaemon {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''

  constructor (ns: string, repo: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...DAEMON_NODE_FLAGS, BIN, 'daemon', '--json'], { cwd: ROOT, env: { ...process.env, PROVENIR_PATH: repo }, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => { this.stdout += d })
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => { this.stderr += d })
  }

  get running (): boolean {
    return this.child.exitCode == null && this.child.signalCode == null
  }

  async ready (): Promise<void> {
    await waitFor('the daemon\'s ready event', async () => {
      if (!this.running) throw new Error(`the daemon exited early: ${this.stderr}`)
      return this.stdout.includes('"event":"ready"') ? true : undefined
    }, 60_000, () => !this.running)
  }

  async stop (): Promise<void> {
    if (!this.running) return
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    this.child.kill('SIGTERM')
    await exited
  }
}

const reason = await unavailable()
if (reason != null) console.info(`# lan.spec: skipped, ${reason}`)

/** A repo from a plain init: no --bootstrap, no --allow-private-addresses; only port 0 for each listener */
async function plainRepo (repo: string): Promise<void> {
  const res = await runCli(repo, ['init', '--listen', '/ip4/0.0.0.0/tcp/0', '--api', '127.0.0.1:0', '--gateway', '127.0.0.1:0', '--no-docker-hub', '--json'])
  assert.equal(res.code, 0, res.stderr)
  const config = JSON.parse(await fs.readFile(path.join(repo, 'config.json'), 'utf8'))
  assert.deepEqual([config.node.bootstrap ?? [], config.node.allowPrivateAddresses ?? false], [[], false], 'a repo with no peers and no private addresses in the DHT')
}

/**
 * Start a daemon for each repo in its namespace; `from` imports the small
 * image, `to` finds `from` (mDNS), finds it as a provider (the LAN DHT),
 * pulls the image, and its export matches the original
 */
async function importAndPull (daemons: NsDaemon[], root: string, from: { ns: string, repo: string }, to: { ns: string, repo: string }): Promise<void> {
  const { small } = await buildFixtures('small')
  const started = [new NsDaemon(from.ns, from.repo), new NsDaemon(to.ns, to.repo)]
  daemons.push(...started)
  await Promise.all(started.map(async d => d.ready()))
  for (const d of started) {
    const ready = d.stdout.split('\n').filter(l => l.includes('"event":"ready"')).map(l => JSON.parse(l))[0]
    assert.deepEqual(ready.lan, { dht: true, mdns: true }, 'the defaults run the LAN DHT and mDNS')
  }

  const imported = await cliIn(from.ns, from.repo, ['image', 'import', small.oci])
  assert.equal(imported.images[0].digest, small.digest)

  const idFrom = (await cliIn(from.ns, from.repo, ['id'])).peerId
  await waitFor('the puller to connect to the holder (mDNS)', async () => {
    const peers = await cliIn(to.ns, to.repo, ['peers'])
    return JSON.stringify(peers).includes(idFrom) ? true : undefined
  }, 60_000)
  await waitFor('the puller to find the holder as a provider (LAN DHT)', async () => {
    const found = await cliIn(to.ns, to.repo, ['providers', small.digest])
    return found.providers.some((p: { peerId: string }) => p.peerId === idFrom) ? true : undefined
  }, 90_000)

  const pulled = await cliIn(to.ns, to.repo, ['image', 'pull', small.digest])
  assert.equal(pulled.image.digest, small.digest)
  const out = path.join(root, `export-${path.basename(to.repo)}`)
  await cliIn(to.ns, to.repo, ['image', 'export', small.digest, out])
  const checked = await assertLayoutMatches(out, small.oci, small.digest)
  assert.ok(checked.length > 0, 'every blob of the pulled image matches the original')
}

describe('LAN by default: two daemons with no configuration find each other and pull (mDNS in test-made namespaces)', { skip: reason ?? false, timeout: LONG }, () => {
  let root: string
  const daemons: NsDaemon[] = []

  before(async () => {
    root = await tempDir()
    await removeNetwork()
    await makeNetwork()
  })

  after(async () => {
    for (const d of daemons) await d.stop().catch(() => {})
    await removeNetwork()
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it('two hosts on one private network: B finds A with mDNS and pulls the image A imported through the LAN DHT', async () => {
    const [repoA, repoB] = ['a', 'b'].map(r => path.join(root, r))
    for (const repo of [repoA, repoB]) await plainRepo(repo)
    await importAndPull(daemons, root, { ns: HOSTS[0].ns, repo: repoA }, { ns: HOSTS[1].ns, repo: repoB })
  })

  it('two daemons on one host with loopback alone: the same, over 127.0.0.1', async () => {
    const [repoC, repoD] = ['c', 'd'].map(r => path.join(root, r))
    for (const repo of [repoC, repoD]) await plainRepo(repo)
    await importAndPull(daemons, root, { ns: LOOPBACK_HOST, repo: repoC }, { ns: LOOPBACK_HOST, repo: repoD })
  })
})
