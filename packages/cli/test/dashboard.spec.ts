import assert from 'node:assert/strict'
import { request } from 'node:http'
import { describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { generateIdentity } from '@provenir/identity'
import { Registry } from 'prom-client'
import { DASHBOARD_MAX_SUBSCRIBERS, MAX_TRANSFER_SOURCES } from '../src/constants.js'
import { apiRefusal } from '../src/dashboard-server.js'
import { createRpcServer } from '../src/index.js'
import { TransferTracker } from '../src/transfers.js'
import type { PeerId } from '@libp2p/interface'
import type { ProvenirNode } from '@provenir/node'
import type { IncomingMessage } from 'node:http'

/** Only what the dashboard routes read of a node */
function stubNode (peerId: PeerId, peer: PeerId): ProvenirNode {
  const ledger = { peer, bytesSent: 10, bytesReceived: 2048 }
  const libp2p = {
    status: 'started',
    getProtocols: () => [],
    getConnections: () => [{ remotePeer: peer, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/4001'), direction: 'outbound', timeline: { open: Date.now() - 5_000 }, rtt: 3.4 }],
    services: { bitswap: { ledgers: () => [ledger], ledger: () => ledger } }
  }
  return { peerId, libp2p, config: { difficulty: 0 }, getMultiaddrs: () => [] } as unknown as ProvenirNode
}

/** Open the event stream; resolves with the response once its headers are in */
async function openEvents (url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => { request(`${url}/api/v0/events`, resolve).on('error', reject).end() })
}

/** The stream's text until `until` matches it; the stream stays open */
async function readUntil (res: IncomingMessage, until: RegExp): Promise<string> {
  res.setEncoding('utf8')
  return new Promise((resolve, reject) => {
    let text = ''
    const onData = (chunk: string): void => {
      text += chunk
      if (!until.test(text)) return
      res.off('data', onData)
      res.off('end', onEnd)
      // keep reading (and dropping) the ticks, so the server never waits on this client
      res.resume()
      resolve(text)
    }
    const onEnd = (): void => { reject(new Error(`the stream ended before ${String(until)}: ${text}`)) }
    res.on('data', onData)
    res.once('end', onEnd)
  })
}

/** Resolves once the response stream is closed (at once when it is already) */
async function waitClosed (res: IncomingMessage): Promise<void> {
  if (res.closed || res.destroyed) return
  await new Promise(resolve => { res.once('close', resolve); res.resume() })
}

describe('the dashboard on the RPC server', () => {
  it('the API guard admits the page\'s own origin and nothing else', () => {
    const port = 5101
    const host = `127.0.0.1:${port}`
    assert.equal(apiRefusal({ host }, port, false), undefined)
    assert.equal(apiRefusal({ host, origin: `http://${host}` }, port, false), undefined)
    assert.equal(apiRefusal({ host, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' }, port, false), undefined)
    // another port, another scheme, a cross-site fetch, a rebound name
    assert.match(apiRefusal({ host, origin: 'http://127.0.0.1:8080' }, port, false) ?? '', /Origin/)
    assert.match(apiRefusal({ host, origin: `https://${host}` }, port, false) ?? '', /Origin/)
    assert.match(apiRefusal({ host, origin: `http://${host}`, 'sec-fetch-site': 'cross-site' }, port, false) ?? '', /Origin/)
    assert.match(apiRefusal({ host: 'evil.example', origin: 'http://evil.example' }, port, false) ?? '', /Host/)
    assert.equal(apiRefusal({ host, origin: `https://${host}` }, port, true), undefined)
  })

  it('a transfer counts bytes by source, learns its total, and bounds its sources', () => {
    const tracker = new TransferTracker()
    const t = tracker.start('sha256:' + 'a'.repeat(64), 'acme/app:1')
    t.observe({ type: 'pull:ready', detail: { manifest: { size: 100 }, blobs: [{ size: 400 }, { size: 500 }] } })
    t.observe({ type: 'bulk:block', detail: { peer: 'peerA', bytes: 300, local: false } })
    t.observe({ type: 'bitswap:block', detail: { peer: 'peerB', bytes: 200, local: false } })
    t.observe({ type: 'bitswap:block', detail: { bytes: 50, local: true } })
    t.observe({ type: 'bitswap:want', detail: {} })
    let [info] = tracker.list()
    assert.equal(info.state, 'running')
    assert.equal(info.total, 1000)
    assert.equal(info.bytes, 550)
    assert.deepEqual(info.sources, [{ source: 'peerA', bytes: 300 }, { source: 'peerB', bytes: 200 }, { source: 'local', bytes: 50 }])
    assert.equal(tracker.bulkBytesIn, 300)
    assert.deepEqual([...tracker.bulkByPeer], [['peerA', 300]])
    for (let i = 0; i < MAX_TRANSFER_SOURCES + 5; i++) t.observe({ type: 'bitswap:block', detail: { peer: `p${i}`, bytes: 1, local: false } })
    info = tracker.list()[0]
    assert.equal(info.sources.length, MAX_TRANSFER_SOURCES + 1)
    assert.ok(info.sources.some(s => s.source === 'other'))
    t.finish(Object.assign(new Error('no provider'), { name: 'NoHonestProviderError' }))
    info = tracker.list()[0]
    assert.equal(info.state, 'failed')
    assert.deepEqual(info.error, { name: 'NoHonestProviderError', message: 'no provider' })
  })

  it('serves the page with its CSP, the status and peer routes, and a bounded event stream that ends when the server stops', async () => {
    const peerId = peerIdFromPrivateKey(await generateIdentity({ difficulty: 0 }))
    const other = peerIdFromPrivateKey(await generateIdentity({ difficulty: 0 }))
    const server = await createRpcServer({ node: stubNode(peerId, other), host: '127.0.0.1', port: 0, registry: new Registry(), privateSwarm: true })
    const streams: IncomingMessage[] = []
    try {
      const page = await fetch(`${server.url}/`)
      assert.equal(page.status, 200)
      assert.match(page.headers.get('content-type') ?? '', /text\/html/)
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'.*connect-src 'self'/)
      assert.match(await page.text(), /<script type="module" src="\/app\.js">/)
      assert.equal((await fetch(`${server.url}/app.js`)).status, 200)

      const status: any = await (await fetch(`${server.url}/api/v0/node/status`)).json()
      assert.equal(status.peerId, peerId.toString())
      assert.equal(status.privateSwarm, true)
      assert.equal(status.trustPolicy, false)
      const peers: any = await (await fetch(`${server.url}/api/v0/peers/detail`)).json()
      assert.equal(peers.peers.length, 1)
      assert.equal(peers.peers[0].peerId, other.toString())
      assert.equal(peers.peers[0].direction, 'outbound')
      assert.equal(peers.peers[0].latencyMs, 3)
      assert.equal(peers.peers[0].bytesReceived, 2048)
      assert.equal(peers.peers[0].passedDifficulty, true)

      const first = await openEvents(server.url)
      streams.push(first)
      assert.equal(first.headers['content-type'], 'text/event-stream')
      const text = await readUntil(first, /event: tick\n/)
      assert.match(text, /event: history\ndata: \{"samples":\[\]\}/)
      assert.match(text, /"bytesIn":2048,"bytesOut":10/)
      for (let i = 1; i < DASHBOARD_MAX_SUBSCRIBERS; i++) {
        const stream = await openEvents(server.url)
        streams.push(stream)
        // each is subscribed (it had its first tick) before the next opens
        await readUntil(stream, /event: tick\n/)
      }
      // one more than the bound is told so and closed
      const extra = await openEvents(server.url)
      assert.match(await readUntil(extra, /event: full/), /TooManySubscribersError/)

      // the open streams end when the server stops, and close() does not wait on them
      const ended = streams.map(waitClosed)
      await server.close()
      await Promise.all(ended)
    } finally {
      for (const s of streams) s.destroy()
      await server.close()
    }
  })
})
