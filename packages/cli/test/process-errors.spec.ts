import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { describeError } from '../src/process-errors.js'

const MODULE = fileURLToPath(new URL('../src/process-errors.js', import.meta.url))
const LOG_MODULE = fileURLToPath(new URL('../src/log.js', import.meta.url))

/** Runs `body` as an ES module in a fresh node process with the daemon's handlers installed */
async function runWithHandlers (body: string, withLog = false): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const script = `
    import { installProcessErrorHandlers } from ${JSON.stringify(MODULE)}
    import { createDaemonLog } from ${JSON.stringify(LOG_MODULE)}
    import { register } from 'prom-client'
    installProcessErrorHandlers({ onFatal: () => { process.stdout.write('fatal-hook\\n') }${withLog ? ', log: createDaemonLog({ format: \'json\' }).pino' : ''} })
    ${body}
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('.', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  return { code, stdout, stderr }
}

describe('process-level error handlers of the daemon', () => {
  it('describes an error with its whole cause chain', () => {
    const root = new Error('connect ECONNREFUSED 127.0.0.1:4001')
    const middle = new TypeError('dial failed', { cause: root })
    const top = new Error('sending to a peer failed', { cause: middle })
    const text = describeError(top)
    assert.match(text, /^Error: sending to a peer failed/)
    assert.match(text, /\[cause\]\n\s+TypeError: dial failed/)
    assert.match(text, /\[cause\]\n\s+Error: connect ECONNREFUSED 127\.0\.0\.1:4001/)
    const aggregate = describeError(new AggregateError([new RangeError('one'), 'two'], 'all failed'))
    assert.match(aggregate, /AggregateError: all failed/)
    assert.match(aggregate, /RangeError: one/)
    assert.match(aggregate, /non-error value: two/)
    // a cycle ends
    const a = new Error('a')
    const b = new Error('b', { cause: a })
    a.cause = b
    assert.match(describeError(a), /\[cause cycle\]/)
  })

  it('logs an unhandled rejection with its cause, counts it, and keeps running', async () => {
    const res = await runWithHandlers(`
      Promise.reject(new Error('UnexpectedEOFError: stream closed', { cause: new Error('the root cause') }))
      setTimeout(async () => {
        const metric = await register.getSingleMetricAsString('provenir_unhandled_rejections_total')
        process.stdout.write('still running\\n' + metric + '\\n')
      }, 50)
    `)
    assert.equal(res.code, 0, res.stderr)
    assert.match(res.stdout, /still running/)
    assert.match(res.stdout, /provenir_unhandled_rejections_total 1/)
    assert.match(res.stderr, /unhandled rejection/)
    assert.match(res.stderr, /UnexpectedEOFError: stream closed/)
    assert.match(res.stderr, /\[cause\]\n\s+Error: the root cause/)
  })

  it('logs an uncaught exception with its cause, runs the fatal hook and exits 1', async () => {
    const res = await runWithHandlers(`
      setTimeout(() => { throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded', { cause: new Error('inside an event listener') }) }, 0)
      setTimeout(() => { process.stdout.write('should not run\\n') }, 500)
    `)
    assert.equal(res.code, 1)
    assert.match(res.stdout, /fatal-hook/)
    assert.doesNotMatch(res.stdout, /should not run/)
    assert.match(res.stderr, /uncaught exception/)
    assert.match(res.stderr, /RangeError: WebAssembly\.Memory\.grow/)
    assert.match(res.stderr, /inside an event listener/)
  })

  it('with the daemon\'s log, each is one JSON record with the error and its cause chain', async () => {
    const rejected = await runWithHandlers(`
      Promise.reject(new Error('stream closed', { cause: new Error('the root cause') }))
      setTimeout(() => { process.stdout.write('still running\\n') }, 50)
    `, true)
    assert.equal(rejected.code, 0, rejected.stderr)
    assert.match(rejected.stdout, /still running/)
    const lines = rejected.stderr.trim().split('\n')
    assert.equal(lines.length, 1, rejected.stderr)
    const record = JSON.parse(lines[0])
    assert.equal(record.level, 50)
    assert.match(record.msg, /unhandled rejection .*Error: stream closed <- Error: the root cause/)
    assert.match(record.err.stack, /caused by: Error: the root cause/)
    const thrown = await runWithHandlers(`
      setTimeout(() => { throw new RangeError('out of memory', { cause: new Error('inside a listener') }) }, 0)
    `, true)
    assert.equal(thrown.code, 1)
    assert.match(thrown.stdout, /fatal-hook/)
    const fatal = JSON.parse(thrown.stderr.trim().split('\n')[0])
    assert.equal(fatal.level, 60)
    assert.match(fatal.msg, /uncaught exception .*RangeError: out of memory <- Error: inside a listener/)
  })
})
