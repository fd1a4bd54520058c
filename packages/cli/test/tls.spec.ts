import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import Fastify from 'fastify'
import { ensureRepoTls, RpcClient, serverTls, TLS_RENEW_BEFORE_DAYS, TLS_SERVER_VALIDITY_DAYS } from '../src/index.js'
import type { FastifyInstance } from 'fastify'

const DAY = 24 * 60 * 60 * 1000
const AUTO = { enabled: 'auto' as const, cert: null, key: null, ca: null }

describe('the repo\'s TLS material', () => {
  let root: string

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-tls-unit-'))
  })

  after(async () => {
    await fs.rm(root, { recursive: true, force: true })
  })

  it('makes a CA once and a server certificate it signs; a second call changes nothing', async () => {
    const first = await ensureRepoTls(root)
    assert.ok(first.createdCa && first.issued)
    const cert = await fs.readFile(first.paths.cert, 'utf8')
    const again = await ensureRepoTls(root)
    assert.ok(!again.createdCa && !again.issued)
    assert.equal(await fs.readFile(first.paths.cert, 'utf8'), cert)
    const ca = new X509Certificate(await fs.readFile(first.paths.caCert))
    assert.ok(new X509Certificate(cert).verify(ca.publicKey))
  })

  it('issues the server certificate again under the same CA when it would miss a listen address, or expire soon', async () => {
    const dir = await fs.mkdtemp(path.join(root, 'renew-'))
    const { paths } = await ensureRepoTls(dir)
    const ca = await fs.readFile(paths.caCert, 'utf8')
    const added = await ensureRepoTls(dir, { hosts: ['192.0.2.7'] })
    assert.ok(added.issued && !added.createdCa)
    assert.ok(new X509Certificate(await fs.readFile(paths.cert)).checkIP('192.0.2.7') != null)
    const later = new Date(Date.now() + (TLS_SERVER_VALIDITY_DAYS - TLS_RENEW_BEFORE_DAYS + 1) * DAY)
    assert.ok((await ensureRepoTls(dir, { hosts: ['192.0.2.7'], now: later })).issued, 'renewed before it expires')
    assert.equal(await fs.readFile(paths.caCert, 'utf8'), ca, 'the CA clients trust stays')
  })

  it('refuses a CA whose key is gone, saying how to start over', async () => {
    const dir = await fs.mkdtemp(path.join(root, 'broken-'))
    const { paths } = await ensureRepoTls(dir)
    await fs.rm(paths.caKey)
    await assert.rejects(ensureRepoTls(dir), (err: Error) => err.name === 'TlsMaterialError' && err.message.includes(paths.caKey))
  })

  it('serves plain HTTP on loopback under "auto", TLS beyond it or when enabled', async () => {
    assert.equal(await serverTls(root, AUTO, '127.0.0.1', 'gateway.tls'), undefined)
    assert.equal(await serverTls(root, { ...AUTO, enabled: false }, '127.0.0.1', 'gateway.tls'), undefined)
    const tls = await serverTls(root, { ...AUTO, enabled: true }, '127.0.0.1', 'gateway.tls')
    assert.match(tls?.cert ?? '', /BEGIN CERTIFICATE/)
    assert.ok((await serverTls(root, AUTO, '0.0.0.0', 'gateway.tls')) != null)
    await assert.rejects(serverTls(root, { enabled: true, cert: 'tls/server.crt', key: 'no-such.key', ca: null }, '127.0.0.1', 'apiTls'),
      (err: Error) => err.name === 'TlsMaterialError' && err.message.includes('"apiTls.key"'))
  })

  describe('the RPC client over TLS', () => {
    let server: FastifyInstance
    let port: number

    before(async () => {
      const tls = await serverTls(root, { ...AUTO, enabled: true }, '127.0.0.1', 'apiTls')
      server = Fastify({ https: { cert: tls!.cert, key: tls!.key } }) as unknown as FastifyInstance
      server.get('/healthz', async () => ({ status: 'ok' }))
      await server.listen({ host: '127.0.0.1', port: 0 })
      port = (server.server.address() as { port: number }).port
    })

    after(async () => {
      await server?.close()
    })

    it('trusts the CA it is given, and refuses the server without it, by name', async () => {
      const caFile = path.join(root, 'tls', 'trust', 'ca.crt')
      assert.deepEqual(await new RpcClient({ address: { host: '127.0.0.1', port, tls: true, caFile } }).get('/healthz'), { status: 'ok' })
      await assert.rejects(new RpcClient({ address: { host: '127.0.0.1', port, tls: true } }).get('/healthz'),
        (err: Error) => err.name === 'TlsMaterialError' && /cannot verify the TLS certificate/.test(err.message))
    })
  })
})
