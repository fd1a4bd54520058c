/**
 * `provenir mirror config`: the runtimes' files for a node, and writing them
 * with the old file kept. podman itself reads the registries.conf it makes.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { containerdHostsToml, dockerDaemonJson, mirrorFiles, registriesConf, writeMirrorFiles } from '../src/mirror-config.js'
import { TEST_INIT, runCli } from './helpers.js'

const run = promisify(execFile)
const GATEWAY = new URL('http://127.0.0.1:5000')
const HUB = { host: 'docker.io', endpoints: ['https://registry-1.docker.io'] }
const LOCAL = { host: '127.0.0.1:5590', endpoints: ['https://127.0.0.1:5590'], ca: '/etc/provenir/ca.pem' }

describe('mirror config', () => {
  let dir: string
  before(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-mirror-')) })
  after(async () => { await fs.rm(dir, { recursive: true, force: true }) })

  it('containerd: the node first, the upstream as server, its CA', () => {
    const toml = containerdHostsToml(LOCAL, GATEWAY)
    assert.match(toml, /^server = "https:\/\/127\.0\.0\.1:5590"$/m)
    assert.match(toml, /^ca = "\/etc\/provenir\/ca\.pem"$/m)
    assert.match(toml, /^\[host\."http:\/\/127\.0\.0\.1:5000"\]\n {2}capabilities = \["pull", "resolve"\]$/m)
    const files = mirrorFiles({ runtime: 'containerd', gateway: GATEWAY, registries: [LOCAL, HUB], target: '/x/certs.d' })
    assert.deepEqual(files.map(f => f.path), ['/x/certs.d/127.0.0.1:5590/hosts.toml', '/x/certs.d/docker.io/hosts.toml'])
    // several endpoints: each after the node, in order
    const several = containerdHostsToml({ host: 'quay.io', endpoints: ['https://a.example.org', 'https://quay.io'] }, GATEWAY)
    assert.ok(several.indexOf('[host."http://127.0.0.1:5000"]') < several.indexOf('[host."https://a.example.org"]'))
    assert.ok(several.indexOf('[host."https://a.example.org"]') < several.indexOf('[host."https://quay.io"]'))
  })

  it('podman: the upstream as location, the node as the first mirror under the host\'s prefix; podman reads it', async () => {
    const conf = registriesConf([LOCAL, HUB], GATEWAY)
    assert.match(conf, /prefix = "127\.0\.0\.1:5590"\nlocation = "127\.0\.0\.1:5590"\n\n\[\[registry\.mirror\]\]\nlocation = "127\.0\.0\.1:5000\/127\.0\.0\.1_5590"\ninsecure = true/)
    assert.match(conf, /prefix = "docker\.io"\nlocation = "docker\.io"\n\n\[\[registry\.mirror\]\]\nlocation = "127\.0\.0\.1:5000\/docker\.io"/)
    const file = path.join(dir, 'registries.conf')
    await fs.writeFile(file, conf)
    const { stdout } = await run('podman', ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'), 'info', '--format', '{{json .Registries}}'], { env: { ...process.env, CONTAINERS_REGISTRIES_CONF: file } })
    const registries = JSON.parse(stdout)
    assert.equal(registries['127.0.0.1:5590'].Mirrors[0].Location, '127.0.0.1:5000/127.0.0.1_5590')
    assert.equal(registries['docker.io'].Mirrors[0].Location, '127.0.0.1:5000/docker.io')
    assert.throws(() => registriesConf([{ host: '[::1]:5000', endpoints: ['https://[::1]:5000'] }], GATEWAY), { name: 'InvalidParametersError', message: /IPv6/ })
  })

  it('docker: the node first among registry-mirrors, every other setting kept; Docker Hub only', () => {
    const merged = dockerDaemonJson({ 'log-driver': 'journald', 'registry-mirrors': ['https://mirror.gcr.io', 'http://127.0.0.1:5000/'] }, GATEWAY)
    assert.deepEqual(merged, { 'log-driver': 'journald', 'registry-mirrors': ['http://127.0.0.1:5000', 'https://mirror.gcr.io'] })
    assert.deepEqual(dockerDaemonJson({}, new URL('http://10.0.0.5:5000'))['insecure-registries'], ['10.0.0.5:5000'], 'a plain-HTTP mirror beyond loopback is declared insecure')
    assert.throws(() => mirrorFiles({ runtime: 'docker', gateway: GATEWAY, registries: [LOCAL] }), { name: 'InvalidParametersError', message: /Docker Hub only/ })
  })

  it('writes the files, keeping what was there, and leaves a file already as wanted alone', async () => {
    const target = path.join(dir, 'daemon.json')
    await fs.writeFile(target, JSON.stringify({ 'log-driver': 'journald' }), { mode: 0o600 })
    const files = mirrorFiles({ runtime: 'docker', gateway: GATEWAY, registries: [HUB], target, existing: { 'log-driver': 'journald' } })
    const [written] = await writeMirrorFiles(files, new Date('2026-01-02T03:04:05Z'))
    assert.equal(written.backup, `${target}.2026-01-02T03-04-05-000Z.provenir.bak`)
    assert.deepEqual(JSON.parse(await fs.readFile(written.backup, 'utf8')), { 'log-driver': 'journald' })
    assert.deepEqual(JSON.parse(await fs.readFile(target, 'utf8')), { 'log-driver': 'journald', 'registry-mirrors': ['http://127.0.0.1:5000'] })
    assert.equal((await fs.stat(target)).mode & 0o777, 0o600, 'the file keeps its mode')
    const [again] = await writeMirrorFiles(files)
    assert.deepEqual(again, { path: target, unchanged: true })
    const fresh = await writeMirrorFiles(mirrorFiles({ runtime: 'containerd', gateway: GATEWAY, registries: [LOCAL], target: path.join(dir, 'certs.d') }))
    assert.equal(fresh[0].backup, undefined)
    assert.match(await fs.readFile(path.join(dir, 'certs.d', '127.0.0.1:5590', 'hosts.toml'), 'utf8'), /server = "https:\/\/127\.0\.0\.1:5590"/)
  })

  it('the command: reads the node\'s upstreams and gateway, refuses a registry it does not mirror, writes with --write', async () => {
    const repo = path.join(dir, 'repo')
    assert.equal((await runCli(['init', ...TEST_INIT], { repo })).code, 0)
    const file = path.join(repo, 'config.json')
    const config = JSON.parse(await fs.readFile(file, 'utf8'))
    config.upstream.registries = [{ host: '127.0.0.1:5590', ca: 'ca.pem' }]
    await fs.writeFile(file, JSON.stringify(config))
    const noPort = await runCli(['mirror', 'config', 'containerd'], { repo })
    assert.equal(noPort.code, 1)
    assert.match(noPort.stderr, /any free port.*start the daemon or give --gateway/)
    const printed = await runCli(['mirror', 'config', 'containerd', '--gateway', '127.0.0.1:5999', '--json'], { repo })
    assert.equal(printed.code, 0, printed.stderr)
    const res = JSON.parse(printed.stdout)
    assert.deepEqual([res.runtime, res.gateway, res.files.length, res.files[0].path], ['containerd', 'http://127.0.0.1:5999', 1, '/etc/containerd/certs.d/127.0.0.1:5590/hosts.toml'])
    assert.match(res.files[0].content, new RegExp(`ca = "${path.join(repo, 'ca.pem').replace(/\//g, '\\/')}"`), 'a relative CA path starts at the repo')
    const unknown = await runCli(['mirror', 'config', 'podman', '--registry', 'quay.io', '--gateway', '127.0.0.1:5999'], { repo })
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /quay\.io is not an upstream registry of this node \(configured: 127\.0\.0\.1:5590\)/)
    const certs = path.join(dir, 'certs.d')
    const wrote = await runCli(['mirror', 'config', 'containerd', '--gateway', '127.0.0.1:5999', '--write', '--dir', certs], { repo })
    assert.equal(wrote.code, 0, wrote.stderr)
    assert.match(wrote.stdout, /Wrote .*127\.0\.0\.1:5590\/hosts\.toml/)
    assert.match(await fs.readFile(path.join(certs, '127.0.0.1:5590', 'hosts.toml'), 'utf8'), /\[host\."http:\/\/127\.0\.0\.1:5999"\]/)
  })
})
