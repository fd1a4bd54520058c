/**
 * What a rollout phase measured: completion times (p50, p90, max), the bytes
 * each link carried, the ratios to the physical limit, and the slowest host
 * with what it was waiting on.
 */
import { prometheusValue } from './metrics.js'
import type { FiredFault } from './faults.js'
import type { PhaseRun, Sample } from './phase.js'

export type RolloutMode = 'central' | 'pull' | 'gateway'

export interface HostResult {
  name: string
  status: 'done' | 'failed' | 'killed'
  /** Seconds from the common start to completion; null unless done */
  seconds: number | null
  /** Bytes its link carried during the phase (headers included) */
  sent: number
  received: number
  error?: string
}

export interface SlowestHost {
  name: string
  seconds: number | null
  status: HostResult['status']
  /** One sentence: its own link, the origin's uplink, or neither (the swarm or CPU) */
  waitingOn: string
  /** Its receive rate over its last stretch (the last quarter of its time, at least 1 s), bits/s */
  lastRate: number
  /** When its link last carried a new 64 KB, and what it had received by then */
  lastProgress: { seconds: number, received: number }
  /** From its daemon's metrics when it was the last one pulling (provenir modes) */
  bitswapPeers?: number
  wantlist?: number
  /** The end of its daemon log, or of its command's stderr */
  logTail: string[]
}

export interface PhaseReport {
  mode: RolloutMode
  pullers: number
  started: string
  hosts: HostResult[]
  done: number
  /** Nearest-rank percentiles over the hosts that completed, seconds */
  p50: number | null
  p90: number | null
  max: number | null
  /** The mode's lower bound: central max(S/R, N·S/R0), provenir max(S/R, S/R0) */
  limit: number
  /** max / (S/R) and max / limit */
  ratioToSR: number | null
  ratioToLimit: number | null
  /** What the origin's link sent, bytes and as a multiple of S */
  originSent: number
  originSentRatio: number
  /** What the pullers sent (to each other), bytes */
  hostsSent: number
  /** What the origin's daemon sent, by channel, from its metrics (provenir modes) */
  originDaemon?: OriginDaemonSent
  /** How the pullers' bulk listeners answered, summed over their metrics (provenir modes) */
  pullersAnswered?: PullersAnswered
  slowest?: SlowestHost
  faults: FiredFault[]
  cpuBusy: number
  loadavg: [number, number]
}

/**
 * Blocks the origin's daemon sent over the bulk channel and over bitswap, and
 * how often it named holders instead of sending: a block sent twice or over
 * bitswap shows here where the link's bytes do not say why
 */
export interface OriginDaemonSent {
  bulkBlocks: number
  bulkBytes: number
  redirects: number
  bitswapBlocks: number
  bitswapBytes: number
}

/**
 * The pullers' bulk listeners' answers to each other, summed: blocks sent,
 * DONT_HAVEs naming holders, DONT_HAVEs saying the block was still being
 * fetched (past `inFlightWait`), and plain DONT_HAVEs
 */
export interface PullersAnswered {
  blocks: number
  redirects: number
  fetching: number
  dontHave: number
}

/** The pullers' bulk answers summed over their metrics texts; undefined when none has those counters */
export function pullersAnswered (metrics: string[]): PullersAnswered | undefined {
  const sum: PullersAnswered = { blocks: 0, redirects: 0, fetching: 0, dontHave: 0 }
  let any = false
  for (const text of metrics) {
    const bulk = (event: string): number => {
      const v = prometheusValue(text, 'provenir_bulk_events_total', `event="${event}"`)
      if (v != null) any = true
      return v ?? 0
    }
    sum.blocks += bulk('block')
    sum.redirects += bulk('redirect')
    sum.fetching += bulk('fetching')
    sum.dontHave += bulk('dont-have')
  }
  return any ? sum : undefined
}

/** The origin daemon's counters from its metrics text; undefined when it has none of them */
export function originDaemonSent (metrics: string): OriginDaemonSent | undefined {
  const bulk = (event: string): number | undefined => prometheusValue(metrics, 'provenir_bulk_events_total', `event="${event}"`)
  const values = {
    bulkBlocks: bulk('block'),
    bulkBytes: bulk('bytes-sent'),
    redirects: bulk('redirect'),
    bitswapBlocks: prometheusValue(metrics, 'provenir_bitswap_blocks_sent_total'),
    bitswapBytes: prometheusValue(metrics, 'provenir_bitswap_data_sent_bytes_total')
  }
  if (Object.values(values).every(v => v == null)) return undefined
  return { bulkBlocks: values.bulkBlocks ?? 0, bulkBytes: values.bulkBytes ?? 0, redirects: values.redirects ?? 0, bitswapBlocks: values.bitswapBlocks ?? 0, bitswapBytes: values.bitswapBytes ?? 0 }
}

export interface PhaseContext {
  mode: RolloutMode
  /** S, bytes */
  size: number
  /** Each host's link rate and the origin's, bits/s */
  rate: number
  originRate: number
  /** The last lines of a host's log, for the slowest host */
  logTail: (name: string) => Promise<string[]>
}

/** Nearest-rank percentile of sorted values */
export function percentile (sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]
}

/** The physical limits: each host receives S over R; a central origin sends N·S over R0 */
export function limits (size: number, hosts: number, rate: number, originRate: number): { perHost: number, central: number, swarm: number } {
  const perHost = size * 8 / rate
  return { perHost, central: Math.max(perHost, hosts * size * 8 / originRate), swarm: Math.max(perHost, size * 8 / originRate) }
}

function delta (samples: Sample[], name: string): { sent: number, received: number } {
  const [a, b] = [samples[0].c[name], samples[samples.length - 1].c[name]]
  return a == null || b == null ? { sent: 0, received: 0 } : { sent: b.sent - a.sent, received: b.received - a.received }
}

/** Bits/s `name` received (or sent) between t0 and t1, from the samples around them */
export function rateBetween (samples: Sample[], name: string, t0: number, t1: number, what: 'received' | 'sent' = 'received'): number {
  const before = [...samples].reverse().find(s => s.t <= t0) ?? samples[0]
  const after = samples.find(s => s.t >= t1) ?? samples[samples.length - 1]
  const dt = after.t - before.t
  if (dt <= 0 || before.c[name] == null || after.c[name] == null) return 0
  return (after.c[name][what] - before.c[name][what]) * 8 / dt
}

const PROGRESS_STEP = 64 * 1024

/** The last sample up to `end` at which the host had received another PROGRESS_STEP bytes */
function lastProgress (samples: Sample[], name: string, end: number): { seconds: number, received: number } {
  const base = samples[0].c[name]?.received ?? 0
  let last = { seconds: 0, received: 0 }
  for (let i = 1; i < samples.length && samples[i].t <= end; i++) {
    const got = (samples[i].c[name]?.received ?? 0) - base
    if (got - last.received >= PROGRESS_STEP) last = { seconds: samples[i].t, received: got }
  }
  return last
}

const pct = (x: number): string => `${Math.round(x * 100)}%`

async function slowest (run: PhaseRun, hosts: HostResult[], ctx: PhaseContext, cpuBusy: number): Promise<SlowestHost | undefined> {
  const failed = hosts.find(h => h.status !== 'done')
  const done = hosts.filter(h => h.seconds != null).sort((a, b) => b.seconds! - a.seconds!)
  const h = failed ?? done[0]
  if (h == null) return undefined
  const end = h.seconds ?? run.samples[run.samples.length - 1].t
  const from = Math.max(0, end - Math.max(1, end / 4))
  const lastRate = rateBetween(run.samples, h.name, from, end)
  const originRate = rateBetween(run.samples, 'origin', from, end, 'sent')
  const metrics = run.lastStanding?.name === h.name ? run.lastStanding.metrics : undefined
  const bitswapPeers = metrics != null ? prometheusValue(metrics, 'provenir_bitswap_peers') : undefined
  const wantlist = metrics != null ? prometheusValue(metrics, 'provenir_bitswap_wantlist_size') : undefined
  let waitingOn: string
  if (h.status !== 'done') {
    waitingOn = `it ${h.status === 'killed' ? 'was killed' : 'failed'}: ${h.error ?? ''}`.trim()
  } else if (lastRate >= 0.8 * ctx.rate) {
    waitingOn = `its own link: it received at ${pct(lastRate / ctx.rate)} of R over its last ${(end - from).toFixed(1)} s`
  } else if (originRate >= 0.8 * ctx.originRate) {
    waitingOn = `the origin's uplink: the origin sent at ${pct(originRate / ctx.originRate)} of R0 while it received at ${pct(lastRate / ctx.rate)} of R, over its last ${(end - from).toFixed(1)} s`
  } else {
    const swarm = bitswapPeers != null ? `; bitswap peers ${bitswapPeers}, wants pending ${wantlist ?? '?'}` : ''
    waitingOn = `neither link was full over its last ${(end - from).toFixed(1)} s (it received at ${pct(lastRate / ctx.rate)} of R, the origin sent at ${pct(originRate / ctx.originRate)} of R0): the swarm or the CPU (machine ${pct(cpuBusy)} busy${swarm})`
  }
  const run1 = run.runs.find(r => r.name === h.name)
  const logTail = ctx.mode === 'central' ? (run1?.stderr ?? '').split('\n').filter(l => l !== '').slice(-8) : await ctx.logTail(h.name)
  return {
    name: h.name,
    seconds: h.seconds,
    status: h.status,
    waitingOn,
    lastRate,
    lastProgress: lastProgress(run.samples, h.name, end),
    ...(bitswapPeers != null ? { bitswapPeers } : {}),
    ...(wantlist != null ? { wantlist } : {}),
    logTail
  }
}

/** Turns what a phase measured into its report */
export async function analysePhase (run: PhaseRun, ctx: PhaseContext): Promise<PhaseReport> {
  const killedAt = new Map<string, number>()
  for (const f of run.fired) {
    const m = /^kill\s+(\S+)/.exec(f.spec)
    if (m != null && f.error == null) killedAt.set(m[1], f.at)
  }
  const hosts: HostResult[] = run.runs.map(r => {
    const bytes = delta(run.samples, r.name)
    if (r.code === 0) return { name: r.name, status: 'done', seconds: r.seconds, ...bytes }
    const killed = killedAt.has(r.name) && killedAt.get(r.name)! <= r.seconds + 1
    return { name: r.name, status: killed ? 'killed' : 'failed', seconds: null, ...bytes, error: r.stderr || `exited ${r.code ?? r.signal}` }
  })
  const times = hosts.filter(h => h.seconds != null).map(h => h.seconds!).sort((a, b) => a - b)
  const lim = limits(ctx.size, run.runs.length, ctx.rate, ctx.originRate)
  const limit = ctx.mode === 'central' ? lim.central : lim.swarm
  const max = percentile(times, 1)
  const origin = delta(run.samples, 'origin')
  const originDaemon = run.originMetrics != null ? originDaemonSent(run.originMetrics) : undefined
  const answered = run.pullerMetrics != null ? pullersAnswered(run.pullerMetrics) : undefined
  return {
    mode: ctx.mode,
    pullers: run.runs.length,
    started: run.started,
    hosts,
    done: times.length,
    p50: percentile(times, 0.5),
    p90: percentile(times, 0.9),
    max,
    limit,
    ratioToSR: max != null ? max / lim.perHost : null,
    ratioToLimit: max != null ? max / limit : null,
    originSent: origin.sent,
    originSentRatio: origin.sent / ctx.size,
    hostsSent: hosts.reduce((a, h) => a + h.sent, 0),
    ...(originDaemon != null ? { originDaemon } : {}),
    ...(answered != null ? { pullersAnswered: answered } : {}),
    ...(await slowest(run, hosts, ctx, run.cpuBusy).then(s => s != null ? { slowest: s } : {})),
    faults: run.fired,
    cpuBusy: run.cpuBusy,
    loadavg: run.loadavg
  }
}
