/**
 * What the gateway tells its daemon about each request (`onResponse`): the
 * method, the route's pattern (a bounded set, whatever the URL), the status
 * and the time; the daemon's request log and metrics are built on it.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createSwarm } from '@provenir/testbed'
import { routePattern, TOKEN_PATH } from '../src/index.js'
import { startGateway, stopAll } from './helpers.js'
import type { RequestDone } from '../src/index.js'
import type { Swarm } from '@provenir/testbed'

const DIGEST = `sha256:${'ab'.repeat(32)}`

describe('routePattern', () => {
  it('maps every route to its pattern, whatever the name, digest or query', () => {
    assert.equal(routePattern('/v2/'), '/v2/')
    assert.equal(routePattern('/v2'), '/v2/')
    assert.equal(routePattern('/v2/_catalog?n=10'), '/v2/_catalog')
    assert.equal(routePattern('/v2/acme/deep/app/tags/list'), '/v2/<name>/tags/list')
    assert.equal(routePattern('/v2/acme/app/manifests/v1'), '/v2/<name>/manifests/<reference>')
    assert.equal(routePattern(`/v2/acme/app/manifests/${DIGEST}?ns=docker.io`), '/v2/<name>/manifests/<reference>')
    assert.equal(routePattern(`/v2/acme/app/blobs/${DIGEST}`), '/v2/<name>/blobs/<digest>')
    assert.equal(routePattern('/v2/acme/app/blobs/uploads/'), '/v2/<name>/blobs/uploads/')
    assert.equal(routePattern('/v2/acme/app/blobs/uploads/0f1e2d'), '/v2/<name>/blobs/uploads/<id>')
    assert.equal(routePattern(`/v2/acme/app/referrers/${DIGEST}`), '/v2/<name>/referrers/<digest>')
    assert.equal(routePattern(`${TOKEN_PATH}?scope=x`), TOKEN_PATH)
    assert.equal(routePattern('/v2/Bad..Name/manifests/v1'), 'invalid')
    assert.equal(routePattern('/elsewhere/secret-path'), 'unknown')
  })
})

describe('the gateway\'s onResponse hook', () => {
  let swarm: Swarm
  let gw: Awaited<ReturnType<typeof startGateway>>
  const seen: RequestDone[] = []

  before(async () => {
    swarm = await createSwarm({ size: 1, blockstores: true })
    gw = await startGateway(swarm.nodes[0], { onResponse: (info) => { seen.push(info) } })
  })

  after(async () => {
    await stopAll(swarm, [gw])
  })

  it('is called once per answered request with the route pattern, the status and the time', async () => {
    const base = await fetch(`${gw.url}/v2/`)
    assert.equal(base.status, 200)
    const missing = await fetch(`${gw.url}/v2/acme/app/manifests/nothing-here`)
    assert.equal(missing.status, 404)
    const invalid = await fetch(`${gw.url}/v2/Acme/manifests/v1`)
    assert.equal(invalid.status, 400)
    const done = (): RequestDone[] => seen.filter(s => s.route !== 'unknown')
    // the hook runs once the answer is sent, which can be just after the client has it
    const deadline = Date.now() + 10_000
    while (done().length < 3 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    assert.deepEqual(done().map(s => [s.method, s.route, s.status]), [
      ['GET', '/v2/', 200],
      ['GET', '/v2/<name>/manifests/<reference>', 404],
      ['GET', 'invalid', 400]
    ])
    for (const s of done()) assert.ok(s.seconds >= 0 && Number.isFinite(s.seconds))
  })
})
