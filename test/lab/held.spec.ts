/**
 * The lab's held start (`nsHeld`): commands started inside namespaces up to
 * their exec, which waits until they are let go; how a rollout's pullers
 * start at one moment. Needs root and `ip netns` (skipped otherwise).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { nsHeld, run } from '@provenir/lab'

const unavailable = process.getuid?.() !== 0 ? 'needs root (ip netns)' : undefined

describe('lab: commands held before their exec', { skip: unavailable }, () => {
  it('no command runs before go(); each then runs with its own output, and one that fails says so', async () => {
    const ns = `provenir-held-${randomBytes(3).toString('hex')}`
    await run('ip', ['netns', 'add', ns])
    try {
      // each prints when it ran (ms since the epoch) and its namespace's name
      const held = Array.from({ length: 4 }, (_, i) => nsHeld(ns, 'sh', ['-c', `date +%s%3N; ip netns identify; echo ${i}`], { allowFailure: true }))
      const failing = nsHeld(ns, 'sh', ['-c', 'echo why >&2; exit 3'], { allowFailure: true })
      await Promise.all([...held, failing].map(async h => await h.ready))
      // held well past the time a shell takes to start: none has run yet
      await new Promise(resolve => setTimeout(resolve, 500))
      const goAt = Date.now()
      for (const h of [...held, failing]) h.go()
      const results = await Promise.all(held.map(async h => await h.result))
      for (const [i, r] of results.entries()) {
        assert.equal(r.code, 0, r.stderr)
        const [ranAt, where, index] = r.stdout.trim().split('\n')
        assert.ok(Number(ranAt) >= goAt, `command ${i} ran at ${ranAt}, before it was let go at ${goAt}`)
        assert.equal(where, ns)
        assert.equal(index, String(i))
      }
      const failed = await failing.result
      assert.equal(failed.code, 3)
      assert.equal(failed.stdout, '')
      assert.equal(failed.stderr.trim(), 'why')
    } finally {
      await run('ip', ['netns', 'del', ns])
    }
  })

  it('a command that ends before it is let go resolves ready, and go() after it does nothing', async () => {
    const held = nsHeld('provenir-held-none-such', 'true', [], { allowFailure: true })
    await held.ready
    held.go()
    const r = await held.result
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /provenir-held-none-such/)
  })
})
