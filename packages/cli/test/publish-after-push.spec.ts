/**
 * The daemon's hook for the gateway's publish after a push: its outcome is
 * logged, a failure with its cause, and it never throws (the push stands).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { format } from 'node:util'
import { publishAfterPush } from '../src/daemon.js'
import type { Logger } from '@libp2p/interface'
import type { Naming, PublishSummary } from '@provenir/naming'

/** A Logger that keeps each line, formatted as debug does (%e, %p, %c as text; an error with its cause) */
function capture (): { log: Logger, lines: string[] } {
  const lines: string[] = []
  const text = (value: unknown): unknown => value instanceof Error
    ? `${value.name}: ${value.message}${value.cause instanceof Error ? ` (cause: ${value.cause.message})` : ''}`
    : value
  const line = (level: string) => (message: string, ...args: unknown[]): void => {
    lines.push(`${level} ${format(message.replace(/%[epc]/g, '%s'), ...args.map(text))}`)
  }
  const log = Object.assign(line('info'), { error: line('error'), trace: line('trace'), enabled: true }) as unknown as Logger
  return { log, lines }
}

const SUMMARY: PublishSummary = { key: 'self', owner: 'k51qzi5uqu5dexample' as PublishSummary['owner'], repo: 'app', seq: 3, documentCid: 'bafk', tags: { v1: 'sha256:' + 'a'.repeat(64) }, images: 1, expires: '', peers: 0, warning: 'this node has no DHT peers' }

describe('the publish after a gateway push', () => {
  it('logs a failure with its cause and does not throw', async () => {
    const { log, lines } = capture()
    const naming = { publishPushed: async () => { throw new Error('publishing failed', { cause: new Error('the disk is full') }) } } as unknown as Naming
    await publishAfterPush(naming, 'acme/app', 'v1', 'self', {}, log)
    assert.equal(lines.length, 1)
    assert.match(lines[0], /^error gateway push of acme\/app:v1: publishing the repository failed - Error: publishing failed \(cause: the disk is full\)/)
  })

  it('logs what it published, with the offline warning', async () => {
    const { log, lines } = capture()
    const naming = { publishPushed: async () => SUMMARY } as unknown as Naming
    await publishAfterPush(naming, 'acme/app', 'v1', 'self', {}, log)
    assert.match(lines[0], /^info gateway push of acme\/app:v1: published k51qzi5uqu5dexample\/app at seq 3 on 0 DHT peers \(this node has no DHT peers\)/)
  })
})
