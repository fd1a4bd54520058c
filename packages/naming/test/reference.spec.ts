import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { userIdFromKey } from '@provenir/trust'
import { formatReference, parseReference } from '../src/index.js'
import { MANIFEST } from './fixtures.js'

describe('parseReference', () => {
  it('parses namespace/repo with tag, digest, default tag and a registry', async () => {
    const key = await generateKeyPair('Ed25519')
    const uid = userIdFromKey(key)
    const nodeId = peerIdFromPrivateKey(key).toString()
    assert.deepEqual(parseReference('aweiteka/myapp'), { namespace: 'aweiteka', namespaceKind: 'name', repo: 'myapp', tag: 'latest' })
    assert.deepEqual(parseReference(`${uid}/myapp:v1.2`), { namespace: uid, namespaceKind: 'userId', repo: 'myapp', tag: 'v1.2' })
    assert.deepEqual(parseReference(`aweiteka/my-app@${MANIFEST}`), { namespace: 'aweiteka', namespaceKind: 'name', repo: 'my-app', digest: MANIFEST })
    assert.deepEqual(parseReference(`registry.example.org/aweiteka/myapp:v1@${MANIFEST}`), {
      registry: { kind: 'domain', domain: 'registry.example.org' }, namespace: 'aweiteka', namespaceKind: 'name', repo: 'myapp', tag: 'v1', digest: MANIFEST
    })
    const withNode = parseReference(`${nodeId}/aweiteka/myapp`)
    assert.deepEqual(withNode.registry, { kind: 'node', nodeId })
    assert.equal(formatReference(withNode), `${nodeId}/aweiteka/myapp:latest`)
    // the CID form of a NodeId is canonicalised
    assert.deepEqual(parseReference(`${uid}/aweiteka/myapp`).registry, { kind: 'node', nodeId })
  })

  it('refuses malformed references with ReferenceInvalidError naming the part', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /non-empty/],
      ['myapp', /namespace and a repo/],
      ['a/b/c/d', /too many/],
      ['aweiteka/MyApp', /repository name/],
      ['aweiteka/myapp:bad tag', /not a tag/],
      ['aweiteka/myapp@sha256:123', /not a digest/],
      ['Not_A_Name/myapp', /namespace/],
      ['not a registry/aweiteka/myapp', /registry/],
      ['x'.repeat(600), /at most/]
    ]
    for (const [input, message] of cases) {
      assert.throws(() => parseReference(input), { name: 'ReferenceInvalidError', message }, input)
    }
  })
})
