import { AbortError, DEFAULT_DIFFICULTY, DEFAULT_LISTEN, isError } from '@provenir/interface'
import { DEFAULT_API, DEFAULT_GATEWAY } from '../constants.js'
import { createOutput, table } from '../output.js'
import { identityProgress } from '../progress.js'
import { abortOnSignals, collect, integerIn, repoOf, signalExitCode, withExitCode } from './common.js'
import type { JsonOption } from './common.js'
import type { RepoConfigInit } from '../config.js'
import type { InitRepoOptions, InitRepoResult } from '../repo.js'
import type { Output } from '../output.js'
import type { NodeConfig } from '@provenir/node'
import type { Command } from 'commander'

interface InitOptions extends JsonOption {
  difficulty?: number
  force?: boolean
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  allowPrivateAddresses?: boolean
  api?: string
  gateway?: string
  workers?: number
  dockerHub?: boolean
}

/**
 * Run `initRepo` with a progress display, cancelled cleanly by Ctrl-C or
 * SIGTERM (nothing is written then). Shared by `init` and by `daemon` on a
 * fresh machine.
 */
export async function initWithProgress (repo: string, options: Omit<InitRepoOptions, 'signal' | 'onProgress'>, out: Output): Promise<InitRepoResult> {
  const { initRepo } = await import('../repo.js')
  const progress = identityProgress({ quiet: out.json })
  const signals = abortOnSignals()
  try {
    return await initRepo(repo, { ...options, signal: signals.signal, onProgress: progress.onProgress })
  } catch (err) {
    if (signals.received != null && isError(err, 'AbortError')) {
      throw withExitCode(new AbortError(`init cancelled by ${signals.received}; nothing was written`, { cause: err }), signalExitCode(signals.received))
    }
    throw err
  } finally {
    progress.stop()
    signals.dispose()
  }
}

/** The init result as printed: a JSON object, or rows of text */
export function describeInit (result: InitRepoResult): Record<string, unknown> {
  const out: Record<string, unknown> = {
    repo: result.paths.root,
    peerId: result.peerId.toString(),
    difficulty: result.difficulty,
    swarmDifficulty: result.config.node.difficulty,
    config: result.paths.config,
    keystore: result.paths.keystore,
    tlsCa: result.tlsCa,
    replaced: result.replaced
  }
  if (result.keystoreBackup != null) out.keystoreBackup = result.keystoreBackup
  return out
}

/**
 * Print the result of an init. `event` tags the JSON object, for the
 * daemon's stream of JSON events.
 */
export function printInit (result: InitRepoResult, out: Output, event?: string): void {
  if (out.json) {
    out.result(event != null ? { event, ...describeInit(result) } : describeInit(result))
    return
  }
  out.line(`Initialised a provenir repo at ${result.paths.root}`)
  for (const row of table([
    ['NodeId', result.peerId.toString()],
    ['Difficulty', `${result.difficulty} leading zero bits (swarm requires ${result.config.node.difficulty})`],
    ['Config', result.paths.config],
    ['Keystore', result.paths.keystore],
    ['TLS CA', `${result.tlsCa} (for clients of a TLS gateway or API: provenir tls ca)`]
  ])) out.line(row)
  if (result.keystoreBackup != null) out.line(`The previous keystore was moved to ${result.keystoreBackup}`)
}

export function registerInit (program: Command): void {
  program.command('init')
    .description('create a repo: generate the node identity, write config.json and keystore.json')
    .option('--difficulty <bits>', `swarm difficulty c1: leading zero bits of sha256(NodeId); about 2^c1 keys are tried (default: ${DEFAULT_DIFFICULTY})`, integerIn(0, 64))
    .option('-f, --force', 'replace an existing repo (the old keystore is kept as keystore.json.<time>.bak)')
    .option('--listen <multiaddr>', `swarm listen address; repeat for more (default: ${DEFAULT_LISTEN.join(', ')})`, collect)
    .option('--announce <multiaddr>', 'address to announce instead of the listen addresses; repeatable', collect)
    .option('--bootstrap <multiaddr>', 'bootstrap peer, ending in /p2p/<NodeId>; repeatable', collect)
    .option('--allow-private-addresses', 'keep loopback and LAN addresses in the DHT (a LAN or test swarm)')
    .option('--api <host:port>', `address of the daemon's RPC API (port 0: any free port) (default: ${DEFAULT_API})`)
    .option('--gateway <host:port|off>', `address of the OCI registry gateway, or "off" (default: ${DEFAULT_GATEWAY})`)
    .option('--workers <n>', 'threads for the identity search (default: one per core)', integerIn(1, 256))
    .option('--no-docker-hub', 'do not ask Docker Hub for names no provenir source knows ("upstream.dockerHub": false; an offline or private swarm)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: InitOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const node: Partial<NodeConfig> = {}
      if (opts.listen != null) node.listen = opts.listen
      if (opts.announce != null) node.announce = opts.announce
      if (opts.bootstrap != null) node.bootstrap = opts.bootstrap
      if (opts.allowPrivateAddresses === true) node.allowPrivateAddresses = true
      const config: RepoConfigInit = { node }
      if (opts.api != null) config.api = opts.api
      if (opts.gateway != null) config.gateway = { listen: opts.gateway === 'off' ? null : opts.gateway }
      if (opts.dockerHub === false) config.upstream = { dockerHub: false }
      const options: Omit<InitRepoOptions, 'signal' | 'onProgress'> = { config, force: opts.force === true }
      if (opts.difficulty != null) options.difficulty = opts.difficulty
      if (opts.workers != null) options.workers = opts.workers
      const repo = repoOf(cmd)
      // a running daemon would go on with the old identity and overwrite nothing, but confuse everyone
      if (options.force === true) {
        const { assertDaemonNotRunning } = await import('../daemon.js')
        await assertDaemonNotRunning(repo)
      }
      printInit(await initWithProgress(repo, options, out), out)
    })
}
