/**
 * Real libp2p nodes (TCP, TLS 1.3, yamux, identify, bitswap) with the bulk
 * service and a blockstore on disk, built here rather than by createNode so
 * each test sets every bulk option, the swarm key and the difficulty.
 */

import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer as createTlsServer } from 'node:tls'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { identify } from '@libp2p/identify'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { bitswap, SessionStalledError } from '@provenir/bitswap'
import { FsBlockstore } from '@provenir/content'
import { difficultyGater } from '@provenir/identity'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { parseSwarmKey } from '../../src/swarm-key.js'
import { logger } from '@libp2p/logger'
import { BulkConnection } from '../../src/swarm/bulk/client.js'
import { bulk } from '../../src/swarm/bulk/index.js'
import { bulkCredentials, serverOptions } from '../../src/swarm/bulk/tls.js'
import type { Bulk, BulkBlockstore, BulkInit } from '../../src/swarm/bulk/index.js'
import type { BlockTransport } from '../../src/swarm/transport.js'
import type { VerifiedCertificates } from '../../src/swarm/bulk/tls.js'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { Bitswap } from '@provenir/bitswap'
import type { Blockstore } from 'interface-blockstore'

export type BulkTestNode = Libp2p<{ bitswap: Bitswap, bulk: Bulk, identify: unknown }> & { blockstore: BulkBlockstore, dir: string }

export interface BulkNodeInit {
  /** A store to serve from instead of a fresh FsBlockstore (a rogue's) */
  blockstore?: BulkBlockstore
  bulk?: Partial<BulkInit>
  swarmKey?: Uint8Array
  difficulty?: number
  privateKey?: PrivateKey
  /** No bulk listener (a node that fetches over bulk but does not serve) */
  noListener?: boolean
}

export async function bulkNode (init: BulkNodeInit = {}): Promise<BulkTestNode> {
  const dir = await mkdtemp(join(tmpdir(), 'provenir-bulk-'))
  let blockstore = init.blockstore
  let fs: FsBlockstore | undefined
  if (blockstore == null) {
    fs = new FsBlockstore({ path: dir })
    await fs.open()
    blockstore = fs
  }
  const node = await createLibp2p({
    privateKey: init.privateKey ?? await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [tls()],
    streamMuxers: [yamux()],
    connectionGater: difficultyGater({ difficulty: init.difficulty ?? 0 }),
    connectionProtector: init.swarmKey != null ? preSharedKey({ psk: parseSwarmKey(init.swarmKey) }) : undefined,
    connectionMonitor: { enabled: false },
    // as createNode does with allowPrivateAddresses: a suite opens many loopback connections at once
    connectionManager: { allow: ['/ip4/127.0.0.1'] },
    services: {
      identify: identify(),
      bitswap: bitswap({ blockstore: blockstore as Blockstore }),
      bulk: bulk({
        blockstore,
        ...(init.noListener === true ? {} : { listen: '/ip4/127.0.0.1/tcp/0' }),
        onBadPeer: (peer, reason) => { node.services.bitswap.reportBadBlock(peer, reason) },
        ...init.bulk
      })
    }
  })
  const stop = node.stop.bind(node)
  return Object.assign(node, {
    blockstore,
    dir,
    stop: async () => {
      await stop()
      await fs?.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
}

/** Bitswap behind the transport seam, as the node's `bitswap-transport.ts` adapts it */
export function bitswapFallback (service: Bitswap): BlockTransport {
  const translate = (err: unknown): unknown => err instanceof SessionStalledError ? Object.assign(new Error(err.message), { name: 'BlocksUnavailableError' }) : err
  return {
    name: 'bitswap',
    createSession: (init = {}) => {
      const session = service.createSession(init)
      return {
        async * want (cids, options) {
          try {
            yield * session.want(cids, options)
          } catch (err) {
            throw translate(err)
          }
        },
        addPeer: (peer) => { session.addPeer(peer) },
        peers: () => session.peers(),
        close: () => { session.close() }
      }
    },
    want: async (cid, options) => {
      try {
        return await service.want(cid, options)
      } catch (err) {
        throw translate(err)
      }
    },
    hold: async (cid, options) => {
      try {
        await service.want(cid, options)
      } catch (err) {
        throw translate(err)
      }
    }
  }
}

/** The bulk transport of `node`, falling back to its bitswap */
export function transportOf (node: BulkTestNode): BlockTransport {
  return node.services.bulk.transport(bitswapFallback(node.services.bitswap))
}

export interface TestBlock { cid: CID, bytes: Uint8Array }

/** `count` random raw blocks of `size` bytes, stored in `store` */
export async function storeBlocks (store: BulkBlockstore, count: number, size: number): Promise<TestBlock[]> {
  const out: TestBlock[] = []
  for (let i = 0; i < count; i++) {
    const bytes = randomBytes(size)
    const cid = CID.createV1(raw.code, await sha256.digest(bytes))
    await store.put(cid, bytes)
    out.push({ cid, bytes })
  }
  return out
}

/** A raw block not stored anywhere */
export async function randomBlock (size = 1024): Promise<TestBlock> {
  const bytes = randomBytes(size)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

export async function connect (from: BulkTestNode, to: BulkTestNode): Promise<void> {
  await from.dial(to.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
}

/** Where a test dials a bulk listener: a node's, or any server's as the peer it expects there */
export interface BulkTarget { peer: PeerId, host: string, port: number }

/**
 * A bulk connection of our own to `to`'s listener under `key` (the node of
 * that key must hold a libp2p connection to it)
 */
export async function openBulkConnection (to: BulkTestNode | BulkTarget, key: PrivateKey, options: { stallTimeout?: number, queuedTimeout?: number, verified?: VerifiedCertificates } = {}): Promise<BulkConnection> {
  const target = 'services' in to ? { peer: to.peerId, ...to.services.bulk.address! } : to
  return BulkConnection.open({ ...target, credentials: await bulkCredentials(key), ...(options.verified != null ? { verified: options.verified } : {}), maxBlockSize: 2 << 20, stallTimeout: options.stallTimeout ?? 10_000, queuedTimeout: options.queuedTimeout ?? 60_000, idleTimeout: 10_000, signal: AbortSignal.timeout(10_000), log: logger('test') })
}

/**
 * A TLS server presenting `key`'s libp2p certificate on loopback, which
 * hands each connection to `serve` once the handshake is done: a bulk
 * listener that answers as no provenir node would
 */
export async function rogueBulkServer (key: PrivateKey, serve: (socket: TLSSocket) => void): Promise<BulkTarget & { close(): void }> {
  const server = createTlsServer(serverOptions(await bulkCredentials(key), 5_000), socket => {
    socket.on('error', () => {})
    serve(socket)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { peer: peerIdFromPrivateKey(key), host: '127.0.0.1', port, close: () => { server.close() } }
}

/**
 * `node`'s store reads each block it holds `delay` ms late: the blocks asked
 * first keep a connection busy. Returns the CIDs (as strings) whose reads began.
 */
export function slowReads (node: BulkTestNode, delay: number): Set<string> {
  const store = node.blockstore
  const { get, readInto } = store
  const read = new Set<string>()
  const late = async (cid: CID): Promise<void> => {
    read.add(cid.toString())
    await new Promise(resolve => setTimeout(resolve, delay))
  }
  store.get = (cid, options) => (async function * () { await late(cid); yield * get.call(store, cid, options) })()
  if (readInto != null) store.readInto = async (cid, target, options) => { await late(cid); return readInto.call(store, cid, target, options) }
  return read
}

/** Polls `fn` until it returns true; fails after `timeout` ms */
export async function waitUntil (what: string, fn: () => boolean | Promise<boolean>, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
