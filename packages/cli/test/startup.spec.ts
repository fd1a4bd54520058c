import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import module from 'node:module'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { BIN, tempDir } from './helpers.js'

/**
 * The packages an RPC client must not load: they cost hundreds of ms at every
 * start, and only the daemon and the offline commands need them.
 */
const HEAVY = ['@provenir/node', '@provenir/naming', '@provenir/trust', '@provenir/content', '@provenir/gateway', '@provenir/identity', 'libp2p', '@libp2p/', '@multiformats/multiaddr']

/** Written to a file and preloaded with --import: prints every module URL the process resolved */
const RECORDER = `import { registerHooks } from 'node:module'
const urls = new Set()
registerHooks({ resolve (specifier, context, next) { const r = next(specifier, context); urls.add(r.url); return r } })
process.on('exit', () => { process.stderr.write('\\nLOADED ' + JSON.stringify([...urls]) + '\\n') })
`

/** The module URLs the CLI resolves running `args` */
async function modulesLoaded (recorder: string, args: string[], repo: string): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', recorder, BIN, ...args], { env: { ...process.env, PROVENIR_PATH: repo }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  await new Promise(resolve => child.once('close', resolve))
  const line = stderr.split('\n').find(l => l.startsWith('LOADED '))
  assert.ok(line != null, stderr)
  return JSON.parse(line.slice('LOADED '.length))
}

/** The package a module URL belongs to, by the packages/<name> directory or node_modules */
function packageOf (url: string): string {
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (nm != null) return nm[1]
  const ws = /\/packages\/([^/]+)\//.exec(url)
  return ws != null ? `@provenir/${ws[1]}` : url
}

describe('CLI start-up', { skip: typeof (module as { registerHooks?: unknown }).registerHooks !== 'function' && 'needs module.registerHooks (Node 22.15+)' }, () => {
  let root: string
  let recorder: string
  before(async () => {
    root = await tempDir()
    recorder = path.join(root, 'recorder.mjs')
    await fs.writeFile(recorder, RECORDER)
  })
  after(async () => { await fs.rm(root, { recursive: true, force: true }) })

  for (const args of [['--help'], ['--version'], ['image', 'ls', '--json'], ['image', 'pull', `sha256:${'a'.repeat(64)}`], ['peers'], ['name', 'resolve', 'a/b']]) {
    it(`provenir ${args.join(' ')} loads none of the node's packages`, async () => {
      // no daemon runs on this repo: the client gets as far as reading the api file
      const packages = new Set((await modulesLoaded(recorder, args, path.join(root, 'repo'))).map(packageOf))
      assert.ok(packages.has('commander'))
      const heavy = [...packages].filter(p => HEAVY.some(h => h.endsWith('/') ? p.startsWith(h) : p === h))
      assert.deepEqual(heavy, [])
    })
  }
})
