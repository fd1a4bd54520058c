import assert from 'node:assert/strict'
import { describe, it, after } from 'node:test'
import { MemoryBlockstore } from 'blockstore-core'
import { BITSWAP_120, PROVENIR_BITSWAP_120, bitswap } from '../src/index.js'
import { connect, createNode, equalBytes, makeBlocks, putBlocks, waitFor } from './fixtures/nodes.js'
import { logger, makePeer } from './fixtures/stubs.js'
import type { BitswapComponents, BitswapInit } from '../src/index.js'
import type { Counter, Histogram, Metrics } from '@libp2p/interface'

/** Components that are never started: enough to construct the service */
async function components (extra: Partial<BitswapComponents> = {}): Promise<BitswapComponents> {
  const unused = async (): Promise<never> => { throw new Error('not used') }
  return {
    registrar: { handle: unused, unhandle: unused, register: unused, unregister: () => {} },
    connectionManager: { openConnection: unused, openStream: unused, getConnections: () => [] },
    peerId: await makePeer(),
    logger,
    ...extra
  }
}

/** A metrics stub that keeps counter values and histogram observations by name */
function recordingMetrics (): { metrics: Metrics, counters: Map<string, number>, observed: Map<string, number[]>, calculated: Map<string, () => number | Promise<number>> } {
  const counters = new Map<string, number>()
  const observed = new Map<string, number[]>()
  const calculated = new Map<string, () => number | Promise<number>>()
  const metrics = {
    registerCounter: (name: string): Counter => {
      counters.set(name, 0)
      return { increment: (n = 1) => { counters.set(name, (counters.get(name) ?? 0) + n) }, reset: () => { counters.set(name, 0) } }
    },
    registerMetric: (name: string, options?: { calculate?: () => number | Promise<number> }) => {
      if (options?.calculate != null) calculated.set(name, options.calculate)
    },
    registerHistogram: (name: string): Histogram => {
      observed.set(name, [])
      return { observe: (v: number) => { observed.get(name)?.push(v) }, reset: () => {}, timer: () => () => {} }
    }
  } as unknown as Metrics
  return { metrics, counters, observed, calculated }
}

describe('bitswap service', () => {
  const stops: Array<() => Promise<void>> = []
  after(async () => {
    await Promise.all(stops.map(async s => s()))
  })

  it('refuses invalid options at construction with InvalidConfigError', async () => {
    const blockstore = new MemoryBlockstore()
    const c = await components()
    const bad: Array<Partial<BitswapInit>> = [
      { maxMessageSize: 0 },
      { maxMessageSize: 1.5 },
      { maxBlockSize: 4 * 1024 * 1024 },
      { maxWantlistSize: -1 },
      { maxInboundStreams: 0 },
      { sendTimeout: Number.NaN },
      { protocols: [] },
      { protocols: ['no-slash'] },
      { strategy: {} as any },
      { hashers: [{}] as any },
      { runOnLimitedConnection: 'yes' as any },
      { session: { window: 0 } }
    ]
    for (const init of bad) {
      assert.throws(() => bitswap({ blockstore, ...init })(c), { name: 'InvalidConfigError' }, JSON.stringify(init))
    }
    assert.throws(() => bitswap({})(c), { name: 'InvalidConfigError' }, 'a blockstore is required')
    // from the components is fine too
    assert.doesNotThrow(() => bitswap({})({ ...c, blockstore }))
    assert.doesNotThrow(() => bitswap({ blockstore, maxSizeReplaceHasWithBlock: 0, badPeerBackoff: 0 })(c))
  })

  it('refuses to work before it is started', async () => {
    const service = bitswap({ blockstore: new MemoryBlockstore() })(await components())
    assert.throws(() => service.createSession(), { name: 'NotStartedError' })
  })

  it('handles and registers both protocol ids, and unhandles them on stop', async () => {
    const node = await createNode()
    stops.push(async () => node.libp2p.stop())
    const protocols = node.libp2p.getProtocols()
    assert.ok(protocols.includes(BITSWAP_120))
    assert.ok(protocols.includes(PROVENIR_BITSWAP_120))
    await node.bitswap.stop()
    assert.ok(!node.libp2p.getProtocols().includes(BITSWAP_120))
    await node.bitswap.start()
    assert.ok(node.libp2p.getProtocols().includes(BITSWAP_120))
  })

  it('prefers /provenir/bitswap/1.2.0 between provenir nodes', async () => {
    const [block] = await makeBlocks(1, 1000, 71)
    const a = await createNode()
    stops.push(async () => a.libp2p.stop())
    const b = await createNode()
    stops.push(async () => b.libp2p.stop())
    await putBlocks(a.blockstore, [block])
    await connect(b, a)
    assert.ok(equalBytes(await b.bitswap.want(block.cid, { signal: AbortSignal.timeout(10_000) }), block.bytes))
    const protocols = b.libp2p.getConnections(a.peerId).flatMap(c => c.streams.map(s => s.protocol))
    assert.ok(protocols.includes(PROVENIR_BITSWAP_120), `streams: ${protocols.join(', ')}`)
  })

  it('counts blocks, bytes and latency in Prometheus metrics', async () => {
    const blocks = await makeBlocks(5, 10_000, 72)
    const recording = recordingMetrics()
    const provider = await createNode()
    stops.push(async () => provider.libp2p.stop())
    const blockstore = new MemoryBlockstore()
    const { createLibp2p } = await import('libp2p')
    const { tcp } = await import('@libp2p/tcp')
    const { noise } = await import('@chainsafe/libp2p-noise')
    const { yamux } = await import('@chainsafe/libp2p-yamux')
    const { identify } = await import('@libp2p/identify')
    const libp2p = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        // the service reads `metrics` from its components; hand it the recording stub
        bitswap: (c: BitswapComponents) => bitswap({ blockstore })({
          registrar: c.registrar,
          connectionManager: c.connectionManager,
          peerId: c.peerId,
          logger: c.logger,
          metrics: recording.metrics
        })
      }
    })
    stops.push(async () => libp2p.stop())
    await putBlocks(provider.blockstore, blocks)
    await libp2p.dial(provider.libp2p.getMultiaddrs())
    await waitFor(() => libp2p.services.bitswap.peers().length === 1, 'peer')
    const session = libp2p.services.bitswap.createSession({ peers: [provider.peerId] })
    for await (const _ of session.want(blocks.map(b => b.cid), { signal: AbortSignal.timeout(10_000) })) {
      // drain
    }
    assert.equal(recording.counters.get('provenir_bitswap_blocks_received_total'), 5)
    assert.equal(recording.counters.get('provenir_bitswap_data_received_bytes_total'), 50_000)
    assert.equal(recording.counters.get('provenir_bitswap_duplicate_blocks_total'), 0)
    assert.ok((recording.counters.get('provenir_bitswap_messages_received_total') ?? 0) >= 1)
    for (const name of ['provenir_bitswap_blocks_sent_total', 'provenir_bitswap_data_sent_bytes_total', 'provenir_bitswap_bad_blocks_total', 'provenir_bitswap_stream_errors_total', 'provenir_bitswap_wantlist_overflow_total']) {
      assert.ok(recording.counters.has(name), name)
    }
    assert.equal(recording.observed.get('provenir_bitswap_session_latency_seconds')?.length, 5)
    assert.equal(await recording.calculated.get('provenir_bitswap_wantlist_size')?.(), 0)
    assert.equal(await recording.calculated.get('provenir_bitswap_peers')?.(), 1)
  })

  it('serves blocks that arrive after they were asked for, once notified', async () => {
    const [block] = await makeBlocks(1, 5000, 73)
    const a = await createNode()
    stops.push(async () => a.libp2p.stop())
    const b = await createNode()
    stops.push(async () => b.libp2p.stop())
    await connect(b, a)
    const fetched = b.bitswap.want(block.cid, { signal: AbortSignal.timeout(10_000) })
    await waitFor(() => a.bitswap.peerWantlist(b.peerId)?.length === 1, 'a to hold b\'s want')
    await a.blockstore.put(block.cid, block.bytes)
    a.bitswap.notify(block.cid)
    assert.ok(equalBytes(await fetched, block.bytes))
  })

  it('exposes ledgers for every peer it exchanged with', async () => {
    const blocks = await makeBlocks(3, 3000, 74)
    const a = await createNode()
    stops.push(async () => a.libp2p.stop())
    const b = await createNode()
    stops.push(async () => b.libp2p.stop())
    await putBlocks(a.blockstore, blocks)
    await connect(b, a)
    for await (const _ of b.bitswap.createSession({ peers: [a.peerId] }).want(blocks.map(x => x.cid))) {
      // drain
    }
    const theirs = a.bitswap.ledgers().find(l => l.peer.equals(b.peerId))
    const ours = b.bitswap.ledgers().find(l => l.peer.equals(a.peerId))
    assert.equal(theirs?.blocksSent, 3)
    assert.equal(theirs?.bytesSent, 9000)
    assert.equal(ours?.blocksReceived, 3)
    assert.equal(ours?.bytesReceived, 9000)
    assert.equal(theirs?.debtRatio, 9000)
  })
})
