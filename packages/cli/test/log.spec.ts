import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { createDaemonLog, formatMessage, parseLogLevel, requestLog } from '../src/log.js'
import type { LogFormat, LogLevel } from '../src/log.js'

/** A daemon log writing into an array of lines */
function capture (level: LogLevel = 'info', format: LogFormat = 'json'): { lines: string[], log: ReturnType<typeof createDaemonLog> } {
  const lines: string[] = []
  let partial = ''
  const destination = new Writable({
    write (chunk, _enc, done) {
      partial += chunk.toString()
      const parts = partial.split('\n')
      partial = parts.pop() ?? ''
      lines.push(...parts)
      done()
    }
  })
  // pino writes through `write`; the Writable above is synchronous enough for pino's sync path
  return { lines, log: createDaemonLog({ level, format, destination: destination as any, isTTY: false }) }
}

describe('the daemon log', () => {
  it('writes JSON lines at info by default: component log() is debug, the daemon\'s is info, errors are error', () => {
    const { lines, log } = capture()
    log.components.forComponent('provenir:gateway')('listening on %s:%d', '127.0.0.1', 5000)
    log.components.forComponent('provenir:daemon')('started %s', 'node')
    log.components.forComponent('provenir:rpc').error('pull failed - %e', new Error('boom'))
    const records = lines.map(l => JSON.parse(l))
    assert.equal(records.length, 2, 'the debug line is not written at info')
    assert.equal(records[0].level, 30)
    assert.equal(records[0].component, 'provenir:daemon')
    assert.equal(records[0].msg, 'started node')
    assert.equal(records[1].level, 50)
    assert.equal(records[1].err.type, 'Error')
  })

  it('an error is one record with its cause chain, in msg and in err', () => {
    const { lines, log } = capture()
    const root = new Error('connect ECONNREFUSED 127.0.0.1:4001')
    const top = new TypeError('dial failed', { cause: root })
    log.components.forComponent('provenir:content').error('fetching %s failed - %e', 'sha256:ab', top)
    assert.equal(lines.length, 1)
    const record = JSON.parse(lines[0])
    assert.match(record.msg, /fetching sha256:ab failed - TypeError: dial failed <- Error: connect ECONNREFUSED/)
    assert.match(record.err.message, /dial failed: connect ECONNREFUSED/, 'pino\'s serializer folds the causes into the message')
    assert.match(record.err.stack, /caused by: Error: connect ECONNREFUSED/)
  })

  it('--log-level warn drops info; debug keeps the components\' debug lines', () => {
    const warn = capture('warn')
    warn.log.components.forComponent('provenir:daemon')('started')
    warn.log.components.forComponent('provenir:rpc').error('failed - %e', new Error('x'))
    assert.deepEqual(warn.lines.map(l => JSON.parse(l).level), [50])
    const debug = capture('debug')
    debug.log.components.forComponent('provenir:gateway')('listening')
    assert.deepEqual(debug.lines.map(l => JSON.parse(l).level), [20])
    assert.equal(debug.log.components.forComponent('provenir:gateway').enabled, true)
    assert.equal(warn.log.components.forComponent('provenir:gateway').enabled, false)
  })

  it('redacts credentials in headers and secret-named fields', () => {
    const { lines, log } = capture()
    log.pino.info({ req: { headers: { authorization: 'Bearer s3cret-token-value' } }, token: 'another-secret', nested: { password: 'pw-secret' } }, 'request')
    assert.equal(lines.length, 1)
    assert.ok(!lines[0].includes('s3cret-token-value') && !lines[0].includes('another-secret') && !lines[0].includes('pw-secret'), lines[0])
    assert.ok(lines[0].includes('[redacted]'))
  })

  it('the request log names the route pattern, never the path or its query', () => {
    const { lines, log } = capture()
    requestLog(log.pino, 'gateway')({ method: 'GET', route: '/v2/<name>/blobs/<digest>', status: 200, seconds: 0.012 })
    const record = JSON.parse(lines[0])
    assert.equal(record.component, 'provenir:gateway')
    assert.equal(record.route, '/v2/<name>/blobs/<digest>')
    assert.equal(record.status, 200)
    assert.equal(record.ms, 12)
  })

  it('the access lines of /metrics and /healthz are debug unless they fail', () => {
    const { lines, log } = capture()
    const logRequest = requestLog(log.pino, 'rpc')
    logRequest({ method: 'GET', route: '/metrics', status: 200, seconds: 0.001 })
    logRequest({ method: 'GET', route: '/healthz', status: 200, seconds: 0.001 })
    logRequest({ method: 'GET', route: '/metrics', status: 500, seconds: 0.001 })
    logRequest({ method: 'POST', route: '/api/v0/image/pull', status: 200, seconds: 0.001 })
    assert.deepEqual(lines.map(l => [JSON.parse(l).route, JSON.parse(l).status]), [['/metrics', 500], ['/api/v0/image/pull', 200]])
  })

  it('DEBUG=provenir:* still prints the components\' debug lines (beside the pino log)', () => {
    const module = fileURLToPath(new URL('../src/log.js', import.meta.url))
    const script = `
      import { createDaemonLog } from ${JSON.stringify(module)}
      const log = createDaemonLog({ format: 'json', isTTY: false })
      log.components.forComponent('provenir:gateway')('a debug line %s', 'here')
      log.components.forComponent('libp2p:dialer')('a libp2p line')
    `
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, DEBUG: 'provenir:*,libp2p:*' }, encoding: 'utf8' })
    assert.equal(res.status, 0, res.stderr)
    assert.match(res.stderr, /provenir:gateway a debug line here/)
    assert.match(res.stderr, /libp2p:dialer a libp2p line/)
    const quiet = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, DEBUG: '' }, encoding: 'utf8' })
    assert.equal(quiet.stderr, '', 'without DEBUG, at info, neither line is written')
  })

  it('the pretty format is human lines, not JSON', () => {
    const { lines, log } = capture('info', 'pretty')
    log.components.forComponent('provenir:daemon')('started %s', 'node')
    const text = lines.join('\n')
    assert.match(text, /INFO/)
    assert.match(text, /started node/)
    assert.throws(() => JSON.parse(lines[0]))
  })

  it('formats the debug-style directives', () => {
    assert.deepEqual(formatMessage('%s has %d blocks, %o, 100%%', ['peer', 3, { a: 1 }]), { msg: 'peer has 3 blocks, { a: 1 }, 100%' })
    assert.equal(formatMessage('no args %s', []).msg, 'no args %s')
  })

  it('refuses an unknown level with a named error', () => {
    assert.equal(parseLogLevel('WARN', '--log-level'), 'warn')
    assert.throws(() => parseLogLevel('loud', '--log-level'), { name: 'InvalidLogLevelError', message: /--log-level: "loud" is not a log level/ })
  })
})
