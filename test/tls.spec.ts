/**
 * TLS as an operator turns it on: `provenir init` makes the repo's CA and a
 * server certificate (keys mode 0600); with `gateway.tls` and `apiTls`
 * enabled (here on 127.0.0.1, as a LAN address would have it by default),
 * skopeo pushes to the gateway trusting only that CA (`--dest-cert-dir`), the
 * CLI talks to the TLS API trusting it by itself, a plain-HTTP client and an
 * HTTPS client without the CA are refused, and the push token never reaches
 * the daemon's log.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DaemonProcess, keepDaemonLogs, runCli, runJson, runTool, TEST_INIT } from './daemon-helpers.js'
import { buildFixtures } from './image-helpers.js'
import type { Fixture } from './image-helpers.js'

keepDaemonLogs(import.meta.url)

const TOKEN = 'tls-test-token-4f9a2c7e1b8d'

describe('TLS: the gateway and the RPC API with the CA from init', { timeout: 180_000 }, () => {
  let root: string
  let repo: string
  let small: Fixture
  let daemon: DaemonProcess
  let ca: { caFile: string, certDir: string, gateway: string, gatewayTls: boolean, apiTls: boolean, pem: string }
  let hostPort: string

  before(async () => {
    ({ small } = await buildFixtures('small'))
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-tls-'))
    repo = path.join(root, 'repo')
    const init = await runJson(repo, ['init', ...TEST_INIT])
    assert.equal(init.tlsCa, path.join(repo, 'tls', 'trust', 'ca.crt'))
    const configFile = path.join(repo, 'config.json')
    const config = JSON.parse(await fs.readFile(configFile, 'utf8'))
    assert.deepEqual(config.gateway.tls, { enabled: 'auto', cert: null, key: null, ca: null }, 'config.json spells out the TLS defaults')
    config.gateway.tls.enabled = true
    config.gateway.token = TOKEN
    config.apiTls.enabled = true
    await fs.writeFile(configFile, JSON.stringify(config, null, 2))
    daemon = new DaemonProcess(repo)
    await daemon.ready()
    ca = await runJson(repo, ['tls', 'ca'])
    const ready = daemon.events().find(e => e.event === 'ready')
    assert.equal(ready.tlsCa, ca.caFile)
    assert.match(ready.gateway, /^https:\/\/127\.0\.0\.1:\d+$/, 'the daemon reports its gateway as https')
    hostPort = ready.gateway.replace(/^https:\/\//, '')
  })

  after(async () => {
    await daemon?.stop()
    daemon?.kill()
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it('init made a CA and a server certificate for this host, the keys mode 0600, the trust dir holding only ca.crt', async () => {
    const tls = path.join(repo, 'tls')
    for (const key of ['ca.key', 'server.key']) assert.equal((await fs.stat(path.join(tls, key))).mode & 0o777, 0o600, `${key} is mode 0600`)
    assert.deepEqual(await fs.readdir(path.join(tls, 'trust')), ['ca.crt'], 'skopeo reads every *.key in a cert dir as a client key: none may be there')
    const caCert = new X509Certificate(await fs.readFile(path.join(tls, 'trust', 'ca.crt')))
    const server = new X509Certificate(await fs.readFile(path.join(tls, 'server.crt')))
    assert.ok(caCert.ca, 'the CA certificate is a CA')
    assert.ok(server.verify(caCert.publicKey), 'the CA signed the server certificate')
    assert.ok(server.checkIP('127.0.0.1') != null && server.checkHost('localhost') != null && server.checkHost(os.hostname()) != null, `it names the loopback addresses and the host name: ${server.subjectAltName ?? ''}`)
  })

  it('`tls ca` names the CA, its cert dir and the TLS gateway', async () => {
    assert.equal(ca.caFile, path.join(repo, 'tls', 'trust', 'ca.crt'))
    assert.equal(ca.certDir, path.join(repo, 'tls', 'trust'))
    assert.match(ca.gateway, /^https:\/\/127\.0\.0\.1:0$/, 'the configured address (port 0 here)')
    assert.ok(ca.gatewayTls && ca.apiTls)
    assert.equal(ca.pem, await fs.readFile(ca.caFile, 'utf8'))
    const pem = await runCli(repo, ['tls', 'ca', '--pem'])
    assert.equal(pem.code, 0, pem.stderr)
    assert.equal(pem.stdout, ca.pem)
    const text = await runCli(repo, ['tls', 'ca'])
    assert.match(text.stdout, new RegExp(`--dest-cert-dir ${ca.certDir}`))
    assert.match(text.stdout, /ca = "/, 'the containerd hosts.toml stanza')
  })

  it('the CLI talks to the TLS RPC API, trusting the repo CA', async () => {
    assert.match((await fs.readFile(path.join(repo, 'api'), 'utf8')).split('\n')[0], /^https:\/\/127\.0\.0\.1:\d+$/)
    const id = await runJson(repo, ['id'])
    assert.match(id.peerId, /^12D3|^Qm/)
  })

  it('skopeo pushes to the gateway over TLS with the CA from init, and reads the image back', async () => {
    const push = await runTool('skopeo', ['copy', '--dest-cert-dir', ca.certDir, '--dest-creds', `x:${TOKEN}`, `oci:${small.oci}:v1`, `docker://${hostPort}/acme/tls:v1`])
    assert.equal(push.code, 0, push.stderr)
    const inspect = await runTool('skopeo', ['inspect', '--raw', '--cert-dir', ca.certDir, `docker://${hostPort}/acme/tls:v1`])
    assert.equal(inspect.code, 0, inspect.stderr)
    assert.equal(JSON.parse(inspect.stdout).schemaVersion, 2)
    const listed = await runJson(repo, ['image', 'ls'])
    assert.ok(JSON.stringify(listed).includes(small.digest), 'the pushed image is in the node')
  })

  it('a plain-HTTP client is refused, and so is an HTTPS client that does not trust the CA', async () => {
    await assert.rejects(fetch(`http://${hostPort}/v2/`, { signal: AbortSignal.timeout(10_000) }), 'plain HTTP to the TLS gateway gets no answer')
    const untrusted = await runTool('skopeo', ['inspect', '--raw', `docker://${hostPort}/acme/tls:v1`])
    assert.notEqual(untrusted.code, 0)
    assert.match(untrusted.stderr, /certificate signed by unknown authority/)
  })

  it('the push token never appears in the daemon\'s output', async () => {
    assert.ok(daemon.stderr.length + daemon.stdout.length > 0)
    assert.ok(!daemon.stderr.includes(TOKEN) && !daemon.stdout.includes(TOKEN), 'no token in the log')
  })

  it('the daemon refuses a certificate that does not fit its key, naming the setting', async () => {
    const other = path.join(root, 'other')
    await runJson(other, ['init', ...TEST_INIT])
    const configFile = path.join(other, 'config.json')
    const config = JSON.parse(await fs.readFile(configFile, 'utf8'))
    // the other repo's key with this repo's certificate
    config.gateway.tls = { enabled: true, cert: path.join(repo, 'tls', 'server.crt'), key: 'tls/server.key', ca: null }
    await fs.writeFile(configFile, JSON.stringify(config, null, 2))
    const res = await runCli(other, ['daemon'])
    assert.notEqual(res.code, 0)
    assert.match(res.stderr, /"gateway\.tls": the certificate and key cannot serve TLS/)
  })
})
