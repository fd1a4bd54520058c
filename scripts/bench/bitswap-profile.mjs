#!/usr/bin/env node
// Summarises the .cpuprofile files written by `bitswap.mjs --profile DIR`:
// self time per function and per package, heaviest first.
//
//   npm exec -- node scripts/bench/bitswap-profile.mjs DIR [--top 25] [--filter NAME]

import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

const args = process.argv.slice(2)
const dir = args[0]
let top = 25
let filter
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i])
  else if (args[i] === '--filter') filter = args[++i]
}
if (dir == null) {
  console.error('usage: bitswap-profile.mjs DIR [--top N] [--filter NAME]')
  process.exit(1)
}

function pkgOf (url) {
  if (url === '') return '(native/gc)'
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)
  if (m != null) return m[1]
  if (url.includes('packages/bitswap')) return '@provenir/bitswap'
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0]
  return path.basename(url)
}

for (const file of readdirSync(dir).filter(f => f.endsWith('.cpuprofile')).sort()) {
  if (filter != null && !file.includes(filter)) continue
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8'))
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const self = new Map()
  const deltas = profile.timeDeltas
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    self.set(id, (self.get(id) ?? 0) + (deltas[i] ?? 0))
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const byFn = new Map()
  const byPkg = new Map()
  for (const [id, us] of self) {
    const node = byId.get(id)
    const cf = node.callFrame
    const name = `${cf.functionName || '(anonymous)'} ${pkgOf(cf.url)}:${cf.lineNumber + 1}`
    byFn.set(name, (byFn.get(name) ?? 0) + us)
    const pkg = cf.url === '' ? cf.functionName : pkgOf(cf.url)
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + us)
  }
  const pct = (us) => (100 * us / total).toFixed(1).padStart(5) + '%'
  console.log(`\n=== ${file}: ${(total / 1e6).toFixed(2)} s sampled`)
  console.log('-- by package / category')
  for (const [k, v] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${pct(v)}  ${k}`)
  console.log('-- by function (self time)')
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`)
}
