/**
 * Bad input gives a clear error, exit code 1, and leaves the disk unchanged.
 * The CLI runs as a real process (the built provenir.js) in each case.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { TEST_INIT, jsonError, runCli, snapshot, tempDir } from './helpers.js'
import type { CliResult } from './helpers.js'

/** Exit code 1, `Error: ...` naming `mentions` on stderr, no stack trace, nothing on stdout */
function assertCleanError (result: CliResult, ...mentions: string[]): void {
  assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`)
  assert.equal(result.stdout, '')
  assert.match(result.stderr, /^Error: /)
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace for an expected error')
  for (const m of mentions) assert.ok(result.stderr.includes(m), `stderr names ${m}: ${result.stderr}`)
}

describe('bad input', () => {
  let root: string
  let n = 0

  before(async () => { root = await tempDir() })
  after(async () => { await fs.rm(root, { recursive: true, force: true }) })

  /** A new initialised repo, difficulty 4 */
  async function newRepo (): Promise<string> {
    const repo = path.join(root, `repo-${n++}`)
    const res = await runCli(['init', ...TEST_INIT], { repo })
    assert.equal(res.code, 0, res.stderr)
    return repo
  }

  describe('a corrupt keystore', () => {
    let repo: string
    let keystore: string
    before(async () => {
      repo = await newRepo()
      keystore = path.join(repo, 'keystore.json')
      await fs.writeFile(keystore, '{"version":1,"keys":{"self":{"type":"Ed25519","privateKey":"not base64!"}}', { mode: 0o600 })
    })

    for (const args of [['id'], ['daemon']]) {
      it(`${args[0]}: names the file, exits 1, changes nothing`, async () => {
        const before = await snapshot(repo)
        assertCleanError(await runCli(args, { repo }), keystore)
        const json = await runCli([...args, '--json'], { repo })
        assert.equal(json.code, 1)
        assert.equal(jsonError(json).name, 'KeystoreCorruptError')
        assert.ok(jsonError(json).message.includes(keystore))
        assert.deepEqual(await snapshot(repo), before)
      })
    }
  })

  describe('a keystore readable by others (mode 0644)', () => {
    let repo: string
    let keystore: string
    before(async () => {
      repo = await newRepo()
      keystore = path.join(repo, 'keystore.json')
      await fs.chmod(keystore, 0o644)
    })

    for (const args of [['id'], ['daemon']]) {
      it(`${args[0]}: KeystorePermissionError naming the file; mode left as it was`, async () => {
        const before = await snapshot(repo)
        assertCleanError(await runCli(args, { repo }), keystore, '0644')
        const json = await runCli([...args, '--json'], { repo })
        assert.equal(json.code, 1)
        assert.equal(jsonError(json).name, 'KeystorePermissionError')
        assert.deepEqual(await snapshot(repo), before)
        assert.equal((await fs.stat(keystore)).mode & 0o777, 0o644)
      })
    }
  })

  describe('init over an existing repo', () => {
    it('is refused without --force and changes nothing (hashes, modes, mtimes)', async () => {
      const repo = await newRepo()
      const before = await snapshot(repo)
      const res = await runCli(['init', ...TEST_INIT], { repo })
      assertCleanError(res, repo, '--force')
      const json = await runCli(['init', ...TEST_INIT, '--json'], { repo })
      assert.equal(json.code, 1)
      assert.equal(jsonError(json).name, 'RepoExistsError')
      assert.deepEqual(await snapshot(repo), before)
    })

    it('is refused when only a keystore is there (an interrupted init), so no key is lost', async () => {
      const repo = await newRepo()
      await fs.rm(path.join(repo, 'config.json'))
      const before = await snapshot(repo)
      const json = await runCli(['init', ...TEST_INIT, '--json'], { repo })
      assert.equal(jsonError(json).name, 'RepoExistsError')
      assert.deepEqual(await snapshot(repo), before)
    })

    it('with --force makes a new identity and keeps the old keystore as a backup', async () => {
      const repo = await newRepo()
      const old = JSON.parse((await runCli(['id', '--json'], { repo })).stdout)
      const oldKeystore = await fs.readFile(path.join(repo, 'keystore.json'), 'utf8')
      const res = await runCli(['init', ...TEST_INIT, '--force', '--json'], { repo })
      assert.equal(res.code, 0, res.stderr)
      const out = JSON.parse(res.stdout)
      assert.notEqual(out.peerId, old.peerId)
      assert.equal(out.replaced, true)
      assert.equal(await fs.readFile(out.keystoreBackup, 'utf8'), oldKeystore)
      assert.equal((await fs.stat(out.keystoreBackup)).mode & 0o777, 0o600)
      assert.equal(JSON.parse((await runCli(['id', '--json'], { repo })).stdout).peerId, out.peerId)
    })
  })

  describe('an invalid config.json', () => {
    const cases: Array<{ what: string, edit(config: any): void, field: string }> = [
      { what: 'an unknown top-level field', edit: c => { c.gatway = { listen: 'x' } }, field: '"gatway"' },
      { what: 'an unknown node field', edit: c => { c.node.listn = [] }, field: '"node.listn"' },
      { what: 'a wrong type (difficulty as a string)', edit: c => { c.node.difficulty = '4' }, field: '"node.difficulty"' },
      { what: 'a wrong type (listen not an array)', edit: c => { c.node.listen = '/ip4/127.0.0.1/tcp/0' }, field: '"node.listen"' },
      { what: 'an invalid multiaddr', edit: c => { c.node.bootstrap = ['/ip4/1.2.3.4/tcp/1'] }, field: '"node.bootstrap[0]"' },
      { what: 'a bad api address', edit: c => { c.api = 5101 }, field: '"api"' },
      { what: 'a missing version', edit: c => { delete c.version }, field: '"version"' },
      { what: 'a newer version', edit: c => { c.version = 2 }, field: '"version"' }
    ]

    for (const { what, edit, field } of cases) {
      it(`${what}: InvalidConfigError naming the file and ${field}; nothing changed`, async () => {
        const repo = await newRepo()
        const file = path.join(repo, 'config.json')
        const config = JSON.parse(await fs.readFile(file, 'utf8'))
        edit(config)
        await fs.writeFile(file, JSON.stringify(config, null, 2))
        const before = await snapshot(repo)
        assertCleanError(await runCli(['daemon'], { repo }), file, field)
        const json = await runCli(['id', '--json'], { repo })
        assert.equal(json.code, 1)
        assert.equal(jsonError(json).name, 'InvalidConfigError')
        assert.ok(jsonError(json).message.includes(file) && jsonError(json).message.includes(field), jsonError(json).message)
        assert.deepEqual(await snapshot(repo), before)
      })
    }

    it('not JSON at all: names the file', async () => {
      const repo = await newRepo()
      const file = path.join(repo, 'config.json')
      await fs.writeFile(file, '{ "version": 1, ')
      const before = await snapshot(repo)
      assertCleanError(await runCli(['daemon'], { repo }), file, 'not valid JSON')
      assert.deepEqual(await snapshot(repo), before)
    })
  })

  describe('bad flags', () => {
    it('init with an invalid --listen writes nothing', async () => {
      const repo = path.join(root, `repo-${n++}`)
      const res = await runCli(['init', '--difficulty', '4', '--listen', 'not-a-multiaddr'], { repo })
      assertCleanError(res, '"node.listen[0]"')
      await assert.rejects(fs.stat(repo), { code: 'ENOENT' })
    })

    it('init with an out-of-range --difficulty is a usage error', async () => {
      const repo = path.join(root, `repo-${n++}`)
      assertCleanError(await runCli(['init', '--difficulty', '65'], { repo }), '--difficulty')
      await assert.rejects(fs.stat(repo), { code: 'ENOENT' })
    })

    it('an unknown option is a usage error', async () => {
      const res = await runCli(['id', '--nope'], { repo: path.join(root, 'none') })
      assertCleanError(res, "unknown option '--nope'")
      const json = await runCli(['id', '--nope', '--json'], { repo: path.join(root, 'none') })
      assert.equal(jsonError(json).name, 'UsageError')
    })

    it('id on a missing repo: RepoNotFoundError', async () => {
      const json = await runCli(['id', '--json'], { repo: path.join(root, 'none') })
      assert.equal(json.code, 1)
      assert.equal(jsonError(json).name, 'RepoNotFoundError')
    })

    it('peers without a daemon: DaemonNotRunningError', async () => {
      const repo = await newRepo()
      assertCleanError(await runCli(['peers'], { repo }), path.join(repo, 'api'))
      const json = await runCli(['peers', '--json'], { repo })
      assert.equal(jsonError(json).name, 'DaemonNotRunningError')
    })

    it('a stale api file (no daemon behind it): DaemonNotRunningError, and id falls back to the repo', async () => {
      const repo = await newRepo()
      // a port nothing listens on: bind one, note it, close it
      const { createServer } = await import('node:net')
      const server = createServer()
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
      const port = (server.address() as { port: number }).port
      await new Promise<void>(resolve => server.close(() => { resolve() }))
      await fs.writeFile(path.join(repo, 'api'), `127.0.0.1:${port}\n`)

      const json = await runCli(['peers', '--json'], { repo })
      assert.equal(jsonError(json).name, 'DaemonNotRunningError')
      const id = await runCli(['id', '--json'], { repo })
      assert.equal(id.code, 0, id.stderr)
      assert.equal(JSON.parse(id.stdout).online, false)
    })
  })
})
