// Runs every benchmark in turn, each in its own process so that one's memory
// and CPU do not leak into the next. `npm run bench [name...]` runs a subset.
// The lab (hosts in network namespaces; root, and most of an hour) runs only
// when named: `npm run bench -- lab`, and its links' own limit `npm run bench -- lab-mesh`.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'

const all = ['puzzle', 'dht', 'blockstore', 'bitswap', 'trust', 'transport', 'pull', 'gateway', 'naming', 'upstream']
const wanted = process.argv.slice(2)
for (const name of (wanted.length > 0 ? wanted : all)) {
  const file = new URL(`./${name}.mjs`, import.meta.url)
  if (!fs.existsSync(file)) {
    console.error(`bench: no benchmark named ${name}`)
    process.exitCode = 1
    continue
  }
  console.log(`\n===== ${name} =====`)
  const res = spawnSync(process.execPath, [file.pathname], { stdio: 'inherit' })
  if (res.status !== 0) process.exitCode = 1
}
