import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createSwarm } from '@provenir/testbed'
import { base32upper } from 'multiformats/bases/base32'
import { removeDir, sha256, startGateway } from './helpers.js'
import type { Gateway } from '../src/index.js'
import type { FsBlockstore } from '@provenir/content'
import type { Swarm } from '@provenir/testbed'

const MIB = 1024 * 1024

describe('gateway: serving a held blob from reused buffers, each leaf checked', () => {
  let swarm: Swarm
  let gw: { gateway: Gateway, url: string, dir: string }
  const layer = randomBytes(5 * 1024 * 1024 + 123)
  const digest = sha256(layer)
  let store: FsBlockstore

  before(async () => {
    swarm = await createSwarm({ size: 1, blockstores: true })
    gw = await startGateway(swarm.nodes[0])
    store = swarm.nodes[0].blockstore as FsBlockstore
    const res = await fetch(`${gw.url}/v2/acme/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: layer, headers: { 'Content-Type': 'application/octet-stream' } })
    assert.equal(res.status, 201)
  })

  after(async () => {
    await gw?.gateway.close()
    await swarm?.stop()
    await removeDir(gw?.dir)
  })

  /** The body of a GET, or the error its read ended in */
  async function get (headers: Record<string, string> = {}): Promise<{ status: number, body?: Buffer, error?: Error, received: number }> {
    const res = await fetch(`${gw.url}/v2/acme/app/blobs/${digest}`, { headers })
    const parts: Uint8Array[] = []
    let received = 0
    try {
      for await (const chunk of res.body!) {
        parts.push(chunk as Uint8Array)
        received += (chunk as Uint8Array).byteLength
      }
    } catch (error: any) {
      return { status: res.status, error, received }
    }
    return { status: res.status, body: Buffer.concat(parts), received }
  }

  it('serves it whole and in ranges, many times over, without hashing files unchanged since they were written', async () => {
    const before = { ...store.verifiedReads }
    for (let i = 0; i < 3; i++) {
      const whole = await get()
      assert.equal(whole.status, 200)
      assert.equal(sha256(whole.body!), digest)
    }
    const ranged = await get({ Range: 'bytes=1048570-3145740' })
    assert.equal(ranged.status, 206)
    assert.deepEqual(ranged.body, layer.subarray(1048570, 3145741))
    assert.ok(store.verifiedReads.unchanged - before.unchanged >= 18, 'the leaves were checked by their stamps')
    // the fine-grained-timestamp file systems of Linux 6.13+ let a file just written be trusted; on others it is hashed
    assert.ok(store.verifiedReads.hashed - before.hashed <= 6, 'each leaf hashed at most once')
  })

  it('a leaf changed on disk is never served: a later one breaks the response short, the first is a 502 BLOB_UNKNOWN', async () => {
    // the layer's leaves in order: raw blocks named by the sha256 of each 1 MiB slice
    const leafFile = (i: number): string => {
      const multihash = Buffer.concat([Buffer.from([0x12, 0x20]), createHash('sha256').update(layer.subarray(i * MIB, (i + 1) * MIB)).digest()])
      const name = base32upper.baseEncode(multihash) // Kubo's flatfs name, as FsBlockstore keeps it
      return join(store.path, 'blocks', name.slice(-3, -1), `${name}.data`)
    }
    const original = await readFile(leafFile(2))
    await writeFile(leafFile(2), new Uint8Array(original.byteLength))
    for (let i = 0; i < 2; i++) {
      const res = await get()
      assert.equal(res.status, 200)
      assert.ok(res.error != null, 'the body ends in an error, so the client never takes it as complete')
      assert.ok(res.received < layer.byteLength && res.received <= 2 * MIB, `${res.received} bytes arrived`)
    }
    await writeFile(leafFile(2), original)
    assert.equal(sha256((await get()).body!), digest, 'the leaf put back is served again, checked')

    await writeFile(leafFile(0), new Uint8Array(MIB))
    const res = await fetch(`${gw.url}/v2/acme/app/blobs/${digest}`)
    assert.equal(res.status, 502)
    assert.equal(((await res.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'BLOB_UNKNOWN')
  })
})
