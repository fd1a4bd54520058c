// The two ends of one bulk-channel transfer for transport.mjs, each in its own process:
//
//   node bulk-transfer.mjs prepare <oci layout> <store dir>   -> the layout's blobs as 1 MiB raw
//                                                                blocks in an FsBlockstore, their
//                                                                CIDs in <store dir>/cids.json
//   node bulk-transfer.mjs server <store dir> [conns] [store|memory]
//                                                             -> a node (TCP, TLS, yamux, bitswap,
//                                                                bulk) serving that store, each
//                                                                block read (and checked) once
//                                                                before; or serving its blocks
//                                                                from memory
//   node bulk-transfer.mjs client <mode> <server multiaddr> <store dir> [window] [connections per peer]
//        mode bulk:       fetches every block over the bulk channel (each hashed against its CID
//                         as it arrives), and drops it
//        mode bulk-store: the same, each block stored in an FsBlockstore of its own (as a pull does)
//
// The client first fetches 4 blocks (setting the channel up: the peer's bulk address, the
// connections, both certificates checked), then reports the seconds for the rest (from its first
// want to its last block), its bytes, and the client's CPU seconds over that time; and the
// set-up's seconds apart. Both run the daemon's V8 flags.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { FsBlockstore } from '@provenir/content'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { bulkNode, transportOf } from '../../packages/node/dist/test/bulk/helpers.js'

const MIB = 1024 * 1024
const [, , role, ...args] = process.argv

if (role === 'prepare') {
  const [layout, dir] = args
  const store = new FsBlockstore({ path: dir })
  await store.open()
  const cids = []
  const blobs = path.join(layout, 'blobs', 'sha256')
  for (const name of fs.readdirSync(blobs).sort()) {
    const bytes = fs.readFileSync(path.join(blobs, name))
    for (let off = 0; off < bytes.byteLength; off += MIB) {
      const block = bytes.subarray(off, Math.min(off + MIB, bytes.byteLength))
      const cid = CID.createV1(raw.code, await sha256.digest(block))
      await store.put(cid, block, { verify: false })
      cids.push(cid.toString())
    }
  }
  await store.close()
  fs.writeFileSync(path.join(dir, 'cids.json'), JSON.stringify(cids))
  process.send?.({ blocks: cids.length })
} else if (role === 'server') {
  const [dir, connectionsArg, from] = args
  const store = new FsBlockstore({ path: dir })
  await store.open()
  // each block read once, checked against its CID: as in a daemon that imported or pulled
  // them, the store then knows the files unchanged since and does not hash them again when
  // it serves them (and they are in the page cache)
  const cids = JSON.parse(fs.readFileSync(path.join(dir, 'cids.json'), 'utf8'))
  const memory = new Map()
  for (const s of cids) {
    const bytes = await store.readInto(CID.parse(s), new Uint8Array(MIB), { verify: true })
    if (from === 'memory') memory.set(s, bytes)
  }
  // from memory: the channel alone, as the TLS rows send from memory (no file read per block)
  const served = from !== 'memory'
    ? store
    : {
        has: async (cid) => memory.has(cid.toString()),
        get: async function * (cid) { yield memory.get(cid.toString()) },
        put: async (cid) => cid,
        readInto: async (cid, target) => {
          const bytes = memory.get(cid.toString())
          target.set(bytes)
          return target.subarray(0, bytes.byteLength)
        }
      }
  const node = await bulkNode({ blockstore: served, bulk: { connectionsPerPeer: Number(connectionsArg ?? 2) } })
  const cpu0 = process.cpuUsage()
  process.send({ addr: node.getMultiaddrs()[0].toString(), bulk: node.services.bulk.address })
  process.on('message', async () => {
    // the server's CPU from ready to the end of the transfer
    const cpu = process.cpuUsage(cpu0)
    process.send({ cpu: (cpu.user + cpu.system) / 1e6 })
    await node.stop()
    await store.close()
    process.exit(0)
  })
} else if (role === 'client') {
  const [mode, addr, dir, windowArg, connectionsArg] = args
  const cids = JSON.parse(fs.readFileSync(path.join(dir, 'cids.json'), 'utf8')).map(s => CID.parse(s))
  // bulk: a store that keeps nothing (the channel alone); bulk-store: a real one on disk
  const discard = { has: async () => false, get: async function * () { throw new Error('nothing is kept') }, put: async (cid) => cid }
  const bulk = { connectionsPerPeer: Number(connectionsArg ?? 2) }
  const node = await bulkNode(mode === 'bulk' ? { blockstore: discard, noListener: true, bulk } : { noListener: true, bulk })
  const server = multiaddr(addr)
  await node.dial(server, { signal: AbortSignal.timeout(10_000) })
  const peer = node.getConnections()[0].remotePeer
  const session = transportOf(node).createSession({ peers: [peer], window: Number(windowArg ?? 16) })
  // BULK_PROFILE=<file>: a CPU profile of the transfer alone (not of start-up), for --cpu-prof's viewers
  let inspector
  if (process.env.BULK_PROFILE != null) {
    const { Session } = await import('node:inspector/promises')
    inspector = new Session()
    inspector.connect()
    await inspector.post('Profiler.enable')
    await inspector.post('Profiler.start')
  }
  // first the channel is set up (the peer's bulk address over libp2p, the connections, both
  // certificates checked) by fetching the first blocks; then the rest is timed: the channel's
  // rate once set up, as a node that keeps its connections to a peer moves blob after blob
  const WARM_UP = 4
  const s0 = performance.now()
  let bytes = 0
  for await (const block of session.want(cids.slice(0, WARM_UP), { notHeld: true, transient: true })) bytes += block.bytes.byteLength
  const setup = (performance.now() - s0) / 1000
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let timed = 0
  // transient: done with each block once it asks for the next, as a pull that hashes each leaf
  for await (const block of session.want(cids.slice(WARM_UP), { notHeld: true, transient: true })) timed += block.bytes.byteLength
  bytes += timed
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  if (inspector != null) {
    const { profile } = await inspector.post('Profiler.stop')
    fs.writeFileSync(process.env.BULK_PROFILE, JSON.stringify(profile))
  }
  const { outbound } = node.services.bulk.connections(peer)
  session.close()
  process.send({ seconds, bytes, timed, setup, cpu: (cpu.user + cpu.system) / 1e6, user: cpu.user / 1e6, sys: cpu.system / 1e6, connections: outbound })
  await node.stop()
  process.exit(0)
} else {
  console.error(`bulk-transfer.mjs: unknown role ${role} (${os.EOL}prepare | server | client)`)
  process.exit(2)
}
