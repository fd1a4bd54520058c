/**
 * A rollout: N hosts fetch one image at the same moment, measured three ways
 * in one run against the physical limit.
 *
 * - `central`: every host `skopeo copy`s it from the origin's docker-registry.
 * - `pull`: the origin's daemon imports it (from disk: no link carries it),
 *   then every host asks its daemon to pull it: providers from the DHT,
 *   blocks from the origin and from each other. The request is the one
 *   `provenir image pull <digest>` sends to the daemon's RPC API, sent with
 *   curl: 16 Node.js CLI processes starting at once on the lab's 2 cores,
 *   beside 17 daemons, sent the last request 12 s after the first (hosts
 *   that each have their own CPU start theirs in 0.2 s). Each mode's 16
 *   commands are started up to their exec before the clock starts and then
 *   let go together (`runPhase`): started plainly, the curls' shells alone
 *   began over 5.5 s on the busy machine.
 * - `gateway`: the same, but every host `skopeo copy`s it by digest from its
 *   own daemon's gateway, which pulls it through the swarm.
 *
 * Before each provenir mode every daemon (the origin's too) is stopped, its
 * stores emptied and started again: no host holds the image, no DHT holds a
 * provider record of an earlier mode, no connection is warm. Each puller
 * waits until the DHT names a provider before the common start.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { InvalidParametersError } from '@provenir/interface'
import pMap from 'p-map'
import { analysePhase, limits } from './analysis.js'
import { IMPORT_TIMEOUT_MS, LOG_TAIL_LINES, PROVIDERS_TIMEOUT_MS, PULL_TIMEOUT_MS, START_CONCURRENCY } from './constants.js'
import { CommandFailedError } from './errors.js'
import { heal, setHostLink } from './faults.js'
import { apiAddress, hostFiles, runsIn, tailLines } from './hosts.js'
import { readLayoutImage } from './layout.js'
import { linkIsUp } from './network.js'
import { pushToRegistry, startRegistry } from './origin.js'
import { runPhase } from './phase.js'
import { poll } from './sys.js'
import type { PhaseReport, RolloutMode } from './analysis.js'
import type { ScheduledFault } from './faults.js'
import type { Lab } from './lab.js'
import type { LayoutImage } from './layout.js'
import type { PullerCommand } from './phase.js'
import type { HostState } from './state.js'

export const ROLLOUT_MODES: RolloutMode[] = ['central', 'pull', 'gateway']

/** A log line's start (debug's ISO time), not a stack trace's */
const TIMESTAMPED = /^\d{4}-\d\d-\d\dT\d\d:/

/** provenir's own lines about moving content, which say more of a slow pull than libp2p's errors */
const CONTENT_LINE = / provenir:(bitswap|node|daemon|image-records|rpc)/

/** The end of a daemon log for a summary: its last lines about content, else its last lines */
function logTail (lines: string[]): string[] {
  const stamped = lines.filter(l => TIMESTAMPED.test(l))
  const content = stamped.filter(l => CONTENT_LINE.test(l))
  return (content.length > 0 ? content : stamped).slice(-LOG_TAIL_LINES)
}

export interface RolloutOptions {
  /** An OCI image layout */
  image: string
  /** @default 'v1' */
  tag?: string
  /** How many hosts pull (h1..hN) @default every host */
  hosts?: number
  /** @default ROLLOUT_MODES */
  modes?: RolloutMode[]
  /** Faults fired in every mode, at moments counted from its start */
  faults?: ScheduledFault[]
  onProgress?: (message: string) => void
  signal?: AbortSignal
}

export interface RolloutReport {
  image: LayoutImage
  lab: { id: number, hosts: number, rate: number, originRate: number }
  /** Seconds: S/R, a central origin's N·S/R0 (at least S/R), a swarm's max(S/R, S/R0) */
  limits: { perHost: number, central: number, swarm: number }
  phases: PhaseReport[]
  machine: { cores: number }
  /** Where the report, the samples and the logs are kept */
  dir: string
}

/** A name for the image in registries: the layout directory's name, or its parent's for `.../oci` */
function imageName (layout: string): string {
  const base = path.basename(layout) === 'oci' ? path.basename(path.dirname(layout)) : path.basename(layout)
  return base.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'image'
}

function outDir (h: HostState, mode: RolloutMode): string {
  return path.join(h.dir, 'out', mode)
}

/**
 * POSTs a pull to the daemon's RPC API at `$1` with body `$2`, as the CLI
 * does, for at most `$3` seconds, and succeeds only when the answer's last
 * line is the pull's `done` (the answer is a stream of progress lines; a
 * failed pull ends with an error line, which goes to stderr).
 */
const PULL_BY_API = `curl -sS -N --fail-with-body --connect-timeout 10 --max-time "$3" -X POST -H 'content-type: application/json' --data "$2" "$1" | tail -n 1 | {
  IFS= read -r last
  case "$last" in *'"event":"done"'*) exit 0 ;; esac
  echo "pull failed: \${last:-no answer}" >&2
  exit 1
}`

function commandFor (mode: RolloutMode, image: LayoutImage, ref: string | undefined, api: Map<string, string>): (h: HostState) => PullerCommand {
  return h => {
    if (mode === 'central') return { cmd: 'skopeo', args: ['copy', '-q', '--src-tls-verify=false', `docker://${ref!}`, `oci:${outDir(h, mode)}:${image.tag}`] }
    if (mode === 'pull') return { cmd: 'sh', args: ['-c', PULL_BY_API, 'sh', `http://${api.get(h.name) ?? ''}/api/v0/image/pull`, JSON.stringify({ digest: image.digest }), String(PULL_TIMEOUT_MS / 1000)] }
    const gateway = (h.gateway ?? '').replace(/^http:\/\//, '')
    return { cmd: 'skopeo', args: ['copy', '-q', '--src-tls-verify=false', `docker://${gateway}/lab/${imageName(image.layout)}@${image.digest}`, `oci:${outDir(h, mode)}`] }
  }
}

/** Every daemon cold (stores emptied, restarted), connected, the image imported on the origin, and a provider in every puller's DHT */
async function prepareSwarm (lab: Lab, image: LayoutImage, pullers: HostState[], signal?: AbortSignal): Promise<void> {
  await lab.resetDaemons(signal)
  await lab.waitConnected(signal)
  const imported = await lab.cli<{ images: Array<{ digest: string }> }>('origin', ['image', 'import', image.layout], { timeout: IMPORT_TIMEOUT_MS, signal })
  if (!imported.images.some(i => i.digest === image.digest)) {
    throw new CommandFailedError(`the origin imported ${imported.images.map(i => i.digest).join(', ')}, not ${image.digest}`, 0, '')
  }
  await pMap(pullers, async h => {
    await poll(async () => {
      const found = await lab.cli<{ providers: unknown[] }>(h.name, ['providers', image.digest], { signal })
      return found.providers.length > 0 ? true : undefined
    }, PROVIDERS_TIMEOUT_MS, last => new CommandFailedError(`${h.name} found no provider of ${image.digest} in the DHT within ${PROVIDERS_TIMEOUT_MS} ms: ${String(last ?? '')}`, null, ''), { interval: 250, signal })
  }, { concurrency: START_CONCURRENCY })
}

/** Undoes a phase's faults: partitions healed, links up, the registry and every daemon running */
export async function restoreLab (lab: Lab, signal?: AbortSignal): Promise<void> {
  if ((lab.state.partitioned ?? []).length > 0) await heal(lab)
  for (const h of lab.state.hosts) if (!await linkIsUp(h)) await setHostLink(lab, h.name, 'up')
  if (!await runsIn(lab.origin, lab.origin.registryPid)) {
    lab.origin.registryPid = await startRegistry(lab.origin)
    await lab.save()
  }
  const stopped: string[] = []
  for (const h of lab.state.hosts) if (!await runsIn(h, h.daemonPid)) stopped.push(h.name)
  await lab.startDaemons(stopped, signal)
}

/** Runs the rollout on an up lab; see the module comment */
export async function rollout (lab: Lab, options: RolloutOptions): Promise<RolloutReport> {
  const say = options.onProgress ?? (() => {})
  const image = await readLayoutImage(options.image, options.tag)
  const n = options.hosts ?? lab.hosts.length
  if (!Number.isInteger(n) || n < 1 || n > lab.hosts.length) throw new InvalidParametersError(`hosts must be 1 to ${lab.hosts.length} (the lab's), got ${n}`)
  const modes = options.modes ?? ROLLOUT_MODES
  const pullers = lab.hosts.slice(0, n)
  const dir = path.join(lab.dir, 'rollouts', new Date().toISOString().replace(/[:.]/g, '-'))
  await fs.mkdir(dir, { recursive: true })
  let ref: string | undefined
  if (modes.includes('central')) {
    say(`pushing ${image.digest} to the origin's registry`)
    ref = await pushToRegistry(lab.origin, image.layout, image.tag, imageName(image.layout), options.signal)
  }
  const phases: PhaseReport[] = []
  for (const mode of modes) {
    if (mode !== 'central') {
      say(`${mode}: every daemon cold, the image imported on the origin`)
      await prepareSwarm(lab, image, pullers, options.signal)
    }
    say(`${mode}: ${n} hosts fetch ${image.digest} at once`)
    await Promise.all(pullers.map(async h => fs.mkdir(path.dirname(outDir(h, mode)), { recursive: true })))
    // each daemon's RPC address, as it is after the restart above
    const api = new Map(mode === 'pull' ? await Promise.all(pullers.map(async h => [h.name, await apiAddress(h)] as const)) : [])
    const run = await runPhase(lab, mode, pullers, commandFor(mode, image, ref, api), options.faults ?? [], options.signal)
    await fs.writeFile(path.join(dir, `${mode}.samples.json`), JSON.stringify(run.samples))
    const report = await analysePhase(run, {
      mode,
      size: image.size,
      rate: lab.state.rate,
      originRate: lab.state.originRate,
      logTail: async name => logTail(await tailLines(hostFiles(lab.host(name)).log, 400))
    })
    phases.push(report)
    say(`${mode}: ${report.done}/${n} done, max ${report.max?.toFixed(1) ?? '-'} s`)
    await restoreLab(lab, options.signal)
    await Promise.all(pullers.map(async h => fs.rm(outDir(h, mode), { recursive: true, force: true })))
  }
  const result: RolloutReport = {
    image,
    lab: { id: lab.id, hosts: n, rate: lab.state.rate, originRate: lab.state.originRate },
    limits: limits(image.size, n, lab.state.rate, lab.state.originRate),
    phases,
    machine: { cores: os.availableParallelism() },
    dir
  }
  await fs.writeFile(path.join(dir, 'report.json'), JSON.stringify(result, null, 2))
  return result
}
