/**
 * The content path's seams, checked in the sources: only the node's swarm
 * source (`packages/node/src/swarm/`) and the bitswap package itself name
 * bitswap, so a second transport plugs in behind one interface; and the
 * gateway keeps no state of its own (no `state.json`): the node's index is
 * the one place for it.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { it } from 'node:test'
import { ROOT } from './daemon-helpers.js'

async function sources (dir: string, out: string[] = []): Promise<string[]> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) await sources(p, out)
    else if (entry.name.endsWith('.ts')) out.push(p)
  }
  return out
}

async function grep (pattern: RegExp, allowed: (file: string) => boolean): Promise<string[]> {
  const found: string[] = []
  const packages = path.join(ROOT, 'packages')
  for (const pkg of await fs.readdir(packages)) {
    for (const file of await sources(path.join(packages, pkg, 'src')).catch(() => [])) {
      const rel = path.relative(ROOT, file)
      if (allowed(rel)) continue
      const lines = (await fs.readFile(file, 'utf8')).split('\n')
      lines.forEach((line, i) => { if (pattern.test(line)) found.push(`${rel}:${i + 1}: ${line.trim()}`) })
    }
  }
  return found
}

it('nothing outside the bitswap package and the node\'s swarm source imports or reaches for bitswap', async () => {
  const found = await grep(/@provenir\/bitswap|\.bitswap\./, rel => rel.startsWith('packages/bitswap/') || rel.startsWith('packages/node/src/swarm/'))
  assert.deepEqual(found, [])
})

it('the gateway keeps no state.json', async () => {
  assert.deepEqual(await grep(/state\.json/, rel => !rel.startsWith('packages/gateway/')), [])
})
