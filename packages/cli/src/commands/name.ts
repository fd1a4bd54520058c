import path from 'node:path'
import { InvalidParametersError, isDigest, isTag } from '@provenir/interface'
import { InvalidArgumentError } from 'commander'
import { RPC_NAME_PUBLISH_TIMEOUT_MS, RPC_NAME_RESOLVE_TIMEOUT_MS, PLAIN_FILE_MODE } from '../constants.js'
import { FileExistsError } from '../errors.js'
import { errorCode, readFileBounded, writeFileAtomic } from '../fs-util.js'
import { createOutput, table } from '../output.js'
import { RpcClient } from '../rpc-client.js'
import { repoOf } from './common.js'
import type { JsonOption } from './common.js'
import type { AnswerSummary, ClaimSummary, ImageResolveSummary, PublishSummary, ResolveSummary, UpstreamResolveSummary } from '@provenir/naming'
import type { Command } from 'commander'

interface PublishOptions extends JsonOption {
  key?: string
  tag?: Record<string, string>
}

interface ResolveOptions extends JsonOption {
  explain?: boolean
}

interface ClaimOptions extends JsonOption {
  registry: string
  key?: string
  output?: string
  force?: boolean
}

/** commander parser for a repeatable `--tag <tag>=<digest>` */
function tagPair (value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=')
  const tag = value.slice(0, eq)
  const digest = value.slice(eq + 1)
  if (eq <= 0 || !isTag(tag) || !isDigest(digest)) throw new InvalidArgumentError('must be <tag>=<manifest digest>, e.g. v1=sha256:<64 hex>.')
  if (Object.hasOwn(previous, tag)) throw new InvalidArgumentError(`tag ${tag} is given twice.`)
  return { ...previous, [tag]: digest }
}

/** Readable lines for a resolution */
export function resolutionLines (res: ResolveSummary): string[] {
  const rows: Array<[string, string]> = [
    ['Manifest', res.manifestDigest],
    ['Owner', res.owner],
    ['Repo', `${res.repo}${res.tag != null ? `:${res.tag}` : ''}`],
    ['Seq', `${res.seq} (expires ${res.expires})`],
    ['Document', res.documentCid],
    ['Record', res.record === 'local' ? 'this node\'s own (it publishes this repository)' : 'from the DHT']
  ]
  if (res.name != null) rows.push(['Name', `${res.name.name} -> ${res.name.userId} (${res.name.source})`])
  if (res.cached) rows.push(['Cached', 'yes'])
  return table(rows)
}

const UPSTREAM_FROM: Record<UpstreamResolveSummary['from'], string> = {
  upstream: 'asked now',
  cache: 'remembered, within the tag TTL',
  stale: 'remembered: the registry cannot be reached (past the tag TTL)',
  reference: 'the reference gives the digest'
}

/** Readable lines for an upstream registry's answer */
export function upstreamLines (res: UpstreamResolveSummary): string[] {
  const rows: Array<[string, string]> = [
    ['Manifest', res.manifestDigest],
    ['Upstream', `${res.host}/${res.repository}${res.tag != null ? `:${res.tag}` : ''} at ${res.endpoint.replace(/\/$/, '')} (${UPSTREAM_FROM[res.from]})`]
  ]
  if (res.mediaType != null) rows.push(['Media type', res.mediaType])
  if (res.provenir != null) rows.push(['Provenir', `no answer: ${res.provenir.message}`])
  return table(rows)
}

function answerLine (a: AnswerSummary): string {
  if (a.kind === 'upstream') {
    const what = a.digest != null ? a.digest : a.error != null ? `error ${a.error.name}: ${a.error.message}` : 'no answer'
    return `${a.source} (${a.repository ?? ''}): ${what}`
  }
  const what = a.userId != null ? `${a.userId}${a.bindingSeq != null ? ` (binding seq ${a.bindingSeq})` : ''}` : a.error != null ? `error ${a.error.name}: ${a.error.message}` : 'no binding'
  return `${a.source}: ${what}`
}

/** `name publish` and `name resolve`: sign and publish a repository document; resolve a reference */
export function registerNamePublishing (name: Command): void {
  name.command('publish')
    .description('publish a repository: sign a document of its tags and images with a namespace key, store it, and put its pointer in the DHT')
    .argument('<repo>', 'the repository name (one lowercase path component)')
    .option('--key <name>', 'the namespace key to sign with (default: the keystore\'s only namespace key)')
    .option('--tag <tag=digest>', 'publish this tag for this image (repeatable); default: the images this node holds named <repo>:<tag>', tagPair)
    .option('--json', 'print the result as JSON')
    .action(async (repo: string, opts: PublishOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const client = await RpcClient.fromRepo(repoOf(cmd))
      const body: Record<string, unknown> = { repo }
      if (opts.key != null) body.key = opts.key
      if (opts.tag != null) body.tags = opts.tag
      const res = await client.post<PublishSummary>('/api/v0/name/publish', { body, timeout: RPC_NAME_PUBLISH_TIMEOUT_MS + 5_000 })
      if (out.json) {
        out.result(res)
        return
      }
      out.line(`Published ${res.owner}/${res.repo} at seq ${res.seq}`)
      for (const row of table([
        ['UserId', `${res.owner} (key ${res.key})`],
        ['Repo', res.repo],
        ['Seq', `${res.seq} (expires ${res.expires})`],
        ['Document', res.documentCid],
        ['Tags', Object.entries(res.tags).map(([t, d]) => `${t} -> ${d}`).join(', ')],
        ['DHT peers', String(res.peers)]
      ])) out.line(`  ${row}`)
      if (res.warning != null) out.note(`Warning: ${res.warning}.`)
    })

  name.command('resolve')
    .description('resolve a reference to a manifest digest: pins, registries by priority, the default registry and the signed document, then the upstream registries (Docker Hub last); a host the upstream config lists (quay.io/org/app:1) goes to that registry')
    .argument('<reference>', 'the image reference: [registry/]namespace/repo[:tag|@digest], or an upstream name (alpine, quay.io/org/app:1)')
    .option('--explain', 'ask every source and show every answer in priority order, the winner marked')
    .option('--json', 'print the result as JSON')
    .action(async (reference: string, opts: ResolveOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const client = await RpcClient.fromRepo(repoOf(cmd))
      const res = await client.post<ImageResolveSummary>('/api/v0/name/resolve', { body: { reference, explain: opts.explain === true }, timeout: RPC_NAME_RESOLVE_TIMEOUT_MS + 5_000 })
      if (out.json) {
        out.result(res)
        return
      }
      out.line(`${reference} -> ${res.manifestDigest}`)
      for (const row of res.kind === 'upstream' ? upstreamLines(res) : resolutionLines(res as ResolveSummary)) out.line(`  ${row}`)
      if (opts.explain === true) {
        if (res.answers == null) {
          out.line(res.kind === 'upstream' ? '  (a registry host: no provenir source asked)' : '  (a UserId namespace: no name sources asked)')
        } else {
          out.line('Answers, in priority order:')
          for (const a of res.answers) out.line(`  ${a.winner ? '*' : ' '} ${answerLine(a)}`)
        }
      }
    })
}

/** `registry claim`: claim a link name at a registry with a namespace key */
export function registerRegistry (program: Command): void {
  const registry = program.command('registry').description('link-name registries')
  registry.command('claim')
    .description('claim a link name at a registry with a namespace key; prints the registry\'s signed binding')
    .argument('<name>', 'the link name (lowercase letters, digits and inner hyphens, at most 63)')
    .requiredOption('--registry <registry>', 'the registry: NodeId, multiaddr ending in /p2p/<NodeId>, or domain')
    .option('--key <name>', 'the namespace key that claims it (default: the keystore\'s only namespace key)')
    .option('-o, --output <path>', 'also write the binding (the DSSE envelope) to this file, for "provenir name verify"')
    .option('-f, --force', 'replace an existing output file')
    .option('--json', 'print the result as JSON')
    .action(async (linkName: string, opts: ClaimOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const client = await RpcClient.fromRepo(repoOf(cmd))
      const body: Record<string, unknown> = { name: linkName, registry: opts.registry }
      if (opts.key != null) body.key = opts.key
      const res = await client.post<ClaimSummary>('/api/v0/registry/claim', { body, timeout: RPC_NAME_RESOLVE_TIMEOUT_MS + 5_000 })
      let file: string | undefined
      if (opts.output != null) {
        file = path.resolve(opts.output)
        try {
          await writeFileAtomic(file, JSON.stringify(res.binding, null, 2) + '\n', { mode: PLAIN_FILE_MODE, exclusive: opts.force !== true })
        } catch (err) {
          if (errorCode(err) === 'EEXIST') throw new FileExistsError(`${file} already exists; pass --force to replace it`)
          if (errorCode(err) === 'ENOENT') throw new InvalidParametersError(`cannot write ${file}: ${path.dirname(file)} does not exist`)
          throw err
        }
      }
      if (out.json) {
        out.result({ ...res, ...(file != null ? { output: file } : {}) })
        return
      }
      out.line(`Registry ${res.registry} bound ${res.name} to ${res.userId}`)
      for (const row of table([['Name', res.name], ['UserId', res.userId], ['Seq', String(res.seq)], ['Issued', res.issued], ...(file != null ? [['Binding', file] as [string, string]] : [])])) out.line(`  ${row}`)
      if (file != null) out.note(`Anyone can check it offline: provenir name verify ${path.basename(file)} --registry ${res.registry}`)
    })
}

interface VerifyOptions extends JsonOption {
  registry: string
  name?: string
}

/**
 * `name verify`: validate a registry's binding (name -> UserId) offline,
 * given only the binding and the registry's NodeId: the seed proposal's
 * "detached validation". No daemon and no network are involved.
 */
export function registerName (program: Command): void {
  const name = program.command('name').description('link names and repository documents')
  registerNamePublishing(name)
  name.command('verify')
    .description('validate a registry binding offline against the registry\'s NodeId')
    .argument('<binding>', 'the binding file (the DSSE envelope JSON a registry issued)')
    .requiredOption('--registry <NodeId>', 'the NodeId of the registry that must have signed it')
    .option('--name <name>', 'require the binding to be for this link name')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: VerifyOptions) => {
      const out = createOutput(opts.json === true)
      const { MAX_BINDING_BYTES, verifyBinding } = await import('@provenir/naming')
      const abs = path.resolve(file)
      const bytes = await readFileBounded(abs, MAX_BINDING_BYTES, m => new InvalidParametersError(`${abs}: ${m}`))
      const binding = await verifyBinding(bytes, opts.registry, opts.name != null ? { name: opts.name } : {})
      if (out.json) {
        out.result({ valid: true, ...binding })
        return
      }
      out.line(`${abs}: a valid binding signed by registry ${binding.registry}`)
      for (const row of table([['Name', binding.name], ['UserId', binding.userId], ['Seq', String(binding.seq)], ['Issued', binding.issued]])) out.line(`  ${row}`)
    })
}
