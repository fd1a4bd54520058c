/**
 * A private swarm under load (issue 14): daemon A, in a swarm with a
 * pre-shared key, serves the large test image to two, then four members
 * pulling at once. Every connection runs through the swarm's xsalsa20
 * protector, which once threw RangeError (WebAssembly memory exhausted) in an
 * event listener and took the provider and members down. Every daemon must
 * stay up, log nothing unhandled, and every member's export must hash to the
 * original image. A's peak RSS is reported.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DaemonProcess, TEST_INIT, assertNoUnhandled, keepDaemonLogs, runCli, runJson, tempDir } from './daemon-helpers.js'
import { assertLayoutMatches, buildFixtures, rssOf } from './image-helpers.js'
import { RoguePeer } from './rogue-peer.js'
import type { Fixture } from './image-helpers.js'

keepDaemonLogs(import.meta.url)

const LONG = 10 * 60_000
const MiB = 1024 * 1024

describe('a private swarm carries concurrent pulls of the large image (issue 14)', { timeout: 30 * 60_000 }, () => {
  let root: string
  let repoA: string
  let a: DaemonProcess
  let addrA: string
  let swarmKey: Buffer
  let large: Fixture
  const spawned: DaemonProcess[] = []

  /** A member: a repo with A's swarm key, bootstrapped to A */
  async function member (name: string): Promise<{ repo: string, d: DaemonProcess }> {
    const repo = path.join(root, name)
    const init = await runCli(repo, ['init', ...TEST_INIT, '--bootstrap', addrA])
    assert.equal(init.code, 0, init.stderr)
    await fs.writeFile(path.join(repo, 'swarm.key'), swarmKey, { mode: 0o600 })
    const d = new DaemonProcess(repo)
    spawned.push(d)
    await d.ready()
    return { repo, d }
  }

  /** `n` members pull the large image from A at once; each export matches the original */
  async function concurrentPulls (round: string, n: number): Promise<{ peakRss: number, baseline: number }> {
    const members = await Promise.all(Array.from({ length: n }, async (_, i) => member(`${round}-${i}`)))
    const pid = a.child.pid!
    const baseline = (await rssOf(pid))?.rss ?? 0
    let peakRss = 0
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const r = await rssOf(pid)
        if (r != null && r.rss > peakRss) peakRss = r.rss
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    })()
    try {
      const results = await Promise.all(members.map(async m => runCli(m.repo, ['image', 'pull', large.digest, '--json'], LONG)))
      for (const [i, res] of results.entries()) {
        assert.equal(res.code, 0, `member ${i} pulled: ${res.stderr} (its daemon: ${members[i].d.stderr.slice(-2000)}; A running: ${a.running}, A's stderr: ${a.stderr.slice(-2000)})`)
        assert.equal(JSON.parse(res.stdout).image.digest, large.digest)
      }
    } finally {
      sampling = false
      await sampler
    }
    assertNoUnhandled(a, `A after ${n} concurrent pulls`)
    for (const [i, m] of members.entries()) {
      assertNoUnhandled(m.d, `member ${i} of ${n}`)
      const dir = path.join(root, `export-${round}-${i}`)
      const res = await runCli(m.repo, ['image', 'export', large.digest, dir, '--json'], LONG)
      assert.equal(res.code, 0, res.stderr)
      await assertLayoutMatches(dir, large.oci, large.digest)
      await fs.rm(dir, { recursive: true, force: true })
      await m.d.stop()
    }
    return { peakRss, baseline }
  }

  before(async () => {
    ({ large } = await buildFixtures('large'))
    root = await tempDir()
    repoA = path.join(root, 'a')
    const init = await runCli(repoA, ['init', ...TEST_INIT])
    assert.equal(init.code, 0, init.stderr)
    const gen = await runCli(repoA, ['swarm', 'key', 'gen', '--json'])
    assert.equal(gen.code, 0, gen.stderr)
    swarmKey = await fs.readFile(path.join(repoA, 'swarm.key'))
    a = new DaemonProcess(repoA)
    spawned.push(a)
    await a.ready()
    addrA = (await runJson(repoA, ['id'])).addresses[0]
    const res = await runCli(repoA, ['image', 'import', large.oci, '--json'], LONG)
    assert.equal(res.code, 0, res.stderr)
  })

  after(async () => {
    for (const d of spawned) d.kill()
    await Promise.all(spawned.map(async d => d.exited))
    if (root != null) await fs.rm(root, { recursive: true, force: true })
  })

  it('a node without the swarm key cannot connect to A', async () => {
    const outsider = await RoguePeer.create()
    try {
      await assert.rejects(outsider.dial(addrA))
    } finally {
      await outsider.stop()
    }
  })

  it('two, then four members pull the large image from A at once: every daemon stays up and every blob verifies', async (t) => {
    for (const n of [2, 4]) {
      const { peakRss, baseline } = await concurrentPulls(`round${n}`, n)
      const hwm = (await rssOf(a.child.pid!))?.peak ?? 0
      t.diagnostic(`private swarm, ${n} members pulling the large image at once: A's RSS ${(baseline / MiB).toFixed(0)} MiB before, sampled max ${(peakRss / MiB).toFixed(0)} MiB during, VmHWM ${(hwm / MiB).toFixed(0)} MiB so far`)
    }
    assertNoUnhandled(a, 'A at the end')
  })
})
