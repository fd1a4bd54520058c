#!/usr/bin/env node
// The project's fuzzer at length: every parser that takes outside input, with
// inputs up to its size limit, each parse judged by test/fuzz/harness.ts
// (named errors only, at most 50 ms of CPU, no hang).
//
//   npm run fuzz                                  every target, 2,000 inputs each
//   npm run fuzz -- --runs 20000 dht-name-record  one target, longer
//   npm run fuzz -- --minutes 10                  every target, 10 minutes each at most
//   npm run fuzz -- --save                        append failing inputs to test/fuzz/regressions/
//   options: --seed N, --hang MS (default 10000), --all-failures (do not stop at the first)
//
// Run `npm run build` first (npm run fuzz does). Exits 1 when any input failed.
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { FuzzWorker, fuzzTarget, addRegression } = await import(pathToFileURL(path.join(root, 'test/dist/fuzz/harness.js')).href)
const { loadTargets } = await import(pathToFileURL(path.join(root, 'test/dist/fuzz/targets.js')).href)

const args = process.argv.slice(2)
let runs = 2000
let minutes
let seed
let hangMs = 10_000
let save = false
let all = false
const names = []
for (let i = 0; i < args.length; i++) {
  const a = args[i]
  if (a === '--runs') runs = Number(args[++i])
  else if (a === '--minutes') minutes = Number(args[++i])
  else if (a === '--seed') seed = Number(args[++i])
  else if (a === '--hang') hangMs = Number(args[++i])
  else if (a === '--save') save = true
  else if (a === '--all-failures') all = true
  else names.push(a)
}
if (minutes != null && args.indexOf('--runs') === -1) runs = Number.MAX_SAFE_INTEGER

const targets = (await loadTargets()).filter(t => names.length === 0 || names.includes(t.name))
if (targets.length === 0) {
  console.error(`no such target; known: ${(await loadTargets()).map(t => t.name).join(', ')}`)
  process.exit(2)
}
const worker = new FuzzWorker(hangMs)
let failed = 0
for (const target of targets) {
  const started = Date.now()
  const runSeed = seed ?? started
  const report = await fuzzTarget(worker, target, {
    runs,
    hangMs,
    continueOnFailure: all,
    seed: runSeed,
    ...(minutes != null ? { timeMs: minutes * 60_000 } : {}),
    onFailure: async (recipe, verdict) => {
      console.log(`  FAIL ${target.name}: ${verdict.reason}`)
      if (save) await addRegression(target.name, { recipe, note: `found by scripts/fuzz.mjs (seed ${runSeed}, ${new Date().toISOString().slice(0, 10)}): ${verdict.reason}` })
    }
  })
  const slow = report.slowest
  console.log(`${target.name}: ${report.runs} inputs (${report.skipped} not built), ${report.failures.length} failed, slowest ${slow?.cpuMs?.toFixed(1) ?? '-'} ms CPU / ${slow?.wallMs?.toFixed(1) ?? '-'} ms wall on ${slow?.size ?? '?'} chars/bytes, seed ${report.seed}, ${((Date.now() - started) / 1000).toFixed(0)} s`)
  failed += report.failures.length
}
await worker.close()
process.exit(failed > 0 ? 1 : 0)
