import path from 'node:path'
import { InvalidParametersError, canonicalHost, isRegistryHost } from '@provenir/interface'
import { InvalidArgumentError } from 'commander'
import { createOutput } from '../output.js'
import { collect, repoOf } from './common.js'
import type { JsonOption } from './common.js'
import type { MirroredRegistry, MirrorFile, Runtime } from '../mirror-config.js'
import type { IdResponse } from '../rpc-server.js'
import type { Command } from 'commander'

interface MirrorOptions extends JsonOption {
  registry?: string[]
  gateway?: string
  write?: boolean
  dir?: string
  file?: string
}

function runtimeArg (value: string): Runtime {
  if (value !== 'containerd' && value !== 'podman' && value !== 'docker') throw new InvalidArgumentError('must be containerd, podman or docker.')
  return value
}

function hostArg (value: string, previous?: string[]): string[] {
  if (!isRegistryHost(value)) throw new InvalidArgumentError('must be a registry host as names write it: docker.io, quay.io, 127.0.0.1:5590.')
  return collect(canonicalHost(value), previous)
}

/**
 * This node's gateway: `--gateway`, else the running daemon's (it knows the
 * port it got), else config.json's `gateway.listen`
 */
async function gatewayOf (repo: string, opts: MirrorOptions, listen: string | null): Promise<URL> {
  if (opts.gateway != null) {
    const url = URL.canParse(opts.gateway) ? new URL(opts.gateway) : new URL(`http://${opts.gateway}`)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidParametersError(`--gateway must be an http(s) URL or host:port, not ${opts.gateway}`)
    return url
  }
  try {
    const { RpcClient } = await import('../rpc-client.js')
    const id = await (await RpcClient.fromRepo(repo)).get<IdResponse>('/api/v0/id')
    if (id.gateway != null) return new URL(id.gateway)
  } catch {}
  if (listen == null) throw new InvalidParametersError(`the node runs no gateway ("gateway.listen" is null in ${repo}/config.json)`)
  if (/:0$/.test(listen)) throw new InvalidParametersError(`"gateway.listen" is ${listen} (any free port) and no daemon is running to say which; start the daemon or give --gateway`)
  return new URL(`http://${listen}`)
}

/** The registries to write for: `--registry` hosts (each must be an upstream), or every upstream */
async function registriesOf (repo: string, hosts: string[] | undefined): Promise<{ registries: MirroredRegistry[], listen: string | null }> {
  const { loadConfig } = await import('../config.js')
  const { effectiveRegistries } = await import('@provenir/registry-client')
  const { repoPaths } = await import('../repo-paths.js')
  const config = await loadConfig(repoPaths(repo).config)
  const configured = effectiveRegistries(config.upstream).map(r => ({
    host: r.host,
    endpoints: r.endpoints,
    ...(r.ca != null ? { ca: path.resolve(repo, r.ca) } : {})
  }))
  if (hosts == null) return { registries: configured, listen: config.gateway.listen }
  const registries = hosts.map(host => {
    const found = configured.find(r => r.host === host)
    if (found == null) throw new InvalidParametersError(`${host} is not an upstream registry of this node (configured: ${configured.map(r => r.host).join(', ') || 'none'}); add it to "upstream.registries" in config.json`)
    return found
  })
  return { registries, listen: config.gateway.listen }
}

function printFiles (out: ReturnType<typeof createOutput>, files: MirrorFile[]): void {
  for (const file of files) {
    out.line(`# ${file.path}`)
    out.line(file.content.trimEnd())
    if (file.note != null) out.note(`# ${file.note}`)
    out.line('')
  }
}

export function registerMirror (program: Command): void {
  const mirror = program.command('mirror').description('make container runtimes pull through this node')
  mirror.command('config')
    .description('print (or with --write, write) a runtime\'s mirror config for this node, the upstream kept as the fallback when the node is down: containerd hosts.toml, podman/CRI-O registries.conf, docker daemon.json (Docker Hub only)')
    .argument('<runtime>', 'containerd, podman or docker', runtimeArg)
    .option('--registry <host>', 'a registry to mirror (repeatable); default: every upstream registry of the node', hostArg)
    .option('--gateway <url>', 'the node\'s gateway as the runtime reaches it (default: the running daemon\'s, else "gateway.listen")')
    .option('--write', 'write the files, keeping what was there as <file>.<time>.provenir.bak')
    .option('--dir <dir>', 'containerd: the certs.d directory (default: /etc/containerd/certs.d)')
    .option('--file <path>', 'podman: the registries.conf drop-in (default: /etc/containers/registries.conf.d/50-provenir.conf); docker: daemon.json (default: /etc/docker/daemon.json)')
    .option('--json', 'print the result as JSON: {"runtime","gateway","files":[{"path","content","note"?,"backup"?,"written"?}]}')
    .action(async (runtime: Runtime, opts: MirrorOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const repo = repoOf(cmd)
      const { mirrorFiles, readJsonObject, writeMirrorFiles, DEFAULT_DOCKER_DAEMON_JSON } = await import('../mirror-config.js')
      const { registries, listen } = await registriesOf(repo, runtime === 'docker' && opts.registry == null ? ['docker.io'] : opts.registry)
      const gateway = await gatewayOf(repo, opts, listen)
      const target = runtime === 'containerd' ? opts.dir : opts.file
      const existing = runtime === 'docker' ? await readJsonObject(target ?? DEFAULT_DOCKER_DAEMON_JSON) : undefined
      const files = mirrorFiles({ runtime, gateway, registries, ...(target != null ? { target } : {}), ...(existing != null ? { existing } : {}) })
      if (opts.write !== true) {
        if (out.json) out.result({ runtime, gateway: gateway.origin, files })
        else printFiles(out, files)
        return
      }
      const written = await writeMirrorFiles(files)
      if (out.json) {
        out.result({ runtime, gateway: gateway.origin, files: files.map((f, i) => ({ ...f, written: !written[i].unchanged, ...(written[i].backup != null ? { backup: written[i].backup } : {}) })) })
        return
      }
      for (const [i, w] of written.entries()) {
        out.line(w.unchanged ? `Unchanged ${w.path}` : `Wrote ${w.path}${w.backup != null ? ` (the previous file is ${w.backup})` : ''}`)
        if (files[i].note != null) out.note(`  ${files[i].note}`)
      }
    })
}
