/**
 * @packageDocumentation
 *
 * The lab: many provenir hosts on one Linux machine, each daemon in its own
 * network namespace with its own address and a link capped with `tc`, on one
 * bridge, beside an origin host that runs Debian's docker-registry. It
 * measures rollouts against a central registry and the physical limit, and
 * breaks things on purpose (kill a host, cut a link, partition the swarm).
 * Dev only: it needs root, and it is not part of the daemon.
 *
 * @example
 *
 * ```ts
 * import { Lab, rollout, formatRollout, parseFault, labUnavailable } from '@provenir/lab'
 *
 * if (await labUnavailable() == null) {
 *   const lab = await Lab.up({ dir: '/tmp/my-lab', hosts: 4, rate: 100e6 })
 *   try {
 *     const report = await rollout(lab, { image: 'fixtures/out/small/oci', faults: [parseFault('kill h2 at 2MB')] })
 *     console.info(formatRollout(report).join('\n'))
 *   } finally {
 *     await lab.down()
 *   }
 * }
 * ```
 */

export { Lab, defaultLabDir } from './lab.js'
export type { LabUpOptions } from './lab.js'
export { labDown, sweep } from './down.js'
export type { DownOptions, DownReport } from './down.js'
export { labUnavailable, assertLabAvailable } from './preflight.js'
export type { PreflightOptions } from './preflight.js'
export { rollout, restoreLab, ROLLOUT_MODES } from './rollout.js'
export type { RolloutOptions, RolloutReport } from './rollout.js'
export { analysePhase, percentile, limits, rateBetween } from './analysis.js'
export type { RolloutMode, HostResult, PhaseReport, SlowestHost, PhaseContext } from './analysis.js'
export { runPhase, cpuTimes } from './phase.js'
export type { PhaseRun, HostRun, Sample, PullerCommand } from './phase.js'
export { formatRollout } from './report.js'
export { parseFault, applyFault, killHost, setHostLink, partition, heal, waitForTrigger, runScheduled } from './faults.js'
export type { FaultAction, ScheduledFault, FiredFault, Since } from './faults.js'
export { readLayoutImage, writeSyntheticLayout } from './layout.js'
export type { LayoutImage } from './layout.js'
export { hostCli, nsFetch, tailLines, hostFiles, swarmAddress, runsIn, PROVENIR_BIN } from './hosts.js'
export { linkCounters, namespacePids, listNamespaces, listLinks, linkIsUp, prefixesOverlap } from './network.js'
export type { LinkCounters } from './network.js'
export { hostNames, labPrefix, bridgeName, partitionBridgeName, labSubnet, ORIGIN } from './names.js'
export type { HostNames } from './names.js'
export { readState } from './state.js'
export type { LabState, HostState } from './state.js'
export { prometheusValue } from './metrics.js'
export { parseRate, parseBytes, parseDuration, parseTrigger, formatRate, formatBytes, formatSeconds } from './units.js'
export type { Trigger } from './units.js'
export { nsHeld, nsRun, run, poll } from './sys.js'
export type { HeldRun } from './sys.js'
export type { RunOptions, RunResult } from './sys.js'
export * from './errors.js'
export * from './constants.js'
