import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { logger } from '@libp2p/logger'
import { generateIdentity, nodeIdDifficulty } from '@provenir/identity'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateSwarmKey } from '../../src/swarm-key.js'
import { BulkConnection } from '../../src/swarm/bulk/client.js'
import { BULK_ALPN, MAX_EARLY_BYTES, MAX_QUEUED_REQUESTS } from '../../src/swarm/bulk/constants.js'
import { encodeFrame, Frame } from '../../src/swarm/bulk/frames.js'
import { bulkCredentials, clientOptions, VerifiedCertificates } from '../../src/swarm/bulk/tls.js'
import { bulkNode, connect, openBulkConnection, rogueBulkServer, storeBlocks, waitUntil } from './helpers.js'
import type { BulkTestNode, TestBlock } from './helpers.js'
import type { PrivateKey } from '@libp2p/interface'

interface Exchange {
  /** application bytes the server sent after the handshake */
  received: number
  /** the TLS handshake completed */
  secure: boolean
}

/**
 * Connects to a bulk listener at the TLS level, as `key`'s node (no
 * certificate without one), writes `send` once the handshake is done, and
 * counts every byte the server sends until it closes the connection.
 */
async function exchange (address: { host: string, port: number }, key: PrivateKey | undefined, send: Uint8Array): Promise<Exchange> {
  const credentials = key != null ? await bulkCredentials(key) : undefined
  const options = credentials != null ? clientOptions(credentials) : { ALPNProtocols: [BULK_ALPN], rejectUnauthorized: false, minVersion: 'TLSv1.3' as const, checkServerIdentity: () => undefined }
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ ...address, ...options })
    const result: Exchange = { received: 0, secure: false }
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('the server neither closed nor answered within 20 s')) }, 20_000)
    socket.on('secureConnect', () => {
      result.secure = true
      socket.write(send)
    })
    socket.on('data', (chunk: Buffer) => { result.received += chunk.byteLength })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(result)
    })
  })
}

function wantFrames (blocks: TestBlock[]): Uint8Array {
  return Buffer.concat(blocks.map((b, i) => encodeFrame({ type: Frame.Type.WANT, id: i + 1, cid: b.cid.bytes })))
}

describe('bulk channel: authentication and admission', () => {
  const swarmKey = generateSwarmKey()
  let aKey: PrivateKey
  let a: BulkTestNode
  let member: BulkTestNode
  let memberKey: PrivateKey
  let blocks: TestBlock[]

  before(async () => {
    // a private swarm of difficulty 8: A and a member hold the key and qualify
    aKey = await generateIdentity({ difficulty: 8, workers: 1 })
    memberKey = await generateIdentity({ difficulty: 8, workers: 1 })
    // a short idle timeout ends each raw exchange soon after the server's last answer
    a = await bulkNode({ privateKey: aKey, swarmKey, difficulty: 8, bulk: { idleTimeout: 1_000 } })
    member = await bulkNode({ privateKey: memberKey, swarmKey, difficulty: 8 })
    blocks = await storeBlocks(a.blockstore, 2, 100_000)
    await connect(member, a)
  })

  after(async () => {
    await Promise.all([a, member].map(async n => n?.stop()))
  })

  it('a member of the swarm is admitted and served (the control for the refusals below)', async () => {
    const result = await exchange(a.services.bulk.address!, memberKey, Buffer.concat([wantFrames(blocks), encodeFrame({ type: Frame.Type.CANCEL, id: 99 })]))
    // READY, then both blocks; the server keeps the connection until idle, so
    // this exchange ends by the idle timeout or the test's own close
    assert.ok(result.received > 200_000, `received ${result.received} bytes`)
  })

  it('a node without the swarm key gets no byte after the handshake, though it proves its identity', async () => {
    const outsiderKey = await generateIdentity({ difficulty: 8, workers: 1 })
    const outsider = await bulkNode({ privateKey: outsiderKey, swarmKey: generateSwarmKey(), difficulty: 8 })
    try {
      await assert.rejects(outsider.dial(a.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) }))
      assert.equal(a.getConnections(outsider.peerId).length, 0)
      const result = await exchange(a.services.bulk.address!, outsiderKey, wantFrames(blocks))
      assert.equal(result.secure, true)
      assert.equal(result.received, 0)
    } finally {
      await outsider.stop()
    }
  })

  it('a node below the difficulty gets no byte after the handshake', async () => {
    let weakKey = await generateKeyPair('Ed25519')
    while (nodeIdDifficulty(peerIdFromPrivateKey(weakKey)) >= 8) weakKey = await generateKeyPair('Ed25519')
    const weak = await bulkNode({ privateKey: weakKey, swarmKey, difficulty: 0 })
    try {
      // A's gater refuses it once the handshake has shown its PeerId (its
      // own side may see the dial complete before A closes it)
      await weak.dial(a.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) }).catch(() => {})
      await waitUntil('the weak node to hold no connection to A', () => weak.getConnections(a.peerId).length === 0)
      assert.equal(a.getConnections(weak.peerId).length, 0)
      const result = await exchange(a.services.bulk.address!, weakKey, wantFrames(blocks))
      assert.equal(result.received, 0)
    } finally {
      await weak.stop()
    }
  })

  it('a client with no certificate gets no byte', async () => {
    const result = await exchange(a.services.bulk.address!, undefined, wantFrames(blocks))
    assert.equal(result.received, 0)
  })

  it('a client whose libp2p connection ended is refused from then on', async () => {
    const key = await generateIdentity({ difficulty: 8, workers: 1 })
    const leaving = await bulkNode({ privateKey: key, swarmKey, difficulty: 8 })
    try {
      await connect(leaving, a)
      await leaving.hangUp(a.peerId)
      await a.hangUp(leaving.peerId)
      assert.equal(a.getConnections(leaving.peerId).length, 0)
      assert.equal((await exchange(a.services.bulk.address!, key, wantFrames(blocks))).received, 0)
    } finally {
      await leaving.stop()
    }
  })

  it('a client checks the server\'s certificate against the peer it meant to reach', async () => {
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const atA = a.services.bulk.address!
    await assert.rejects(openBulkConnection({ peer: other, ...atA }, memberKey), { name: 'BulkAuthenticationError' })
    // once A's certificate is known (checked and remembered by its bytes), it still proves only A
    const verified = new VerifiedCertificates()
    const good = await openBulkConnection(a, memberKey, { verified })
    good.close()
    await assert.rejects(openBulkConnection({ peer: other, ...atA }, memberKey, { verified }), { name: 'BulkAuthenticationError' })
    const again = await openBulkConnection(a, memberKey, { verified })
    again.close()
  })

  it('a server that floods a client in place of its READY fails the connection (held at most MAX_EARLY_BYTES before the identity check, refused by the frame reader after it)', async () => {
    // a server with a valid libp2p certificate that floods as soon as the handshake is done
    const flood = Buffer.alloc(4 * MAX_EARLY_BYTES, 0x80)
    const server = await rogueBulkServer(await generateKeyPair('Ed25519'), socket => { socket.end(flood) })
    try {
      // which of the two refuses depends on whether the flood is read before the check ends
      await assert.rejects(openBulkConnection(server, memberKey), { name: 'BulkProtocolError', message: new RegExp(`over ${MAX_EARLY_BYTES} bytes before its identity was checked|frame header length prefix over 3 bytes`) })
    } finally {
      server.close()
    }
  })

  it('a server holds at most connectionsPerPeer connections of one peer', async () => {
    const key = await generateIdentity({ difficulty: 8, workers: 1 })
    const client = await bulkNode({ privateKey: key, swarmKey, difficulty: 8 })
    const credentials = await bulkCredentials(key)
    const open: BulkConnection[] = []
    try {
      await connect(client, a)
      for (let i = 0; i < 2; i++) {
        open.push(await BulkConnection.open({ peer: a.peerId, ...a.services.bulk.address!, credentials, maxBlockSize: 2 << 20, stallTimeout: 5_000, queuedTimeout: 60_000, idleTimeout: 60_000, signal: AbortSignal.timeout(10_000), log: logger('test') }))
      }
      await assert.rejects(BulkConnection.open({ peer: a.peerId, ...a.services.bulk.address!, credentials, maxBlockSize: 2 << 20, stallTimeout: 5_000, queuedTimeout: 60_000, idleTimeout: 60_000, signal: AbortSignal.timeout(10_000), log: logger('test') }), { name: 'BulkRefusedError' })
      assert.equal(a.services.bulk.connections(client.peerId).inbound, 2)
    } finally {
      for (const c of open) c.close()
      await client.stop()
    }
  })

  it('a client that queues more wants than the bound is disconnected', async () => {
    const flood = Buffer.concat(Array.from({ length: MAX_QUEUED_REQUESTS + 1 }, (_, i) => encodeFrame({ type: Frame.Type.WANT, id: i + 1, cid: blocks[0].cid.bytes })))
    const result = await exchange(a.services.bulk.address!, memberKey, flood)
    // the flood arrives in one TLS record, parsed before any block was read:
    // READY and nothing more
    assert.ok(result.received < 1000, `received ${result.received} bytes`)
    assert.equal(a.services.bulk.connections(member.peerId).inbound, 0)
  })

  it('a client that sends more CANCELs than WANTs is disconnected at once; a CANCEL for each want is no fault', async () => {
    const want = encodeFrame({ type: Frame.Type.WANT, id: 1, cid: blocks[0].cid.bytes })
    const cancel = (id: number): Uint8Array => encodeFrame({ type: Frame.Type.CANCEL, id })
    const timed = async (send: Uint8Array): Promise<Exchange & { ms: number }> => {
      const started = performance.now()
      const result = await exchange(a.services.bulk.address!, memberKey, send)
      return { ...result, ms: performance.now() - started }
    }
    // frames that ask nothing, each a header to read: the fuzz test's 3.7 MB of them took 60-120 ms of CPU
    const flood = await timed(Buffer.concat([want, cancel(1), ...Array.from({ length: 1_000 }, (_, i) => cancel(i + 2))]))
    assert.ok(flood.received < 1000, `received ${flood.received} bytes: READY and nothing more`)
    assert.ok(flood.ms < 900, `closed after ${flood.ms.toFixed(0)} ms, not at once`)
    // the control: one want cancelled stays open until the idle timeout (1 s)
    const fair = await timed(Buffer.concat([want, cancel(1)]))
    assert.ok(fair.ms >= 950, `closed after ${fair.ms.toFixed(0)} ms, before the idle timeout`)
  })
})
