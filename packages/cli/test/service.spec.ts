import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { systemdUnit } from '../src/commands/service.js'
import { launcherPath } from '../src/launcher.js'
import { runCli, tempDir } from './helpers.js'

const analyze = spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0

/** `systemd-analyze verify` of a unit file: its exit code and everything it printed */
function verify (file: string): { code: number | null, output: string } {
  const res = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' })
  return { code: res.status, output: `${res.stdout}${res.stderr}`.trim() }
}

describe('provenir systemd-unit', () => {
  let dir: string
  before(async () => { dir = await tempDir() })
  after(async () => { await fs.rm(dir, { recursive: true, force: true }) })

  it('runs the installed launcher as `daemon`, with the repo in PROVENIR_PATH', () => {
    const unit = systemdUnit({ exec: '/usr/bin/provenir' })
    assert.match(unit, /^ExecStart=\/usr\/bin\/provenir daemon$/m)
    assert.match(unit, /^DynamicUser=yes$/m)
    assert.match(unit, /^StateDirectory=provenir$/m)
    assert.match(unit, /^Environment=PROVENIR_PATH=\/var\/lib\/provenir$/m)
    const owned = systemdUnit({ exec: '/usr/bin/provenir', user: 'provenir', repo: '/srv/provenir' })
    assert.match(owned, /^User=provenir$/m)
    assert.match(owned, /^ReadWritePaths=\/srv\/provenir$/m)
    assert.doesNotMatch(owned, /DynamicUser/)
  })

  it('refuses a relative executable, a user name systemd would not take and a repo with spaces', () => {
    assert.throws(() => systemdUnit({ exec: 'provenir' }), { name: 'InvalidParametersError' })
    assert.throws(() => systemdUnit({ exec: '/usr/bin/provenir', user: 'root\nExecStartPre=/bin/sh' }), { name: 'InvalidParametersError' })
    assert.throws(() => systemdUnit({ exec: '/usr/bin/provenir', repo: '/var/lib/my repo' }), { name: 'InvalidParametersError' })
  })

  it('writes a unit that systemd-analyze verifies without a warning', { skip: analyze ? false : 'skipped: systemd-analyze not installed (apt-get install -y systemd)' }, async () => {
    const file = path.join(dir, 'provenir.service')
    const res = await runCli(['systemd-unit', '-o', file, '--json'])
    assert.equal(res.code, 0, res.stderr)
    assert.equal(JSON.parse(res.stdout).path, file)
    const unit = await fs.readFile(file, 'utf8')
    assert.match(unit, new RegExp(`^ExecStart=${launcherPath().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} daemon$`, 'm'))
    assert.deepEqual(verify(file), { code: 0, output: '' })
    // the check is real: a unit whose executable does not exist fails it
    const broken = path.join(dir, 'broken.service')
    await fs.writeFile(broken, unit.replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/provenir'))
    assert.notEqual(verify(broken).code, 0)
  })
})
