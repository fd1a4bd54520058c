/**
 * One phase of a rollout: every puller starts its command at the same moment
 * (inside its own namespace), while the lab reads every link's counters every
 * SAMPLE_INTERVAL_MS and fires the scheduled faults. When one puller is left,
 * its daemon's metrics are kept (`<host>/metrics/<mode>-last.prom`): the
 * rollout summary says what the slowest host was waiting on. At the end of a
 * provenir phase the origin's daemon's metrics are kept too
 * (`origin/metrics/<mode>-end.prom`): what it sent over which channel, and
 * the pullers' (`<host>/metrics/<mode>-end.prom`): how they answered each other.
 */
import fs from 'node:fs/promises'
import { PULL_TIMEOUT_MS, SAMPLE_INTERVAL_MS } from './constants.js'
import { runScheduled } from './faults.js'
import { delay, nsHeld } from './sys.js'
import type { FiredFault, ScheduledFault } from './faults.js'
import type { Lab } from './lab.js'
import type { LinkCounters } from './network.js'
import type { HostState } from './state.js'

/** Every link's counters at one moment, seconds after the phase started */
export interface Sample {
  t: number
  c: Record<string, LinkCounters>
}

export interface HostRun {
  name: string
  /** The exit code, null when a signal ended it (a kill) */
  code: number | null
  signal: NodeJS.Signals | null
  /** Seconds from the common start to the command's exit */
  seconds: number
  /** The end of its stderr, when it failed */
  stderr: string
}

export interface PhaseRun {
  started: string
  runs: HostRun[]
  samples: Sample[]
  fired: FiredFault[]
  /** The machine's CPU busy share (0 to 1, all cores) during the phase */
  cpuBusy: number
  /** The 1-minute load average at the start and at the end */
  loadavg: [number, number]
  /** The puller left last, and its daemon's metrics when it was */
  lastStanding?: { name: string, at: number, metrics?: string }
  /** The origin's daemon's metrics at the end of a provenir phase (its daemon starts afresh with each) */
  originMetrics?: string
  /** The pullers' daemons' metrics at the end of a provenir phase, those that answered */
  pullerMetrics?: string[]
}

/** What a puller runs: a command inside its namespace */
export interface PullerCommand {
  cmd: string
  args: string[]
  env?: NodeJS.ProcessEnv
}

interface CpuTimes { busy: number, total: number }

/** The machine's CPU times from /proc/stat (all cores) */
export async function cpuTimes (): Promise<CpuTimes> {
  const line = (await fs.readFile('/proc/stat', 'utf8')).split('\n')[0]
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  const idle = f[3] + (f[4] ?? 0)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

async function loadavg (): Promise<number> {
  return Number((await fs.readFile('/proc/loadavg', 'utf8')).split(' ')[0])
}

function toRecord (m: Map<string, LinkCounters>): Record<string, LinkCounters> {
  return Object.fromEntries(m)
}

/**
 * Runs every puller's command at once and watches the links until all have
 * ended. Each command is started up to its exec first (`nsHeld`), and the
 * phase's clock starts when all are let go together.
 */
export async function runPhase (lab: Lab, mode: string, pullers: HostState[], command: (h: HostState) => PullerCommand, faults: ScheduledFault[], signal?: AbortSignal): Promise<PhaseRun> {
  const held = pullers.map(h => {
    const { cmd, args, env } = command(h)
    return { h, run: nsHeld(h.ns, cmd, args, { allowFailure: true, timeout: PULL_TIMEOUT_MS, signal, ...(env != null ? { env } : {}) }) }
  })
  await Promise.all(held.map(async ({ run }) => await run.ready))
  const [cpu0, load0] = [await cpuTimes(), await loadavg()]
  const counters = await lab.counters()
  const t0 = performance.now()
  const started = new Date().toISOString()
  const now = (): number => (performance.now() - t0) / 1000
  const samples: Sample[] = [{ t: 0, c: toRecord(counters) }]
  const stop = new AbortController()
  const sampler = (async () => {
    while (!stop.signal.aborted) {
      await delay(SAMPLE_INTERVAL_MS, stop.signal).catch(() => {})
      samples.push({ t: now(), c: toRecord(await lab.counters()) })
    }
  })()
  const firing = runScheduled(lab, faults, { t0, counters }, stop.signal)
  const running = new Set(pullers.map(h => h.name))
  let lastStanding: PhaseRun['lastStanding']
  let snapshot: Promise<void> | undefined
  for (const { run } of held) run.go()
  const runs = await Promise.all(held.map(async ({ h, run }): Promise<HostRun> => {
    const res = await run.result.catch((err: Error) => ({ code: null, signal: null, stderr: err.message }))
    const seconds = now()
    running.delete(h.name)
    if (running.size === 1 && pullers.length > 1) {
      const [name] = running
      lastStanding = { name, at: seconds }
      if (mode !== 'central' && lab.host(name).daemonPid != null) {
        snapshot = lab.snapshotMetrics(name, `${mode}-last`).then(m => { if (lastStanding != null) lastStanding.metrics = m }, () => {})
      }
    }
    return { name: h.name, code: res.code, signal: res.signal, seconds, stderr: res.code === 0 ? '' : res.stderr.trim().slice(-2000) }
  }))
  stop.abort()
  await sampler
  const fired = await firing
  await snapshot
  samples.push({ t: now(), c: toRecord(await lab.counters()) })
  const cpu1 = await cpuTimes()
  const originMetrics = mode !== 'central' && lab.origin.daemonPid != null ? await lab.snapshotMetrics(lab.origin.name, `${mode}-end`).catch(() => undefined) : undefined
  const pullerMetrics = mode !== 'central'
    ? (await Promise.all(pullers.filter(h => lab.host(h.name).daemonPid != null).map(async h => lab.snapshotMetrics(h.name, `${mode}-end`).catch(() => undefined)))).filter(m => m != null)
    : []
  return {
    started,
    runs,
    samples,
    fired,
    cpuBusy: (cpu1.busy - cpu0.busy) / Math.max(1, cpu1.total - cpu0.total),
    loadavg: [load0, await loadavg()],
    ...(lastStanding != null ? { lastStanding } : {}),
    ...(originMetrics != null ? { originMetrics } : {}),
    ...(pullerMetrics.length > 0 ? { pullerMetrics } : {})
  }
}
