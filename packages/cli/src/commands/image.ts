import path from 'node:path'
import { AbortError, formatPlatform, hostPlatform, InvalidParametersError, isDigest, isError, parsePlatform } from '@provenir/interface'
import { InvalidArgumentError } from 'commander'
import { RPC_GC_TIMEOUT_MS, RPC_IMAGE_TIMEOUT_MS } from '../constants.js'
import { createOutput, table } from '../output.js'
import { bytesProgress, formatBytes } from '../progress.js'
import { RpcClient } from '../rpc-client.js'
import { abortOnSignals, repoOf, signalExitCode, withExitCode } from './common.js'
import { readPolicy } from './trust.js'
import type { JsonOption } from './common.js'
import type { ImageExportResult, ImageFormat, ImageImportResult, ImageLsResponse, ImagePullResult, ImageSummary, ProgressLine } from '../content-routes.js'
import type { Output } from '../output.js'
import type { ImageRmResponse } from '../storage-routes.js'
import type { Command } from 'commander'

function formatOption (value: string): ImageFormat {
  if (value !== 'oci' && value !== 'docker-archive') throw new InvalidArgumentError('must be "oci" or "docker-archive".')
  return value
}

/**
 * Run a streamed RPC call with a progress bar, cancelled by Ctrl-C or
 * SIGTERM: the request is closed, which cancels the work in the daemon.
 */
async function streamed<T> (repo: string, route: string, body: unknown, label: string, out: Output): Promise<T> {
  const client = await RpcClient.fromRepo(repo)
  const progress = bytesProgress({ label, quiet: out.json })
  const signals = abortOnSignals()
  try {
    return await client.stream<T, ProgressLine>(route, {
      body,
      signal: signals.signal,
      timeout: RPC_IMAGE_TIMEOUT_MS,
      onProgress: (line) => { progress.update(line.bytes, line.total) }
    })
  } catch (err) {
    if (signals.received != null && isError(err, 'AbortError')) {
      throw withExitCode(new AbortError(`${label.toLowerCase()} cancelled by ${signals.received}`, { cause: err }), signalExitCode(signals.received))
    }
    throw err
  } finally {
    progress.stop()
    signals.dispose()
  }
}

function imageRows (image: ImageSummary): Array<[string, string]> {
  return [
    ['Digest', image.digest],
    ['Tags', image.tags.length > 0 ? image.tags.join(', ') : '(none)'],
    ['Size', `${formatBytes(image.size)} in ${image.blobs} blobs`]
  ]
}

export function registerImage (program: Command): void {
  const image = program.command('image').description('import, list, export, pull and remove images')

  image.command('import')
    .description('import an OCI image layout (a directory) or a docker-archive (a `docker save` tarball) into the daemon')
    .argument('<path>', 'the layout directory or the tarball; read by the daemon, so it must be on the daemon\'s host')
    .option('--format <format>', 'oci or docker-archive (default: a directory is oci, a file docker-archive)', formatOption)
    .option('--json', 'print the result as JSON: {"format","images":[{"digest","mediaType","tags","size","blobs"}]}')
    .action(async (file: string, opts: JsonOption & { format?: ImageFormat }, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const body: Record<string, unknown> = { path: path.resolve(file) }
      if (opts.format != null) body.format = opts.format
      const res = await streamed<ImageImportResult>(repoOf(cmd), '/api/v0/image/import', body, 'Importing', out)
      if (out.json) {
        out.result(res)
        return
      }
      for (const img of res.images) {
        out.line(`Imported ${img.digest}`)
        for (const row of table(imageRows(img))) out.line(`  ${row}`)
      }
    })

  image.command('ls')
    .description('list the images the daemon holds')
    .option('--json', 'print the result as JSON: {"images":[{"digest","mediaType","tags","size","blobs"}],"truncated"}')
    .action(async (opts: JsonOption, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const client = await RpcClient.fromRepo(repoOf(cmd))
      const res = await client.get<ImageLsResponse>('/api/v0/image/ls')
      if (out.json) {
        out.result(res)
        return
      }
      if (res.images.length === 0) out.note('No images')
      for (const img of res.images) {
        out.line(`${img.digest}  ${formatBytes(img.size).padStart(10)}  ${img.blobs} blobs  ${img.tags.join(', ')}`)
      }
      if (res.truncated) out.note('(more images are held than are listed)')
    })

  image.command('rm')
    .description('remove an image: unpin it and delete its blocks that no other image shares')
    .argument('<ref>', 'the image\'s manifest digest (sha256:...) or one of its tags (as `image ls` shows them)')
    .option('--json', 'print the result as JSON: {"digest","blocks","bytes"}')
    .action(async (ref: string, opts: JsonOption, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const client = await RpcClient.fromRepo(repoOf(cmd))
      const res = await client.post<ImageRmResponse>('/api/v0/image/rm', { body: { ref }, timeout: RPC_GC_TIMEOUT_MS + 5_000 })
      if (out.json) {
        out.result(res)
        return
      }
      out.line(`Removed ${res.digest}: ${res.blocks} blocks (${formatBytes(res.bytes)}) freed`)
    })

  image.command('export')
    .description('export an image to an OCI image layout or a docker-archive, written by the daemon on its host')
    .argument('<digest>', 'the image\'s manifest digest (sha256:...)')
    .argument('<path>', 'where to write: a new (or empty) directory for oci, a new file for docker-archive')
    .option('--format <format>', 'oci or docker-archive', formatOption, 'oci')
    .option('--tag <tag>', 'name to give the image (OCI ref name, or docker-archive RepoTags entry); default: its tags')
    .option('--json', 'print the result as JSON: {"image":{...},"path","format"}')
    .action(async (digest: string, file: string, opts: JsonOption & { format: ImageFormat, tag?: string }, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const body: Record<string, unknown> = { digest, path: path.resolve(file), format: opts.format }
      if (opts.tag != null) body.tag = opts.tag
      const res = await streamed<ImageExportResult>(repoOf(cmd), '/api/v0/image/export', body, 'Exporting', out)
      if (out.json) {
        out.result(res)
        return
      }
      out.line(`Exported ${res.image.digest} to ${res.path} (${res.format})`)
    })

  image.command('pull')
    .description('pull an image by manifest digest or by name from the swarm (a name resolves to its signed repository document; providers found in the DHT, blocks by bitswap), verified, and checked against the trust policy')
    .argument('<ref>', 'a manifest digest (sha256:...) or a reference [registry/]namespace/repo[:tag|@digest]')
    .option('--policy <file>', 'check the image against this trust policy (default: the daemon\'s <repo>/policy.json, if any)')
    .option('--reference <name>', 'with a digest: the name that chooses the policy rule, namespace/repo[:tag] (a pull by name uses the name)')
    .option('--platform <os/arch[/variant]>', 'for an image index (multi-arch): the platform whose image to pull', formatPlatform(hostPlatform()))
    .option('--no-pin', 'keep the image as cache: with storage.maxSize set, it is evicted (least recently used first) when the store passes its high watermark')
    .option('--json', 'print the result as JSON: {"image":{...},"statements":[...],"report"?,"resolved"?,"index"?}')
    .action(async (ref: string, opts: JsonOption & { policy?: string, reference?: string, platform: string, pin: boolean }, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const byDigest = isDigest(ref)
      if (!byDigest && /^sha(256|512):/i.test(ref)) {
        throw new InvalidParametersError(`${JSON.stringify(ref.slice(0, 160))} is not a manifest digest: sha256: and 64 lowercase hex characters (or sha512: and 128)`)
      }
      if (!byDigest && opts.reference != null) throw new InvalidArgumentError('--reference goes with a digest; a pull by name is checked under that name')
      const body: Record<string, unknown> = byDigest ? { digest: ref } : { reference: ref }
      if (opts.policy != null) body.policy = await readPolicy(opts.policy)
      if (opts.reference != null) body.reference = opts.reference
      body.platform = formatPlatform(parsePlatform(opts.platform))
      if (!opts.pin) body.pin = false
      const res = await streamed<ImagePullResult>(repoOf(cmd), '/api/v0/image/pull', body, 'Pulling', out)
      if (out.json) {
        out.result(res)
        return
      }
      if (res.resolved != null) out.line(`${ref} -> ${res.resolved.manifestDigest} (owner ${res.resolved.owner}, seq ${res.resolved.seq})`)
      out.line(`Pulled ${res.image.digest}${res.index != null ? ` (${res.index.platform}, from image index ${res.index.digest})` : ''}`)
      for (const row of table(imageRows(res.image))) out.line(`  ${row}`)
      if (!opts.pin) out.line('  Kept as: cache (evictable)')
      out.line(`  Statements: ${res.statements.length}${res.statements.length > 0 ? ` (${[...new Set(res.statements.flatMap(s => s.signers))].join(', ')})` : ''}`)
      if (res.report != null) {
        out.line(`  Policy: ${res.report.passed ? 'passed' : `FAILED, allowed under ${res.report.mode}`} (${res.report.ruleIndex < 0 ? 'default' : `rules[${res.report.ruleIndex}]`})`)
        for (const w of res.report.warnings) out.note(`warning: ${w}`)
      }
    })
}
