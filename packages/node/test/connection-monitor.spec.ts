import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { byteStream } from '@libp2p/utils'
import { createNode } from '../src/index.js'
import type { ProvenirNode } from '../src/index.js'

const PING = '/ipfs/ping/1.0.0'

async function node (init: Partial<Parameters<typeof createNode>[0]> = {}): Promise<ProvenirNode> {
  return createNode({
    privateKey: await generateKeyPair('Ed25519'),
    config: { difficulty: 0, listen: ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true },
    ...init
  })
}

describe('connection monitor', () => {
  it('a connection whose pings take 5.5 s (a saturated uplink) is not aborted', async () => {
    // pings every 6 s instead of every minute (one in flight at a time: libp2p allows one outbound
    // ping stream per connection, and a second aborts the connection); the timeout is createNode's own
    const monitor = await node({ connectionMonitor: { pingInterval: 6_000 } })
    const slow = await node()
    const pings: number[] = []
    try {
      // the peer echoes each ping 5.5 s late (libp2p's floor is 5 s), as a peer whose uplink was full did in the lab
      await slow.libp2p.unhandle(PING)
      await slow.libp2p.handle(PING, (stream) => {
        void (async () => {
          const bytes = byteStream(stream)
          const ping = await bytes.read({ bytes: 32, signal: AbortSignal.timeout(30_000) })
          await sleep(5_500)
          await bytes.write(ping.subarray(), { signal: AbortSignal.timeout(5_000) })
          pings.push(Date.now())
          await stream.close()
        })().catch(() => {})
      }, { maxInboundStreams: 256 })
      const conn = await monitor.libp2p.dial(slow.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
      await sleep(12_000)
      assert.ok(pings.length > 0, 'the monitor pinged, and a ping was answered')
      assert.equal(conn.status, 'open', 'the connection outlived pings slower than libp2p\'s 5 s floor')
      assert.equal(monitor.libp2p.getConnections(slow.peerId).length, 1)
    } finally {
      await Promise.all([monitor.stop(), slow.stop()])
    }
  })
})
