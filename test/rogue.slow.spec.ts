/**
 * Rogue peers against a real daemon (issue 14). Daemon A holds the large
 * test image; peers built in this process (real provenir nodes with their
 * bitswap replaced, `rogue-peer.ts`) drop connections mid-transfer, lie,
 * send garbage, oversized, unsolicited and flooding messages, and hold
 * partial messages open. After each attack A is still running, has logged
 * no unhandled rejection, stores nothing it did not ask for, and serves an
 * honest daemon's pull.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Message, encodeVarint } from '@provenir/bitswap'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { DaemonProcess, TEST_INIT, assertNoUnhandled, getJson, keepDaemonLogs, runCli, runJson, tempDir, waitFor } from './daemon-helpers.js'
import { blobPath, buildFixtures, rssOf } from './image-helpers.js'
import { RoguePeer, leafCids, wantBlock, writeAll } from './rogue-peer.js'
import type { Fixture } from './image-helpers.js'

keepDaemonLogs(import.meta.url)

const LONG = 10 * 60_000
const MiB = 1024 * 1024

/** The largest layer of an OCI layout's image, as a file */
async function largestLayer (fixture: Fixture): Promise<{ digest: string, file: string }> {
  const manifest = JSON.parse(await fs.readFile(blobPath(fixture.oci, fixture.digest), 'utf8'))
  const layer = [...manifest.layers].sort((a: { size: number }, b: { size: number }) => b.size - a.size)[0]
  return { digest: layer.digest, file: blobPath(fixture.oci, layer.digest) }
}

/** Every block file in a repo's store */
async function blockFiles (repo: string): Promise<Set<string>> {
  const out = new Set<string>()
  const dir = path.join(repo, 'content', 'blocks')
  for (const shard of await fs.readdir(dir).catch(() => [] as string[])) {
    for (const f of await fs.readdir(path.join(dir, shard)).catch(() => [] as string[])) out.add(`${shard}/${f}`)
  }
  return out
}

describe('rogue peers against a real daemon (issue 14)', { timeout: 40 * 60_000 }, () => {
  let root: string
  let repoA: string
  let a: DaemonProcess
  let addrA: string
  let large: Fixture
  let small: Fixture
  const spawned: DaemonProcess[] = []
  const rogues: RoguePeer[] = []

  /**
   * The rogue peers speak bitswap only, and these tests count what moves over
   * bitswap (ledgers, wants at the liar): the honest daemons trade over
   * bitswap too (the bulk channel has its own rogue test, test/bulk-rogue.spec.ts)
   */
  async function bitswapOnly (repo: string): Promise<void> {
    const file = path.join(repo, 'config.json')
    const config = JSON.parse(await fs.readFile(file, 'utf8'))
    config.node.bulk = { ...config.node.bulk, enabled: false }
    await fs.writeFile(file, JSON.stringify(config, null, 2))
  }

  async function daemon (name: string, bootstrap = true): Promise<{ repo: string, d: DaemonProcess }> {
    const repo = path.join(root, name)
    const init = await runCli(repo, ['init', ...TEST_INIT, ...(bootstrap ? ['--bootstrap', addrA] : [])])
    assert.equal(init.code, 0, init.stderr)
    await bitswapOnly(repo)
    const d = new DaemonProcess(repo)
    spawned.push(d)
    await d.ready()
    return { repo, d }
  }

  async function rogue (init: { lie?: boolean, bootstrap?: string[] } = {}): Promise<RoguePeer> {
    const peer = await RoguePeer.create(init)
    rogues.push(peer)
    return peer
  }

  /** An honest daemon pulls `fixture` from A; the pull checks every blob against its digest */
  async function honestPull (name: string, fixture: Fixture): Promise<void> {
    const { repo, d } = await daemon(name)
    const res = await runCli(repo, ['image', 'pull', fixture.digest, '--json'], LONG)
    assert.equal(res.code, 0, `the honest pull succeeds: ${res.stderr}`)
    assert.equal(JSON.parse(res.stdout).image.digest, fixture.digest)
    await d.stop()
  }

  before(async () => {
    ({ large, small } = await buildFixtures('all'))
    root = await tempDir()
    repoA = path.join(root, 'a')
    const init = await runCli(repoA, ['init', ...TEST_INIT])
    assert.equal(init.code, 0, init.stderr)
    await bitswapOnly(repoA)
    a = new DaemonProcess(repoA)
    spawned.push(a)
    await a.ready()
    addrA = (await runJson(repoA, ['id'])).addresses[0]
    for (const f of [large, small]) {
      const res = await runCli(repoA, ['image', 'import', f.oci, '--json'], LONG)
      assert.equal(res.code, 0, res.stderr)
    }
  })

  after(async () => {
    await Promise.all(rogues.map(async r => r.stop().catch(() => {})))
    for (const d of spawned) d.kill()
    await Promise.all(spawned.map(async d => d.exited))
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it('stays up while 30 peers drop their connections mid-transfer, then serves an honest pull', async (t) => {
    const layer = await largestLayer(large)
    const leaves = await leafCids(layer.file, 13)
    const peerIdA = (await runJson(repoA, ['id'])).peerId
    let served = 0
    // three waves of ten; each peer asks for 13 blocks of 1 MiB and drops its
    // connection at a different point: before A opens its stream back, once
    // the first bytes arrive, or by stopping outright
    for (let wave = 0; wave < 3; wave++) {
      await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const peer = await rogue()
        const conn = await peer.dial(addrA)
        await peer.send(conn.remotePeer, { wantlist: { full: false, entries: leaves.map(c => wantBlock(c)) } })
        const mode = (wave * 10 + i) % 3
        if (mode === 1) {
          await waitFor('the first bytes from A', async () => peer.received.length > 0 ? true : undefined, 60_000).catch(() => {})
          if (peer.received.length > 0) served++
        }
        if (mode === 2) {
          await new Promise(resolve => setTimeout(resolve, 20 * i))
          await peer.stop()
          return
        }
        for (const c of peer.node.libp2p.getConnections(conn.remotePeer)) c.abort(new Error('dropped mid-transfer'))
        await peer.stop()
      }))
      assertNoUnhandled(a, `after wave ${wave + 1}`)
    }
    t.diagnostic(`${served} of the peers that waited had blocks arriving when they dropped`)
    assert.ok(served > 0, 'some peers dropped mid-transfer, with blocks on the way')
    // A notices each drop; give its engine the time to fail what it was sending, then check again
    await waitFor('A to see the rogue peers gone', async () => {
      const peers = await runJson(repoA, ['peers'])
      return peers.peers.every((p: { peerId: string }) => !rogues.some(r => r.peerId.toString() === p.peerId)) ? true : undefined
    }, 60_000)
    assertNoUnhandled(a, 'after the drops')
    await honestPull('honest-after-drops', large)
    assertNoUnhandled(a, 'after the honest pull')
    assert.ok((await getJson(`${await a.ready()}/healthz`)).status === 'ok')
    void peerIdA
  })

  it('a puller stays up and completes when a provider it is pulling from is killed mid-transfer, and while peers it serves drop their connections', async (t) => {
    const layer = await largestLayer(large)
    const leaves = await leafCids(layer.file, 13)
    // B holds the large image too, so the puller C asks both A and B
    const { repo: repoB, d: b } = await daemon('second-provider')
    const imported = await runCli(repoB, ['image', 'import', large.oci, '--json'], LONG)
    assert.equal(imported.code, 0, imported.stderr)
    const peerIdB = (await runJson(repoB, ['id'])).peerId
    const { repo: repoC, d: c } = await daemon('puller')
    await waitFor('C to find B as a provider of the image', async () => {
      const found = await runJson(repoC, ['providers', large.digest])
      return found.providers.some((p: { peerId: string }) => p.peerId === peerIdB) ? true : undefined
    }, 120_000)
    const addrC = (await runJson(repoC, ['id'])).addresses[0]
    let pulled = false
    const pull = runCli(repoC, ['image', 'pull', large.digest, '--json'], LONG).finally(() => { pulled = true })
    // B is killed once it has served C 8 MiB of blocks: its connections drop mid-transfer
    const sentByB = await waitFor('B to send C 8 MiB of blocks', async () => {
      const sent = metric(await (await fetch(`${await b.ready()}/metrics`)).text(), 'provenir_bitswap_data_sent_bytes_total')
      return sent >= 8 * MiB ? sent : undefined
    }, 120_000, () => pulled)
    b.kill()
    await b.exited
    // meanwhile ten peers ask C for the blocks it is fetching, and drop their connections
    await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const peer = await rogue()
      const conn = await peer.dial(addrC)
      await peer.send(conn.remotePeer, { wantlist: { full: false, entries: leaves.map(cid => wantBlock(cid)) } })
      if (i % 2 === 0) await waitFor('the first bytes from C', async () => peer.received.length > 0 ? true : undefined, 30_000).catch(() => {})
      conn.abort(new Error('dropped mid-transfer'))
      await peer.stop()
    }))
    const res = await pull
    assert.equal(res.code, 0, `C's pull completes from A: ${res.stderr}`)
    assert.equal(JSON.parse(res.stdout).image.digest, large.digest)
    t.diagnostic(`B had sent C ${(sentByB / MiB).toFixed(1)} MiB of blocks when it was killed`)
    assertNoUnhandled(c, 'C, the puller')
    assertNoUnhandled(a, 'A')
    await c.stop()
  })

  it('a liar that provides the image costs one bad block: no further want across new sessions and provider refreshes (counted at the liar), and a pull only liars can serve fails naming the cause', async (t) => {
    const peerIdA = (await runJson(repoA, ['id'])).peerId
    const liar = await rogue({ lie: true, bootstrap: [addrA] })
    await waitFor('the liar to join the DHT', async () => liar.node.routingTableSize() > 0 ? true : undefined, 60_000)
    // it advertises the large and the small image, as A does: each manifest and every blob root (from A's own records)
    const target = (await liar.dial(addrA)).remotePeer
    for (const f of [large, small]) {
      const record = await liar.node.libp2p.services.imageRecords.fetch(target, f.digest, { signal: AbortSignal.timeout(30_000) })
      assert.ok(record != null)
      liar.node.provide(cidOfDigest(f.digest))
      for (const blob of record.blobs) liar.node.provide(CID.parse(blob.root))
    }
    const { repo: repoC, d: c } = await daemon('victim')
    await waitFor('C to find the liar as a provider of the manifest', async () => {
      const found = await runJson(repoC, ['providers', large.digest])
      return found.providers.some((p: { peerId: string }) => p.peerId === liar.peerId.toString()) ? true : undefined
    }, 120_000)

    // 1. C pulls: the liar is asked, lies once, is banned; A serves the image
    let res = await runCli(repoC, ['image', 'pull', large.digest, '--json'], LONG)
    assert.equal(res.code, 0, res.stderr)
    assert.ok(liar.badBlocksSent >= 1, 'the liar was asked, and lied')
    assert.ok([...liar.lyingConnections.values()].some(closed => closed > 0), 'C hung up on the liar')
    const wantsAtBan = liar.wants
    t.diagnostic(`the liar got ${wantsAtBan} wants, and sent ${liar.badBlocksSent} bad blocks, before C banned it`)
    assert.equal(liar.wantsAfterBan, 0, 'no want reached the liar after its ban')

    // 2. a new session: C pulls the small image, which the liar provides too;
    //    its provider lookups and refreshes (every second per blob) name the liar throughout
    await waitFor('C to find the liar as a provider of the small image', async () => {
      const found = await runJson(repoC, ['providers', small.digest])
      return found.providers.some((p: { peerId: string }) => p.peerId === liar.peerId.toString()) ? true : undefined
    }, 120_000)
    res = await runCli(repoC, ['image', 'pull', small.digest, '--json'], LONG)
    assert.equal(res.code, 0, res.stderr)
    assert.equal(liar.wantsAfterBan, 0, 'still no want after a new session and its provider refreshes')
    assert.equal(liar.wants, wantsAtBan, 'the liar was asked nothing more at all')

    // 3. an image only liars provide: the pull fails with the cause named, well within its timeout
    const fake = `sha256:${randomBytes(32).toString('hex')}`
    const other = await rogue({ lie: true, bootstrap: [addrA] })
    await waitFor('the second liar to join the DHT', async () => other.node.routingTableSize() > 0 ? true : undefined, 60_000)
    other.node.provide(cidOfDigest(fake))
    liar.node.provide(cidOfDigest(fake))
    await waitFor('C to find the liars as providers', async () => {
      const found = await runJson(repoC, ['providers', fake])
      return found.providers.some((p: { peerId: string }) => p.peerId === other.peerId.toString()) ? true : undefined
    }, 120_000)
    const started = Date.now()
    res = await runCli(repoC, ['image', 'pull', fake, '--json'], 120_000)
    const took = Date.now() - started
    assert.equal(res.code, 1)
    const error = JSON.parse(res.stderr.trim().split('\n').pop() ?? '{}').error
    assert.equal(error?.name, 'NoHonestProviderError', res.stderr)
    assert.match(error.message, /no honest provider/)
    assert.ok(error.message.includes(other.peerId.toString()), 'the error names the liar')
    t.diagnostic(`a pull only liars could serve failed after ${took} ms: ${error.message.slice(0, 200)}`)
    // and without --json, as a user sees it: the condition, not "InternalError"
    const plain = await runCli(repoC, ['image', 'pull', fake], 120_000)
    assert.equal(plain.code, 1)
    // the CLI prints every error as `Error: <message>`, with a stack only for bugs
    assert.match(plain.stderr, /^Error: no honest provider of \S+: the 2 peer\(s\) that had it sent bad blocks and were banned/)
    assert.doesNotMatch(plain.stderr, /InternalError|\n\s+at /)
    assert.equal(liar.wantsAfterBan, 0, 'the banned liar was not asked for the new image either')
    assertNoUnhandled(a, 'A')
    assertNoUnhandled(c, 'C')
    await c.stop()
    void peerIdA
  })

  it('a 120,000-character PUT_VALUE key and 64 streams holding partial 4 MiB messages leave /healthz answering within 100 ms and RSS within its bound', async (t) => {
    const api = await a.ready()
    const pid = a.child.pid!
    const latencies: number[] = []
    let polling = true
    const poll = (async () => {
      while (polling) {
        const started = performance.now()
        const res = await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(30_000) })
        assert.equal(res.status, 200)
        await res.arrayBuffer()
        latencies.push(performance.now() - started)
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    })()
    let maxRss = 0
    const sampler = setInterval(() => { void rssOf(pid).then(r => { if (r != null && r.rss > maxRss) maxRss = r.rss }) }, 50)
    const baseline = (await rssOf(pid))?.rss ?? 0
    try {
      // a PUT_VALUE whose key holds a 120,000-character NodeId
      const putter = await rogue()
      const target = (await putter.dial(addrA)).remotePeer
      const key = new TextEncoder().encode(`/provenir-name/${'12D3KooWzZ'.repeat(12_000)}/alice`)
      const stream = await putter.node.libp2p.dialProtocol(target, '/provenir/kad/1.0.0', { signal: AbortSignal.timeout(20_000) })
      // A may reset the stream while the oversized key is still being written: that is the refusal
      const refusedWhileWriting = await writeAll(stream, frame(putValue(key, randomBytes(200)))).then(() => false, () => true)
      if (!refusedWhileWriting) await waitFor('the PUT_VALUE to be refused', async () => stream.status !== 'open' || stream.readBufferLength > 0 ? true : undefined, 30_000).catch(() => {})

      // two peers, 32 streams each, each holding most of a 4 MiB message
      const holders = [await rogue(), await rogue()]
      const sent = await Promise.all(holders.map(async h => {
        const peer = (await h.dial(addrA)).remotePeer
        let bytes = 0
        await Promise.all(Array.from({ length: 32 }, async () => {
          try {
            const s = await h.openStream(peer)
            const chunk = new Uint8Array(64 * 1024)
            const chunks = [encodeVarint(4 * MiB), ...Array.from({ length: 63 }, () => chunk)]
            for (const c of chunks) {
              if (s.status !== 'open') break
              await writeAll(s, [c])
              bytes += c.byteLength
            }
          } catch {
            // a stream A resets for passing its budget
          }
        }))
        return bytes
      }))
      t.diagnostic(`the two holders wrote ${(sent.reduce((x, y) => x + y, 0) / MiB).toFixed(0)} MiB of unfinished messages`)
      const metrics = await (await fetch(`${api}/metrics`)).text()
      const held = Number(/^provenir_bitswap_inbound_buffered_bytes (\d+)/m.exec(metrics)?.[1] ?? NaN)
      t.diagnostic(`A holds ${(held / MiB).toFixed(1)} MiB of unfinished messages (bound: 8 MiB per peer, 64 MiB in all)`)
      assert.ok(held <= 2 * 8 * MiB, 'within two peers\' shares')
      // keep polling a little while the streams sit there
      const until = Date.now() + 3_000
      await waitFor('a few seconds of polling', async () => Date.now() > until ? true : undefined, 10_000)
      for (const h of holders) await h.stop()
      await waitFor('A to drop the holders\' streams', async () => {
        const m = await (await fetch(`${api}/metrics`)).text()
        return Number(/^provenir_bitswap_inbound_buffered_bytes (\d+)/m.exec(m)?.[1] ?? NaN) === 0 ? true : undefined
      }, 30_000)
    } finally {
      polling = false
      await poll
      clearInterval(sampler)
    }
    const after = (await rssOf(pid))?.rss ?? 0
    const sorted = [...latencies].sort((x, y) => x - y)
    const median = sorted[Math.floor(sorted.length / 2)]
    const slowest = sorted[sorted.length - 1]
    t.diagnostic(`/healthz during the attacks: ${latencies.length} requests, median ${median.toFixed(1)} ms, slowest ${slowest.toFixed(1)} ms; A's RSS ${(baseline / MiB).toFixed(0)} MiB before, ${(maxRss / MiB).toFixed(0)} MiB at most during, ${(after / MiB).toFixed(0)} MiB after`)
    // the bound is 100 ms; each request's slowest is given 10x for a loaded machine
    assert.ok(median <= 100, `median /healthz ${median.toFixed(1)} ms`)
    assert.ok(slowest <= 1_000, `slowest /healthz ${slowest.toFixed(1)} ms (a blocked event loop took seconds)`)
    // doc/LIMITS.md: unfinished messages are bounded at 64 MiB node-wide; RSS grows by at most 128 MiB under this attack
    assert.ok(maxRss - baseline <= 128 * MiB, `RSS grew by ${((maxRss - baseline) / MiB).toFixed(0)} MiB`)
    assertNoUnhandled(a, 'after the memory attacks')
  })

  it('garbage, oversized, malformed, unsolicited and flooding messages change nothing: A stays up, stores nothing it did not ask for, and still serves', async () => {
    const before = await blockFiles(repoA)
    const peer = await rogue()
    const first = await peer.dial(addrA)
    const target = first.remotePeer
    const badBlocks = async (): Promise<number> => metric(await (await fetch(`${await a.ready()}/metrics`)).text(), 'provenir_bitswap_bad_blocks_total')
    const badBefore = await badBlocks()
    // a block nobody asked for: A takes it for a bad block, cuts the connection and stores nothing
    // (A may dial the peer again for the DHT, so the connection the block came on is the one watched)
    await peer.send(target, { payload: [{ prefix: Uint8Array.of(1, 0x55, 0x12, 0x20), data: randomBytes(4096) }] })
    await waitFor('A to cut the connection that carried an unsolicited block', async () => first.status !== 'open' ? true : undefined, 30_000)
    assert.equal(await badBlocks(), badBefore + 1, 'A counted one bad block')
    // the peer comes back for the rest: A still takes its connections, and resets what breaks a bound
    await peer.dial(addrA)
    const attacks: Array<() => Promise<unknown>> = [
      // random bytes, and a prefix announcing more than 4 MiB
      async () => writeAll(await peer.openStream(target), [randomBytes(100_000)]),
      async () => writeAll(await peer.openStream(target), [encodeVarint(64 * MiB), randomBytes(1024)]),
      // a protobuf that lies about its lengths, and one with a field in the wrong wire type
      async () => writeAll(await peer.openStream(target), [Uint8Array.of(5, 0x0a, 100, 1, 2, 3)]),
      async () => writeAll(await peer.openStream(target), [Uint8Array.of(2, 0x0c, 0x0c)]),
      // 4 MiB of empty messages
      async () => writeAll(await peer.openStream(target), [new Uint8Array(4 * MiB)]),
      // a wantlist of 100,000 entries over 20 messages, and one entry over the message limit
      async () => {
        const s = await peer.openStream(target)
        for (let i = 0; i < 20; i++) {
          const body = Message.encode({ wantlist: { full: false, entries: Array.from({ length: 5000 }, (_, j) => wantBlock(fakeCid(i * 5000 + j))) } })
          await writeAll(s, [encodeVarint(body.byteLength), body])
        }
      },
      async () => peer.send(target, { wantlist: { full: false, entries: Array.from({ length: 9000 }, (_, j) => wantBlock(fakeCid(200_000 + j))) } }),
      // a block over 2 MiB
      async () => peer.send(target, { payload: [{ prefix: Uint8Array.of(1, 0x55, 0x12, 0x20), data: randomBytes(2 * MiB + 1) }] }),
      // a flood of streams
      async () => Promise.all(Array.from({ length: 100 }, async () => peer.openStream(target).catch(() => undefined)))
    ]
    for (const attack of attacks) await attack().catch(() => {})
    // raw TCP connections of random bytes to A's swarm port
    const port = Number(multiaddr(addrA).getComponents().find(c => c.name === 'tcp')?.value)
    await Promise.all(Array.from({ length: 20 }, async () => new Promise<void>(resolve => {
      const sock = net.connect(port, '127.0.0.1', () => { sock.end(randomBytes(64 * 1024)) })
      sock.on('error', () => { resolve() })
      sock.on('close', () => { resolve() })
      sock.resume()
    })))
    assertNoUnhandled(a, 'after the garbage')
    assert.deepEqual([...await blockFiles(repoA)].filter(f => !before.has(f)), [], 'A stored nothing new')
    await honestPull('honest-after-garbage', small)
    assertNoUnhandled(a, 'after the honest pull')
  })
})

/** A counter's value in Prometheus text (0 when absent) */
function metric (text: string, name: string): number {
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
}

function cidOfDigest (digest: string): CID {
  return CID.createV1(raw.code, createDigest(0x12, Buffer.from(digest.slice('sha256:'.length), 'hex')))
}

/** A CID nobody holds: a counter as its digest */
function fakeCid (n: number): CID {
  const digest = new Uint8Array(32)
  new DataView(digest.buffer).setUint32(0, n)
  return CID.createV1(raw.code, createDigest(0x12, digest))
}

/** A kad-dht PUT_VALUE message, encoded by hand: key (2) and record (3) { key (1), value (2), timeReceived (5) } */
function putValue (key: Uint8Array, value: Uint8Array): Uint8Array {
  const field = (tag: number, body: Uint8Array): Uint8Array => Buffer.concat([Uint8Array.of(tag), encodeVarint(body.byteLength), body])
  const record = Buffer.concat([field(0x0a, key), field(0x12, value), field(0x2a, new TextEncoder().encode(new Date().toISOString()))])
  return Buffer.concat([field(0x12, key), field(0x1a, record)])
}

function frame (body: Uint8Array): Uint8Array[] {
  return [encodeVarint(body.byteLength), body]
}
