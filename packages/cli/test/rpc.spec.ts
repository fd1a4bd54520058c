import assert from 'node:assert/strict'
import { createServer as createHttpServer } from 'node:http'
import { createServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { generateIdentity } from '@provenir/identity'
import { AbortError, isError, TimeoutError } from '@provenir/interface'
import { BlobSizeMismatchError, DigestMismatchError } from '@provenir/content'
import { toErrorResponse } from '@provenir/gateway'
import { ManifestNotFoundError } from '@provenir/node'
import { PolicyViolationError } from '@provenir/trust'
import { Registry } from 'prom-client'
import { createRpcServer, DEFAULT_ROUTES, RpcClient } from '../src/index.js'
import type { RpcRoute, RpcServer } from '../src/index.js'
import type { ComponentLogger, PeerId } from '@libp2p/interface'
import type { ProvenirNode } from '@provenir/node'

/** Only what the routes read of a node */
function stubNode (peerId: PeerId, peers: PeerId[]): ProvenirNode {
  const libp2p = {
    status: 'started',
    getProtocols: () => ['/provenir/kad/1.0.0'],
    getConnections: () => peers.map((p, i) => ({ remotePeer: p, remoteAddr: multiaddr(`/ip4/127.0.0.1/tcp/${4000 + i}/p2p/${p.toString()}`) }))
  }
  return {
    peerId,
    libp2p,
    config: { difficulty: 3 },
    getMultiaddrs: () => [multiaddr(`/ip4/127.0.0.1/tcp/4101/p2p/${peerId.toString()}`)]
  } as unknown as ProvenirNode
}

describe('the RPC server and client', () => {
  let server: RpcServer
  let client: RpcClient
  let peerId: PeerId
  let other: PeerId
  const registry = new Registry()
  let slowAborted: Promise<unknown>
  let markSlowAborted: (reason: unknown) => void

  before(async () => {
    peerId = peerIdFromPrivateKey(await generateIdentity({ difficulty: 0 }))
    other = peerIdFromPrivateKey(await generateIdentity({ difficulty: 0 }))
    slowAborted = new Promise(resolve => { markSlowAborted = resolve })
    const extra: RpcRoute[] = [
      {
        method: 'GET',
        url: '/test/slow',
        timeout: 100,
        async handler ({ signal }) {
          // never answers on its own: only the timeout ends it
          await new Promise(resolve => signal.addEventListener('abort', () => { markSlowAborted(signal.reason); resolve(undefined) }))
          return {}
        }
      },
      {
        method: 'POST',
        url: '/test/echo',
        bodyLimit: 64,
        async handler ({ request }) { return { body: request.body } }
      },
      {
        method: 'GET',
        url: '/test/bad',
        async handler () {
          const { InvalidParametersError } = await import('@provenir/interface')
          throw new InvalidParametersError('that is not a valid thing')
        }
      },
      {
        method: 'GET',
        url: '/test/bug',
        async handler () { throw new Error('secret internal detail') }
      }
    ]
    server = await createRpcServer({ node: stubNode(peerId, [other]), host: '127.0.0.1', port: 0, registry, routes: [...DEFAULT_ROUTES, ...extra] })
    client = new RpcClient({ address: server.address })
  })

  after(async () => { await server?.close() })

  it('binds loopback on the port it was given (0: a free one)', () => {
    assert.equal(server.address.host, '127.0.0.1')
    assert.ok(server.address.port > 0)
  })

  it('GET /healthz', async () => {
    assert.deepEqual(await client.get('/healthz'), { status: 'ok', peerId: peerId.toString() })
  })

  it('GET /api/v0/id', async () => {
    const id = await client.get<any>('/api/v0/id')
    assert.equal(id.peerId, peerId.toString())
    assert.equal(id.swarmDifficulty, 3)
    assert.equal(typeof id.difficulty, 'number')
    assert.deepEqual(id.addresses, [`/ip4/127.0.0.1/tcp/4101/p2p/${peerId.toString()}`])
  })

  it('GET /api/v0/peers', async () => {
    assert.deepEqual(await client.get('/api/v0/peers'), {
      peers: [{ peerId: other.toString(), addrs: [`/ip4/127.0.0.1/tcp/4000/p2p/${other.toString()}`] }]
    })
  })

  it('GET /metrics serves the registry as Prometheus text', async () => {
    const { Counter } = await import('prom-client')
    new Counter({ name: 'provenir_test_total', help: 'a test counter', registers: [registry] }).inc(3)
    const res = await fetch(`${server.url}/metrics`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
    assert.match(await res.text(), /^provenir_test_total 3$/m)
  })

  it('a handler that runs over its timeout: 504 TimeoutError, and its signal is aborted', async () => {
    await assert.rejects(client.get('/test/slow'), (err: Error) => isError(err, 'TimeoutError'))
    await slowAborted
  })

  it('bodies are bounded: 413', async () => {
    const res = await fetch(`${server.url}/test/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x: 'y'.repeat(100) }) })
    assert.equal(res.status, 413)
    assert.deepEqual(await client.post('/test/echo', { body: { x: 1 } }), { body: { x: 1 } })
  })

  it('a named error keeps its name through the client; an unexpected one hides its message', async () => {
    await assert.rejects(client.get('/test/bad'), (err: Error) => err.name === 'InvalidParametersError' && err.message === 'that is not a valid thing')
    const res = await fetch(`${server.url}/test/bug`)
    assert.equal(res.status, 500)
    const body: any = await res.json()
    assert.equal(body.error.name, 'InternalError')
    assert.doesNotMatch(body.error.message, /secret/)
  })

  it('unknown routes: 404 NotFoundError', async () => {
    await assert.rejects(client.get('/api/v0/nope'), (err: Error) => err.name === 'NotFoundError')
  })

  it('refuses a foreign Host header or an Origin header (DNS rebinding, browsers)', async () => {
    const { request } = await import('node:http')
    const status = async (headers: Record<string, string>): Promise<number> => new Promise((resolve, reject) => {
      request({ host: '127.0.0.1', port: server.address.port, path: '/healthz', headers }, res => { res.resume(); resolve(res.statusCode ?? 0) })
        .on('error', reject).end()
    })
    assert.equal(await status({ host: 'attacker.example:80' }), 403)
    assert.equal(await status({ origin: 'http://attacker.example' }), 403)
    assert.equal(await status({ host: `localhost:${server.address.port}` }), 200)
  })

  it('the client throws DaemonNotRunningError when nothing listens', async () => {
    const probe = createServer()
    await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as { port: number }).port
    await new Promise<void>(resolve => probe.close(() => { resolve() }))
    const dead = new RpcClient({ address: { host: '127.0.0.1', port } })
    await assert.rejects(dead.get('/healthz'), (err: Error) => isError(err, 'DaemonNotRunningError'))
  })

  it('the client times out with TimeoutError when the daemon does not answer', async () => {
    // accepts connections but never answers
    const sockets = new Set<import('node:net').Socket>()
    const silent = createServer(socket => { sockets.add(socket) })
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    try {
      const port = (silent.address() as { port: number }).port
      const hung = new RpcClient({ address: { host: '127.0.0.1', port }, timeout: 200 })
      await assert.rejects(hung.get('/healthz'), (err: Error) => isError(err, 'TimeoutError'))
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>(resolve => silent.close(() => { resolve() }))
    }
  })

  it('a daemon that breaks off a streamed answer: DaemonNotRunningError naming the call, after the lines that came', async () => {
    const broken = createHttpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      res.write('{"event":"progress","n":1}\n')
      setTimeout(() => { req.socket.destroy() }, 50)
    })
    await new Promise<void>(resolve => broken.listen(0, '127.0.0.1', resolve))
    try {
      const client = new RpcClient({ address: { host: '127.0.0.1', port: (broken.address() as { port: number }).port }, timeout: 5_000 })
      const lines: unknown[] = []
      await assert.rejects(client.stream('/api/v0/image/pull', { onProgress: line => { lines.push(line) } }),
        (err: Error) => isError(err, 'DaemonNotRunningError') && err.message.includes('broke off its answer to POST /api/v0/image/pull'))
      assert.deepEqual(lines, [{ event: 'progress', n: 1 }])
    } finally {
      await new Promise<void>(resolve => broken.close(() => { resolve() }))
    }
  })
})

describe('one error table for the RPC API and the gateway, and every error logged', () => {
  let server: RpcServer
  const lines: Array<{ level: 'debug' | 'error', args: unknown[] }> = []
  const logger = {
    forComponent: () => Object.assign((...args: unknown[]) => { lines.push({ level: 'debug', args }) }, {
      enabled: true,
      error: (...args: unknown[]) => { lines.push({ level: 'error', args }) },
      trace: () => {},
      newScope: () => { throw new Error('unused') }
    })
  } as unknown as ComponentLogger
  const named: Record<string, new (message: string) => Error> = { DigestMismatchError, BlobSizeMismatchError, AbortError, TimeoutError, ManifestNotFoundError, PolicyViolationError: PolicyViolationError as unknown as new (message: string) => Error }

  before(async () => {
    const peerId = peerIdFromPrivateKey(await generateIdentity({ difficulty: 0 }))
    const routes: RpcRoute[] = [
      ...Object.entries(named).map(([name, Cls]) => ({
        method: 'GET' as const,
        url: `/test/throw/${name}`,
        async handler (): Promise<never> { throw new Cls(`a ${name}`) }
      })),
      { method: 'GET', url: '/test/bug', async handler (): Promise<never> { throw new TypeError('a bug, with a cause', { cause: new Error('the cause') }) } }
    ]
    server = await createRpcServer({ node: stubNode(peerId, []), port: 0, routes, logger })
  })

  after(async () => {
    await server?.close()
  })

  it('each named error gets the same status from both servers (DigestMismatchError 400, AbortError 503, ...)', async () => {
    for (const [name, Cls] of Object.entries(named)) {
      const res = await fetch(`${server.url}/test/throw/${name}`)
      const gateway = toErrorResponse(new Cls('x'))
      assert.equal(res.status, gateway.status, name)
      assert.equal((await res.json() as any).error.name, name)
    }
    assert.equal(toErrorResponse(new DigestMismatchError('x')).status, 400)
    assert.equal(toErrorResponse(new AbortError('x')).status, 503)
  })

  it('every error answer is logged with its cause: a 500 with .error, the rest at debug level', async () => {
    assert.equal((await fetch(`${server.url}/test/bug`)).status, 500)
    const bug = lines.find(l => l.level === 'error' && l.args.includes('/test/bug'))
    assert.ok(bug?.args.some(a => a instanceof TypeError && a.message === 'a bug, with a cause'), 'the 500 is logged with the error')
    assert.ok(lines.some(l => l.level === 'debug' && l.args.includes('/test/throw/ManifestNotFoundError') && l.args.some(a => a instanceof Error)), 'a 404 at debug level, with the error')
  })
})
