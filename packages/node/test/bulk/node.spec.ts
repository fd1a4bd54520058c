import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import all from 'it-all'
import { createNode, validateConfig } from '../../src/index.js'
import { derivedBulkListen } from '../../src/swarm/bulk-config.js'
import { bitswapFallback, storeBlocks } from './helpers.js'
import type { NodeConfig, ProvenirNode } from '../../src/index.js'
import type { Server } from 'node:net'

async function node (dir: string, config: Partial<NodeConfig> = {}): Promise<ProvenirNode> {
  return createNode({
    privateKey: await generateKeyPair('Ed25519'),
    blockstorePath: dir,
    config: { difficulty: 0, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true, ...config }
  })
}

async function listening (port: number): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => { resolve() })
  })
  return server
}

/**
 * A free port whose next port is held by a listener here. Other suites take
 * ports meanwhile, so the next port may be in use already: then another pair
 * is tried.
 */
async function adjacentPorts (): Promise<{ port: number, taken: Server }> {
  for (let attempt = 1; ; attempt++) {
    const probe = await listening(0)
    const port = (probe.address() as { port: number }).port
    await new Promise(resolve => probe.close(resolve))
    try {
      return { port, taken: await listening(port + 1) }
    } catch (err: any) {
      if (err?.code !== 'EADDRINUSE' || attempt >= 20) throw err
    }
  }
}

describe('bulk channel: config', () => {
  it('is on by default, its listener derived from the first TCP listen address', () => {
    const config = validateConfig({})
    assert.deepEqual(config.bulk, { enabled: true, announce: [], connectionsPerPeer: 2, sendSlots: 2 })
    assert.equal(derivedBulkListen(['/ip4/0.0.0.0/tcp/4101']), '/ip4/0.0.0.0/tcp/4102')
    assert.equal(derivedBulkListen(['/ip4/127.0.0.1/tcp/0']), '/ip4/127.0.0.1/tcp/0')
    assert.equal(derivedBulkListen(['/memory/a', '/ip6/::1/tcp/9000']), '/ip6/::1/tcp/9001')
    assert.equal(derivedBulkListen(['/memory/a']), undefined)
  })

  it('refuses what it cannot use, naming the field', () => {
    for (const [bulk, field] of [
      [{ listen: '/ip4/127.0.0.1/udp/4102' }, 'bulk.listen'],
      [{ listen: '/dns4/example.com/tcp/4102' }, 'bulk.listen'],
      [{ listen: 4102 }, 'bulk.listen'],
      [{ announce: ['/ip4/1.2.3.4/tcp/1/p2p/x'] }, 'bulk.announce'],
      [{ connectionsPerPeer: 0 }, 'bulk.connectionsPerPeer'],
      [{ connectionsPerPeer: 9 }, 'bulk.connectionsPerPeer'],
      [{ sendSlots: 0 }, 'bulk.sendSlots'],
      [{ sendSlots: 65 }, 'bulk.sendSlots'],
      [{ enabled: 'yes' }, 'bulk.enabled'],
      [{ port: 1 }, 'bulk.port']
    ] as const) {
      assert.throws(() => validateConfig({ bulk }, 'cfg.json'), (err: Error) => err.name === 'InvalidConfigError' && err.message.includes(`"${field}`), JSON.stringify(bulk))
    }
  })
})

describe('bulk channel: in createNode', () => {
  let dir: string
  let a: ProvenirNode
  let b: ProvenirNode

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenir-bulk-node-'))
    a = await node(join(dir, 'a'))
    b = await node(join(dir, 'b'))
  })

  after(async () => {
    await Promise.all([a, b].map(async n => n?.stop()))
    await rm(dir, { recursive: true, force: true })
  })

  it('every node with a blockstore serves it, and two nodes trade blocks over it', async () => {
    const address = a.libp2p.services.bulk?.address
    assert.ok(address != null && address.port > 0 && address.host === '127.0.0.1')
    const blocks = await storeBlocks(a.blockstore!, 6, 300_000)
    await b.libp2p.dial(a.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    const bulk = b.libp2p.services.bulk!
    const session = bulk.transport(bitswapFallback(b.libp2p.services.bitswap)).createSession({ peers: [a.peerId] })
    const got = await all(session.want(blocks.map(x => x.cid), { signal: AbortSignal.timeout(30_000) }))
    session.close()
    assert.equal(got.length, blocks.length)
    assert.ok(got.every(x => x.from?.equals(a.peerId)))
    assert.ok(bulk.connections(a.peerId).outbound >= 1)
    for (const x of blocks) assert.ok(await b.blockstore!.has(x.cid))
  })

  it('a node with bulk.enabled false has no bulk channel', async () => {
    const off = await node(join(dir, 'off'), { bulk: { enabled: false, announce: [], connectionsPerPeer: 2, sendSlots: 2 } })
    try {
      assert.equal(off.libp2p.services.bulk, undefined)
      assert.ok(!off.libp2p.getProtocols().includes('/provenir/bulk/1.0.0'))
    } finally {
      await off.stop()
    }
  })

  it('a derived port that is taken falls back to one the OS picks; a configured one that is taken fails the start', async () => {
    const { port, taken } = await adjacentPorts()
    try {
      const derived = await node(join(dir, 'derived'), { listen: [`/ip4/127.0.0.1/tcp/${port}`] })
      try {
        const bound = derived.libp2p.services.bulk?.address?.port
        assert.ok(bound != null && bound > 0 && bound !== port + 1)
      } finally {
        await derived.stop()
      }
      await assert.rejects(node(join(dir, 'configured'), { bulk: { enabled: true, listen: `/ip4/127.0.0.1/tcp/${port + 1}`, announce: [], connectionsPerPeer: 2, sendSlots: 2 } }), { code: 'EADDRINUSE' })
    } finally {
      taken.close()
    }
  })
})
