/**
 * The lab end to end (needs root, `ip netns`, `tc` tbf, docker-registry and
 * skopeo; skipped with the reason otherwise): daemons in their own network
 * namespaces, each with its own address and a capped link, bootstrapped to
 * seeds by their lab addresses.
 *
 * - 4 hosts at 100 Mbit/s: the origin imports the small image, the other
 *   three pull it through the DHT (a rollout: central, `image pull`, gateway),
 *   every digest checks, and `down` leaves nothing.
 * - 6 hosts: two seeders hold the large image, a seeder is killed while the
 *   other four pull it; every puller completes and every blob verifies.
 * - A host's link goes down mid-pull and comes back; its pull completes.
 * - The lab itself is killed half-way through `up`; `down` removes all of it
 *   and nothing of another lab beside it.
 *
 * Rates and sizes are picked to make each point quickly, not to measure:
 * `npm run bench -- lab` measures.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Lab, labDown, labPrefix, labUnavailable, listLinks, listNamespaces, parseFault, readState, rollout, runPhase, setHostLink, PROVENIR_BIN, writeSyntheticLayout } from '@provenir/lab'
import { tempDir, waitFor } from '../daemon-helpers.js'
import { assertLayoutMatches, buildFixtures } from '../image-helpers.js'
import type { HostState, LabState } from '@provenir/lab'

const unavailable = await labUnavailable()
const LONG = 10 * 60_000

/** Every process on the machine whose command line or environment names `dir` */
async function processesNaming (dir: string): Promise<number[]> {
  const found: number[] = []
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const stat = await fs.readFile(`/proc/${entry}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue // dead, waiting for its parent
      const [cmdline, environ] = await Promise.all([fs.readFile(`/proc/${entry}/cmdline`, 'utf8'), fs.readFile(`/proc/${entry}/environ`, 'utf8')])
      if (cmdline.includes(dir) || environ.includes(dir)) found.push(Number(entry))
    } catch {}
  }
  return found
}

/** Takes the lab down and asserts nothing of it is left: namespace, link, bridge, process or directory */
async function downAndAssertNothingLeft (lab: Lab): Promise<void> {
  const state: LabState = structuredClone(lab.state)
  const report = await lab.down()
  assert.ok(report.namespaces.length >= state.hosts.length, `down removed every namespace: ${report.namespaces.join(', ')}`)
  const prefix = labPrefix(state.id)
  assert.deepEqual(await listNamespaces(prefix), [], 'no namespace of the lab is left')
  assert.deepEqual((await listLinks(prefix)).map(l => l.ifname), [], 'no veth or bridge of the lab is left')
  assert.deepEqual(await processesNaming(state.dir), [], 'no process of the lab is left')
  await assert.rejects(fs.stat(state.dir), { code: 'ENOENT' }, 'the lab\'s directory is gone')
}

async function exportAndCheck (lab: Lab, host: HostState, digest: string, original: string, into: string): Promise<string[]> {
  const dir = path.join(into, `export-${host.name}`)
  await lab.cli(host.name, ['image', 'export', digest, dir], { timeout: LONG })
  const checked = await assertLayoutMatches(dir, original, digest)
  await fs.rm(dir, { recursive: true, force: true })
  return checked
}

/** Block bytes a daemon has sent over its bulk channel, from its metrics */
function bulkBytesSent (metrics: string): number {
  const line = metrics.split('\n').find(l => l.startsWith('provenir_bulk_events_total{event="bytes-sent"}'))
  return line != null ? Number(line.trim().split(/\s+/).at(-1)) : 0
}

/** `provenir image pull <digest>` in the host's namespace, as a pulling user runs it */
function pullCommand (digest: string) {
  return (h: HostState) => ({ cmd: process.execPath, args: [PROVENIR_BIN, 'image', 'pull', digest, '--json'], env: { ...process.env, PROVENIR_PATH: h.repo } })
}

describe('lab: hosts in network namespaces with capped links', { skip: unavailable ?? false }, () => {
  let work: string
  const labs: Lab[] = []

  after(async () => {
    for (const lab of labs) await lab.down().catch(() => {})
    if (work != null) await fs.rm(work, { recursive: true, force: true })
  })

  async function up (name: string, hosts: number, rate: number): Promise<Lab> {
    work ??= await tempDir()
    const lab = await Lab.up({ dir: path.join(work, name), hosts, rate })
    labs.push(lab)
    return lab
  }

  it('down after the lab itself was killed half-way through up removes all of that lab and nothing of another beside it', { timeout: LONG }, async () => {
    const other = await up('beside', 1, 100e6)
    const dir = path.join(work, 'crashed')
    const cli = spawn(process.execPath, [fileURLToPath(new URL('./bin.js', import.meta.resolve('@provenir/lab'))), 'up', '--hosts', '3', '--dir', dir], { stdio: 'ignore' })
    const exited = new Promise(resolve => cli.once('exit', resolve))
    // half-way: some daemons run, not all
    const state = await waitFor('the lab to be half up', async () => {
      const s = await readState(dir).catch(() => undefined)
      const running = s?.hosts.filter(h => h.daemonPid != null).length ?? 0
      return s != null && running >= 1 && running < s.hosts.length ? s : undefined
    }, LONG, () => cli.exitCode != null)
    cli.kill('SIGKILL')
    await exited
    assert.notEqual(state.id, other.id)
    assert.ok((await listNamespaces(labPrefix(state.id))).length > 0, 'the crashed lab left namespaces behind')

    const report = await labDown(dir)
    assert.equal(report.id, state.id)
    assert.ok(report.processes.length >= 1, 'down ended the daemons the crashed lab had started')
    assert.deepEqual(await listNamespaces(labPrefix(state.id)), [])
    assert.deepEqual((await listLinks(labPrefix(state.id))).map(l => l.ifname), [])
    assert.deepEqual(await processesNaming(dir), [])
    await assert.rejects(fs.stat(dir), { code: 'ENOENT' })

    // the lab beside it is whole: its namespaces, links and daemons
    assert.equal((await listNamespaces(labPrefix(other.id))).length, 2)
    assert.equal((await listLinks(labPrefix(other.id))).length, 3, 'its bridge and two veth ends')
    assert.equal((await other.cli<{ online: boolean }>('h1', ['id'])).online, true, 'its daemon still answers')
    await downAndAssertNothingLeft(other)
  })

  it('4 hosts at 100 Mbit/s: the small image imported on one, pulled by the other three through the DHT, every digest checked; down leaves nothing', { timeout: LONG }, async (t) => {
    const { small } = await buildFixtures('small')
    const lab = await up('four', 3, 100e6)
    assert.equal(lab.state.hosts.length, 4)
    assert.deepEqual(lab.state.hosts.map(h => h.address), [`10.77.${lab.id}.2`, `10.77.${lab.id}.11`, `10.77.${lab.id}.12`, `10.77.${lab.id}.13`])
    for (const h of lab.hosts) {
      const peers = await lab.cli<{ peers: Array<{ addrs: string[] }> }>(h.name, ['peers'])
      const addrs = peers.peers.flatMap(p => p.addrs)
      assert.ok(addrs.length > 0 && addrs.every(a => a.startsWith(`/ip4/10.77.${lab.id}.`)), `${h.name} reaches its peers by their lab addresses: ${addrs.join(' ')}`)
    }

    const report = await rollout(lab, { image: small.oci })
    t.diagnostic(`rollout: ${report.phases.map(p => `${p.mode} max ${p.max?.toFixed(2)} s, origin sent ${p.originSentRatio.toFixed(2)}x S`).join('; ')}`)
    assert.equal(report.image.digest, small.digest)
    assert.deepEqual(report.phases.map(p => p.mode), ['central', 'pull', 'gateway'])
    for (const p of report.phases) {
      assert.equal(p.done, 3, `${p.mode}: every host completed: ${JSON.stringify(p.hosts)}`)
      for (const h of p.hosts) assert.ok(h.received >= report.image.size, `${p.mode}: ${h.name}'s link carried at least S to it (${h.received} bytes)`)
      assert.ok(p.slowest != null && p.slowest.waitingOn.length > 0, `${p.mode} names its slowest host`)
    }
    const central = report.phases[0]
    assert.ok(central.originSent >= 3 * report.image.size, `central: the origin sent every host the whole image (${central.originSentRatio.toFixed(2)}x S)`)
    await fs.stat(path.join(report.dir, 'report.json'))

    // the pullers found the origin through the DHT, and now hold the image
    for (const h of lab.hosts) {
      const found = await lab.cli<{ providers: Array<{ peerId: string, addrs: string[] }> }>(h.name, ['providers', small.digest])
      const origin = found.providers.find(p => p.peerId === lab.origin.peerId)
      assert.ok(origin != null && origin.addrs.every(a => a.startsWith(`/ip4/10.77.${lab.id}.2/`)), `${h.name}'s DHT names the origin at its lab address`)
      const checked = await exportAndCheck(lab, h, small.digest, small.oci, lab.dir)
      assert.equal(checked.length, 4, `${h.name}: the manifest, the config and both layers check`)
    }
    await downAndAssertNothingLeft(lab)
  })

  it('6 hosts: a seeder is killed while the other four pull the large image; every puller completes and every blob verifies', { timeout: LONG }, async (t) => {
    const { large } = await buildFixtures('large')
    const lab = await up('kill', 5, 200e6)
    await Promise.all(['origin', 'h1'].map(async seeder => {
      const res = await lab.cli<{ images: Array<{ digest: string }> }>(seeder, ['image', 'import', large.oci], { timeout: LONG })
      assert.equal(res.images[0].digest, large.digest)
    }))
    const pullers = lab.hosts.slice(1)
    for (const h of pullers) {
      await waitFor(`${h.name} to find both seeders`, async () => {
        const found = await lab.cli<{ providers: Array<{ peerId: string }> }>(h.name, ['providers', large.digest])
        return found.providers.length >= 2 ? true : undefined
      }, 60_000)
    }

    // the bulk channel is on by default: what each seeder has sent over it, read while h1 still answers
    const bulkSent = { origin: 0, h1: 0 }
    const sampling = new AbortController()
    // each seeder on its own loop, every 200 ms: a read through the namespace takes up to a second
    // under load, and h1 must be seen serving before it dies. The kill waits for 80 MB on h1's link
    // (of the 4 x 315 MB the pullers fetch), so the sampler has seen it serve a few times first
    const sampler = Promise.all((['origin', 'h1'] as const).map(async seeder => {
      while (!sampling.signal.aborted) {
        try {
          bulkSent[seeder] = Math.max(bulkSent[seeder], bulkBytesSent(await lab.snapshotMetrics(seeder, `kill-phase-${seeder}`)))
        } catch {
          // h1 is dead once the fault fired
        }
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    }))
    const run = await runPhase(lab, 'pull', pullers, pullCommand(large.digest), [parseFault('kill h1 at 80MB')])
    sampling.abort()
    await sampler
    t.diagnostic(`pulls: ${run.runs.map(r => `${r.name} ${r.seconds.toFixed(1)} s`).join(', ')}; ${run.fired.map(f => `${f.spec} fired at ${f.at.toFixed(1)} s`).join('')}; bulk bytes sent: origin ${bulkSent.origin}, h1 ${bulkSent.h1} (before it died)`)
    assert.ok(bulkSent.h1 > 0, 'h1 served over the bulk channel before it was killed')
    assert.ok(bulkSent.origin > 0, 'the origin served over the bulk channel')
    assert.equal(run.fired.length, 1)
    const kill = run.fired[0]
    assert.equal(kill.error, undefined)
    assert.ok((kill.pids ?? []).length > 0, 'the kill ended the seeder\'s daemon')
    for (const r of run.runs) {
      assert.equal(r.code, 0, `${r.name}'s pull completed: ${r.stderr}`)
      assert.ok(r.seconds > kill.at, `${r.name} was still pulling when the seeder died (${r.seconds.toFixed(1)} s > ${kill.at.toFixed(1)} s)`)
    }
    assert.equal(lab.host('h1').daemonPid, undefined)
    await Promise.all(pullers.map(async h => {
      const checked = await exportAndCheck(lab, h, large.digest, large.oci, lab.dir)
      assert.equal(checked.length, 5, `${h.name}: the manifest, the config and the three layers check`)
    }))
    await downAndAssertNothingLeft(lab)
  })

  it('a host\'s link goes down mid-pull and comes back; its pull completes', { timeout: LONG }, async (t) => {
    work ??= await tempDir()
    const image = await writeSyntheticLayout(path.join(work, 'image-24m'), 24 * 1024 * 1024)
    const lab = await up('link', 2, 50e6)
    await lab.cli('origin', ['image', 'import', image.layout], { timeout: LONG })
    const [steady, cut] = lab.hosts
    for (const h of lab.hosts) {
      await waitFor(`${h.name} to find the origin`, async () => {
        const found = await lab.cli<{ providers: unknown[] }>(h.name, ['providers', image.digest])
        return found.providers.length > 0 ? true : undefined
      }, 60_000)
    }
    const phase = runPhase(lab, 'pull', lab.hosts, pullCommand(image.digest), [])
    let cutDone = false
    void phase.then(() => { cutDone = true })
    const counters = await lab.counters()
    // down once `cut` has received a third of the image; back up once `steady` is done and the cable was out 5 s
    await waitFor('the cut host to be a third of the way', async () => {
      const c = (await lab.counters()).get(cut.name)!
      return c.received - counters.get(cut.name)!.received >= image.size / 3 ? true : undefined
    }, LONG)
    await setHostLink(lab, cut.name, 'down')
    const downAt = Date.now()
    assert.equal(cutDone, false, 'the pull was still running when the link went down')
    const receivedAtCut = (await lab.counters()).get(cut.name)!.received
    await waitFor('the steady host to finish and the outage to last 5 s', async () => {
      const res = await lab.cli<{ images: Array<{ digest: string }> }>(steady.name, ['image', 'ls'])
      return res.images.some(i => i.digest === image.digest) && Date.now() - downAt >= 5_000 ? true : undefined
    }, LONG)
    assert.equal((await lab.counters()).get(cut.name)!.received, receivedAtCut, 'nothing reached the cut host while its link was down')
    await setHostLink(lab, cut.name, 'up')
    const run = await phase
    t.diagnostic(`pulls: ${run.runs.map(r => `${r.name} ${r.seconds.toFixed(1)} s`).join(', ')}; link down for ${((Date.now() - downAt) / 1000).toFixed(1)} s or less`)
    for (const r of run.runs) assert.equal(r.code, 0, `${r.name}'s pull completed: ${r.stderr}`)
    const checked = await exportAndCheck(lab, cut, image.digest, image.layout, lab.dir)
    assert.equal(checked.length, 3, 'the manifest, the config and the layer check')
    await downAndAssertNothingLeft(lab)
  })
})
