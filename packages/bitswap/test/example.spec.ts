// The README example, compiled and run. Keep the two in step: the README
// imports from '@provenir/bitswap' where this file imports from '../src/index.js'.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { MemoryBlockstore } from 'blockstore-core'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { bitswap } from '../src/index.js'
import type { Bitswap, ProvidersFunction } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'

// --- README example start
async function createNode (blockstore: Blockstore): Promise<Libp2p<{ identify: unknown, bitswap: Bitswap }>> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      bitswap: bitswap({ blockstore })
    }
  })
}

/** Fetches `cids` from whoever `providers` finds; `onBlock` sees each verified block as it lands */
async function fetchAll (node: Libp2p<{ bitswap: Bitswap }>, cids: CID[], providers: ProvidersFunction, onBlock: (cid: CID, bytes: Uint8Array) => void): Promise<void> {
  const session = node.services.bitswap.createSession({ providers })
  try {
    for await (const { cid, bytes } of session.want(cids, {
      signal: AbortSignal.timeout(60_000),
      onProgress: (evt) => {
        if (evt.type === 'bitswap:retry') console.warn(`moved ${evt.detail.cid} off ${evt.detail.peer}: ${evt.detail.reason}`)
      }
    })) {
      // `bytes` hashes to `cid`, and is already in the blockstore
      onBlock(cid, bytes)
    }
  } finally {
    session.close()
  }
}
// --- README example end

describe('README example', () => {
  it('compiles and fetches a block from the peer the providers function names', async () => {
    const data = new TextEncoder().encode('a layer of a container image')
    const cid = CID.createV1(raw.code, await sha256.digest(data))
    const seederStore = new MemoryBlockstore()
    await seederStore.put(cid, data)
    const seeder = await createNode(seederStore)
    const leecher = await createNode(new MemoryBlockstore())
    try {
      // a real providers function would ask the DHT, which also records the addresses
      await leecher.peerStore.merge(seeder.peerId, { multiaddrs: seeder.getMultiaddrs() })
      const fetched: string[] = []
      await fetchAll(leecher, [cid], async function * () { yield seeder.peerId }, (c, bytes) => {
        assert.equal(new TextDecoder().decode(bytes), 'a layer of a container image')
        fetched.push(c.toString())
      })
      assert.deepEqual(fetched, [cid.toString()])
    } finally {
      await seeder.stop()
      await leecher.stop()
    }
  })
})
