/**
 * Bounded fuzzing of every parser that takes outside input (issue 14): each
 * target's regression cases (inputs that once failed, kept in
 * test/fuzz/regressions/), then a short run of generated inputs up to the
 * parser's size limit. Each parse must return or throw a named error within
 * 50 ms of CPU (the fastest of up to five tries) and never hang.
 * `npm run fuzz` runs the same targets at length (scripts/fuzz.mjs).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { matchGlob } from '@provenir/trust'
import fc from 'fast-check'
import { FuzzWorker, TIME_LIMIT_MS, fuzzTarget, readRegressions, runAndJudge } from './fuzz/harness.js'
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
