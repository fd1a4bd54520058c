/**
 * A rollout report as text: one table of the modes against the limit, one of
 * the hosts, and the slowest host of each mode with what it waited on.
 */
import { formatBytes, formatRate, formatSeconds } from './units.js'
import type { PhaseReport, RolloutMode } from './analysis.js'
import type { RolloutReport } from './rollout.js'

const MODE_NAMES: Record<RolloutMode, string> = {
  central: 'central: skopeo from docker-registry',
  pull: 'provenir: image pull',
  gateway: 'provenir: skopeo via own gateway'
}

const ratio = (x: number | null): string => x == null ? '-' : `${x.toFixed(2)}x`

function modeRow (p: PhaseReport): string {
  return `| ${MODE_NAMES[p.mode]} | ${p.done}/${p.pullers} | ${formatSeconds(p.p50)} | ${formatSeconds(p.p90)} | ${formatSeconds(p.max)} | ${ratio(p.ratioToSR)} | ${ratio(p.ratioToLimit)} | ${formatBytes(p.originSent)} (${p.originSentRatio.toFixed(2)}x S) | ${formatBytes(p.hostsSent)} | ${Math.round(p.cpuBusy * 100)}% |`
}

/** The rollout as Markdown tables and a few lines */
export function formatRollout (r: RolloutReport): string[] {
  const out: string[] = []
  out.push(`Rollout of ${r.image.layout}:${r.image.tag} (${r.image.digest.slice(0, 19)}..., S = ${formatBytes(r.image.size)}) to ${r.lab.hosts} hosts at ${formatRate(r.lab.rate)}, origin at ${formatRate(r.lab.originRate)}, ${r.machine.cores} cores`)
  out.push(`limits: S/R = ${formatSeconds(r.limits.perHost)}, central N·S/R0 = ${formatSeconds(r.limits.central)}, swarm max(S/R, S/R0) = ${formatSeconds(r.limits.swarm)}`)
  out.push('')
  out.push('| mode | done | p50 | p90 | max | max / (S/R) | max / limit | origin sent | hosts sent | CPU busy |')
  out.push('|---|---|---|---|---|---|---|---|---|---|')
  for (const p of r.phases) out.push(modeRow(p))
  out.push(`| limit | | | | central ${formatSeconds(r.limits.central)}, swarm ${formatSeconds(r.limits.swarm)} | 1.00x | 1.00x | central ${r.lab.hosts}x S, swarm 1x S | | |`)
  out.push('')
  out.push(`| host | ${r.phases.map(p => `${p.mode} s`).join(' | ')} | ${r.phases.map(p => `${p.mode} sent`).join(' | ')} |`)
  out.push(`|---|${r.phases.map(() => '---|').join('')}${r.phases.map(() => '---|').join('')}`)
  const names = r.phases[0]?.hosts.map(h => h.name) ?? []
  for (const name of names) {
    const hs = r.phases.map(p => p.hosts.find(h => h.name === name))
    out.push(`| ${name} | ${hs.map(h => h?.status === 'done' ? formatSeconds(h.seconds) : h?.status ?? '-').join(' | ')} | ${hs.map(h => formatBytes(h?.sent ?? 0)).join(' | ')} |`)
  }
  out.push('')
  for (const p of r.phases) {
    const o = p.originDaemon
    if (o != null) out.push(`${p.mode}: the origin's daemon sent ${o.bulkBlocks} blocks (${formatBytes(o.bulkBytes)}) over the bulk channel and ${o.bitswapBlocks} (${formatBytes(o.bitswapBytes)}) over bitswap, and named holders ${o.redirects} times`)
    const a = p.pullersAnswered
    if (a != null) out.push(`${p.mode}: the pullers' bulk listeners sent ${a.blocks} blocks, named holders ${a.redirects} times, said DONT_HAVE ${a.dontHave} times, and ${a.fetching} times that their own fetch of the block went on`)
    if (p.faults.length > 0) out.push(`${p.mode} faults: ${p.faults.map(f => `${f.spec} fired at ${f.at.toFixed(1)} s${f.error != null ? ` (failed: ${f.error})` : ''}`).join('; ')}`)
    const s = p.slowest
    if (s == null) continue
    out.push(`${p.mode} slowest: ${s.name} (${s.status === 'done' ? formatSeconds(s.seconds) : s.status}), waiting on ${s.waitingOn}; last progress at ${formatSeconds(s.lastProgress.seconds)} with ${formatBytes(s.lastProgress.received)} received`)
    for (const line of s.logTail.slice(-3)) out.push(`    ${line.slice(0, 200)}`)
  }
  out.push(`load average (1 min) at each mode's start and end: ${r.phases.map(p => `${p.mode} ${p.loadavg.map(l => l.toFixed(2)).join('->')}`).join(', ')}`)
  out.push(`report, samples and logs: ${r.dir} (logs under the lab's hosts/<name>/)`)
  return out
}
