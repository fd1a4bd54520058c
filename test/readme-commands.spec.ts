/**
 * The README command extractor (test/readme-commands.ts): what counts as a
 * command, how a block is skipped, and that the READMEs follow the
 * convention, so readme.slow.spec.ts runs what a reader sees.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { describe, it } from 'node:test'
import { ROOT } from './daemon-helpers.js'
import { ReadmeConventionError, daemonRepoArg, extractCommands, isDaemonCommand } from './readme-commands.js'

const FENCE = '```'

describe('README command extraction', () => {
  it('takes each line of sh blocks as a command, in order, with its line number', () => {
    const md = ['# t', '', `${FENCE}sh`, 'provenir id   # a comment', '# only a comment', '', 'provenir peers', FENCE,
      `${FENCE}json`, '{"not": "run"}', FENCE, `${FENCE}`, 'layout/  not run', FENCE, `${FENCE}bash`, 'echo hi', FENCE].join('\n')
    const cmds = extractCommands('R.md', md)
    assert.deepEqual(cmds.map(c => [c.line, c.text, c.skip]), [
      [4, 'provenir id   # a comment', undefined],
      [7, 'provenir peers', undefined],
      [16, 'echo hi', undefined]
    ])
  })

  it('joins backslash continuations and here-documents into one command', () => {
    const md = [`${FENCE}sh`, 'skopeo copy a \\', '  # dropped comment', '  b', 'cat > p.json <<EOF', '{ "x": "$V" }', 'EOF', 'next', FENCE].join('\n')
    assert.deepEqual(extractCommands('R.md', md).map(c => c.text), ['skopeo copy a \\\n  b', 'cat > p.json <<EOF\n{ "x": "$V" }\nEOF', 'next'])
  })

  it('skips a block only after a marker with a reason, and refuses one without', () => {
    const md = ['<!-- readme-test: skip needs the internet -->', '', `${FENCE}sh`, 'skopeo copy docker://x oci:y', FENCE, `${FENCE}sh`, 'provenir id', FENCE].join('\n')
    assert.deepEqual(extractCommands('R.md', md).map(c => [c.text, c.skip]), [
      ['skopeo copy docker://x oci:y', 'needs the internet'],
      ['provenir id', undefined]
    ])
    // a marker followed by prose does not reach the next block
    assert.equal(extractCommands('R.md', ['<!-- readme-test: skip why -->', 'prose', `${FENCE}sh`, 'a', FENCE].join('\n'))[0].skip, undefined)
    assert.throws(() => extractCommands('R.md', ['<!-- readme-test: skip -->', `${FENCE}sh`, 'a', FENCE].join('\n')), ReadmeConventionError)
    assert.throws(() => extractCommands('R.md', ['<!-- readme-test: only-this -->', `${FENCE}sh`, 'a', FENCE].join('\n')), /unknown readme-test marker/)
    assert.throws(() => extractCommands('R.md', [`${FENCE}sh`, 'a'].join('\n')), /never closed/)
    assert.throws(() => extractCommands('R.md', [`${FENCE}sh`, 'cat <<EOF', 'x', FENCE].join('\n')), /here-document EOF is never closed/)
  })

  it('knows which commands start a daemon, and their repo', () => {
    for (const c of ['provenir daemon', 'provenir daemon --registry &', 'provenir --repo ~/b daemon > b.log 2>&1 &', "DEBUG='provenir:*' provenir --repo ~/b daemon", 'npm start']) {
      assert.ok(isDaemonCommand(c), c)
    }
    for (const c of ['provenir id', 'provenir image pull x # then daemon', 'npm test', 'echo provenir daemon']) assert.ok(!isDaemonCommand(c), c)
    assert.equal(daemonRepoArg('provenir --repo ~/b daemon'), '~/b')
    assert.equal(daemonRepoArg('provenir daemon'), undefined)
  })

  it('finds commands in both READMEs, and a reason for every skipped one', async () => {
    for (const readme of ['README.md', 'packages/cli/README.md']) {
      const cmds = extractCommands(readme, await fs.readFile(path.join(ROOT, readme), 'utf8'))
      assert.ok(cmds.filter(c => c.skip == null).length > 0, `${readme} has commands that run`)
      for (const c of cmds) assert.ok(c.skip == null || c.skip.length > 3, `${readme}:${c.line}: a skip reason`)
    }
  })
})
