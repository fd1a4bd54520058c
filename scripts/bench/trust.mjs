#!/usr/bin/env node
// Benchmark of signed objects: DSSE / in-toto statements against raw Ed25519.
//
//   npm run build && npm exec -- node scripts/bench/trust.mjs [--ms 1500]
//
// Measures in one run, on one thread, for the same key:
//   (a) raw Ed25519 sign and verify of the statement's PAE bytes, through
//       node:crypto with a cached KeyObject (the floor) and through
//       @libp2p/crypto's key.sign / publicKey.verify (what trust uses);
//   (b) signStatement (JSON + PAE + sign + base64) and verifyStatement
//       (base64 + keyid -> public key + PAE + verify + JSON + statement check)
//       of an image signature, and of a SLSA provenance statement from an
//       11-step history;
//   (c) verifyImage for a 3-layer image with 3 statements (two layer
//       signatures by two issuers and one image signature) under a policy
//       with a manifest rule and two layer rules.
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import {
  imageSignatureStatement,
  layerSignatureStatement,
  pae,
  parsePolicy,
  provenanceFromHistory,
  signStatement,
  userIdFromKey,
  verifyImage,
  verifyStatement,
  PAYLOAD_TYPE_IN_TOTO
} from '../../packages/trust/dist/src/index.js'
import { computeDigest } from '../../packages/content/dist/src/index.js'

const args = process.argv.slice(2)
const msAt = args.indexOf('--ms')
const MS = msAt >= 0 ? Number(args[msAt + 1]) || 1500 : 1500

const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** Runs `fn` (sync or async) repeatedly for about `ms`; returns operations per second. */
async function rate (fn, ms = MS) {
  const warm = performance.now() + Math.min(200, ms / 4)
  while (performance.now() < warm) await fn()
  let ops = 0
  const start = performance.now()
  let elapsed = 0
  do {
    for (let i = 0; i < 32; i++) await fn()
    ops += 32
    elapsed = performance.now() - start
  } while (elapsed < ms)
  return ops / (elapsed / 1000)
}

const seed = new Uint8Array(32).fill(7)
const key = await generateKeyPairFromSeed('Ed25519', seed)
const vendor = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(8))
const builder = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(9))
const nodePriv = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(seed).toString('base64url'), x: Buffer.from(key.publicKey.raw).toString('base64url') }, format: 'jwk' })
const nodePub = createPublicKey(nodePriv)

const d = label => computeDigest(new TextEncoder().encode(label))
const layers = [d('layer 0'), d('layer 1'), d('layer 2')]
const manifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('config'), size: 1234 },
  layers: layers.map((digest, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: 1_000_000 * (i + 1) }))
}
const manifestDigest = computeDigest(new TextEncoder().encode(JSON.stringify(manifest)))

const imageStatement = imageSignatureStatement(manifestDigest, { repository: 'acme/app' })
const history = Array.from({ length: 11 }, (_, i) => ({ created: '2026-11-20T10:15:30Z', created_by: `RUN /bin/sh -c step ${i} # buildkit`, comment: 'buildkit.dockerfile.v0', empty_layer: i % 3 !== 0 }))
const provenance = provenanceFromHistory({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, history }, {
  manifestDigest, baseImages: [d('base')], builder: userIdFromKey(builder), invocationId: 'bench', startedOn: '2026-11-20T10:15:00Z', finishedOn: '2026-11-20T10:15:31Z'
})

const message = pae(PAYLOAD_TYPE_IN_TOTO, new TextEncoder().encode(JSON.stringify(imageStatement)))
const nodeSig = nodeSign(null, message, nodePriv)
const libp2pSig = await key.sign(message)

const imageEnv = await signStatement(imageStatement, key)
const provEnv = await signStatement(provenance, builder)
const statements = [
  await signStatement(layerSignatureStatement(layers.slice(0, 2)), vendor),
  await signStatement(layerSignatureStatement([layers[2]]), key),
  imageEnv
]
const policy = parsePolicy({
  version: 1,
  rules: [{
    match: 'acme/*',
    mode: 'enforce',
    manifest: { signers: [userIdFromKey(key)] },
    layers: [{ layers: 'base:2', signers: [userIdFromKey(vendor)] }, { layers: 'rest', signers: [userIdFromKey(key)] }]
  }]
})
const check = await verifyImage({ manifest, manifestDigest, statements, policy, reference: 'acme/app:1' })
if (!check.passed) throw new Error('bench image does not pass its policy')

console.log(`trust: Ed25519 sign/verify, ${MS} ms per row, one thread (node ${process.version})`)
console.log(`  image-signature payload ${imageEnv.payload.length * 3 / 4 | 0} bytes, PAE ${message.byteLength} bytes; provenance payload ${provEnv.payload.length * 3 / 4 | 0} bytes`)

const rows = []
const row = async (name, fn, baseline) => {
  const r = await rate(fn)
  rows.push({ name, r })
  const vs = baseline != null ? `  ${fmt(r / baseline * 100, 0)}% of raw node:crypto` : ''
  console.log(`  ${name.padEnd(48)} ${fmt(r).padStart(9)} ops/s  ${fmt(1e6 / r, 1).padStart(7)} µs/op${vs}`)
  return r
}

console.log('sign')
const rawSign = await row('raw node:crypto sign (cached KeyObject)', () => nodeSign(null, message, nodePriv))
await row('raw @libp2p/crypto key.sign', () => key.sign(message), rawSign)
await row('signStatement (image signature)', () => signStatement(imageStatement, key), rawSign)
await row('signStatement (SLSA provenance, 11 steps)', () => signStatement(provenance, builder), rawSign)

console.log('verify')
const rawVerify = await row('raw node:crypto verify (cached KeyObject)', () => nodeVerify(null, message, nodePub, nodeSig))
await row('raw @libp2p/crypto publicKey.verify', () => key.publicKey.verify(message, libp2pSig), rawVerify)
await row('verifyStatement (image signature)', () => verifyStatement(imageEnv), rawVerify)
await row('verifyStatement (SLSA provenance, 11 steps)', () => verifyStatement(provEnv), rawVerify)
const image = await row('verifyImage (3 layers, 3 statements, 3 rules)', () => verifyImage({ manifest, manifestDigest, statements, policy, reference: 'acme/app:1' }))
console.log(`  => verifyImage costs ${fmt(1e3 / image, 3)} ms per image`)

// (d) the same check inside a real pull: two nodes in this process over TCP
// loopback, a 3-layer image (3 x 8 MiB) with 3 statements; node 1 pulls it
// with the policy (statements fetched through bitswap, verifyImage before the
// layers) and, for the comparison, a copy of it (other bytes, same shape) with
// no policy. Medians of 3 pulls each.
const { createSwarm } = await import('../../packages/testbed/dist/src/index.js')
const { importBlob, cidForDigest, MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER_GZIP } = await import('../../packages/content/dist/src/index.js')
const { encodeEnvelope } = await import('../../packages/trust/dist/src/index.js')
const { randomBytes } = await import('node:crypto')
const PULLS = 3
const swarm = await createSwarm({ size: 2, transport: 'tcp', difficulty: 4, topology: 'line', blockstores: true })
try {
  await swarm.waitForRoutingTables(1)
  const [origin, puller] = swarm.nodes
  async function seed () {
    const layers = [randomBytes(8 << 20), randomBytes(8 << 20), randomBytes(8 << 20)]
    const config = new TextEncoder().encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(l => computeDigest(l)) } }))
    const manifestBytes = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      config: { mediaType: MEDIA_TYPE_OCI_CONFIG, digest: computeDigest(config), size: config.byteLength },
      layers: layers.map(l => ({ mediaType: MEDIA_TYPE_OCI_LAYER_GZIP, digest: computeDigest(l), size: l.byteLength }))
    }))
    const digest = computeDigest(manifestBytes)
    const blobs = []
    const blocks = []
    for (const [bytes, mediaType] of [[manifestBytes, MEDIA_TYPE_OCI_MANIFEST], [config, MEDIA_TYPE_OCI_CONFIG], ...layers.map(l => [l, MEDIA_TYPE_OCI_LAYER_GZIP])]) {
      const res = await importBlob((async function * () { for (let i = 0; i < bytes.byteLength; i += 1 << 20) yield bytes.subarray(i, i + (1 << 20)) })(), origin.blockstore, { expectedDigest: computeDigest(bytes) })
      blobs.push({ digest: res.digest, size: res.size, root: res.root.toString(), mediaType })
      blocks.push(...res.blocks)
    }
    await origin.images.add({ manifestDigest: digest, mediaType: MEDIA_TYPE_OCI_MANIFEST, blobs }, blocks)
    const layerDigests = layers.map(l => computeDigest(l))
    await origin.addStatements(digest, [
      encodeEnvelope(await signStatement(layerSignatureStatement(layerDigests.slice(0, 2)), vendor)),
      encodeEnvelope(await signStatement(layerSignatureStatement(layerDigests.slice(2)), key)),
      encodeEnvelope(await signStatement(imageSignatureStatement(digest), key))
    ])
    await origin.provideImage(digest)
    for (let i = 0; i < 100; i++) {
      let found = false
      for await (const p of puller.findProviders(cidForDigest(digest), { signal: AbortSignal.timeout(5000) })) { if (p.id.equals(origin.peerId)) { found = true; break } }
      if (found) break
    }
    return digest
  }
  const pullPolicy = parsePolicy({
    version: 1,
    rules: [{
      match: '**',
      manifest: { signers: [userIdFromKey(key)] },
      layers: [{ layers: 'base:2', signers: [userIdFromKey(vendor)] }, { layers: 'rest', signers: [userIdFromKey(key)] }]
    }]
  })
  const timed = async (digest, policy) => {
    const t = performance.now()
    const pulled = await puller.pull(digest, { signal: AbortSignal.timeout(120_000), ...(policy != null ? { policy } : {}) })
    if (policy != null && pulled.report?.passed !== true) throw new Error('the bench image failed its policy')
    return performance.now() - t
  }
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1]
  const withPolicy = []
  const without = []
  for (let i = 0; i < PULLS; i++) {
    withPolicy.push(await timed(await seed(), pullPolicy))
    without.push(await timed(await seed()))
  }
  const verifyMs = 1e3 / image
  const pullMs = median(withPolicy)
  console.log('verify inside a pull (2 nodes, TCP loopback, 3 x 8 MiB layers, 3 statements)')
  console.log(`  pull with policy   ${fmt(pullMs, 0).padStart(6)} ms (median of ${PULLS}: ${withPolicy.map(x => fmt(x, 0)).join(', ')})`)
  console.log(`  pull, no policy    ${fmt(median(without), 0).padStart(6)} ms (median of ${PULLS}: ${without.map(x => fmt(x, 0)).join(', ')})`)
  console.log(`  => verifyImage (${fmt(verifyMs, 3)} ms) is ${fmt(verifyMs / pullMs * 100, 3)}% of the pull; the whole trust step (statement fetch + checks) is at most the difference, ${fmt(pullMs - median(without), 0)} ms`)
} finally {
  await swarm.stop()
}
