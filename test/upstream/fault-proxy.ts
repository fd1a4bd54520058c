/**
 * A small HTTPS proxy in front of the test upstream that misbehaves on
 * demand: it answers a status, cuts a response after some bytes, never
 * answers, serves wrong bytes, or redirects (as Docker Hub redirects blobs
 * to a CDN). And the CDN: blobs served from the registry's storage on
 * another origin, which records whether a request carried Authorization.
 */

import { createReadStream } from 'node:fs'
import fs from 'node:fs/promises'
import https from 'node:https'
import path from 'node:path'
import type { Pki } from './pki.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type Fault =
  | { kind: 'status', status: number, headers?: Record<string, string> }
  | { kind: 'cut', afterBytes: number }
  | { kind: 'stall' }
  | { kind: 'corrupt' }
  | { kind: 'redirect', location: string }
  | { kind: 'answer', status: number, contentType: string, body: Uint8Array }

export interface SeenRequest {
  method: string
  path: string
  range?: string
  authorization: boolean
}

export interface FaultProxy {
  /** `127.0.0.1:<port>` */
  host: string
  url: string
  requests: SeenRequest[]
  /** Decides each request's fault; undefined forwards it untouched */
  rule: (req: SeenRequest) => Fault | undefined
  close(): Promise<void>
}

async function listen (server: https.Server, hostname = '127.0.0.1'): Promise<number> {
  await new Promise<void>(resolve => server.listen(0, hostname, resolve))
  return (server.address() as AddressInfo).port
}

async function closeServer (server: https.Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => { resolve() }))
}

function forward (target: URL, pki: Pki, req: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void {
  const upstream = https.request({
    host: target.hostname,
    port: target.port,
    method: req.method,
    path: req.url,
    headers: { ...req.headers, host: target.host },
    ca: pki.caPem
  }, up => {
    res.writeHead(up.statusCode ?? 502, up.headers)
    let sent = 0
    up.on('data', (chunk: Buffer) => {
      if (fault?.kind === 'cut' && sent + chunk.length >= fault.afterBytes) {
        res.write(chunk.subarray(0, Math.max(0, fault.afterBytes - sent)))
        sent = fault.afterBytes
        up.destroy()
        // a reset mid-body, as a dropped connection looks to the client
        res.socket?.destroy()
        return
      }
      if (fault?.kind === 'corrupt') {
        const bad = Buffer.from(chunk)
        for (let i = 0; i < bad.length; i += 997) bad[i] ^= 0xff
        chunk = bad
      }
      sent += chunk.length
      res.write(chunk)
    })
    up.on('end', () => { res.end() })
    up.on('error', () => { res.socket?.destroy() })
  })
  upstream.on('error', () => { res.socket?.destroy() })
  req.pipe(upstream)
}

/** Starts a proxy to `target` (`https://127.0.0.1:<port>`) */
export async function startFaultProxy (target: string, pki: Pki): Promise<FaultProxy> {
  const url = new URL(target)
  const proxy: FaultProxy = { host: '', url: '', requests: [], rule: () => undefined, close: async () => {} }
  const server = https.createServer({ cert: await fs.readFile(pki.serverCert), key: await fs.readFile(pki.serverKey) }, (req, res) => {
    const seen: SeenRequest = { method: req.method ?? 'GET', path: req.url ?? '/', authorization: req.headers.authorization != null }
    if (typeof req.headers.range === 'string') seen.range = req.headers.range
    proxy.requests.push(seen)
    const fault = proxy.rule(seen)
    if (fault?.kind === 'stall') return
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers }).end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected' }] }))
      return
    }
    if (fault?.kind === 'answer') {
      res.writeHead(fault.status, { 'content-type': fault.contentType, 'content-length': String(fault.body.byteLength) }).end(fault.body)
      return
    }
    if (fault?.kind === 'redirect') {
      res.writeHead(307, { location: fault.location }).end()
      return
    }
    forward(url, pki, req, res, fault)
  })
  const port = await listen(server)
  proxy.host = `127.0.0.1:${port}`
  proxy.url = `https://${proxy.host}`
  proxy.close = async () => { await closeServer(server) }
  return proxy
}

export interface BlobCdn {
  /** `https://localhost:<port>`: another origin than the registry's */
  url: string
  requests: SeenRequest[]
  close(): Promise<void>
}

/** Serves `/blobs/<digest>` from a docker-registry storage directory, with `Range: bytes=N-` */
export async function startBlobCdn (storage: string, pki: Pki): Promise<BlobCdn> {
  const requests: SeenRequest[] = []
  const server = https.createServer({ cert: await fs.readFile(pki.serverCert), key: await fs.readFile(pki.serverKey) }, (req, res) => {
    const seen: SeenRequest = { method: req.method ?? 'GET', path: req.url ?? '/', authorization: req.headers.authorization != null }
    if (typeof req.headers.range === 'string') seen.range = req.headers.range
    requests.push(seen)
    const m = /^\/blobs\/sha256:([a-f0-9]{64})$/.exec(req.url ?? '')
    if (m == null) {
      res.writeHead(404).end()
      return
    }
    const file = path.join(storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', m[1].slice(0, 2), m[1], 'data')
    fs.stat(file).then(stat => {
      const range = /^bytes=(\d+)-$/.exec(seen.range ?? '')
      const start = range != null ? Number(range[1]) : 0
      res.writeHead(range != null ? 206 : 200, {
        'content-type': 'application/octet-stream',
        'content-length': String(stat.size - start),
        ...(range != null ? { 'content-range': `bytes ${start}-${stat.size - 1}/${stat.size}` } : {})
      })
      createReadStream(file, { start }).pipe(res)
    }, () => { res.writeHead(404).end() })
  })
  const port = await listen(server)
  return { url: `https://localhost:${port}`, requests, close: async () => { await closeServer(server) } }
}
