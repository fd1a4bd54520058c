/**
 * provenir's private-network protector (pnet.ts) against the reference:
 * the same keystream as the `xsalsa20` package @libp2p/pnet uses, and real
 * connections to stock @libp2p/pnet, dialled both ways, carrying data both
 * ways.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { preSharedKey as stockPreSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { byteStream } from '@libp2p/utils'
import { createLibp2p } from 'libp2p'
import xsalsa20 from 'xsalsa20'
import { generateSwarmKey } from '../src/index.js'
import { PNET_MAX_BLOCKS, XSalsa20Stream, preSharedKey, swarmKeyBytes } from '../src/pnet.js'
import type { ConnectionProtector, Libp2p } from '@libp2p/interface'

const ECHO = '/provenir-test/echo/1.0.0'

async function nodeWith (protector: (components: any) => ConnectionProtector): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: protector
  })
  await node.handle(ECHO, (stream) => {
    stream.addEventListener('message', (evt) => { stream.send(evt.data) })
    stream.addEventListener('remoteCloseWrite', () => { void stream.close().catch(() => {}) })
  })
  return node
}

/** Sends `size` random bytes to `to` over the echo protocol and checks they come back unchanged */
async function echo (from: Libp2p, to: Libp2p, size: number): Promise<void> {
  const stream = await from.dialProtocol(to.getMultiaddrs(), ECHO, { signal: AbortSignal.timeout(20_000) })
  const bytes = byteStream(stream, { maxBufferSize: size + 1 })
  const data = randomBytes(size)
  const [back] = await Promise.all([
    bytes.read({ bytes: size, signal: AbortSignal.timeout(30_000) }),
    (async () => {
      for (let i = 0; i < size; i += 100_000) await bytes.write(data.subarray(i, i + 100_000), { signal: AbortSignal.timeout(30_000) })
    })()
  ])
  assert.ok(Buffer.from(back.subarray()).equals(data), `${size} bytes came back unchanged`)
  await stream.close()
}

describe('the private-network protector', () => {
  it('produces the keystream of the xsalsa20 package, whatever the chunk sizes', () => {
    const key = randomBytes(32)
    const nonce = randomBytes(24)
    const data = randomBytes(300_000)
    const reference = xsalsa20(nonce, key).update(data)
    const ours = new XSalsa20Stream(key, nonce)
    const out: Uint8Array[] = []
    // chunk sizes that start and end inside blocks, and chunks of one byte
    const sizes = [1, 63, 64, 65, 7, 1000, 1, 1, 4096, 65536, 3, 128, 100_000]
    let at = 0
    for (let i = 0; at < data.byteLength; i++) {
      const n = Math.min(sizes[i % sizes.length], data.byteLength - at)
      out.push(ours.update(data.subarray(at, at + n)))
      at += n
    }
    assert.ok(Buffer.concat(out).equals(Buffer.from(reference)))
  })

  it('refuses to go past the keystream a direction may use, with a named error', () => {
    const stream = new XSalsa20Stream(randomBytes(32), randomBytes(24))
    ;(stream as unknown as { position: number }).position = PNET_MAX_BLOCKS * 64 - 10
    assert.throws(() => stream.update(new Uint8Array(100)), { name: 'PnetKeystreamExhaustedError' })
  })

  it('reads the 32-byte key out of a swarm.key', () => {
    const file = generateSwarmKey()
    const hex = new TextDecoder().decode(file).trim().split('\n')[2]
    assert.equal(Buffer.from(swarmKeyBytes(file)).toString('hex'), hex)
  })

  describe('against stock @libp2p/pnet', () => {
    const key = generateSwarmKey()
    let ours: Libp2p
    let stock: Libp2p
    let stranger: Libp2p

    before(async () => {
      ours = await nodeWith(preSharedKey({ psk: key }))
      stock = await nodeWith(stockPreSharedKey({ psk: key }))
      stranger = await nodeWith(preSharedKey({ psk: generateSwarmKey() }))
    })

    after(async () => {
      await Promise.all([ours?.stop(), stock?.stop(), stranger?.stop()])
    })

    it('connects when ours dials, and carries 2 MB both ways', async () => {
      await echo(ours, stock, 2_000_000)
    })

    it('connects when stock dials, and carries 2 MB both ways', async () => {
      await ours.hangUp(stock.peerId)
      await stock.hangUp(ours.peerId)
      await echo(stock, ours, 2_000_000)
    })

    it('a node with another key reaches neither', async () => {
      await assert.rejects(stranger.dial(ours.getMultiaddrs(), { signal: AbortSignal.timeout(5_000) }))
      await assert.rejects(stranger.dial(stock.getMultiaddrs(), { signal: AbortSignal.timeout(5_000) }))
      await assert.rejects(stock.dial(stranger.getMultiaddrs(), { signal: AbortSignal.timeout(5_000) }))
    })
  })
})
