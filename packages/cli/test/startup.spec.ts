import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import { createServer } from 'node:http'
import module from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { DAEMON_THREADPOOL_SIZE } from '../src/threadpool.js'
import { BIN, tempDir } from './helpers.js'
import type { AddressInfo } from 'node:net'

/**
 * The packages an RPC client must not load: they cost hundreds of ms at every
 * start, and only the daemon and the offline commands need them.
 */
const HEAVY = ['@provenir/node', '@provenir/naming', '@provenir/trust', '@provenir/content', '@provenir/gateway', '@provenir/identity', 'libp2p', '@libp2p/', '@multiformats/multiaddr']

/** Written to a file and preloaded with --import: prints every module URL the process resolved */
const RECORDER = `import { registerHooks } from 'node:module'
const urls = new Set()
registerHooks({ resolve (specifier, context, next) { const r = next(specifier, context); urls.add(r.url); return r } })
process.on('exit', () => {
  process.stderr.write('\\nLOADED ' + JSON.stringify([...urls]) + '\\n')
  process.stderr.write('\\nINTERNAL ' + JSON.stringify(process.moduleLoadList.filter(m => m.startsWith('NativeModule '))) + '\\n')
})
`

/** The module URLs the CLI resolves running `args`, and node's own modules it loaded (`NativeModule …`) */
async function modulesLoaded (recorder: string, args: string[], repo: string, internal: string[] = []): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', recorder, BIN, ...args], { env: { ...process.env, PROVENIR_PATH: repo }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  await new Promise(resolve => child.once('close', resolve))
  const line = stderr.split('\n').find(l => l.startsWith('LOADED '))
  assert.ok(line != null, stderr)
  const native = stderr.split('\n').find(l => l.startsWith('INTERNAL '))
  if (native != null) internal.push(...JSON.parse(native.slice('INTERNAL '.length)))
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

  it('runs libuv\'s pool with DAEMON_THREADPOOL_SIZE threads, or the size the environment gives', { skip: process.platform !== 'linux' && 'counts threads in /proc' }, async () => {
    // printed at exit: the process's libuv threads (the pool starts on first use: reading the api file)
    const counter = path.join(root, 'threads.mjs')
    await fs.writeFile(counter, `import { readdirSync, readFileSync } from 'node:fs'
process.on('exit', () => {
  const n = readdirSync('/proc/self/task').filter(t => readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim() === 'libuv-worker').length
  process.stderr.write('\\nTHREADS ' + n + '\\n')
})
`)
    const threads = async (env: NodeJS.ProcessEnv): Promise<number> => {
      const child = spawn(process.execPath, ['--import', counter, BIN, 'image', 'ls', '--json'], { env: { ...env, PROVENIR_PATH: path.join(root, 'repo') }, stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
      await new Promise(resolve => child.once('close', resolve))
      const line = stderr.split('\n').find(l => l.startsWith('THREADS '))
      assert.ok(line != null, stderr)
      return Number(line.slice('THREADS '.length))
    }
    const { UV_THREADPOOL_SIZE: _, ...env } = process.env
    assert.equal(await threads(env), DAEMON_THREADPOOL_SIZE)
    assert.equal(await threads({ ...env, UV_THREADPOOL_SIZE: '5' }), 5)
  })

  for (const args of [['--help'], ['--version'], ['image', 'ls', '--json'], ['image', 'pull', `sha256:${'a'.repeat(64)}`], ['peers'], ['name', 'resolve', 'a/b']]) {
    it(`provenir ${args.join(' ')} loads none of the node's packages`, async () => {
      // no daemon runs on this repo: the client gets as far as reading the api file
      const urls = await modulesLoaded(recorder, args, path.join(root, 'repo'))
      // the CLI runs from its bundle (commander inside it), and loads none of its own modules apart from it
      assert.ok(urls.includes(pathToFileURL(BIN).href), urls.join('\n'))
      assert.deepEqual(urls.filter(u => u.includes('/packages/cli/') && !/\/dist\/src\/provenir(-chunk-[A-Z0-9]+)?\.js$/.test(u)), [])
      const packages = new Set(urls.map(packageOf))
      assert.ok(!packages.has('commander'))
      const heavy = [...packages].filter(p => HEAVY.some(h => h.endsWith('/') ? p.startsWith(h) : p === h))
      assert.deepEqual(heavy, [])
    })
  }

  it('a call to the daemon does not load undici (node\'s fetch, or an ESM import of node:http: ~40-65 ms of every command), cli-progress or node:crypto', async () => {
    // a stand-in daemon that answers `image ls`
    const seen: string[] = []
    const server = createServer((req, res) => {
      seen.push(`${req.method ?? ''} ${req.url ?? ''}`)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ images: [], truncated: false }))
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const repo = path.join(root, 'answered')
      await fs.mkdir(repo, { recursive: true })
      await fs.writeFile(path.join(repo, 'api'), `127.0.0.1:${(server.address() as AddressInfo).port}\n`)
      const internal: string[] = []
      const packages = new Set((await modulesLoaded(recorder, ['image', 'ls', '--json'], repo, internal)).map(packageOf))
      assert.deepEqual(seen, ['GET /api/v0/image/ls'])
      assert.ok(internal.includes('NativeModule http'), 'the call went through node:http')
      assert.deepEqual(internal.filter(m => m.includes('undici')), [])
      // loaded when used: a progress bar on a terminal, a temporary file's random name
      assert.ok(!packages.has('cli-progress'))
      assert.ok(!internal.includes('NativeModule crypto'))
    } finally {
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  })
})
