/**
 * The configured upstreams against the Docker Hub stand-in: a name routed
 * to its registry, one-word names through an unqualified registry, the tag
 * TTL (no request within it), and the remembered digest served, and logged,
 * when the registry is down.
 */

import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { format } from 'node:util'
import { ANONYMOUS, Upstreams, validateUpstreamConfig } from '@provenir/registry-client'
import { FIXTURES, startStandIn, type StandIn } from './stand-in.js'
import type { ComponentLogger, Logger } from '@libp2p/interface'

const SMALL = path.join(FIXTURES, 'small', 'oci')
const DIGEST = 'sha256:46e5cc9546ec373375142efc4e9ea8f44326ce54611ae3e87d8b8d091ffc0901'

/** A ComponentLogger that keeps every line */
function capture (): { logger: ComponentLogger, lines: string[] } {
  const lines: string[] = []
  const make = (name: string): Logger => {
    const line = (level: string) => (message: string, ...args: unknown[]): void => { lines.push(`${level} ${name} ${format(message.replace(/%[epc]/g, '%s'), ...args)}`) }
    return Object.assign(line('info'), { error: line('error'), trace: line('trace'), enabled: true, newScope: (n: string) => make(`${name}:${n}`) }) as unknown as Logger
  }
  return { logger: { forComponent: make }, lines }
}

describe('upstreams against the stand-in', () => {
  let dir: string
  let hub: StandIn
  let now = Date.now()

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-upstreams-'))
    hub = await startStandIn(path.join(dir, 'hub'), { images: [[SMALL, 'library/small', 'v1']] })
  })

  after(async () => {
    await hub?.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  /**
   * HEAD requests in the registry's access log once it has stopped growing:
   * the registry writes a request's line after it has answered, so a read
   * right after a resolve may miss it (a fresh-clone run saw 6, then 7)
   */
  async function settledHeads (): Promise<number> {
    let last = -1
    for (let i = 0; i < 50; i++) {
      const n = (await hub.accessLog()).filter(e => e.method === 'HEAD').length
      if (n === last) return n
      last = n
      await new Promise(resolve => setTimeout(resolve, 300))
    }
    throw new Error(`the registry's access log kept growing (${last} HEAD requests)`)
  }

  it('routes names, keeps tags for the TTL, and serves the remembered digest when the registry is down, saying so in the log', async () => {
    const { logger, lines } = capture()
    const config = validateUpstreamConfig({ registries: [{ host: hub.host, ca: hub.pki.caCert, unqualified: true }], dockerHub: false, tagTtlMs: 60_000 })
    const upstreams = await Upstreams.create(config, { logger, credentials: ANONYMOUS, now: () => now, attempts: 1 })
    try {
      const first = await upstreams.resolve({ host: hub.host, path: 'library/small' }, 'v1')
      assert.deepEqual([first.digest, first.from, first.host, first.repository], [DIGEST, 'upstream', hub.host, 'library/small'])
      const heads = await settledHeads()
      // a name without a host: the unqualified registries (this one; there is no Docker Hub here)
      const again = await upstreams.resolve({ path: 'library/small' }, 'v1')
      assert.equal(again.from, 'cache')
      assert.equal(await settledHeads(), heads, 'no request within the TTL')
      // past the TTL the registry is asked; when it is down the remembered digest answers
      now += 61_000
      await hub.stop()
      const stale = await upstreams.resolve({ host: hub.host, path: 'library/small' }, 'v1')
      assert.deepEqual([stale.digest, stale.from], [DIGEST, 'stale'])
      assert.ok(lines.some(l => l.startsWith('error provenir:upstream') && l.includes(`${hub.host} cannot be reached; serving ${hub.host}/library/small:v1 as ${DIGEST}`)), lines.join('\n'))
      // a tag never resolved has nothing to fall back on: the error names the registry
      await assert.rejects(upstreams.resolve({ host: hub.host, path: 'library/small' }, 'v2'), (err: Error) => {
        assert.equal(err.name, 'UpstreamUnavailableError')
        assert.match(err.message, new RegExp(`registry ${hub.host.replace(/\./g, '\\.')}.*ECONNREFUSED`))
        return true
      })
    } finally {
      await upstreams.close()
    }
  })
})
