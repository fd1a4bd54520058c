import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseSwarmKey } from '@provenir/node'
import { BIN, TEST_INIT, jsonError, runCli, snapshot, tempDir } from './helpers.js'

describe('provenir init', () => {
  let root: string
  before(async () => { root = await tempDir() })
  after(async () => { await fs.rm(root, { recursive: true, force: true }) })

  it('writes config.json and a 0600 keystore, and prints the identity', async () => {
    const repo = path.join(root, 'a')
    const res = await runCli(['init', ...TEST_INIT, '--bootstrap', '/ip4/127.0.0.1/tcp/4101/p2p/12D3KooWMVB9EXbvwUET7atmsf3pJMrhNzQjT4182t6jbUnGuaJd', '--allow-private-addresses', '--json'], { repo })
    assert.equal(res.code, 0, res.stderr)
    const out = JSON.parse(res.stdout)
    assert.match(out.peerId, /^12D3KooW/)
    assert.ok(out.difficulty >= 4)
    assert.equal(out.swarmDifficulty, 4)
    assert.equal(out.replaced, false)

    assert.deepEqual((await fs.readdir(repo)).sort(), ['config.json', 'keystore.json', 'tls'])
    assert.equal((await fs.stat(path.join(repo, 'keystore.json'))).mode & 0o777, 0o600)
    assert.equal((await fs.stat(repo)).mode & 0o777, 0o700)
    const config = JSON.parse(await fs.readFile(path.join(repo, 'config.json'), 'utf8'))
    assert.equal(config.version, 1)
    assert.equal(config.api, '127.0.0.1:0')
    assert.deepEqual(config.node.listen, ['/ip4/127.0.0.1/tcp/0'])
    assert.equal(config.node.difficulty, 4)
    assert.equal(config.node.allowPrivateAddresses, true)
    assert.equal(config.node.bootstrap.length, 1)

    const id = JSON.parse((await runCli(['id', '--json'], { repo })).stdout)
    assert.equal(id.peerId, out.peerId)
    assert.equal(id.online, false)
    assert.deepEqual(id.addresses, ['/ip4/127.0.0.1/tcp/0'])
  })

  it('into an existing empty directory (as $PROVENIR_PATH from mkdtemp)', async () => {
    const repo = path.join(root, 'empty')
    await fs.mkdir(repo)
    const res = await runCli(['init', ...TEST_INIT], { repo })
    assert.equal(res.code, 0, res.stderr)
    assert.match(res.stdout, /NodeId: +12D3KooW/)
    assert.deepEqual((await fs.readdir(repo)).sort(), ['config.json', 'keystore.json', 'tls'])
    // no staging directory left beside it
    assert.deepEqual((await fs.readdir(root)).filter(f => f.includes('.init-')), [])
  })

  it('into a directory that already holds a swarm.key keeps it', async () => {
    const repo = path.join(root, 'with-key')
    assert.equal((await runCli(['swarm', 'key', 'gen'], { repo })).code, 0)
    const key = await fs.readFile(path.join(repo, 'swarm.key'))
    const res = await runCli(['init', ...TEST_INIT], { repo })
    assert.equal(res.code, 0, res.stderr)
    assert.deepEqual((await fs.readdir(repo)).sort(), ['config.json', 'keystore.json', 'swarm.key', 'tls'])
    assert.deepEqual(await fs.readFile(path.join(repo, 'swarm.key')), key)
  })

  it('Ctrl-C during the identity search cancels it and leaves nothing on disk', async () => {
    const repo = path.join(root, 'cancelled')
    // difficulty 40 would take days: the search is surely running when the signal arrives
    const res = await runCli(['init', '--difficulty', '40', '--workers', '1'], {
      repo,
      onSpawn: (child) => {
        // the first progress line (stderr is not a TTY) shows the search is under way
        child.stderr?.on('data', (d: Buffer) => { if (d.toString().includes('attempts')) child.kill('SIGINT') })
      }
    })
    assert.equal(res.code, 130, res.stderr)
    assert.match(res.stderr, /Error: init cancelled by SIGINT; nothing was written/)
    await assert.rejects(fs.stat(repo), { code: 'ENOENT' })
    assert.deepEqual((await fs.readdir(root)).filter(f => f.includes('cancelled')), [])
  })
})

describe('provenir swarm key gen', () => {
  let root: string
  before(async () => { root = await tempDir() })
  after(async () => { await fs.rm(root, { recursive: true, force: true }) })

  it('writes a Kubo swarm.key with mode 0600 into the repo', async () => {
    const repo = path.join(root, 'r1')
    const res = await runCli(['swarm', 'key', 'gen', '--json'], { repo })
    assert.equal(res.code, 0, res.stderr)
    const file = path.join(repo, 'swarm.key')
    assert.deepEqual(JSON.parse(res.stdout), { path: file })
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600)
    const text = await fs.readFile(file, 'utf8')
    assert.match(text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    parseSwarmKey(new TextEncoder().encode(text))
  })

  it('refuses to overwrite without --force, changing nothing; replaces with --force', async () => {
    const file = path.join(root, 'my.key')
    assert.equal((await runCli(['swarm', 'key', 'gen', '-o', file])).code, 0)
    const before = await snapshot(root)
    const refused = await runCli(['swarm', 'key', 'gen', '-o', file])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /^Error: .*my\.key already exists; pass --force/)
    assert.equal(jsonError(await runCli(['swarm', 'key', 'gen', '-o', file, '--json'])).name, 'FileExistsError')
    assert.deepEqual(await snapshot(root), before)

    const old = await fs.readFile(file, 'utf8')
    assert.equal((await runCli(['swarm', 'key', 'gen', '-o', file, '--force'])).code, 0)
    assert.notEqual(await fs.readFile(file, 'utf8'), old)
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600)
  })

  it('-o - prints the key on stdout', async () => {
    const res = await runCli(['swarm', 'key', 'gen', '-o', '-'], { repo: path.join(root, 'unused') })
    assert.equal(res.code, 0)
    assert.match(res.stdout, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    await assert.rejects(fs.stat(path.join(root, 'unused')), { code: 'ENOENT' })
  })

  it('a daemon refuses a malformed swarm.key, naming it', async () => {
    const repo = path.join(root, 'bad-key')
    assert.equal((await runCli(['init', ...TEST_INIT], { repo })).code, 0)
    await fs.writeFile(path.join(repo, 'swarm.key'), '/key/swarm/psk/1.0.0/\n/base16/\nnothex\n', { mode: 0o600 })
    const before = await snapshot(repo)
    const res = await runCli(['daemon', '--json'], { repo })
    assert.equal(res.code, 1)
    assert.equal(jsonError(res).name, 'InvalidSwarmKeyError')
    assert.ok(jsonError(res).message.includes(path.join(repo, 'swarm.key')))
    assert.deepEqual(await snapshot(repo), before)
  })
})

describe('a reader that goes away', () => {
  let root: string
  before(async () => { root = await tempDir() })
  after(async () => { await fs.rm(root, { recursive: true, force: true }) })

  it('ends the command quietly with exit 0 (`provenir ... | head`), not an EPIPE crash', async () => {
    // the read end of stdout is closed before the CLI (a fresh node process) writes a byte
    const child = spawn(process.execPath, [BIN, '--repo', path.join(root, 'r'), 'init', ...TEST_INIT], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.destroy()
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const code = await new Promise<number | null>(resolve => child.once('close', resolve))
    assert.equal(code, 0, stderr)
    assert.doesNotMatch(stderr, /EPIPE|Unhandled/)
  })
})
