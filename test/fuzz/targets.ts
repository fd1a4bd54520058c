/**
 * Every parser that takes input from outside the node (a peer, a client, a
 * file an operator was handed), with the size limit it enforces and a
 * generator of inputs up to (and a little over) that limit.
 *
 * Each target has a `prepare` step, not timed (it builds the bytes, and
 * signs fuzzed payloads so that the checks behind a signature are reached
 * too), and the `parse` step the harness times and judges.
 */
import { writeFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { DEFAULT_MAX_MESSAGE_RATE, decodeCID, decodeMessage, decodePrefix, LengthPrefixedDecoder, MessageRateError } from '@provenir/bitswap'
import { parseApiAddress, parseBundle, validateRepoConfig, createRepoConfig } from '@provenir/cli'
import { indexTar, parseImageConfig, parseManifest } from '@provenir/content'
import { parseDigest, parseJson, parsePlatform } from '@provenir/interface'
import {
  nameValidator, parseReference, parseRegistryRef, parseRegistrySpec, repoValidator, verifyBinding, verifyClaim, verifyRepoDocument,
  NAME_BINDING_PAYLOAD_TYPE, NAME_CLAIM_PAYLOAD_TYPE, REPO_DOCUMENT_PAYLOAD_TYPE, REPO_POINTER_PAYLOAD_TYPE
} from '@provenir/naming'
import { BulkClientFrameRules, BulkFrame, BulkFrameReader, BulkProtocolError, DEFAULT_BULK_REQUESTS_PER_CONNECTION, DEFAULT_CONFIG, bulkWantedCid, decodeImageRecord, encodeBulkFrame, parseSwarmKey, validateConfig } from '@provenir/node'
import {
  checkStatement, encodeEnvelope, findRule, fromSigstoreBundle, matchGlob, parseDockerfile, parseEnvelope, parsePolicy,
  publicKeyFromUserId, signEnvelope, toSigstoreBundle, userIdFromKey
} from '@provenir/trust'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { BASE36, BASE58, GLOB, PRINTABLE, REFERENCE, bytes, bytesRecipe, documentRecipe, documentText, text, textRecipe } from './recipes.js'
import type { DocumentRecipe, TextRecipe } from './recipes.js'
import type { PrivateKey } from '@libp2p/interface'

export interface FuzzTarget<R = any, I = any> {
  name: string
  /** The largest input the parser must handle in time (its own limit, or the transport's) */
  limit: number
  arbitrary: fc.Arbitrary<R>
  /** Builds the parser's input; not timed */
  prepare(recipe: R): I | Promise<I>
  /** The parser; timed. It may return or throw a named error */
  parse(input: I): unknown
}

const MiB = 1024 * 1024
const encoder = new TextEncoder()
const DIGEST = `sha256:${'a'.repeat(64)}`
const DIGEST2 = `sha256:${'b'.repeat(64)}`
const CID_RAW = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const HEX = '0123456789abcdef'

/** Keys from fixed seeds: the same UserIds and NodeIds in every run, so regression cases stay meaningful */
async function seededKey (seed: number): Promise<PrivateKey> {
  return generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))
}

function signedJsonTarget (name: string, limit: number, bases: unknown[], payloadType: string, key: PrivateKey, parse: (bytes: Uint8Array) => unknown, alphabets = [PRINTABLE, BASE36]): FuzzTarget<{ doc: DocumentRecipe, raw: boolean }, Uint8Array> {
  return {
    name,
    limit,
    arbitrary: fc.record({ doc: documentRecipe({ bases, limit, alphabets, words: [DIGEST, CID_RAW, 'k51qzi5uqu5', '12D3KooW'] }), raw: fc.boolean() }),
    async prepare ({ doc, raw }) {
      const payload = documentText(bases, doc, limit)
      // `raw`: the fuzzed text is the envelope itself; otherwise it is the payload, signed
      if (raw) return encoder.encode(payload)
      return encodeEnvelope(await signEnvelope(encoder.encode(payload), payloadType, key))
    },
    parse
  }
}

/**
 * Every fuzz target. `scratch`: a directory for targets that parse files
 * (the worker gets one from FuzzWorker, which removes it); without it such a
 * target's inputs cannot be prepared.
 */
export async function loadTargets (options: { scratch?: string } = {}): Promise<Array<FuzzTarget<any, any>>> {
  const owner = await seededKey(1)
  const registryKey = await seededKey(2)
  const claimant = await seededKey(3)
  const ownerId = userIdFromKey(owner)
  const registryNodeId = peerIdFromPrivateKey(registryKey).toString()
  const claimantId = userIdFromKey(claimant)
  const future = new Date(Date.now() + 24 * 3600_000).toISOString()
  const now = new Date().toISOString()

  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: DIGEST, size: 1234 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: DIGEST2, size: 5678, annotations: { 'org.opencontainers.image.title': 'x' } }],
    annotations: { a: 'b' }
  }
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, size: 400, platform: { os: 'linux', architecture: 'amd64' } }]
  }
  const docker = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: DIGEST, size: 1234 },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: DIGEST2, size: 5678 }]
  }
  const config = {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/bin'], Cmd: ['/bin/sh'], Labels: { a: 'b' } },
    rootfs: { type: 'layers', diff_ids: [DIGEST2] },
    history: [{ created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:abc in / ' }, { created_by: 'RUN apk add curl', empty_layer: true }]
  }
  const record = {
    manifestDigest: DIGEST,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    blobs: [{ digest: DIGEST, size: 400, root: CID_RAW, mediaType: 'application/vnd.oci.image.manifest.v1+json' }, { digest: DIGEST2, size: 3_000_000, root: CID_RAW, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }],
    statements: [CID_RAW]
  }
  const binding = { name: 'alice', userId: claimantId, seq: 1, registry: registryNodeId, issued: now }
  const claim = { name: 'alice', userId: claimantId, registry: registryNodeId, nonce: 'AAAAAAAAAAAAAAAAAAAAAA==', time: now }
  const pointer = { owner: ownerId, repo: 'myapp', seq: 1, expires: future, doc: CID_RAW }
  const document = {
    owner: ownerId,
    repo: 'myapp',
    tags: { latest: DIGEST },
    images: { [DIGEST]: { mediaType: 'application/vnd.oci.image.manifest.v1+json', blobs: [{ digest: DIGEST, size: 400, root: CID_RAW }, { digest: DIGEST2, size: 3_000_000, root: CID_RAW }] } },
    seq: 1,
    expires: future
  }
  const policy = {
    version: 1,
    default: 'enforce',
    rules: [{
      match: ['acme/*', 'sha256/**'],
      mode: 'enforce',
      manifest: { signers: [ownerId], threshold: 1 },
      layers: [{ layers: 'base:1', signers: [ownerId] }, { layers: 'rest', signers: [claimantId] }],
      attestations: [{ predicateType: 'https://slsa.dev/provenance/v1', builders: [ownerId] }]
    }]
  }
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'acme/app', digest: { sha256: 'a'.repeat(64) } }],
    predicateType: 'https://provenir.dev/signature/image/v1',
    predicate: { repository: 'acme/app' }
  }
  const envelope = JSON.parse(new TextDecoder().decode(encodeEnvelope(await signEnvelope(encoder.encode(JSON.stringify(statement)), 'application/vnd.in-toto+json', owner))))
  const sigstore = toSigstoreBundle(envelope)
  const swarmKey = `/key/swarm/psk/1.0.0/\n/base16/\n${'0f'.repeat(32)}\n`
  const bundle = {
    version: 1,
    name: 'lab',
    swarmKey,
    bootstrap: [`/ip4/10.0.0.1/tcp/4101/p2p/${registryNodeId}`],
    registries: [{ id: registryNodeId, priority: 10 }],
    defaultRegistry: registryNodeId,
    difficulty: 16
  }
  const repoConfig = JSON.parse(JSON.stringify(createRepoConfig({})))
  repoConfig.naming.pins = { alice: claimantId }
  repoConfig.naming.registries = [{ id: registryNodeId, addrs: ['/ip4/10.0.0.1/tcp/4101'] }]
  const nodeConfig = { ...JSON.parse(JSON.stringify(DEFAULT_CONFIG)), bootstrap: [`/ip4/10.0.0.1/tcp/4101/p2p/${registryNodeId}`] }
  let tarCount = 0

  const targets: Array<FuzzTarget<any, any>> = [
    {
      name: 'bitswap-message',
      limit: 4 * MiB,
      arbitrary: fc.oneof(
        fc.record({ raw: bytesRecipe(4 * MiB) }),
        fc.record({
          entries: fc.nat({ max: 10_000 }), cid: bytesRecipe(256),
          blocks: fc.nat({ max: 10_000 }), prefix: bytesRecipe(64), data: fc.nat({ max: 3 * MiB }),
          presences: fc.nat({ max: 10_000 }), full: fc.boolean()
        })
      ),
      prepare (r: any): Uint8Array {
        if (r.raw != null) return bytes(r.raw, 4 * MiB + 16)
        const cid = bytes(r.cid, 256)
        const prefix = bytes(r.prefix, 64)
        // a message encoded by hand: field tags and lengths as protobuf lays them out
        const parts: Uint8Array[] = []
        const field = (tag: number, body: Uint8Array): void => { parts.push(Uint8Array.of(tag), varint(body.byteLength), body) }
        const entry = concat([Uint8Array.of(0x0a), varint(cid.byteLength), cid, Uint8Array.of(0x10, 0x01)])
        const wantlist = concat([...Array.from({ length: r.entries }, () => concat([Uint8Array.of(0x0a), varint(entry.byteLength), entry])), Uint8Array.of(0x10, r.full === true ? 1 : 0)])
        field(0x0a, wantlist)
        const data = new Uint8Array(Math.min(r.data, 3 * MiB))
        const block = concat([Uint8Array.of(0x0a), varint(prefix.byteLength), prefix, Uint8Array.of(0x12), varint(data.byteLength), data])
        for (let i = 0; i < r.blocks && i * block.byteLength < 4 * MiB; i++) field(0x1a, block)
        const presence = concat([Uint8Array.of(0x0a), varint(cid.byteLength), cid, Uint8Array.of(0x10, 0x01)])
        for (let i = 0; i < r.presences; i++) field(0x22, presence)
        return concat(parts).subarray(0, 4 * MiB + 16)
      },
      parse (frame: Uint8Array) {
        // what a peer's message goes through before anything changes (BitswapNode.onMessage)
        const message = decodeMessage(frame, { maxMessageSize: 4 * MiB, maxEntriesPerMessage: 8192 })
        for (const b of message.payload) decodePrefix(b.prefix)
        for (const e of message.wantlist?.entries ?? []) decodeCID(e.block, 128)
        for (const p of message.blockPresences) decodeCID(p.cid, 128)
      }
    },
    {
      name: 'bitswap-framing',
      limit: 4 * MiB,
      arbitrary: fc.record({ data: bytesRecipe(4 * MiB), cuts: fc.array(fc.nat(), { maxLength: 8 }) }),
      prepare: (r: { data: TextRecipe, cuts: number[] }) => cutAt(bytes(r.data, 4 * MiB + 16), r.cuts),
      parse (chunks: Uint8Array[]) {
        // as the network takes a peer's stream: frames one at a time, within the peer's message rate
        const decoder = new LengthPrefixedDecoder(4 * MiB)
        let frames = 0
        for (const chunk of chunks) {
          decoder.append(chunk)
          for (let frame = decoder.next(); frame != null; frame = decoder.next()) {
            if (++frames > DEFAULT_MAX_MESSAGE_RATE) throw new MessageRateError(`more than ${DEFAULT_MAX_MESSAGE_RATE} messages`)
            decodeMessage(frame, { maxMessageSize: 4 * MiB, maxEntriesPerMessage: 8192 })
          }
        }
      }
    },
    {
      // what a bulk connection's peer sends, at either end: the frames (raw bytes, or frames made
      // well with fuzzed fields) cut anywhere, as the TLS stream delivers them; a WANT's CID is
      // decoded as the server does
      name: 'bulk-frames',
      limit: 4 * MiB,
      arbitrary: fc.record({
        raw: fc.option(bytesRecipe(4 * MiB), { nil: undefined }),
        frames: fc.array(fc.record({
          type: fc.constantFrom(BulkFrame.Type.READY, BulkFrame.Type.WANT, BulkFrame.Type.CANCEL, BulkFrame.Type.BLOCK, BulkFrame.Type.DONT_HAVE, BulkFrame.Type.QUEUED, BulkFrame.Type.HAVE),
          flag: fc.boolean(),
          id: fc.nat(),
          cid: bytesRecipe(200),
          length: fc.nat({ max: 3 * MiB }),
          // bytes of a BLOCK's body actually sent: a length the stream stops short of is read the same way
          body: fc.nat({ max: 64 * 1024 }),
          holders: fc.array(bytesRecipe(80), { maxLength: 6 })
        }), { maxLength: 12 }),
        cuts: fc.array(fc.nat(), { maxLength: 8 })
      }),
      prepare: (r: { raw?: TextRecipe, frames: Array<{ type: BulkFrame.Type, flag: boolean, id: number, cid: TextRecipe, length: number, body: number, holders: TextRecipe[] }>, cuts: number[] }) => {
        const all = r.raw != null
          ? bytes(r.raw, 4 * MiB + 16)
          : concat(r.frames.flatMap(f => [
            encodeBulkFrame({ type: f.type, id: f.id, cid: new Uint8Array(bytes(f.cid, 200)), length: f.length, holders: f.holders.map(h => new Uint8Array(bytes(h, 80))), redirectOk: f.flag, earlyDontHave: f.flag, fetching: f.flag, queuedOk: f.flag, busyOk: f.flag, busy: f.flag, havesOk: f.flag }),
            new Uint8Array(Math.min(f.body, f.length))
          ])).subarray(0, 4 * MiB + 16)
        return cutAt(all, r.cuts)
      },
      parse (chunks: Uint8Array[]) {
        // read as each end reads it until it closes the connection: a server takes a client's WANTs
        // and CANCELs by its rules (none answered here); a client takes READY, then answers, at most
        // one to each of its requests in flight (as if it had its most in flight: the ids match)
        const rules = new BulkClientFrameRules()
        let wants = 0
        const server = new BulkFrameReader({
          onFrame: (frame) => {
            rules.check(frame, wants)
            if (frame.type === BulkFrame.Type.WANT) {
              bulkWantedCid(frame)
              wants++
            }
          },
          onBody: () => {},
          onBodyEnd: () => {}
        }, 0)
        let ready = false
        let answers = 0
        let received = 0
        const client = new BulkFrameReader({
          onFrame: (frame) => {
            if (!ready) {
              if (frame.type !== BulkFrame.Type.READY) throw new BulkProtocolError(`${frame.type} frame before READY`)
              ready = true
            } else if (frame.type === BulkFrame.Type.QUEUED || frame.type === BulkFrame.Type.HAVE) {
              // not an answer: a QUEUED names a request in flight, which the reader cannot know
              // here; a HAVE names a block (as if a want had taken HAVE frames)
              if (frame.type === BulkFrame.Type.HAVE) {
                try {
                  CID.decode(frame.cid)
                } catch (err: any) {
                  throw new BulkProtocolError(`malformed CID in a HAVE frame: ${err.message}`)
                }
              }
            } else if (frame.type !== BulkFrame.Type.BLOCK && frame.type !== BulkFrame.Type.DONT_HAVE) {
              throw new BulkProtocolError(`unexpected ${frame.type} frame`)
            } else if (++answers > DEFAULT_BULK_REQUESTS_PER_CONNECTION) {
              throw new BulkProtocolError('an answer to no request')
            }
          },
          onBody: (piece) => { received += piece.byteLength },
          onBodyEnd: () => {}
        }, 2 * MiB)
        const errors: Error[] = []
        for (const reader of [server, client]) {
          try {
            for (const chunk of chunks) reader.push(chunk)
          } catch (err) {
            errors.push(err as Error)
          }
        }
        // a named error from either end, as its connection would close with it
        if (errors.length > 0) throw errors[0]
        return received
      }
    },
    jsonBytesTarget('oci-manifest', 4 * MiB, [manifest, index, docker], bytes => parseManifest(bytes), [PRINTABLE, HEX]),
    jsonBytesTarget('oci-config', 4 * MiB, [config], bytes => parseImageConfig(bytes), [PRINTABLE, HEX]),
    {
      name: 'docker-archive-tar',
      limit: MiB,
      arbitrary: fc.oneof(
        fc.record({ raw: bytesRecipe(MiB) }),
        fc.record({ headers: fc.array(fc.record({ name: textRecipe({ limit: 200, alphabets: [PRINTABLE] }), type: fc.constantFrom('0', '5', '2', '1', 'x', 'g', 'L', 'K', '\0'), size: fc.nat({ max: 2 * MiB }), body: bytesRecipe(MiB) }), { maxLength: 6 }) })
      ),
      async prepare (r: any): Promise<string> {
        if (options.scratch == null) throw new Error('docker-archive-tar writes its inputs to a scratch directory: loadTargets({ scratch })')
        const file = join(options.scratch, `t${tarCount++}.tar`)
        await writeFile(file, r.raw != null ? bytes(r.raw, MiB) : tarOf(r.headers))
        return file
      },
      async parse (file: string) {
        try {
          await indexTar(file)
        } finally {
          await rm(file, { force: true })
        }
      }
    },
    jsonBytesTarget('image-record', MiB, [record], bytes => decodeImageRecord(bytes, DIGEST), [PRINTABLE, BASE58, BASE36]),
    {
      name: 'dht-name-record',
      limit: 4 * MiB,
      arbitrary: fc.record({
        nodeId: textRecipe({ limit: 4 * MiB, alphabets: [BASE58, BASE36], words: [registryNodeId, '12D3KooW', 'Qm', 'bafz', 'k51qzi5uqu5'] }),
        name: textRecipe({ limit: 256, alphabets: ['abc-019'] }),
        raw: fc.option(textRecipe({ limit: 4 * MiB, alphabets: [PRINTABLE, BASE58] }), { nil: undefined })
      }, { requiredKeys: ['nodeId', 'name'] }),
      async prepare (r: any) {
        const key = r.raw != null ? text(r.raw, 4 * MiB) : `/provenir-name/${text(r.nodeId, 4 * MiB)}/${text(r.name, 256)}`
        return { key: encoder.encode(key), value: encodeEnvelope(await signEnvelope(encoder.encode(JSON.stringify(binding)), NAME_BINDING_PAYLOAD_TYPE, registryKey)) }
      },
      parse: async ({ key, value }: { key: Uint8Array, value: Uint8Array }) => nameValidator(key, value)
    },
    {
      name: 'dht-repo-record',
      limit: 4 * MiB,
      arbitrary: fc.record({
        owner: textRecipe({ limit: 4 * MiB, alphabets: [BASE36], words: [ownerId, 'k51qzi5uqu5'] }),
        repo: textRecipe({ limit: 256, alphabets: ['abc._-019/'] })
      }),
      async prepare (r: any) {
        return { key: encoder.encode(`/provenir-repo/${text(r.owner, 4 * MiB)}/${text(r.repo, 256)}`), value: encodeEnvelope(await signEnvelope(encoder.encode(JSON.stringify(pointer)), REPO_POINTER_PAYLOAD_TYPE, owner)) }
      },
      parse: async ({ key, value }: { key: Uint8Array, value: Uint8Array }) => repoValidator(key, value)
    },
    signedJsonTarget('name-binding', 16 * 1024, [binding], NAME_BINDING_PAYLOAD_TYPE, registryKey, async bytes => verifyBinding(bytes, registryNodeId, { name: 'alice' }), [PRINTABLE, BASE58, BASE36]),
    signedJsonTarget('name-claim', 16 * 1024, [claim], NAME_CLAIM_PAYLOAD_TYPE, claimant, async bytes => verifyClaim(bytes, { registry: registryNodeId }), [PRINTABLE, BASE58, BASE36]),
    signedJsonTarget('repo-pointer', 16 * 1024, [pointer], REPO_POINTER_PAYLOAD_TYPE, owner, async bytes => repoValidator(encoder.encode(`/provenir-repo/${ownerId}/myapp`), bytes), [PRINTABLE, BASE36]),
    signedJsonTarget('repo-document', MiB, [document], REPO_DOCUMENT_PAYLOAD_TYPE, owner, async bytes => verifyRepoDocument(bytes, { owner: ownerId, repo: 'myapp' }), [PRINTABLE, BASE36, HEX]),
    textTarget('image-reference', MiB, [REFERENCE, BASE58], [registryNodeId, ownerId, 'k51qzi5uqu5', 'alice/app:latest', `@${DIGEST}`, 'registry.example.org/'], t => parseReference(t)),
    textTarget('registry-reference', MiB, [BASE58, BASE36, 'abc.-'], [registryNodeId, '12D3KooW', 'Qm', 'z', 'bafz', 'k51', 'example.org'], t => parseRegistryRef(t)),
    jsonBytesTarget('trust-policy', MiB, [policy], bytes => parsePolicy(bytes), [PRINTABLE, GLOB, BASE36]),
    {
      name: 'policy-glob-match',
      // a glob the schema accepts (at most 256 characters) against a reference a client chooses
      limit: 512,
      arbitrary: fc.record({ glob: textRecipe({ limit: 256, alphabets: [GLOB], words: ['*', '**', '?', 'a*', '*-*', '*?*'] }), reference: textRecipe({ limit: 512, alphabets: [GLOB, REFERENCE], words: ['a', 'a-', 'aaaa', '/'] }) }),
      prepare: (r: { glob: TextRecipe, reference: TextRecipe }) => ({ glob: text(r.glob, 256), reference: text(r.reference, 512) }),
      parse ({ glob, reference }: { glob: string, reference: string }) {
        if (!/^[A-Za-z0-9._*?/:-]+$/.test(glob)) return
        matchGlob(glob, reference)
        try {
          findRule({ version: 1, rules: [{ match: glob }] } as any, reference)
        } catch (err) {
          // a reference that names no repository is the caller's named error
          if ((err as Error).name !== 'InvalidParametersError') throw err
        }
      }
    },
    jsonTextTarget('dsse-envelope', MiB, [envelope], t => parseEnvelope(t), [PRINTABLE, BASE36]),
    {
      name: 'in-toto-statement',
      limit: 512 * 1024,
      arbitrary: documentRecipe({ bases: [statement], limit: 512 * 1024, alphabets: [PRINTABLE, HEX] }),
      prepare: (r: DocumentRecipe) => documentText([statement], r, 512 * 1024),
      parse: (t: string) => {
        let value: unknown
        try {
          value = JSON.parse(t)
        } catch {
          return // the envelope's JSON is parsed (and refused) before a statement is checked
        }
        checkStatement(value)
      }
    },
    jsonTextTarget('sigstore-bundle', MiB + 64 * 1024, [sigstore], t => fromSigstoreBundle(t), [PRINTABLE, BASE36]),
    textTarget('dockerfile', MiB, [PRINTABLE], ['FROM ', 'RUN ', 'COPY ', 'ARG ', '\\\n', '\n', '["a", "b"]', '# syntax=docker/dockerfile:1\n', ' AS ', '$', '${', '<<EOF\n', 'EOF\n'], t => parseDockerfile(t)),
    jsonObjectTarget('node-config', MiB, [nodeConfig], v => validateConfig(v), [PRINTABLE, BASE58]),
    jsonObjectTarget('repo-config', MiB, [repoConfig], v => validateRepoConfig(v), [PRINTABLE, BASE58]),
    {
      name: 'swarm-key',
      limit: 256,
      arbitrary: fc.oneof(fc.record({ raw: bytesRecipe(512) }), fc.record({ key: textRecipe({ limit: 512, alphabets: [HEX, '/\n\r '], words: [swarmKey, '/key/swarm/psk/1.0.0/\n', '/base16/\n', '/base64/\n', '/bin/\n'] }) })),
      prepare: (r: any) => r.raw != null ? bytes(r.raw, 512) : encoder.encode(text(r.key, 512)),
      parse: (b: Uint8Array) => parseSwarmKey(b)
    },
    jsonTextTarget('swarm-bundle', 64 * 1024, [bundle], t => parseBundle(t), [PRINTABLE, BASE58, HEX]),
    textTarget('platform', 1024, ['linux/amd64arm64v8'], ['linux', 'amd64', 'arm64', '/', 'v8'], t => parsePlatform(t)),
    textTarget('digest', 64 * 1024, [HEX, 'sha256512:+.-_'], ['sha256:', 'sha512:', 'a'.repeat(64)], t => parseDigest(t)),
    textTarget('user-id', 64 * 1024, [BASE36], ['k51qzi5uqu5', ownerId], t => publicKeyFromUserId(t)),
    textTarget('api-address', 64 * 1024, ['0123456789.:[]abcdef'], ['127.0.0.1:', '[::1]:', 'localhost:'], t => parseApiAddress(t)),
    {
      name: 'registry-spec',
      limit: 64 * 1024,
      arbitrary: documentRecipe({ bases: [registryNodeId, { id: registryNodeId, addrs: ['/ip4/10.0.0.1/tcp/4101'] }, { domain: 'registry.example.org' }, `/ip4/10.0.0.1/tcp/4101/p2p/${registryNodeId}`], limit: 64 * 1024, alphabets: [BASE58, PRINTABLE] }),
      prepare: (r: DocumentRecipe) => {
        try {
          return JSON.parse(documentText([registryNodeId, { id: registryNodeId, addrs: ['/ip4/10.0.0.1/tcp/4101'] }, { domain: 'registry.example.org' }, `/ip4/10.0.0.1/tcp/4101/p2p/${registryNodeId}`], r, 64 * 1024))
        } catch {
          return null
        }
      },
      parse: (v: unknown) => parseRegistrySpec(v)
    }
  ]
  return targets
}

function jsonBytesTarget (name: string, limit: number, bases: unknown[], parse: (bytes: Uint8Array) => unknown, alphabets: string[]): FuzzTarget<DocumentRecipe, Uint8Array> {
  return {
    name,
    limit,
    arbitrary: documentRecipe({ bases, limit, alphabets, words: [DIGEST, CID_RAW] }),
    prepare: (r) => encoder.encode(documentText(bases, r, limit)),
    parse
  }
}

function jsonTextTarget (name: string, limit: number, bases: unknown[], parse: (text: string) => unknown, alphabets: string[]): FuzzTarget<DocumentRecipe, string> {
  return {
    name,
    limit,
    arbitrary: documentRecipe({ bases, limit, alphabets, words: [DIGEST, CID_RAW] }),
    prepare: (r) => documentText(bases, r, limit),
    parse
  }
}

/** A config file: its text parsed as `loadConfig` parses it (bounded JSON), then validated */
function jsonObjectTarget (name: string, limit: number, bases: unknown[], parse: (value: unknown) => unknown, alphabets: string[]): FuzzTarget<DocumentRecipe, string> {
  return {
    name,
    limit,
    arbitrary: documentRecipe({ bases, limit, alphabets }),
    prepare: (r) => documentText(bases, r, limit),
    parse: (text) => {
      let value: unknown
      try {
        value = parseJson(text)
      } catch (err) {
        // not JSON at all: the config loader names that itself
        if ((err as Error).name === 'SyntaxError') return
        throw err
      }
      return parse(value)
    }
  }
}

function textTarget (name: string, limit: number, alphabets: string[], words: string[], parse: (text: string) => unknown): FuzzTarget<TextRecipe, string> {
  return {
    name,
    limit,
    arbitrary: textRecipe({ limit, alphabets, words }),
    prepare: (r) => text(r, limit),
    parse
  }
}

function varint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** `all` in pieces, cut at each of `cuts` (modulo its length), as a stream delivers it */
function cutAt (all: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map(c => c % (all.byteLength + 1)))].sort((a, b) => a - b)
  const chunks: Uint8Array[] = []
  let last = 0
  for (const p of [...points, all.byteLength]) {
    chunks.push(all.subarray(last, p))
    last = p
  }
  return chunks
}

function concat (parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts)
}

/** A tar of ustar headers with fuzzed names, types and sizes, and fuzzed bodies */
function tarOf (entries: Array<{ name: TextRecipe, type: string, size: number, body: TextRecipe }>): Uint8Array {
  const parts: Uint8Array[] = []
  for (const e of entries) {
    const header = Buffer.alloc(512)
    header.write(text(e.name, 100), 0, 100, 'latin1')
    header.write('0000644\0', 100)
    header.write(e.size.toString(8).padStart(11, '0') + '\0', 124)
    header.write(e.type, 156, 1, 'latin1')
    header.write('ustar\u000000', 257, 'latin1')
    header.fill(' ', 148, 156)
    let sum = 0
    for (const b of header) sum += b
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148)
    const body = bytes(e.body, MiB)
    parts.push(header, body, Buffer.alloc((512 - body.byteLength % 512) % 512))
  }
  parts.push(Buffer.alloc(1024))
  return concat(parts)
}
