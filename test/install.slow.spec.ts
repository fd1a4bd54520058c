/**
 * The README's install command on a fresh clone with a fresh HOME: after
 * `npm install && npm link`, `provenir` is a command on the PATH, running on
 * the project's Node 24 even where the machine's own `node` is older, and
 * relative paths on the command line are the caller's.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ROOT, runTool, tempDir } from './daemon-helpers.js'

/** PATH without this checkout's node_modules/.bin (which a fresh machine does not have) */
function systemPath (): string {
  return (process.env.PATH ?? '').split(':').filter(d => d !== '' && !d.includes('node_modules')).join(':')
}

describe('install on a fresh clone (npm install && npm link)', () => {
  let dir: string
  let clone: string
  let prefix: string
  let env: NodeJS.ProcessEnv

  before(async () => {
    dir = await tempDir()
    clone = path.join(dir, 'provenir')
    prefix = path.join(dir, 'prefix')
    const home = path.join(dir, 'home')
    await fs.mkdir(home)
    // the npm cache of this machine, so the install needs no download it already made
    const cache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim()
    env = { PATH: systemPath(), HOME: home, npm_config_cache: cache, npm_config_prefix: prefix, npm_config_audit: 'false', npm_config_fund: 'false', CI: process.env.CI ?? '' }
    const cloned = await runTool('git', ['clone', '--quiet', ROOT, clone], 120_000, { env })
    assert.equal(cloned.code, 0, cloned.stderr)
  })
  after(async () => { await fs.rm(dir, { recursive: true, force: true }) })

  it('puts a working provenir on the PATH', async () => {
    const installed = await runTool('sh', ['-c', 'npm install --prefer-offline && npm link'], 600_000, { cwd: clone, env })
    assert.equal(installed.code, 0, `${installed.stdout}\n${installed.stderr}`)

    const pathWithBin = `${path.join(prefix, 'bin')}:${env.PATH ?? ''}`
    const help = await runTool('provenir', ['--help'], 60_000, { cwd: dir, env: { ...env, PATH: pathWithBin } })
    assert.equal(help.code, 0, help.stderr)
    assert.match(help.stdout, /^Usage: provenir /m)
    assert.match(help.stdout, /daemon/)

    // relative paths are the caller's: from the PATH and through `npm run provenir`
    const byPath = await runTool('provenir', ['--repo', 'repo-a', 'init', '--difficulty', '1', '--workers', '1', '--json'], 60_000, { cwd: dir, env: { ...env, PATH: pathWithBin } })
    assert.equal(byPath.code, 0, byPath.stderr)
    assert.equal(JSON.parse(byPath.stdout).repo, path.join(dir, 'repo-a'))
    const sub = path.join(clone, 'sub')
    await fs.mkdir(sub)
    const byNpm = await runTool('npm', ['run', '-s', 'provenir', '--', '--repo', 'repo-b', 'init', '--difficulty', '1', '--workers', '1', '--json'], 60_000, { cwd: sub, env })
    assert.equal(byNpm.code, 0, byNpm.stderr)
    assert.equal(JSON.parse(byNpm.stdout).repo, path.join(sub, 'repo-b'))

    // and npx finds it in the clone
    const npx = await runTool('npx', ['provenir', '--version'], 60_000, { cwd: clone, env })
    assert.equal(npx.code, 0, npx.stderr)
    assert.equal(npx.stdout.trim(), JSON.parse(await fs.readFile(path.join(clone, 'packages/cli/package.json'), 'utf8')).version)
  })
})
