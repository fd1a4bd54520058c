import assert from 'node:assert/strict'
import { describe, it, beforeEach, afterEach } from 'node:test'
import { StreamMessageEvent } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { encodeVarint } from '../src/message.js'
import { Network } from '../src/network.js'
import { Message } from '../src/pb/message.js'
import { logger, makePeer } from './fixtures/stubs.js'
import type { NetworkHandlers, NetworkInit } from '../src/network.js'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'

/** Just enough of a Stream for the inbound handler: events in, status out */
class FakeStream extends EventTarget {
  id = 'fake'
  protocol = '/ipfs/bitswap/1.2.0'
  status = 'open'
  readStatus = 'readable'
  abortedWith?: Error
  abort (err: Error): void {
    this.status = 'aborted'
    this.abortedWith = err
  }

  async close (): Promise<void> {}
  pause (): void { this.readStatus = 'paused' }
  resume (): void { this.readStatus = 'readable' }
  deliver (data: Uint8ArrayList): void {
    this.dispatchEvent(new StreamMessageEvent(data))
  }
}

function frames (count: number, bodySize: number): Uint8ArrayList {
  const list = new Uint8ArrayList()
  for (let i = 0; i < count; i++) {
    // a message whose only field is pendingBytes = i, padded with an unknown bytes field to the size wanted
    const pad = new Uint8Array(bodySize)
    const body = new Uint8ArrayList(Message.encode({ pendingBytes: i + 1 }), new Uint8Array([0x32]), encodeVarint(pad.byteLength), pad).subarray()
    list.append(encodeVarint(body.byteLength), body)
  }
  return list
}

const init: NetworkInit = {
  protocols: ['/ipfs/bitswap/1.2.0'],
  maxMessageSize: 1024,
  maxEntriesPerMessage: 16,
  maxInboundStreams: 4,
  maxOutboundStreams: 4,
  inboundStreamIdleTimeout: 10_000,
  maxPeerBufferedBytes: 4096,
  maxBufferedBytes: 64 * 1024,
  maxMessageRate: 5_000,
  outboundStreamIdleTimeout: 10_000,
  openStreamTimeout: 1_000,
  sendTimeout: 1_000,
  runOnLimitedConnection: false
}

describe('network: inbound streams', () => {
  let handler: StreamHandler | undefined
  let network: Network
  let received: number[]
  let errors: Error[]
  let onMessage: NetworkHandlers['onMessage']
  let peer: PeerId


  beforeEach(async () => {
    peer = await makePeer()
    received = []
    errors = []
    onMessage = (_peer, message) => { received.push(message.pendingBytes) }
    network = new Network({
      registrar: {
        handle: async (_protocol, h) => { handler = h },
        unhandle: async () => {},
        register: async () => 'id',
        unregister: () => {}
      },
      connectionManager: {
        openConnection: async () => { throw new Error('unused') },
        openStream: async () => { throw new Error('unused') },
        getConnections: () => []
      },
      logger
    }, init, {
      onMessage: (p, m, s, c) => onMessage(p, m, s, c),
      onPeerConnect: () => {},
      onPeerDisconnect: () => {},
      onInboundStreamError: (_p, err) => { errors.push(err) }
    })
    await network.start()
  })

  afterEach(async () => {
    await network.stop()
  })

  function open (from: PeerId = peer): FakeStream {
    const stream = new FakeStream()
    handler?.(stream as unknown as Stream, { remotePeer: from } as unknown as Connection)
    return stream
  }

  /** A valid message of about `size` bytes, framed, cut in two after `bytes` bytes of its body */
  function split (size: number, bytes: number): [Uint8ArrayList, Uint8ArrayList] {
    const whole = frames(1, size).subarray()
    const at = encodeVarint(whole.byteLength).byteLength + bytes
    return [new Uint8ArrayList(whole.subarray(0, at)), new Uint8ArrayList(whole.subarray(at))]
  }

  it('bounds what one peer\'s streams hold of unfinished messages together, resetting the stream that passes it', () => {
    // each stream holds less than one message (1,024 bytes); the peer's streams together may hold 4,096,
    // counting 128 bytes for each chunk held: 4 x (702 + 128) fit, a fifth does not
    const streams = Array.from({ length: 6 }, () => open())
    const parts = streams.map(() => split(900, 700))
    streams.slice(0, 4).forEach((st, i) => { st.deliver(parts[i][0]) })
    assert.ok(streams.every(st => st.status === 'open'), 'four partial messages fit')
    streams[4].deliver(parts[4][0])
    assert.equal(streams[4].status, 'aborted')
    assert.equal(streams[4].abortedWith?.name, 'PeerBufferLimitError')
    assert.equal(errors[0]?.name, 'PeerBufferLimitError')
    assert.ok(streams.slice(0, 4).every(st => st.status === 'open'), 'the others keep their messages')
    const held = network.budget.heldFor(peer.toString())
    // a finished message releases its bytes: another stream fits again
    streams[0].deliver(parts[0][1])
    assert.equal(received.length, 1)
    assert.ok(network.budget.heldFor(peer.toString()) < held)
    streams[5].deliver(parts[5][0])
    assert.equal(streams[5].status, 'open')
    assert.equal(network.budget.heldFor(peer.toString()), held)
  })

  it('counts the overhead of each chunk held, so one-byte chunks cannot hold more than their share', () => {
    const stream = open()
    stream.deliver(new Uint8ArrayList(encodeVarint(1000)))
    let n = 0
    while (stream.status === 'open' && n < 1000) {
      stream.deliver(new Uint8ArrayList(new Uint8Array(1)))
      n++
    }
    assert.equal(stream.abortedWith?.name, 'PeerBufferLimitError')
    assert.ok(n < 40, `reset after ${n} one-byte chunks (4,096 / 129 bytes each)`)
  })

  it('bounds what all peers hold together, resetting the streams of the peer holding the most, without a penalty', async () => {
    await network.stop()
    let penalties = 0
    network = new Network({
      registrar: { handle: async (_protocol, h) => { handler = h }, unhandle: async () => {}, register: async () => 'id', unregister: () => {} },
      connectionManager: { openConnection: async () => { throw new Error('unused') }, openStream: async () => { throw new Error('unused') }, getConnections: () => [] },
      logger
    }, { ...init, maxBufferedBytes: 5000 }, {
      onMessage: () => {},
      onPeerConnect: () => {},
      onPeerDisconnect: () => {},
      onInboundStreamError: (_p, err) => { errors.push(err); if (err.name !== 'NodeBufferLimitError') penalties++ }
    })
    await network.start()
    const [a, b, c] = await Promise.all([makePeer(), makePeer(), makePeer()])
    const aStreams = [open(a), open(a), open(a)]
    aStreams.forEach(st => { st.deliver(split(900, 800)[0]) })
    const bStream = open(b)
    bStream.deliver(split(900, 800)[0])
    const cStreams = [open(c), open(c)]
    cStreams[0].deliver(split(900, 800)[0])
    assert.ok([...aStreams, bStream, cStreams[0]].every(st => st.status === 'open'), 'five partial messages fit in 5,000 bytes')
    // this takes the node past its bound: a stream of the peer holding the most (a) goes
    cStreams[1].deliver(split(900, 800)[0])
    assert.equal(aStreams.filter(st => st.status === 'aborted').length, 1)
    assert.equal(aStreams.find(st => st.status === 'aborted')?.abortedWith?.name, 'NodeBufferLimitError')
    assert.ok(bStream.status === 'open' && cStreams.every(st => st.status === 'open'), 'the other peers keep theirs')
    assert.ok(network.budget.held <= 5000)
    assert.equal(penalties, 0, 'the node being short of room is no peer\'s fault')
  })

  it('refuses a flood of tiny messages past the peer\'s message rate', async () => {
    const stream = open()
    // 20,000 empty messages in one chunk: 20,000 zero bytes
    stream.deliver(new Uint8ArrayList(new Uint8Array(20_000)))
    assert.equal(stream.status, 'aborted')
    assert.equal(stream.abortedWith?.name, 'MessageRateError')
    // the rate, and what it refilled while they were handled; not the 20,000
    assert.ok(received.length >= 5_000 && received.length < 10_000, `${received.length} handled`)
    // the bucket is per peer, across its streams: two streams of another peer share one
    const other = await makePeer()
    const first = open(other)
    first.deliver(new Uint8ArrayList(new Uint8Array(3_000)))
    assert.equal(first.status, 'open')
    const second = open(other)
    second.deliver(new Uint8ArrayList(new Uint8Array(4_000)))
    assert.equal(second.status, 'aborted')
    assert.equal(second.abortedWith?.name, 'MessageRateError')
  })

  it('processes many frames delivered in one event, however large the event', () => {
    const stream = open()
    // 40 frames of ~1000 bytes in one event: ten times the message limit at once
    stream.deliver(frames(40, 990))
    assert.deepEqual(received, Array.from({ length: 40 }, (_, i) => i + 1))
    assert.equal(stream.status, 'open')
    assert.equal(errors.length, 0)
  })

  it('processes frames split across events', () => {
    const stream = open()
    const all = frames(3, 500).subarray()
    for (let i = 0; i < all.byteLength; i += 100) {
      stream.deliver(new Uint8ArrayList(all.subarray(i, i + 100)))
    }
    assert.deepEqual(received, [1, 2, 3])
  })

  it('keeps frames in order behind an async step, and bounds what waits', async () => {
    const gates: Array<PromiseWithResolvers<void>> = []
    onMessage = (_peer, message) => {
      received.push(message.pendingBytes)
      const gate = Promise.withResolvers<void>()
      gates.push(gate)
      return gate.promise
    }
    const stream = open()
    stream.deliver(frames(3, 900))
    assert.deepEqual(received, [1], 'the rest wait for the first')
    gates[0].resolve()
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(received, [1, 2])
    gates[1].resolve()
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(received, [1, 2, 3])
    assert.equal(stream.status, 'open')

    // while one is pending, more waiting than the peer's buffer budget (4 x the message limit here) resets the stream
    stream.deliver(frames(6, 990))
    assert.equal(stream.status, 'aborted')
    assert.equal(stream.abortedWith?.name, 'PeerBufferLimitError')
    assert.equal(errors[0]?.name, 'PeerBufferLimitError')
    for (const g of gates) g.resolve()
  })

  it('resets the stream when the handler throws, and reports it', () => {
    onMessage = () => { throw Object.assign(new Error('bad'), { name: 'BadBlockError' }) }
    const stream = open()
    stream.deliver(frames(1, 10))
    assert.equal(stream.status, 'aborted')
    assert.equal(errors[0]?.name, 'BadBlockError')
  })
})

describe('network: peers that cannot be dialled', () => {

  it('a failed dial is not repeated by the next send or connect until the backoff ends; a connection clears it', async () => {
    const peer = await makePeer()
    let dials = 0
    let onConnect: ((peer: PeerId) => void) | undefined
    const network = new Network({
      registrar: {
        handle: async () => {},
        unhandle: async () => {},
        register: async (_protocol, topology) => { onConnect = (p) => { topology.onConnect?.(p, {} as unknown as Connection) }; return 'id' },
        unregister: () => {}
      },
      connectionManager: {
        openConnection: async () => { dials++; throw new Error('ECONNREFUSED') },
        openStream: async () => { dials++; throw new Error('ECONNREFUSED') },
        getConnections: () => []
      },
      logger
    }, init, { onMessage: () => {}, onPeerConnect: () => {}, onPeerDisconnect: () => {}, onInboundStreamError: () => {} })
    await network.start()
    try {
      const message = new Uint8ArrayList(new Uint8Array([0]))
      await assert.rejects(network.send(peer, message), { message: 'ECONNREFUSED' })
      assert.equal(dials, 1)
      assert.equal(network.isUnreachable(peer), true)
      await assert.rejects(network.send(peer, message), { name: 'PeerUnreachableError' })
      await assert.rejects(network.connect(peer, AbortSignal.timeout(1_000)), { name: 'PeerUnreachableError' })
      assert.equal(dials, 1, 'no dial while the backoff lasts')
      onConnect?.(peer)
      assert.equal(network.isUnreachable(peer), false, 'a connection from the peer ends its backoff')
      await assert.rejects(network.connect(peer, AbortSignal.timeout(1_000)), { message: 'ECONNREFUSED' })
      assert.equal(dials, 2)
    } finally {
      await network.stop()
    }
  })
})
