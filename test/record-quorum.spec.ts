import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { cidForDigest, importBlob, MEDIA_TYPE_OCI_MANIFEST } from '@provenir/content'
import { STATEMENT_IDLE_TIMEOUT } from '@provenir/node'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createSwarm } from '@provenir/testbed'

/** These tests watch bitswap (its progress events, ledgers and sessions): the bulk channel stays off */
const BITSWAP_ONLY = { bulk: { enabled: false, announce: [], connectionsPerPeer: 2, sendSlots: 2 } }
import { encodeEnvelope, imageSignatureStatement, parsePolicy, signStatement, userIdFromKey } from '@provenir/trust'
import { chunks, digestOf, makeImage, seedImage } from './images.js'
import type { PrivateKey } from '@libp2p/interface'
import type { ImageRecord } from '@provenir/content'
import type { ProvenirNode } from '@provenir/node'
import type { Swarm } from '@provenir/testbed'

/**
 * Seeds `node` with a forged copy of `image`: the same manifest, config and
 * small layer, but a record that names, for the big layer, the DAG of
 * `decoy` (other bytes of the same size), and no statements. Provides it all.
 */
async function seedForgery (node: ProvenirNode, image: ReturnType<typeof makeImage>, decoy: Uint8Array): Promise<string> {
  const manifestDigest = digestOf(image.manifest) as ImageRecord['manifestDigest']
  const blobs: ImageRecord['blobs'] = []
  const blocks: CID[] = []
  const [config, big, small] = image.blobs
  let decoyRoot = ''
  for (const blob of [{ bytes: image.manifest, mediaType: MEDIA_TYPE_OCI_MANIFEST }, config, big, small]) {
    const stored = blob === big ? decoy : blob.bytes
    const res = await importBlob(chunks(stored), node.blockstore!, { expectedDigest: digestOf(stored) })
    if (blob === big) decoyRoot = res.root.toString()
    blobs.push({ digest: digestOf(blob.bytes) as ImageRecord['manifestDigest'], size: blob.bytes.byteLength, root: res.root.toString(), mediaType: blob.mediaType })
    blocks.push(...res.blocks)
  }
  await node.images!.add({ manifestDigest, mediaType: MEDIA_TYPE_OCI_MANIFEST, blobs }, blocks)
  await node.provideImage(manifestDigest)
  return decoyRoot
}

describe('a pull by digest merges the records of several providers', () => {
  let swarm: Swarm
  let team: PrivateKey
  const image = makeImage(3.5 * 1024 * 1024)
  const digest = digestOf(image.manifest)

  before(async () => {
    team = await generateKeyPair('Ed25519')
    // node 0 (the puller) is connected to each of the others
    swarm = await createSwarm({ size: 4, transport: 'tcp', difficulty: 4, topology: 'star', blockstores: true, config: BITSWAP_ONLY })
    await swarm.waitForRoutingTables(1)
  })

  after(async () => {
    await swarm?.stop()
  })

  it('two forged records (a decoy root, no statements) against one honest record: the pull passes enforce and falls back to the honest root', async () => {
    const [puller, origin, forger1, forger2] = swarm.nodes
    const honest = await seedImage(origin, image)
    await origin.addStatements(digest, [encodeEnvelope(await signStatement(imageSignatureStatement(digest), team))])
    // the forgers agree: their root is named twice, the honest one once, so the decoy is tried first
    const decoyBytes = randomBytes(image.blobs[1].bytes.byteLength)
    const decoy = await seedForgery(forger1, image, decoyBytes)
    assert.equal(await seedForgery(forger2, image, decoyBytes), decoy)
    // the puller must find all three in the DHT, or its pull may start with fewer
    await swarm.waitForProviders(puller, cidForDigest(digest), [origin, forger1, forger2])
    const bigDigest = digestOf(image.blobs[1].bytes)
    const honestRoot = honest.blobs.find(b => b.digest === bigDigest)!.root
    assert.notEqual(decoy, honestRoot)

    const policy = parsePolicy({ version: 1, rules: [{ match: '**', mode: 'enforce', manifest: { signers: [userIdFromKey(team)] } }] })
    const pulled = await puller.pull(digest, { policy, signal: AbortSignal.timeout(60_000) })
    assert.equal(pulled.report?.passed, true, JSON.stringify(pulled.report?.checks))
    assert.equal(pulled.statements.length, 1, 'the honest provider\'s statement was found although two records had none')
    assert.equal(pulled.record.blobs.find(b => b.digest === bigDigest)?.root, honestRoot, 'the blob is recorded under the root that held its bytes')
    const fromForgers = (puller.libp2p.services.bitswap.ledger(forger1.peerId)?.bytesReceived ?? 0) + (puller.libp2p.services.bitswap.ledger(forger2.peerId)?.bytesReceived ?? 0)
    assert.ok(fromForgers > 0, 'the decoy root was tried first (its blocks came from the forgers)')
  })

  it('a statement a record lists but nobody holds holds the pull up for seconds, not for the statement timeout', async () => {
    const [puller, origin] = swarm.nodes
    const other = makeImage(1.5 * 1024 * 1024)
    const otherDigest = digestOf(other.manifest)
    await seedImage(origin, other)
    await origin.addStatements(otherDigest, [encodeEnvelope(await signStatement(imageSignatureStatement(otherDigest), team))])
    // a record (here the caller's, as a signed repository document brings it) that also lists a
    // statement block that exists nowhere: a node will not store such a record, but a forged
    // or stale one can say anything
    const nowhere = CID.createV1(raw.code, await sha256.digest(randomBytes(64)))
    const held = (await origin.images!.get(otherDigest))!
    const record = { ...held, statements: [nowhere.toString(), ...held.statements!] }
    await swarm.waitForProviders(puller, cidForDigest(otherDigest), [origin])

    const policy = parsePolicy({ version: 1, rules: [{ match: '**', mode: 'enforce', manifest: { signers: [userIdFromKey(team)] } }] })
    const started = Date.now()
    const pulled = await puller.pull(otherDigest, { policy, record, signal: AbortSignal.timeout(60_000) })
    const took = Date.now() - started
    assert.equal(pulled.report?.passed, true)
    assert.equal(pulled.statements.length, 1, 'the statement that exists was fetched and kept')
    assert.ok(took >= STATEMENT_IDLE_TIMEOUT - 500 && took < 20_000, `the pull took ${took} ms: it gave up on the missing statement (STATEMENTS_TIMEOUT is 60 s)`)
  })
})
