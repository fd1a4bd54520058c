import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { createSwarm } from '@provenir/testbed'
import { createGateway } from '../src/index.js'
import { removeDir, tempDir } from './helpers.js'
import type { Swarm } from '@provenir/testbed'

let swarm: Swarm
let dataPath: string

before(async () => {
  swarm = await createSwarm({ size: 1, blockstores: true })
  dataPath = await tempDir()
})

after(async () => {
  await swarm?.stop()
  await removeDir(dataPath)
})

it('the README example runs', async () => {
  const node = swarm.nodes[0]
  // ---- README ----
  const gateway = createGateway({ node, dataPath, port: 0 }) // 127.0.0.1, port 5000 by default
  const { host, port } = await gateway.listen()
  const res = await fetch(`http://${host}:${port}/v2/`)
  console.log(res.status, res.headers.get('docker-distribution-api-version')) // 200 registry/2.0
  await gateway.close()
  // ---- end ----
  assert.equal(res.status, 200)
})
