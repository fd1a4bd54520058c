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

  function open (): FakeStream {
    const stream = new FakeStream()
    handler?.(stream as unknown as Stream, { remotePeer: peer } as unknown as Connection)
    return stream
  }

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

    // while one is pending, more than 4 x the message limit waiting resets the stream
    stream.deliver(frames(6, 990))
    assert.equal(stream.status, 'aborted')
    assert.equal(stream.abortedWith?.name, 'MessageTooLargeError')
    assert.equal(errors[0]?.name, 'MessageTooLargeError')
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
