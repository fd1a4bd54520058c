/**
 * A rollout phase's report from what it measured: percentiles, limits,
 * bytes per link, ratios, kills, and what the slowest host waited on.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { analysePhase, limits, percentile, rateBetween } from '../src/analysis.js'
import { readLayoutImage, writeSyntheticLayout } from '../src/layout.js'
import { formatRollout } from '../src/report.js'
import type { PhaseRun, Sample } from '../src/phase.js'

const MB = 1e6
const R = 100e6 // bits/s: 12.5 MB/s

/** Samples every 0.5 s; `recv(name, t)` and `sent(name, t)` give the counters at t */
function samples (names: string[], until: number, recv: (n: string, t: number) => number, sent: (n: string, t: number) => number): Sample[] {
  const out: Sample[] = []
  for (let t = 0; t <= until + 1e-9; t += 0.5) {
    out.push({ t, c: Object.fromEntries(names.map(n => [n, { received: recv(n, t), sent: sent(n, t) }])) })
  }
  return out
}

describe('lab rollout analysis', () => {
  it('takes nearest-rank percentiles and the physical limits', () => {
    assert.equal(percentile([], 0.5), null)
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2)
    assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9), 9)
    assert.equal(percentile([3], 0.9), 3)
    const l = limits(12.5 * MB, 8, R, R)
    assert.equal(l.perHost, 1)
    assert.equal(l.central, 8)
    assert.equal(l.swarm, 1)
    assert.equal(limits(12.5 * MB, 8, R, R * 16).central, 1, 'a fast origin leaves S/R as the bound')
  })

  it('reads a rate between two moments from the samples', () => {
    const s = samples(['h1'], 4, (_n, t) => t * 12.5 * MB, () => 0)
    assert.equal(rateBetween(s, 'h1', 1, 3), R)
    assert.equal(rateBetween(s, 'nobody', 1, 3), 0)
  })

  it('reports a central phase: times, bytes, ratios, and the origin\'s uplink as what the slowest waited on', async () => {
    // 4 hosts share an origin at R: each receives at R/4 and is done at 4 s (S = 12.5 MB)
    const names = ['origin', 'h1', 'h2', 'h3', 'h4']
    const s = samples(names, 4, (n, t) => n === 'origin' ? 0 : Math.min(t, 4) * 12.5 * MB / 4, (n, t) => n === 'origin' ? Math.min(t, 4) * 12.5 * MB : 0)
    const run: PhaseRun = {
      started: new Date(0).toISOString(),
      runs: [3.8, 3.9, 4.0, 4.1].map((seconds, i) => ({ name: `h${i + 1}`, code: 0, signal: null, seconds, stderr: '' })),
      samples: s,
      fired: [],
      cpuBusy: 0.5,
      loadavg: [1, 2]
    }
    const report = await analysePhase(run, { mode: 'central', size: 12.5 * MB, rate: R, originRate: R, logTail: async () => ['unused'] })
    assert.equal(report.done, 4)
    assert.equal(report.p50, 3.9)
    assert.equal(report.p90, 4.1)
    assert.equal(report.max, 4.1)
    assert.equal(report.limit, 4, 'central: N·S/R0')
    assert.ok(Math.abs(report.ratioToSR! - 4.1) < 1e-9)
    assert.ok(Math.abs(report.ratioToLimit! - 4.1 / 4) < 1e-9)
    assert.equal(report.originSent, 50 * MB)
    assert.equal(report.originSentRatio, 4)
    assert.equal(report.hosts[0].received, 12.5 * MB)
    assert.equal(report.slowest?.name, 'h4')
    assert.match(report.slowest!.waitingOn, /^the origin's uplink/)
    assert.equal(report.slowest?.lastProgress.seconds, 4)
  })

  it('marks a killed host as killed, not failed, and names it as the slowest with why', async () => {
    const names = ['origin', 'h1', 'h2']
    const s = samples(names, 2, (n, t) => n === 'origin' ? 0 : t * 12.5 * MB, () => 0)
    const run: PhaseRun = {
      started: new Date(0).toISOString(),
      runs: [
        { name: 'h1', code: 0, signal: null, seconds: 1.0, stderr: '' },
        { name: 'h2', code: null, signal: 'SIGKILL', seconds: 0.55, stderr: '' },
        { name: 'h3', code: 1, signal: null, seconds: 0.6, stderr: 'Error: no providers' }
      ],
      samples: s,
      fired: [{ spec: 'kill h2 at 5MB', at: 0.5, pids: [123] }],
      cpuBusy: 0.9,
      loadavg: [1, 1]
    }
    const report = await analysePhase(run, { mode: 'pull', size: 12.5 * MB, rate: R, originRate: R, logTail: async n => [`log of ${n}`] })
    assert.deepEqual(report.hosts.map(h => h.status), ['done', 'killed', 'failed'])
    assert.equal(report.hosts[2].error, 'Error: no providers')
    assert.equal(report.done, 1)
    assert.equal(report.limit, 1, 'a swarm\'s bound is max(S/R, S/R0)')
    assert.equal(report.slowest?.name, 'h2')
    assert.match(report.slowest!.waitingOn, /was killed/)
    assert.deepEqual(report.slowest?.logTail, ['log of h2'])
    assert.equal(report.originDaemon, undefined, 'no origin metrics, no counters')
  })

  it('gives what the origin\'s daemon sent over each channel, from its metrics', async () => {
    const s = samples(['origin', 'h1'], 2, (n, t) => n === 'h1' ? t * 12.5 * MB : 0, (n, t) => n === 'origin' ? t * 12.5 * MB : 0)
    const originMetrics = [
      'provenir_bulk_events_total{event="block"} 139',
      'provenir_bulk_events_total{event="bytes-sent"} 95480480',
      'provenir_bulk_events_total{event="redirect"} 154',
      'provenir_bulk_events_total{event="admitted"} 36',
      'provenir_bitswap_blocks_sent_total 79',
      'provenir_bitswap_data_sent_bytes_total 82837504'
    ].join('\n')
    const run: PhaseRun = { started: '', runs: [{ name: 'h1', code: 0, signal: null, seconds: 1, stderr: '' }], samples: s, fired: [], cpuBusy: 0.5, loadavg: [0, 0], originMetrics }
    const report = await analysePhase(run, { mode: 'pull', size: 12.5 * MB, rate: R, originRate: R, logTail: async () => [] })
    assert.deepEqual(report.originDaemon, { bulkBlocks: 139, bulkBytes: 95480480, redirects: 154, bitswapBlocks: 79, bitswapBytes: 82837504 })
    const none = await analysePhase({ ...run, originMetrics: 'provenir_other 1' }, { mode: 'pull', size: 12.5 * MB, rate: R, originRate: R, logTail: async () => [] })
    assert.equal(none.originDaemon, undefined)
    assert.equal(none.pullersAnswered, undefined, 'no puller metrics, no counters')
  })

  it('sums how the pullers\' bulk listeners answered, from their metrics', async () => {
    const s = samples(['origin', 'h1', 'h2'], 2, (n, t) => n !== 'origin' ? t * 12.5 * MB : 0, (n, t) => n === 'origin' ? t * 25 * MB : 0)
    const pullerMetrics = [
      ['provenir_bulk_events_total{event="block"} 20', 'provenir_bulk_events_total{event="fetching"} 3', 'provenir_bulk_events_total{event="dont-have"} 40'].join('\n'),
      ['provenir_bulk_events_total{event="block"} 5', 'provenir_bulk_events_total{event="redirect"} 2', 'provenir_bulk_events_total{event="fetching"} 1'].join('\n'),
      'provenir_other 1'
    ]
    const runs = ['h1', 'h2'].map(name => ({ name, code: 0, signal: null, seconds: 1, stderr: '' }))
    const run: PhaseRun = { started: '', runs, samples: s, fired: [], cpuBusy: 0.5, loadavg: [0, 0], pullerMetrics }
    const report = await analysePhase(run, { mode: 'pull', size: 12.5 * MB, rate: R, originRate: R, logTail: async () => [] })
    assert.deepEqual(report.pullersAnswered, { blocks: 25, redirects: 2, fetching: 4, dontHave: 40 })
    const none = await analysePhase({ ...run, pullerMetrics: ['provenir_other 1'] }, { mode: 'pull', size: 12.5 * MB, rate: R, originRate: R, logTail: async () => [] })
    assert.equal(none.pullersAnswered, undefined)
  })

  it('says the host\'s own link when it received at R to the end', async () => {
    const s = samples(['origin', 'h1'], 2, (n, t) => n === 'h1' ? t * 12.5 * MB : 0, (n, t) => n === 'origin' ? t * 12.5 * MB : 0)
    const run: PhaseRun = { started: '', runs: [{ name: 'h1', code: 0, signal: null, seconds: 2, stderr: '' }], samples: s, fired: [], cpuBusy: 0.2, loadavg: [0, 0] }
    const report = await analysePhase(run, { mode: 'pull', size: 25 * MB, rate: R, originRate: 2 * R, logTail: async () => [] })
    assert.match(report.slowest!.waitingOn, /^its own link: it received at 100% of R/)
  })

  it('prints the report as tables that name every mode and host', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lab-analysis-'))
    try {
      const image = await writeSyntheticLayout(dir, 3 * 1024 * 1024)
      assert.deepEqual(await readLayoutImage(dir), image)
      assert.ok(image.size > 3 * 1024 * 1024 && image.size < 3 * 1024 * 1024 + 2048)
      const s = samples(['origin', 'h1'], 1, () => 0, () => 0)
      const phase = await analysePhase({ started: '', runs: [{ name: 'h1', code: 0, signal: null, seconds: 1, stderr: '' }], samples: s, fired: [], cpuBusy: 0.2, loadavg: [0, 0] },
        { mode: 'gateway', size: image.size, rate: R, originRate: R, logTail: async () => [] })
      const text = formatRollout({ image, lab: { id: 0, hosts: 1, rate: R, originRate: R }, limits: limits(image.size, 1, R, R), phases: [phase], machine: { cores: 2 }, dir }).join('\n')
      assert.match(text, /\| provenir: skopeo via own gateway \| 1\/1 \|/)
      assert.match(text, /\| h1 \| 1\.00 s \|/)
      assert.match(text, /gateway slowest: h1/)
    } finally {
      await fs.rm(dir, { recursive: true, force: true })
    }
  })
})
