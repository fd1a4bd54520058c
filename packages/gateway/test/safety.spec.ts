/**
 * The gateway on loopback against a web page: a foreign Host (DNS
 * rebinding) or any Origin is refused, no CORS preflight is answered, and an
 * upload a page could send without a preflight needs the token. And every
 * error answer is logged with its cause.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createSwarm } from '@provenir/testbed'
import { base32upper } from 'multiformats/bases/base32'
import { sha256, startGateway, stopAll } from './helpers.js'
import type { ComponentLogger, Logger } from '@libp2p/interface'
import type { FsBlockstore } from '@provenir/content'
import type { Swarm } from '@provenir/testbed'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const TOKEN = 'safety-token-0123456789abcdef'

/** A request with whatever headers (fetch does not let a caller set Host) */
async function raw (port: number, method: string, path: string, headers: Record<string, string>, body?: Uint8Array): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(body != null ? { 'Content-Length': String(body.byteLength) } : {}) } }, res => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** A logger that keeps every line, as the daemon's would print them */
function recordingLogger (): { logger: ComponentLogger, lines: Array<{ level: 'debug' | 'error', text: string, args: unknown[] }> } {
  const lines: Array<{ level: 'debug' | 'error', text: string, args: unknown[] }> = []
  const make = (name: string): Logger => {
    const log = Object.assign((text: string, ...args: unknown[]) => { lines.push({ level: 'debug', text: `${name} ${text}`, args }) }, {
      enabled: true,
      error: (text: string, ...args: unknown[]) => { lines.push({ level: 'error', text: `${name} ${text}`, args }) },
      trace: () => {},
      newScope: (scope: string) => make(`${name}:${scope}`)
    })
    return log as unknown as Logger
  }
  return { logger: { forComponent: make }, lines }
}

describe('gateway safety on loopback', () => {
  let swarm: Swarm
  let gw: Awaited<ReturnType<typeof startGateway>>
  let port: number
  const recorded = recordingLogger()

  before(async () => {
    swarm = await createSwarm({ size: 1, blockstores: true })
    gw = await startGateway(swarm.nodes[0], { logger: recorded.logger })
    port = Number(new URL(gw.url).port)
  })

  after(async () => {
    await stopAll(swarm, [gw])
  })

  it('a manifest PUT with a foreign Host (DNS rebinding) is refused with 403 DENIED, and nothing is stored or signed', async () => {
    const config = new TextEncoder().encode('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
    const ok = await raw(port, 'POST', `/v2/evil/app/blobs/uploads/?digest=${sha256(config)}`, { Host: `127.0.0.1:${port}`, 'Content-Type': 'application/octet-stream' }, config)
    assert.equal(ok.status, 201, 'a loopback Host is served')
    const manifest = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.byteLength }, layers: [] }))
    const foreign: Array<Record<string, string>> = [{ Host: `evil.example:${port}` }, { Host: `evil.example:${port}`, Origin: `http://evil.example:${port}` }, { Host: `127.0.0.1:${port + 1}` }]
    for (const headers of foreign) {
      const res = await raw(port, 'PUT', '/v2/evil/app/manifests/v1', { ...headers, 'Content-Type': OCI_MANIFEST }, manifest)
      assert.equal(res.status, 403, JSON.stringify(headers))
      assert.equal(res.body.errors[0].code, 'DENIED')
    }
    assert.equal(await swarm.nodes[0].images!.has(sha256(manifest)), false, 'no image was recorded')
    assert.equal((await fetch(`${gw.url}/v2/evil/app/tags/list`)).status, 404, 'no tag either')
  })

  it('any Origin is refused, on reads as on writes; a CORS preflight gets no allowance', async () => {
    for (const origin of ['http://127.0.0.1:8080', 'null', 'https://example.com']) {
      const res = await raw(port, 'GET', '/v2/', { Host: `127.0.0.1:${port}`, Origin: origin })
      assert.equal(res.status, 403, origin)
    }
    const preflight = await raw(port, 'OPTIONS', '/v2/evil/app/blobs/uploads/', { Host: `127.0.0.1:${port}`, Origin: 'https://example.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' })
    assert.equal(preflight.status, 403)
    for (const h of Object.keys(preflight.headers)) assert.ok(!h.startsWith('access-control-'), `no ${h}`)
    assert.equal((await raw(port, 'GET', '/v2/', { Host: `localhost:${port}` })).status, 200, 'localhost is this machine')
  })

  it('an upload sent as text/plain or a form (what a page sends without a preflight) is refused with 415, and stores nothing', async () => {
    const blob = randomBytes(500)
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await fetch(`${gw.url}/v2/evil/app/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob, headers: { 'Content-Type': type } })
      assert.equal(res.status, 415, type)
    }
    const start = await fetch(`${gw.url}/v2/evil/app/blobs/uploads/`, { method: 'POST' })
    assert.equal(start.status, 202)
    const patch = await fetch(gw.url + start.headers.get('location')!, { method: 'PATCH', body: blob, headers: { 'Content-Type': 'text/plain' } })
    assert.equal(patch.status, 415)
    assert.equal((await fetch(`${gw.url}/v2/evil/app/blobs/${sha256(blob)}`, { method: 'HEAD' })).status, 404)
  })

  it('a 500 is logged with its cause, and the client gets no internal detail; a 4xx is logged at debug level', async () => {
    const layer = randomBytes(3 * 1024 * 1024)
    assert.equal((await fetch(`${gw.url}/v2/acme/broken/blobs/uploads/?digest=${sha256(layer)}`, { method: 'POST', body: layer, headers: { 'Content-Type': 'application/octet-stream' } })).status, 201)
    // the first leaf's file becomes a directory: reading it fails with EISDIR, a condition no table lists
    const store = swarm.nodes[0].blockstore as FsBlockstore
    const multihash = Buffer.concat([Buffer.from([0x12, 0x20]), Buffer.from(sha256(layer.subarray(0, 1024 * 1024)).slice(7), 'hex')])
    const name = base32upper.baseEncode(multihash)
    const file = join(store.path, 'blocks', name.slice(-3, -1), `${name}.data`)
    await rm(file)
    await mkdir(file)
    const res = await fetch(`${gw.url}/v2/acme/broken/blobs/${sha256(layer)}`)
    assert.equal(res.status, 500)
    const body = await res.json() as any
    assert.equal(body.errors[0].message, 'internal error')
    const line = recorded.lines.find(l => l.level === 'error' && l.args.some(a => String(a).includes('/v2/acme/broken/blobs/')))
    assert.ok(line != null, `an error line: ${JSON.stringify(recorded.lines.map(l => l.text))}`)
    assert.ok(line.args.some(a => a instanceof Error && /EISDIR/.test(`${(a as any).code} ${a.message}`)), 'with its cause')
    const missing = await fetch(`${gw.url}/v2/acme/broken/manifests/nosuchtag`)
    assert.equal(missing.status, 404)
    assert.ok(recorded.lines.some(l => l.level === 'debug' && l.args.includes('/v2/acme/broken/manifests/nosuchtag')), 'the 404 is logged at debug level')
  })
})

describe('gateway safety with a token', () => {
  let swarm: Swarm
  let gw: Awaited<ReturnType<typeof startGateway>>

  before(async () => {
    swarm = await createSwarm({ size: 1, blockstores: true })
    gw = await startGateway(swarm.nodes[0], { token: TOKEN })
  })

  after(async () => {
    await stopAll(swarm, [gw])
  })

  it('an upload with a simple content type is taken from a client that presents the token', async () => {
    const blob = randomBytes(300)
    const res = await fetch(`${gw.url}/v2/acme/x/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob, headers: { 'Content-Type': 'text/plain', Authorization: `Bearer ${TOKEN}` } })
    assert.equal(res.status, 201)
  })
})
