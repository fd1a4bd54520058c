import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { cidForDigest, importBlob, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_MANIFEST } from '@provenir/content'
import { createSwarm } from '@provenir/testbed'
import * as raw from 'multiformats/codecs/raw'
import { sha256, startGateway, stopAll } from './helpers.js'
import type { CID } from 'multiformats/cid'
import type { GatewayInit } from '../src/index.js'
import type { ImageRecord } from '@provenir/content'
import type { Swarm } from '@provenir/testbed'

/** The config and manifest of a one-layer image over `layer`, and the manifest's digest */
function oneLayerImage (layer: Uint8Array): { config: Uint8Array, manifest: Uint8Array, digest: string } {
  const config = new TextEncoder().encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }))
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    config: { mediaType: MEDIA_TYPE_OCI_CONFIG, digest: sha256(config), size: config.byteLength },
    layers: [{ mediaType: MEDIA_TYPE_OCI_LAYER_GZIP, digest: sha256(layer), size: layer.byteLength }]
  }))
  return { config, manifest, digest: sha256(manifest) }
}

/**
 * `a` holds the one-layer image over `layer`, recording the DAG of `served`
 * as the layer's root (the layer itself, or a decoy of the same size), and
 * provides it.
 */
async function seed (a: Swarm['nodes'][number], layer: Uint8Array, served: Uint8Array): Promise<{ layerBlocks: CID[] }> {
  const { config, manifest, digest } = oneLayerImage(layer)
  const blobs: ImageRecord['blobs'] = []
  const blocks: CID[] = []
  let layerBlocks: CID[] = []
  for (const [bytes, mediaType, named] of [[manifest, MEDIA_TYPE_OCI_MANIFEST, manifest], [config, MEDIA_TYPE_OCI_CONFIG, config], [served, MEDIA_TYPE_OCI_LAYER_GZIP, layer]] as const) {
    const res = await importBlob((async function * () { for (let i = 0; i < bytes.byteLength; i += 1 << 20) yield bytes.subarray(i, i + (1 << 20)) })(), a.blockstore!, { expectedDigest: sha256(bytes) })
    blobs.push({ digest: sha256(named) as ImageRecord['manifestDigest'], size: named.byteLength, root: res.root.toString(), mediaType })
    blocks.push(...res.blocks)
    layerBlocks = res.blocks
  }
  await a.images!.add({ manifestDigest: digest as ImageRecord['manifestDigest'], mediaType: MEDIA_TYPE_OCI_MANIFEST, blobs }, blocks)
  await a.provideImage(digest)
  return { layerBlocks }
}

/**
 * For the suite it is called in: a two-node swarm where node 0 holds the
 * image (see `seed`) and node 1 runs a gateway and holds nothing; stopped
 * after the suite. Read its fields in tests, once `before` has run.
 */
function seedAndServe (layer: Uint8Array, served: Uint8Array, gateway: Partial<GatewayInit> = {}): { swarm: Swarm, b: Awaited<ReturnType<typeof startGateway>>, layerBlocks: CID[] } {
  const ctx = {} as { swarm: Swarm, b: Awaited<ReturnType<typeof startGateway>>, layerBlocks: CID[] }
  before(async () => {
    ctx.swarm = await createSwarm({ size: 2, transport: 'tcp', difficulty: 4, topology: 'line', blockstores: true })
    await ctx.swarm.waitForRoutingTables(1)
    ctx.layerBlocks = (await seed(ctx.swarm.nodes[0], layer, served)).layerBlocks
    ctx.b = await startGateway(ctx.swarm.nodes[1], gateway)
  })
  after(async () => {
    await stopAll(ctx.swarm, [ctx.b])
  })
  return ctx
}

/**
 * Asks `url` for the manifest, then for the layer, whose stream must not end
 * cleanly: a 200 whose body breaks short of the layer's size, or, when the
 * pull had failed the blob before the answer began, 404 BLOB_UNKNOWN.
 */
async function expectBrokenBlob (url: string, name: string, digest: string, layer: Uint8Array): Promise<void> {
  const res = await fetch(`${url}/v2/${name}/manifests/${digest}`)
  assert.equal(res.status, 200)
  await res.arrayBuffer()
  const blob = await fetch(`${url}/v2/${name}/blobs/${sha256(layer)}`)
  if (blob.status === 200) {
    let received = 0
    await assert.rejects((async () => {
      for await (const chunk of blob.body!) received += (chunk as Uint8Array).byteLength
    })(), 'the body ends in an error, so the client never takes it as complete')
    assert.ok(received < layer.byteLength)
  } else {
    assert.equal(blob.status, 404)
    assert.equal(((await blob.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'BLOB_UNKNOWN')
  }
}

describe('pull-through streams: the manifest is answered once checked, and a blob streams while the swarm delivers it', () => {
  const layer = randomBytes(48 * 1024 * 1024)
  const { digest } = oneLayerImage(layer)
  const served = seedAndServe(layer, layer)

  it('B answers the manifest before it holds the image, then streams the 48 MiB layer intact while still pulling it', async () => {
    const node = served.swarm.nodes[1]
    const res = await fetch(`${served.b.url}/v2/acme/big/manifests/${digest}`)
    assert.equal(res.status, 200)
    assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), digest)
    assert.equal(await node.images!.has(digest), false, 'the manifest was answered before the image was complete')

    const blob = await fetch(`${served.b.url}/v2/acme/big/blobs/${sha256(layer)}`)
    assert.equal(blob.status, 200)
    assert.equal(blob.headers.get('content-length'), String(layer.byteLength))
    const reader = blob.body!.getReader()
    const first = await reader.read()
    assert.ok(first.value != null && first.value.byteLength > 0)
    const completeAtFirstByte = await node.images!.has(digest)
    const parts: Uint8Array[] = [first.value]
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      parts.push(value)
    }
    assert.equal(sha256(Buffer.concat(parts)), sha256(layer), 'byte for byte')
    assert.equal(completeAtFirstByte, false, 'the first bytes went out while the pull was still going')
    // the pull still completes and records the image
    for (let i = 0; i < 100 && !await node.images!.has(digest); i++) await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(await node.images!.has(digest), true)
  })
})

describe('pull-through streams: the idle timeout is the client\'s, not the swarm\'s', () => {
  const layer = randomBytes(6 * 1024 * 1024)
  const { digest } = oneLayerImage(layer)
  const IDLE = 400
  const STALL = 4 * IDLE
  const served = seedAndServe(layer, layer, { idleTimeout: IDLE })

  it('a blob whose next block is late from the swarm for longer than the idle timeout still streams whole', async () => {
    // the provider is slow with one leaf in the middle of the layer: B's response waits for it with nothing to send
    const a = served.swarm.nodes[0].blockstore!
    const slow = served.layerBlocks.filter(cid => cid.code === raw.code)[3]
    assert.ok(slow != null, 'the layer has a middle leaf')
    let delayed = 0
    const late = async (cid: CID): Promise<void> => {
      if (!cid.equals(slow)) return
      delayed++
      await new Promise(resolve => setTimeout(resolve, STALL))
    }
    const { get, readInto } = a
    a.get = (cid, options) => (async function * () { await late(cid); yield * get.call(a, cid, options) })()
    if (readInto != null) a.readInto = async (cid, target, options) => { await late(cid); return readInto.call(a, cid, target, options) }
    try {
      const res = await fetch(`${served.b.url}/v2/acme/slow/manifests/${digest}`)
      assert.equal(res.status, 200)
      await res.arrayBuffer()
      const started = Date.now()
      const blob = await fetch(`${served.b.url}/v2/acme/slow/blobs/${sha256(layer)}`)
      assert.equal(blob.status, 200)
      const body = new Uint8Array(await blob.arrayBuffer())
      assert.ok(delayed > 0, 'the provider was asked for the slow leaf')
      assert.ok(Date.now() - started >= STALL, 'the response waited longer than the idle timeout')
      assert.equal(sha256(body), sha256(layer), 'byte for byte')
    } finally {
      a.get = get
      if (readInto != null) a.readInto = readInto
    }
  })

  it('a client that reads nothing for longer than the idle timeout is cut off', async () => {
    const { request } = await import('node:http')
    const url = new URL(`${served.b.url}/v2/acme/slow/blobs/${sha256(layer)}`)
    const closed = await new Promise<{ received: number, error?: Error }>((resolve, reject) => {
      const req = request(url, (res) => {
        assert.equal(res.statusCode, 200)
        let received = 0
        // read a little, then nothing for three idle timeouts: the socket's buffers fill and the server's writes stall
        res.once('data', (chunk: Buffer) => {
          received += chunk.byteLength
          res.pause()
          setTimeout(() => {
            res.on('data', (c: Buffer) => { received += c.byteLength })
            res.resume()
          }, 3 * IDLE)
        })
        res.on('end', () => { resolve({ received }) })
        res.on('error', (error) => { resolve({ received, error }) })
        res.on('aborted', () => { resolve({ received, error: new Error('aborted') }) })
      })
      req.on('error', reject)
      req.end()
    })
    assert.ok(closed.error != null, 'the body ended in an error')
    assert.ok(closed.received < layer.byteLength, `the client got ${closed.received} of ${layer.byteLength} bytes`)
  })

  it('a connection with half a request is cut after the idle timeout, unanswered', async () => {
    const { connect } = await import('node:net')
    const url = new URL(served.b.url)
    const closesAfter = async (send: string): Promise<{ ms: number, received: string }> => new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname)
      let received = ''
      const started = Date.now()
      socket.setEncoding('utf8')
      socket.on('data', (d: string) => { received += d })
      socket.on('error', reject)
      socket.on('close', () => { resolve({ ms: Date.now() - started, received }) })
      socket.write(send)
      // far past the idle timeout: the test fails rather than hangs
      setTimeout(() => { socket.destroy(new Error('still open after 20 idle timeouts')) }, 20 * IDLE).unref()
    })
    const half = await closesAfter(`GET /v2/ HTTP/1.1\r\nHost: ${url.host}\r\n`)
    assert.equal(half.received, '', 'no answer to half a request')
    assert.ok(half.ms >= IDLE * 0.9, `cut after ${half.ms} ms`)
  })
})

describe('pull-through streams: a blob whose bytes do not match its digest', () => {
  const layer = randomBytes(4 * 1024 * 1024)
  // same size, other bytes: the provider's record names its DAG as the layer's root
  const decoy = randomBytes(layer.byteLength)
  const { digest } = oneLayerImage(layer)
  const served = seedAndServe(layer, decoy)

  it('is streamed, but the response breaks instead of ending cleanly, and the blob is never stored', async () => {
    await expectBrokenBlob(served.b.url, 'acme/bad', digest, layer)
    assert.equal(await served.swarm.nodes[1].images!.has(digest), false, 'the image was not recorded')
    const again = await fetch(`${served.b.url}/v2/acme/bad/blobs/${sha256(layer)}`, { method: 'HEAD' })
    assert.equal(again.status, 404, 'nor is the blob served afterwards')
  })
})

describe('pull-through streams: a decoy root named by two providers, the right one by a third', () => {
  let swarm: Swarm
  let b: Awaited<ReturnType<typeof startGateway>>
  const layer = randomBytes(4 * 1024 * 1024)
  const decoy = randomBytes(layer.byteLength)
  const { digest } = oneLayerImage(layer)

  before(async () => {
    // node 0 (the gateway) is connected to each provider
    swarm = await createSwarm({ size: 4, transport: 'tcp', difficulty: 4, topology: 'star', blockstores: true })
    await swarm.waitForRoutingTables(1)
    await seed(swarm.nodes[1], layer, decoy)
    await seed(swarm.nodes[2], layer, decoy)
    await seed(swarm.nodes[3], layer, layer)
    // the gateway's node must find all three in the DHT, or its pull may start with fewer
    await swarm.waitForProviders(swarm.nodes[0], cidForDigest(digest), swarm.nodes.slice(1))
    b = await startGateway(swarm.nodes[0])
  })

  after(async () => {
    await stopAll(swarm, [b])
  })

  it('the stream of the decoy breaks; the pull falls back to the right root, and the blob is then served intact', async () => {
    // the root most providers named is tried first: its bytes are not the blob
    await expectBrokenBlob(b.url, 'acme/twice', digest, layer)
    const node = swarm.nodes[0]
    for (let i = 0; i < 100 && !await node.images!.has(digest); i++) await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(await node.images!.has(digest), true, 'the pull completed under the third provider\'s root')
    const again = await fetch(`${b.url}/v2/acme/twice/blobs/${sha256(layer)}`)
    assert.equal(again.status, 200)
    assert.equal(sha256(new Uint8Array(await again.arrayBuffer())), sha256(layer))
  })
})
