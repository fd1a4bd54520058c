#!/usr/bin/env node
// Runs the compiled test files with node's built-in test runner.
//
//   node scripts/run-tests.mjs              every suite
//   node scripts/run-tests.mjs --fast       skip the slow end-to-end suites (*.slow.spec.js)
//   node scripts/run-tests.mjs --slow       only the slow suites
//   node scripts/run-tests.mjs --package X  only packages/X
//   node scripts/run-tests.mjs [--fast] FILTER...   only files whose path contains a FILTER
//
// Run `npm run build` (tsc -b) first; `npm test` does both. The CLI's bundle
// (packages/cli/build.mjs) is made again here, so it is never older than the
// files tsc just built.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
let fast = false
let slow = false
let pkg
const filters = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--fast') fast = true
  else if (args[i] === '--slow') slow = true
  else if (args[i] === '--package') pkg = args[++i]
  else filters.push(args[i])
}

function walk (dir, out) {
  if (!fs.existsSync(dir)) return out
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) walk(p, out)
    else if (e.name.endsWith('.spec.js')) out.push(p)
  }
  return out
}

let dirs = []
for (const p of fs.readdirSync(path.join(root, 'packages'))) {
  if (pkg != null && p !== pkg) continue
  dirs.push(path.join(root, 'packages', p, 'dist', 'test'))
}
if (pkg == null) dirs.push(path.join(root, 'test', 'dist'))

let files = dirs.flatMap(d => walk(d, [])).sort()
// stale outputs of deleted sources must not run
files = files.filter(f => {
  const rel = path.relative(root, f)
  const src = rel.replace(/dist[\\/]/, '').replace(/\.js$/, '.ts')
  return fs.existsSync(path.join(root, src))
})
if (fast) files = files.filter(f => !f.endsWith('.slow.spec.js'))
if (slow) files = files.filter(f => f.endsWith('.slow.spec.js'))
if (filters.length > 0) files = files.filter(f => filters.some(x => f.includes(x)))

if (files.length === 0) {
  console.error('run-tests: no test files matched')
  process.exit(1)
}

// the tests run the CLI as users do, from its bundle
await (await import('../packages/cli/build.mjs')).bundleCli()

const concurrency = process.env.PROVENIR_TEST_CONCURRENCY ?? '2'
// A test or suite still running after 10 minutes fails, named (the longest, the lab's suite, takes
// about 2); a file whose tests have all ended exits even if something it started still holds its
// event loop, so a leaked handle fails nothing and cannot hold the whole run past CI's time
const timeoutMs = process.env.PROVENIR_TEST_TIMEOUT_MS ?? '600000'
const res = spawnSync(process.execPath, [
  '--test',
  `--test-concurrency=${concurrency}`,
  `--test-timeout=${timeoutMs}`,
  '--test-force-exit',
  '--test-reporter=spec',
  ...files
], { stdio: 'inherit', cwd: root })
process.exit(res.status ?? 1)
