/**
 * Bounded fuzzing of every parser that takes outside input (issue 14): each
 * target's regression cases (inputs that once failed, kept in
 * test/fuzz/regressions/), then a short run of generated inputs up to the
 * parser's size limit. Each parse must return or throw a named error within
 * 50 ms of CPU (the fastest of up to five tries) and never hang.
 * `npm run fuzz` runs the same targets at length (scripts/fuzz.mjs).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { matchGlob } from '@provenir/trust'
import fc from 'fast-check'
import { FuzzWorker, SLOW_RETRY_PAUSE_MS, TIME_LIMIT_MS, fuzzTarget, judge, readRegressions, runAndJudge } from './fuzz/harness.js'
import { loadTargets } from './fuzz/targets.js'
import type { FuzzTarget } from './fuzz/targets.js'

/** Generated inputs per target in `npm test`, and the time that run may take */
const RUNS = Number(process.env.PROVENIR_FUZZ_RUNS ?? 40)
const TIME_MS = 3_000
/** A parse still running after this long (wall time) is a hang */
const HANG_MS = 15_000

const targets: FuzzTarget[] = await loadTargets()

describe(`fuzzing the parsers of outside input (${TIME_LIMIT_MS} ms per input)`, () => {
  let worker: FuzzWorker

  before(() => { worker = new FuzzWorker(HANG_MS) })
  after(async () => { await worker.close() })

  for (const target of targets) {
    it(`${target.name}: every regression case, and ${RUNS} generated inputs up to ${target.limit} bytes`, async () => {
      for (const regression of await readRegressions(target.name)) {
        const verdict = await runAndJudge(worker, target.name, regression.recipe, HANG_MS)
        assert.ok(verdict.ok, `regression (${regression.note}) now: ${verdict.reason}`)
        assert.notEqual(verdict.skipped, true, `the regression's input could not be built: ${verdict.result?.prepareError}`)
      }
      const seed = Date.now() ^ (Math.random() * 0x7fffffff)
      const report = await fuzzTarget(worker, target, { runs: RUNS, timeMs: TIME_MS, seed, hangMs: HANG_MS })
      assert.deepEqual(report.failures.map(f => f.verdict.reason), [], `seed ${seed}: failing recipes ${JSON.stringify(report.failures.map(f => f.recipe)).slice(0, 2000)}`)
      assert.ok(report.runs > 0)
    })
  }

  it('the harness reports a worker that dies as such, not as a hang, and removes its scratch directory on close', async () => {
    // a stand-in worker: it names its scratch directory, or exits mid-input as a worker out of memory would
    const dir = await mkdtemp(join(tmpdir(), 'provenir-fuzz-spec-'))
    const script = join(dir, 'dying-worker.mjs')
    await writeFile(script, `import { parentPort, workerData } from 'node:worker_threads'
parentPort.on('message', ({ id, target }) => {
  if (target === 'exit') process.exit(3)
  parentPort.postMessage({ id, prepareError: workerData.scratch })
})
parentPort.postMessage({ ready: true })
`)
    const dying = new FuzzWorker(HANG_MS, pathToFileURL(script))
    try {
      const scratch = (await dying.run('scratch', null)).result?.prepareError
      assert.ok(scratch != null && (await stat(scratch)).isDirectory(), `scratch ${scratch}`)
      const started = performance.now()
      const run = await dying.run('exit', null)
      assert.equal(run.died, 'exited with code 3')
      assert.ok(performance.now() - started < HANG_MS / 3, 'the death is seen when it happens, not at the hang bound')
      const verdict = judge(run, HANG_MS)
      assert.equal(verdict.ok, false)
      assert.notEqual(verdict.hang, true)
      assert.match(verdict.reason ?? '', /the fuzz worker exited with code 3/)
      // a new worker after the death, with the same scratch directory
      assert.equal((await dying.run('scratch', null)).result?.prepareError, scratch)
      await dying.close()
      await assert.rejects(stat(scratch), { code: 'ENOENT' })
    } finally {
      await dying.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a target whose time runs out mid-input finishes that input before its test ends, and a closed worker starts no other', async () => {
    // a stand-in worker whose every parse is slow: each input is tried again SLOW_RETRIES times, a second apart,
    // long after fast-check's time limit has ended the run (the property's promise outlives fc.check)
    const dir = await mkdtemp(join(tmpdir(), 'provenir-fuzz-spec-'))
    const script = join(dir, 'slow-worker.mjs')
    await writeFile(script, `import { parentPort } from 'node:worker_threads'
parentPort.on('message', ({ id }) => { parentPort.postMessage({ id, cpuMs: 4 * ${TIME_LIMIT_MS}, wallMs: 4 * ${TIME_LIMIT_MS} }) })
parentPort.postMessage({ ready: true })
`)
    const slow = new FuzzWorker(HANG_MS, pathToFileURL(script))
    try {
      const target: FuzzTarget<number, number> = { name: 'slow', limit: 1, arbitrary: fc.nat(), prepare: n => n, parse: () => {} }
      const report = await fuzzTarget(slow, target, { runs: 5, timeMs: 100, hangMs: HANG_MS })
      // the input in flight when the time ran out was judged, and its failure reported
      assert.equal(report.runs, 1)
      assert.equal(report.failures.length, 1)
      assert.match(report.failures[0].verdict.reason ?? '', new RegExp(`^took ${4 * TIME_LIMIT_MS}\\.0 ms of CPU`))
      assert.equal(slow.started, 1)
      await slow.close()
      // nothing of the target still runs: no worker is started after close (one would keep the test's process alive)
      await new Promise(resolve => setTimeout(resolve, SLOW_RETRY_PAUSE_MS * 1.5))
      assert.equal(slow.started, 1)
      assert.equal((await slow.run('slow', 1)).died, 'was closed')
      assert.equal(slow.started, 1)
    } finally {
      await slow.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('the linear glob matcher agrees with the regular expression it replaced, on inputs short enough for both', () => {
    // the old matcher, for comparison only: it backtracks on long inputs
    const regexOf = (glob: string): RegExp => {
      let out = ''
      for (let i = 0; i < glob.length; i++) {
        const c = glob[i]
        if (c === '*' && glob[i + 1] === '*') {
          out += '.*'
          i++
        } else if (c === '*') out += '[^/]*'
        else if (c === '?') out += '[^/]'
        else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
      }
      return new RegExp(`^${out}$`)
    }
    const glob = fc.string({ unit: fc.constantFrom('a', 'b', '-', '/', '*', '?', '.'), minLength: 1, maxLength: 10 })
    const input = fc.string({ unit: fc.constantFrom('a', 'b', '-', '/', '.'), maxLength: 14 })
    fc.assert(fc.property(glob, input, (g, s) => matchGlob(g, s) === regexOf(g).test(s)), { numRuns: 5_000 })
  })
})
