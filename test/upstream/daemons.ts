/** Helpers for real daemons whose upstream is the Docker Hub stand-in */

import fs from 'node:fs/promises'
import path from 'node:path'
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
