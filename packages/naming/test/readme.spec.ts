/**
 * The README's example, run as written (keep the two in step).
 */

import assert from 'node:assert/strict'
import { it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { userIdFromKey } from '@provenir/trust'
import {
  Registry, Resolver, createRepoDocument, signRepoDocument, signRepoPointer, signClaim, verifyBinding
} from '../src/index.js'
import { noRegistrar, silentLogger } from './fixtures.js'

it('README example', async () => {
  // --- README example start ---
  const owner = await generateKeyPair('Ed25519')
  const digest = 'sha256:' + 'a'.repeat(64)
  const root = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

  // 1. the owner signs a repository document and a pointer record to it
  const doc = await signRepoDocument(createRepoDocument({
    owner,
    repo: 'myapp',
    seq: 1,
    tags: { latest: digest },
    images: [{ manifestDigest: digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', blobs: [{ digest, size: 512, root }] }]
  }), owner)
  const pointer = await signRepoPointer({ repo: 'myapp', seq: 1, doc: doc.cid }, owner)

  // 2. a registry binds a link name to the owner's UserId on a signed claim
  const registry = new Registry({ registrar: noRegistrar, logger: silentLogger, privateKey: await generateKeyPair('Ed25519') })
  const binding = await registry.claim(await signClaim('aweiteka', registry.nodeId, owner))
  await verifyBinding(binding, registry.nodeId) // offline: bytes + NodeId

  // 3. anyone resolves the name to a manifest digest
  const resolver = new Resolver({
    registries: [registry],
    pointers: async () => [pointer], // dhtPointerSource(node.dht) in a node
    documents: async () => doc.bytes // a blockstore / bitswap session in a node
  })
  const resolved = await resolver.resolve('aweiteka/myapp:latest')
  // resolved.manifestDigest === digest, resolved.owner === userIdFromKey(owner)
  // --- README example end ---
  assert.equal(resolved.manifestDigest, digest)
  assert.equal(resolved.owner, userIdFromKey(owner))
})
