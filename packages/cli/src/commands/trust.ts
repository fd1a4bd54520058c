import path from 'node:path'
import { InvalidParametersError, isDigest, KeyNotFoundError, ProvenirError } from '@provenir/interface'
import { SELF_KEY_NAME } from '../constants.js'
import { readFileBounded } from '../fs-util.js'
import { createOutput, table } from '../output.js'
import { repoPaths } from '../repo-paths.js'
import { RpcClient } from '../rpc-client.js'
import { repoOf } from './common.js'
import type { JsonOption } from './common.js'
import type { ImageLsResponse } from '../content-routes.js'
import type { Output } from '../output.js'
import type { ImageInspectResponse, StatementInfo, StatementsResponse, VerifyResponse } from '../trust-routes.js'
import type { PrivateKey } from '@libp2p/interface'
import type { ImageManifest } from '@provenir/content'
import type { Statement, TrustPolicy } from '@provenir/trust'
import type { Command } from 'commander'

/** The image fails its trust policy; `provenir verify` exits 1 with it after printing the report */
export class ImageNotTrustedError extends ProvenirError {
  static override name = 'ImageNotTrustedError'
  override name = 'ImageNotTrustedError'
}

interface SignOptions extends JsonOption {
  key: string
  layers?: string
}

interface AttestOptions extends JsonOption {
  key: string
  fromHistory?: boolean
  recipe?: string
  base?: string[]
}

interface VerifyOptions extends JsonOption {
  policy?: string
  reference?: string
}

/**
 * The image a command names: a manifest digest, or a tag the daemon's index
 * holds (`name:tag`, or `name` for `name:latest`). Returns the digest and the
 * name it was given under, if any.
 */
export async function resolveImage (client: RpcClient, image: string): Promise<{ digest: string, name?: string }> {
  if (isDigest(image)) return { digest: image }
  const wanted = image.includes(':') && !image.endsWith(':') ? image : `${image}:latest`
  const { images } = await client.get<ImageLsResponse>('/api/v0/image/ls')
  const matches = images.filter(i => i.tags.some(t => t === image || t === wanted || t.endsWith(`/${wanted}`)))
  if (matches.length === 0) throw new InvalidParametersError(`no image tagged ${JSON.stringify(image)} is held (give a manifest digest, or see provenir image ls)`)
  if (matches.length > 1) throw new InvalidParametersError(`${JSON.stringify(image)} names ${matches.length} images (${matches.map(m => m.digest).join(', ')}); give the digest`)
  return { digest: matches[0].digest, name: image }
}

/** A namespace key from the repo's keystore */
async function loadKey (repo: string, name: string): Promise<PrivateKey> {
  const { Keystore } = await import('@provenir/identity')
  const keystore = await Keystore.load(repoPaths(repo).keystore)
  if (!keystore.has(name)) throw new KeyNotFoundError(`the keystore ${keystore.path} holds no key named "${name}" (see provenir key ls; make one with provenir key gen ${name})`)
  if (name === SELF_KEY_NAME) throw new InvalidParametersError(`"${SELF_KEY_NAME}" is the node key; sign with a namespace key (provenir key gen <name>)`)
  return keystore.get(name)
}

/** Attach `statement`, signed by `key`, to the image; prints what was stored */
async function attach (client: RpcClient, digest: string, statement: Statement<unknown>, key: PrivateKey, out: Output, verb: string): Promise<void> {
  const { signStatement } = await import('@provenir/trust')
  const envelope = await signStatement(statement, key)
  const res = await client.post<StatementsResponse>('/api/v0/image/statements', { body: { digest, statements: [envelope] } })
  const stored = res.statements[0]
  if (out.json) {
    out.result({ digest, statement: stored })
    return
  }
  out.line(`${verb} ${digest}`)
  for (const row of statementRows(stored)) out.line(`  ${row}`)
}

function statementRows (s: StatementInfo): string[] {
  return table([
    ['Statement', s.cid],
    ['Predicate', s.predicateType],
    ['Signed by', s.signers.join(', ')],
    ['Subjects', s.subjects.join(', ')]
  ])
}

function layerList (value: string, manifest: ImageManifest): string[] {
  const layers = manifest.layers.map(l => l.digest)
  if (value === 'all') return layers
  const given = value.split(',').map(s => s.trim()).filter(s => s !== '')
  if (given.length === 0) throw new InvalidParametersError('--layers takes "all" or a comma-separated list of layer digests or indexes (0 is the base layer)')
  return given.map(g => {
    if (/^\d{1,4}$/.test(g)) {
      const i = Number(g)
      if (i >= layers.length) throw new InvalidParametersError(`--layers: index ${i} is out of range; the image has ${layers.length} layers (0 to ${layers.length - 1})`)
      return layers[i]
    }
    if (!isDigest(g)) throw new InvalidParametersError(`--layers: ${JSON.stringify(g)} is neither a layer digest nor an index`)
    if (!layers.includes(g)) throw new InvalidParametersError(`--layers: ${g} is not a layer of this image`)
    return g
  })
}

export async function readPolicy (file: string): Promise<TrustPolicy> {
  const { MAX_POLICY_BYTES, parsePolicy } = await import('@provenir/trust')
  const abs = path.resolve(file)
  const bytes = await readFileBounded(abs, MAX_POLICY_BYTES, m => new InvalidParametersError(`${abs}: ${m}`))
  return parsePolicy(bytes, { source: abs })
}

/** `sign`, `attest` and `verify`: signatures and attestations on held images, and the policy check */
export function registerTrust (program: Command): void {
  program.command('sign')
    .description('sign a held image with a namespace key: the manifest (an image signature), or with --layers some of its layers (a layer signature)')
    .argument('<image>', 'the image: its manifest digest, or a tag the daemon holds')
    .requiredOption('--key <name>', 'the namespace key to sign with (see provenir key ls)')
    .option('--layers <list>', '"all", or comma-separated layer digests or indexes (0 is the base layer)')
    .option('--json', 'print the result as JSON: {"digest","statement":{"cid","predicateType","signers","subjects","envelope"}}')
    .action(async (image: string, opts: SignOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const { imageSignatureStatement, layerSignatureStatement } = await import('@provenir/trust')
      const repo = repoOf(cmd)
      const key = await loadKey(repo, opts.key)
      const client = await RpcClient.fromRepo(repo)
      const { digest, name } = await resolveImage(client, image)
      let statement: Statement<unknown>
      if (opts.layers != null) {
        const { manifest } = await client.get<ImageInspectResponse>(`/api/v0/image/inspect?digest=${encodeURIComponent(digest)}`)
        statement = layerSignatureStatement(layerList(opts.layers, manifest as ImageManifest))
      } else {
        statement = imageSignatureStatement(digest, name != null ? { repository: name.replace(/:[^/:]*$/, '') } : {})
      }
      await attach(client, digest, statement, key, out, 'Signed')
    })

  program.command('attest')
    .description('attach a signed SLSA provenance attestation to a held image, built from its config history or from a Dockerfile')
    .argument('<image>', 'the image: its manifest digest, or a tag the daemon holds')
    .requiredOption('--key <name>', 'the builder\'s namespace key (its UserId is the builder id)')
    .option('--from-history', 'take the build steps from the image config\'s history')
    .option('--recipe <Dockerfile>', 'take the build steps from a Dockerfile')
    .option('--base <digest>', 'a base image\'s manifest digest (resolved dependency); repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--json', 'print the result as JSON: {"digest","statement":{...}}')
    .action(async (image: string, opts: AttestOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      if ((opts.fromHistory === true) === (opts.recipe != null)) throw new InvalidParametersError('give exactly one of --from-history and --recipe <Dockerfile>')
      for (const b of opts.base ?? []) {
        if (!isDigest(b)) throw new InvalidParametersError(`--base ${JSON.stringify(b)} is not a manifest digest`)
      }
      const { baseImagesFromManifest, MAX_RECIPE_BYTES, provenanceFromHistory, provenanceFromRecipe, userIdFromKey } = await import('@provenir/trust')
      const repo = repoOf(cmd)
      const key = await loadKey(repo, opts.key)
      const client = await RpcClient.fromRepo(repo)
      const { digest, name } = await resolveImage(client, image)
      const { manifest, config } = await client.get<ImageInspectResponse>(`/api/v0/image/inspect?digest=${encodeURIComponent(digest)}`)
      const baseImages = [...baseImagesFromManifest(manifest as ImageManifest), ...(opts.base ?? [])]
      const common = { manifestDigest: digest, builder: userIdFromKey(key), invocationId: globalThis.crypto.randomUUID(), baseImages, ...(name != null ? { name } : {}) }
      let statement: Statement<unknown>
      if (opts.recipe != null) {
        const file = path.resolve(opts.recipe)
        const text = (await readFileBounded(file, MAX_RECIPE_BYTES, m => new InvalidParametersError(`${file}: ${m}`))).toString('utf8')
        statement = provenanceFromRecipe(text, { ...common, path: opts.recipe })
      } else {
        statement = provenanceFromHistory(new TextEncoder().encode(JSON.stringify(config)), common)
      }
      await attach(client, digest, statement, key, out, 'Attested')
    })

  program.command('verify')
    .description('check a held image and its signatures and attestations against a trust policy, and print the chain')
    .argument('<image>', 'the image: its manifest digest, or a tag the daemon holds')
    .option('--policy <file>', 'the policy (default: the daemon\'s <repo>/policy.json)')
    .option('--reference <name>', 'the name that chooses the policy rule, namespace/repo[:tag] (default: the tag given, else the image\'s first tag)')
    .option('--json', 'print the result as JSON: {"digest","report","statements"}')
    .action(async (image: string, opts: VerifyOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const policy = opts.policy != null ? await readPolicy(opts.policy) : undefined
      const client = await RpcClient.fromRepo(repoOf(cmd))
      const { digest, name } = await resolveImage(client, image)
      const reference = opts.reference ?? name
      const res = await client.post<VerifyResponse>('/api/v0/image/verify', { body: {
        digest,
        ...(policy != null ? { policy } : {}),
        ...(reference != null ? { reference } : {})
      } })
      if (out.json) {
        out.result(res)
      } else {
        const { formatReport } = await import('@provenir/trust')
        // each statement's rows start with its CID ("Statement"): a header naming it again would print it twice
        for (const s of res.statements) {
          for (const row of statementRows(s)) out.line(row)
          out.line('')
        }
        out.line(formatReport(res.report))
      }
      if (!res.report.allowed) {
        const failed = res.report.checks.filter(c => c.result === 'fail')
        throw new ImageNotTrustedError(`${digest} fails the trust policy (${failed.length} check(s) failed: ${failed.map(c => `${c.object} ${c.rule}`).join('; ')})`)
      }
    })
}
