/**
 * The programmatic API, in one process: the README's example, plus what the
 * daemon leaves on disk.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { initRepo, isRepoInitialised, startDaemon, RpcClient } from '../src/index.js'
import { tempDir } from './helpers.js'
import type { IdResponse } from '../src/index.js'

describe('the library (README example)', () => {
  let root: string
  before(async () => { root = await tempDir() })
  after(async () => { await fs.rm(root, { recursive: true, force: true }) })

  it('init, start, ask the RPC API, stop', async () => {
    const repo = path.join(root, 'provenir-example')
    if (!await isRepoInitialised(repo)) {
      await initRepo(repo, { difficulty: 8, config: { node: { listen: ['/ip4/127.0.0.1/tcp/0'] }, api: '127.0.0.1:0' } })
    }
    const daemon = await startDaemon({ repo })
    try {
      const client = await RpcClient.fromRepo(repo)
      const id = await client.get<IdResponse>('/api/v0/id')
      assert.equal(id.peerId, daemon.node.peerId.toString())
      assert.ok(id.difficulty >= 8)
      assert.deepEqual(id.addresses, daemon.node.getMultiaddrs().map(String))
      assert.equal(await fs.readFile(path.join(repo, 'api'), 'utf8'), `127.0.0.1:${daemon.apiAddress.port}\n`)
    } finally {
      await daemon.stop()
    }
    await assert.rejects(fs.stat(path.join(repo, 'api')), { code: 'ENOENT' })
    // stop is idempotent
    await daemon.stop()
  })

  it('initRepo refuses a bad setting before generating anything', async () => {
    const repo = path.join(root, 'bad')
    await assert.rejects(initRepo(repo, { difficulty: 4, config: { api: 'nowhere' } }), (err: Error) => {
      assert.equal(err.name, 'InvalidConfigError')
      assert.match(err.message, /"api"/)
      return true
    })
    await assert.rejects(fs.stat(repo), { code: 'ENOENT' })
  })
})
