/**
 * The naming routes with a stub node and a stub naming: bad input is a 400
 * naming the field, before anything runs; good input reaches the naming
 * object as parsed; a daemon without naming says so (503).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateIdentity } from '@provenir/identity'
import { Registry } from 'prom-client'
import { createRpcServer, DEFAULT_ROUTES, RpcClient } from '../src/index.js'
import type { RpcServer } from '../src/index.js'
import type { Naming } from '@provenir/naming'
import type { ProvenirNode } from '@provenir/node'

const DIGEST = `sha256:${'a'.repeat(64)}`

describe('the naming routes (stub node and naming)', () => {
  let withNaming: RpcServer
  let without: RpcServer
  const calls: Array<[string, ...unknown[]]> = []

  before(async () => {
    const peerId = peerIdFromPrivateKey(await generateIdentity({ difficulty: 0 }))
    const node = { peerId, libp2p: { status: 'started' }, blockstore: {}, images: {} } as unknown as ProvenirNode
    const naming = {
      async publish (request: unknown) {
        calls.push(['publish', request])
        return { key: 'alice', owner: 'k51', repo: 'app', seq: 1, documentCid: 'bafk', tags: {}, images: 0, expires: '', peers: 0 }
      },
      async resolveImage (reference: string, options: { explain?: boolean }) {
        calls.push(['resolveImage', reference, options.explain])
        throw Object.assign(new Error(`no pin or registry knows the name ${reference}`), { name: 'NameNotFoundError' })
      },
      async claim (name: string, registry: string, key: string | undefined) {
        calls.push(['claim', name, registry, key])
        return { name, userId: 'k51', registry, seq: 1, issued: '', binding: {} }
      }
    } as unknown as Naming
    withNaming = await createRpcServer({ node, host: '127.0.0.1', port: 0, registry: new Registry(), routes: DEFAULT_ROUTES, naming })
    without = await createRpcServer({ node, host: '127.0.0.1', port: 0, registry: new Registry(), routes: DEFAULT_ROUTES })
  })

  after(async () => {
    await withNaming?.close()
    await without?.close()
  })

  async function post (server: RpcServer, url: string, body: unknown): Promise<{ status: number, body: any }> {
    const res = await fetch(`${server.url}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }

  it('refuses bad input with 400, naming the field, and calls nothing', async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['/api/v0/name/publish', { repo: 'App' }, /"repo" must be a repository name/],
      ['/api/v0/name/publish', { repo: 'docker.io/provenir/small' }, /one path component, published as <UserId>\/<repo>: give "small"/],
      ['/api/v0/name/publish', { repo: 'app', key: 'self' }, /"key": "self" is the node key/],
      ['/api/v0/name/publish', { repo: 'app', key: '../x' }, /"key" must be a keystore key name/],
      ['/api/v0/name/publish', { repo: 'app', tags: { 'v 1': DIGEST } }, /"tags": "v 1" is not a tag/],
      ['/api/v0/name/publish', { repo: 'app', tags: { v1: 'latest' } }, /"tags\.v1" must be a manifest digest/],
      ['/api/v0/name/publish', { repo: 'app', tags: [] }, /"tags" must be an object/],
      ['/api/v0/name/publish', { repo: 'app', tag: {} }, /unknown field "tag"/],
      ['/api/v0/name/resolve', { reference: '' }, /"reference" must be a non-empty string/],
      ['/api/v0/name/resolve', { reference: 'a/'.repeat(300) }, /"reference" is over 512 characters/],
      ['/api/v0/name/resolve', { reference: 'alice/app', explain: 'yes' }, /"explain" must be true or false/],
      ['/api/v0/registry/claim', { name: 'Bad_Name', registry: 'x.example.org' }, /"name" must be a link name/],
      ['/api/v0/registry/claim', { name: 'alice', registry: '' }, /"registry" must be a NodeId/],
      ['/api/v0/image/pull', {}, /give "digest" \(sha256:\.\.\.\) or "reference"/],
      ['/api/v0/image/pull', { reference: 'x'.repeat(600) }, /"reference" must be a non-empty string of at most 512/]
    ]
    for (const [url, body, message] of cases) {
      const res = await post(withNaming, url, body)
      assert.equal(res.status, 400, `${url} ${JSON.stringify(body)}`)
      assert.equal(res.body.error.name, 'InvalidParametersError')
      assert.match(res.body.error.message, message)
    }
    assert.deepEqual(calls, [])
  })

  it('passes good input to the naming object, and maps its named errors to statuses', async () => {
    assert.equal((await post(withNaming, '/api/v0/name/publish', { repo: 'app', key: 'alice', tags: { v1: DIGEST } })).status, 200)
    assert.equal((await post(withNaming, '/api/v0/registry/claim', { name: 'alice', registry: 'x.example.org' })).status, 200)
    const resolved = await post(withNaming, '/api/v0/name/resolve', { reference: 'alice/app:v1', explain: true })
    assert.equal(resolved.status, 404)
    assert.equal(resolved.body.error.name, 'NameNotFoundError')
    assert.deepEqual(calls, [
      ['publish', { repo: 'app', key: 'alice', tags: { v1: DIGEST } }],
      ['claim', 'alice', 'x.example.org', undefined],
      ['resolveImage', 'alice/app:v1', true]
    ])
    // the client rebuilds the named error, so the CLI prints it without a stack trace
    await assert.rejects(new RpcClient({ address: withNaming.address }).post('/api/v0/name/resolve', { body: { reference: 'alice/app' } }), { name: 'NameNotFoundError' })
  })

  it('a daemon without naming answers 503 NamingUnavailableError', async () => {
    for (const [url, body] of [['/api/v0/name/resolve', { reference: 'alice/app' }], ['/api/v0/image/pull', { reference: 'alice/app' }]] as const) {
      const res = await post(without, url, body)
      assert.equal(res.status, 503, url)
      assert.equal(res.body.error.name, 'NamingUnavailableError')
    }
  })
})
