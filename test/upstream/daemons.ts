/** Helpers for real daemons whose upstream is the Docker Hub stand-in */

import fs from 'node:fs/promises'
import path from 'node:path'
import { DaemonProcess, TEST_INIT, runJson, waitFor } from '../daemon-helpers.js'
import type { StandIn } from './stand-in.js'

/** Points a test repo's upstream config at the stand-in (its CA), Docker Hub left out */
export async function useStandIn (repo: string, hub: StandIn, extra: Record<string, unknown> = {}): Promise<void> {
  const file = path.join(repo, 'config.json')
  const config = JSON.parse(await fs.readFile(file, 'utf8'))
  config.upstream = {
    registries: [
      { host: hub.host, ca: hub.pki.caCert, unqualified: false },
      // the one-word default: Docker Hub's rules (library/), served by the stand-in
      { host: 'docker.io', endpoints: [hub.url], ca: hub.pki.caCert, unqualified: true }
    ],
    dockerHub: false,
    ...extra
  }
  await fs.writeFile(file, JSON.stringify(config, null, 2))
}

/**
 * Two daemons whose upstream is the stand-in, in `<dir>/a` and `<dir>/b`, B
 * bootstrapped to A and connected to it
 */
export async function startUpstreamPair (dir: string, hub: StandIn): Promise<{ a: DaemonProcess, b: DaemonProcess, repoA: string, repoB: string }> {
  const repoA = path.join(dir, 'a')
  const repoB = path.join(dir, 'b')
  await runJson(repoA, ['init', ...TEST_INIT])
  await useStandIn(repoA, hub)
  const a = new DaemonProcess(repoA)
  await a.ready()
  const idA = await runJson(repoA, ['id'])
  await runJson(repoB, ['init', ...TEST_INIT, '--bootstrap', idA.addresses[0]])
  await useStandIn(repoB, hub)
  const b = new DaemonProcess(repoB)
  await b.ready()
  await waitFor('B to connect to A', async () => (await runJson(repoB, ['peers'])).peers.some((p: { peerId: string }) => p.peerId === idA.peerId) ? true : undefined)
  return { a, b, repoA, repoB }
}
