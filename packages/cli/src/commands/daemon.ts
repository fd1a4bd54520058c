import { readFileSync, rmSync } from 'node:fs'
import { formatApiAddress } from '../api-address.js'
import { SHUTDOWN_TIMEOUT_MS } from '../constants.js'
import { createOutput, table } from '../output.js'
import { repoPaths } from '../repo-paths.js'
import { repoOf, signalExitCode } from './common.js'
import { initWithProgress, printInit } from './init.js'
import type { JsonOption } from './common.js'
import type { Daemon } from '../daemon.js'
import type { DaemonLog } from '../log.js'
import type { Command } from 'commander'

/**
 * `provenir daemon`: initialise the repo when there is none, start the node
 * and the RPC API, and run until SIGINT or SIGTERM. The first signal stops
 * gracefully and exits 0; a second one exits at once.
 *
 * With `--json`, stdout carries one JSON object per line: `{"event":"initialised",...}`
 * (only when it created the repo), `{"event":"ready",...}`, then
 * `{"event":"stopping","signal":...}` and `{"event":"stopped"}`.
 *
 * A rejection nothing handled is logged to stderr with its cause chain and
 * the daemon keeps running; an uncaught exception is logged and exits 1
 * (`process-errors.ts`).
 */
async function runDaemon (opts: JsonOption & { registry?: boolean, mdns?: boolean, logLevel?: string, logFormat?: string }, cmd: Command): Promise<void> {
  const { startDaemon } = await import('../daemon.js')
  const log = await daemonLog(opts, cmd)
  const { isRepoInitialised } = await import('../repo.js')
  const { installProcessErrorHandlers } = await import('../process-errors.js')
  const out = createOutput(opts.json === true)
  const root = repoOf(cmd)

  if (!await isRepoInitialised(root)) {
    out.note(`No repo at ${root}: creating one with the default settings`)
    printInit(await initWithProgress(root, {}, out), out, 'initialised')
  }

  let daemon: Daemon | undefined
  let received: NodeJS.Signals | undefined
  const { promise: stopRequested, resolve: requestStop } = Promise.withResolvers<NodeJS.Signals>()
  const onSignal = (sig: NodeJS.Signals): void => {
    if (received == null) {
      received = sig
      out.note(`Received ${sig}: shutting down (send it again to exit at once)`)
      requestStop(sig)
      return
    }
    out.note(`Received ${sig} again: exiting now`)
    if (daemon != null) forceRemoveApiFile(root, formatApiAddress(daemon.apiAddress))
    process.exit(signalExitCode(sig))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // an error nothing handled is logged with its cause chain (see process-errors.ts)
  const removeErrorHandlers = installProcessErrorHandlers({
    log: log.pino,
    onFatal: () => { if (daemon != null) forceRemoveApiFile(root, formatApiAddress(daemon.apiAddress)) }
  })

  try {
    daemon = await startDaemon({ repo: root, registry: opts.registry === true, log, ...(opts.mdns === false ? { mdns: false } : {}) })
    const ready = await describeReady(daemon)
    if (out.json) {
      out.result({ event: 'ready', ...ready })
    } else {
      out.line('provenir daemon')
      for (const row of table([
        ['Repo', ready.repo],
        ['NodeId', ready.peerId],
        ['Difficulty', `${ready.difficulty} leading zero bits (swarm requires ${ready.swarmDifficulty})`],
        ['Swarm', ready.privateSwarm ? 'private (swarm.key)' : 'public'],
        ['RPC API', ready.api],
        ['Registry', ready.gateway ?? 'off'],
        ...(ready.tlsCa != null ? [['TLS CA', `${ready.tlsCa} (clients trust it: see provenir tls ca)`] as [string, string]] : []),
        ['LAN', `${ready.lan.dht ? 'LAN DHT' : 'no LAN DHT'}, ${ready.lan.mdns ? 'mDNS discovery' : 'no mDNS'}`],
        ['Names', ready.namingRegistry ? 'serving as a naming registry (/provenir/names/1.0.0)' : 'resolver only']
      ])) out.line(row)
      out.line('Listening on:')
      for (const addr of ready.addresses) out.line(`  ${addr}`)
      out.line('Daemon is ready')
    }

    const sig = await stopRequested
    if (out.json) out.result({ event: 'stopping', signal: sig })
    const deadline = setTimeout(() => {
      process.stderr.write(`Error: graceful shutdown took over ${SHUTDOWN_TIMEOUT_MS} ms; exiting\n`)
      forceRemoveApiFile(root, formatApiAddress(daemon!.apiAddress))
      process.exit(1)
    }, SHUTDOWN_TIMEOUT_MS)
    deadline.unref()
    await daemon.stop()
    clearTimeout(deadline)
    if (out.json) out.result({ event: 'stopped' })
    else out.line('Daemon stopped')
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    removeErrorHandlers()
  }
}

/** What `provenir daemon` reports once it is ready */
export async function describeReady (daemon: Daemon): Promise<{
  repo: string
  peerId: string
  difficulty: number
  swarmDifficulty: number
  privateSwarm: boolean
  api: string
  /** The registry gateway's base URL, or null when the config turns it off */
  gateway: string | null
  /** The CA file clients of a TLS server trust (`provenir tls ca`), or null when nothing serves TLS with a known CA */
  tlsCa: string | null
  /** Serving /provenir/names/1.0.0 */
  namingRegistry: boolean
  /** The LAN DHT and mDNS discovery run (`node.lan`; see doc/ARCHITECTURE.md, "LAN by default") */
  lan: { dht: boolean, mdns: boolean }
  addresses: string[]
}> {
  const { nodeIdDifficulty } = await import('@provenir/identity')
  return {
    repo: daemon.repo.paths.root,
    peerId: daemon.node.peerId.toString(),
    difficulty: nodeIdDifficulty(daemon.node.peerId),
    swarmDifficulty: daemon.node.config.difficulty,
    privateSwarm: daemon.repo.swarmKey != null,
    api: daemon.rpc.url,
    gateway: daemon.gatewayAddress != null ? `${daemon.gatewayTls ? 'https' : 'http'}://${formatApiAddress(daemon.gatewayAddress)}` : null,
    tlsCa: daemon.caFile ?? null,
    namingRegistry: daemon.naming.registry != null,
    lan: { dht: daemon.node.libp2p.services.lanDHT != null, mdns: daemon.node.libp2p.services.lanDiscovery != null },
    addresses: daemon.node.getMultiaddrs().map(ma => ma.toString())
  }
}

/**
 * The daemon's log from `--log-level`/`--log-format`, where the command line
 * gave one, else PROVENIR_LOG_LEVEL/PROVENIR_LOG_FORMAT, else info and auto.
 */
async function daemonLog (opts: { logLevel?: string, logFormat?: string }, cmd: Command): Promise<DaemonLog> {
  const { createDaemonLog, parseLogFormat, parseLogLevel } = await import('../log.js')
  const fromCli = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli'
  const levelSource = fromCli('logLevel') ? '--log-level' : 'PROVENIR_LOG_LEVEL'
  const formatSource = fromCli('logFormat') ? '--log-format' : 'PROVENIR_LOG_FORMAT'
  const level = fromCli('logLevel') ? opts.logLevel : process.env.PROVENIR_LOG_LEVEL
  const format = fromCli('logFormat') ? opts.logFormat : process.env.PROVENIR_LOG_FORMAT
  return createDaemonLog({
    ...(level != null && level !== '' ? { level: parseLogLevel(level, levelSource) } : {}),
    ...(format != null && format !== '' ? { format: parseLogFormat(format, formatSource) } : {})
  })
}

/** On a forced exit: remove `<repo>/api` if it is still ours, synchronously */
function forceRemoveApiFile (root: string, ours: string): void {
  const file = repoPaths(root).api
  try {
    const first = readFileSync(file, 'utf8').split('\n')[0].trim()
    if (first.replace(/^https:\/\//, '') === ours) rmSync(file, { force: true })
  } catch {}
}

export function registerDaemon (program: Command): void {
  program.command('daemon')
    .description('run the node and its RPC API until SIGINT or SIGTERM (creates the repo on first start)')
    .option('--registry', 'serve as a naming registry for link names (also "naming.registry.serve" in config.json)')
    .option('--no-mdns', 'do not look for peers on the local network with mDNS this run ("node.lan.mdns": false in config.json turns it off for good)')
    .option('--json', 'print events as JSON lines')
    .option('--log-level <level>', 'the log\'s level: trace, debug, info, warn, error, fatal or silent (also PROVENIR_LOG_LEVEL)', 'info')
    .option('--log-format <format>', 'auto (human on a terminal, JSON lines otherwise), json or pretty (also PROVENIR_LOG_FORMAT)', 'auto')
    .action(runDaemon)
}
