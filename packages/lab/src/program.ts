/**
 * The `provenir-lab` command tree (`npm run lab -- <command>`). Each command
 * takes `--dir` (default `$PROVENIR_LAB_DIR`, else `<tmp>/provenir-lab`) and
 * `--json`.
 */
import { InvalidParametersError, ProvenirError } from '@provenir/interface'
import { Command, CommanderError, Option } from 'commander'
import { DEFAULT_DEBUG, DEFAULT_DIFFICULTY, LAB_DIR_ENV } from './constants.js'
import { labDown } from './down.js'
import { LabNotUpError } from './errors.js'
import { applyFault, parseFault, waitForTrigger } from './faults.js'
import { runsIn } from './hosts.js'
import { Lab, defaultLabDir } from './lab.js'
import { linkIsUp } from './network.js'
import { formatRollout } from './report.js'
import { ROLLOUT_MODES, rollout } from './rollout.js'
import { formatBytes, formatRate, parseRate } from './units.js'
import type { RolloutMode } from './analysis.js'
import type { FaultAction } from './faults.js'

interface Common { dir?: string, json?: boolean }

function print (json: boolean, value: unknown, lines: () => string[]): void {
  if (json) process.stdout.write(JSON.stringify(value) + '\n')
  else for (const l of lines()) process.stdout.write(l + '\n')
}

const progress = (json: boolean) => (m: string): void => { if (!json) process.stderr.write(`lab: ${m}\n`) }

async function up (opts: Common & { hosts: string, rate: string, originRate?: string, difficulty: string, debug: string }): Promise<void> {
  const lab = await Lab.up({
    dir: opts.dir ?? defaultLabDir(),
    hosts: Number(opts.hosts),
    rate: parseRate(opts.rate),
    ...(opts.originRate != null ? { originRate: parseRate(opts.originRate) } : {}),
    difficulty: Number(opts.difficulty),
    debug: opts.debug,
    onProgress: progress(opts.json === true)
  })
  print(opts.json === true, lab.state, () => [`lab ${lab.id} is up in ${lab.dir}: ${lab.hosts.length} hosts at ${formatRate(lab.state.rate)}, origin at ${formatRate(lab.state.originRate)}`, ...statusHints(lab)])
}

function statusHints (lab: Lab): string[] {
  const h = lab.hosts[0]
  return [
    `run a command on a host:  ip netns exec ${h.ns} env PROVENIR_PATH=${h.repo} npm run provenir -- image ls`,
    `its log:                  ${h.dir}/daemon.log`,
    'take it down:             npm run lab -- down'
  ]
}

async function down (opts: Common & { all?: boolean, keepLogs?: boolean }): Promise<void> {
  const report = await labDown(opts.dir ?? defaultLabDir(), { all: opts.all === true, keepLogs: opts.keepLogs === true })
  print(opts.json === true, report, () => [
    `removed ${report.namespaces.length} namespaces, ${report.links.length} links, ${report.processes.length} processes${report.dir != null ? `, ${opts.keepLogs === true ? 'all but the logs of' : ''} ${report.dir}` : ''}`,
    ...(report.skipped != null ? [report.skipped] : [])
  ])
}

async function status (opts: Common): Promise<void> {
  const lab = await Lab.open(opts.dir ?? defaultLabDir())
  const counters = await lab.counters()
  const hosts = await Promise.all(lab.state.hosts.map(async h => ({
    name: h.name,
    ns: h.ns,
    address: h.address,
    link: await linkIsUp(h) ? 'up' : 'down',
    partitioned: (lab.state.partitioned ?? []).includes(h.name),
    daemon: await runsIn(h, h.daemonPid) ? 'running' : 'stopped',
    ...(h.name === 'origin' ? { registry: await runsIn(h, h.registryPid) ? 'running' : 'stopped' } : {}),
    peerId: h.peerId,
    gateway: h.gateway,
    repo: h.repo,
    ...counters.get(h.name)
  })))
  print(opts.json === true, { id: lab.id, dir: lab.dir, rate: lab.state.rate, originRate: lab.state.originRate, hosts }, () => [
    `lab ${lab.id} in ${lab.dir}: ${lab.hosts.length} hosts at ${formatRate(lab.state.rate)}, origin at ${formatRate(lab.state.originRate)}`,
    '| host | address | link | daemon | sent | received |',
    '|---|---|---|---|---|---|',
    ...hosts.map(h => `| ${h.name} | ${h.address} | ${h.link}${h.partitioned ? ' (partitioned)' : ''} | ${h.daemon}${h.registry != null ? `, registry ${h.registry}` : ''} | ${formatBytes(h.sent ?? 0)} | ${formatBytes(h.received ?? 0)} |`),
    ...statusHints(lab)
  ])
}

async function runRollout (opts: Common & { image: string, tag: string, hosts?: string, modes: string, fault: string[], rate: string, originRate?: string, keep?: boolean }): Promise<void> {
  const modes = opts.modes.split(',').map(m => m.trim()) as RolloutMode[]
  for (const m of modes) if (!ROLLOUT_MODES.includes(m)) throw new InvalidParametersError(`unknown mode "${m}": use ${ROLLOUT_MODES.join(', ')}`)
  const faults = opts.fault.map(parseFault)
  const dir = opts.dir ?? defaultLabDir()
  const say = progress(opts.json === true)
  // with no lab up, bring one up for this rollout (and take it down after, unless --keep)
  const opened = await Lab.open(dir).catch(() => undefined)
  if (opened == null && opts.hosts == null) throw new LabNotUpError(`no lab is up in ${dir}: give --hosts (and --rate) to bring one up for the rollout`)
  const lab = opened ?? await Lab.up({ dir, hosts: Number(opts.hosts), rate: parseRate(opts.rate), ...(opts.originRate != null ? { originRate: parseRate(opts.originRate) } : {}), onProgress: say })
  try {
    const report = await rollout(lab, { image: opts.image, tag: opts.tag, ...(opts.hosts != null ? { hosts: Number(opts.hosts) } : {}), modes, faults, onProgress: say })
    print(opts.json === true, report, () => formatRollout(report))
  } finally {
    if (opened == null && opts.keep !== true) await lab.down({ keepLogs: true })
  }
}

async function fault (action: FaultAction, opts: Common & { at?: string }): Promise<void> {
  const lab = await Lab.open(opts.dir ?? defaultLabDir())
  const spec = parseFault(opts.at != null ? `${describe(action)} at ${opts.at}` : describe(action))
  const host = action.kind === 'partition' ? action.hosts[0] : action.kind === 'heal' ? undefined : action.host
  await waitForTrigger(lab, host, spec.at, { t0: performance.now(), counters: await lab.counters() })
  const res = await applyFault(lab, action)
  print(opts.json === true, { fault: spec.spec, ...res }, () => [`${spec.spec}: done${res.pids != null ? ` (ended ${res.pids.length} processes)` : ''}`])
}

function describe (a: FaultAction): string {
  switch (a.kind) {
    case 'kill': return `kill ${a.host}`
    case 'link': return `link ${a.host} ${a.state}`
    case 'partition': return `partition ${a.hosts.join(',')}`
    case 'heal': return 'heal'
  }
}

function registerFaults (program: Command, common: (c: Command) => Command): void {
  const f = program.command('fault').description('break things on purpose: kill a host, cut its link, partition the swarm')
  common(f.command('kill <host>').description('crash a host: SIGKILL every process in its namespace').option('--at <when>', 'wait until then: a time after now (5s) or bytes through its link (40MB)'))
    .action(async (host: string, o) => { await fault({ kind: 'kill', host }, o) })
  common(f.command('link <host> <state>').description('pull (down) or plug back (up) a host\'s cable').option('--at <when>', 'wait until then (5s, 40MB)'))
    .action(async (host: string, state: string, o) => {
      if (state !== 'up' && state !== 'down') throw new InvalidParametersError(`link state must be up or down, got "${state}"`)
      await fault({ kind: 'link', host, state }, o)
    })
  common(f.command('partition <hosts...>').description('cut these hosts off from the rest (they still reach each other)').option('--at <when>', 'wait until then (5s, or bytes through the first host\'s link)'))
    .action(async (hosts: string[], o) => { await fault({ kind: 'partition', hosts: hosts.flatMap(h => h.split(',')).filter(h => h !== '') }, o) })
  common(f.command('heal').description('end every partition')).action(async o => { await fault({ kind: 'heal' }, o) })
}

export function createProgram (): Command {
  const program = new Command('provenir-lab')
    .description(`many provenir hosts on one machine, each in its own network namespace with a capped link (needs root); the lab's directory is --dir, else $${LAB_DIR_ENV}, else <tmp>/provenir-lab`)
    .exitOverride()
    .configureOutput({ outputError: () => {} })
  const common = (c: Command): Command => c.option('--dir <path>', 'the lab\'s directory').option('--json', 'print JSON')
  common(program.command('up').description('make N hosts and an origin, each with a daemon, on one bridge')
    .requiredOption('--hosts <n>', 'hosts besides the origin')
    .option('--rate <rate>', 'each host\'s link, both directions (tc units: 100mbit, 1gbit)', '100mbit')
    .option('--origin-rate <rate>', 'the origin\'s link (default: --rate)')
    .option('--difficulty <bits>', 'the daemons\' swarm difficulty', String(DEFAULT_DIFFICULTY))
    .option('--debug <pattern>', 'the daemons\' DEBUG pattern', DEFAULT_DEBUG)).action(up)
  common(program.command('down').description('remove everything the lab made (namespaces, links, bridge, processes, directory)')
    .option('--all', 'remove every pvlab* object on this machine, whichever lab made it')
    .option('--keep-logs', 'keep the hosts\' logs, metrics and rollout reports')).action(down)
  common(program.command('status').description('the hosts, their links and daemons')).action(status)
  common(program.command('rollout').description('central vs provenir vs the physical limit: every host fetches one image at once')
    .requiredOption('--image <layout>', 'an OCI image layout')
    .option('--tag <tag>', 'the image\'s tag in the layout', 'v1')
    .option('--hosts <n>', 'how many hosts pull (with no lab up: how many to bring up)')
    .addOption(new Option('--modes <list>', 'comma-separated').default(ROLLOUT_MODES.join(',')))
    .option('--fault <spec>', 'a scheduled fault, e.g. "kill h3 at 20MB", "link h2 down at 2s" (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--rate <rate>', 'with no lab up: each host\'s link', '100mbit')
    .option('--origin-rate <rate>', 'with no lab up: the origin\'s link')
    .option('--keep', 'with no lab up: leave the lab up afterwards')).action(runRollout)
  common(program.command('start <host>').description('start a host\'s daemon again (after a kill)'))
    .action(async (host: string, o: Common) => {
      const lab = await Lab.open(o.dir ?? defaultLabDir())
      await lab.startDaemon(host)
      print(o.json === true, { host, pid: lab.host(host).daemonPid }, () => [`${host}: daemon started`])
    })
  registerFaults(program, common)
  return program
}

/** Runs the program; prints an error as `Error: <message>` (or JSON) and returns the exit code */
export async function run (argv: string[]): Promise<number> {
  const json = argv.includes('--json')
  try {
    await createProgram().parseAsync(argv)
    return 0
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0
      process.stderr.write(`${err.message}\n`)
      return err.exitCode
    }
    const e = err as Error
    if (json) process.stderr.write(JSON.stringify({ error: { name: e.name, message: e.message } }) + '\n')
    else process.stderr.write(`Error: ${e.message}\n${e instanceof ProvenirError ? '' : `${e.stack ?? ''}\n`}`)
    return 1
  }
}
