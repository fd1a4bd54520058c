import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createSwarm } from '@provenir/testbed'
import { base32upper } from 'multiformats/bases/base32'
import { removeDir, sha256, startGateway } from './helpers.js'
import type { Gateway } from '../src/index.js'
import type { FsBlockstore } from '@provenir/content'
import type { CID } from 'multiformats/cid'
import type { Swarm } from '@provenir/testbed'

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

  it('a leaf changed on disk breaks the response short instead of serving it, every time', async () => {
    // the layer's full leaves: the only 1 MiB raw blocks in the store
    const leaves: CID[] = []
    for await (const { cid, size } of store.infos()) if (cid.code === 0x55 && size === 1024 * 1024) leaves.push(cid)
    assert.equal(leaves.length, 5)
    // Kubo's flatfs name, as FsBlockstore keeps it
    const name = base32upper.baseEncode(leaves[2].multihash.bytes)
    const file = join(store.path, 'blocks', name.slice(-3, -1), `${name}.data`)
    await writeFile(file, new Uint8Array((await stat(file)).size))
    for (let i = 0; i < 2; i++) {
      const res = await get()
      assert.equal(res.status, 200)
      assert.ok(res.error != null, 'the body ends in an error, so the client never takes it as complete')
      assert.ok(res.received < layer.byteLength)
    }
  })
})
