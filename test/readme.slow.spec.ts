/**
 * Every shell command README.md and packages/cli/README.md show, run in order
 * as shown, on a fresh HOME (so a fresh `~/.provenir`) and a fresh working
 * directory, one shell session per README so that variables and `cd` carry
 * from one command to the next as in a reader's terminal.
 *
 * The commands are extracted mechanically (test/readme-commands.ts); a block
 * is skipped only by a `<!-- readme-test: skip REASON -->` marker in the
 * README, so a new command is run unless its README says why not.
 *
 * Fixed ports: the README's ports (4101, 5000, 5101, ...) are used as shown.
 * The session runs in its own network namespace (`unshare --net`, with
 * `--map-root-user` when not root), whose loopback no other process uses, so
 * two runs (or a daemon on the host) never collide, and nothing the commands
 * do can reach beyond it. The working directory holds `./img`, a copy of
 * the small test image's OCI layout (tagged `v1`, fixtures/out/small), which the README's
 * skipped `skopeo copy docker://...` would have made.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { ROOT, tempDir } from './daemon-helpers.js'
import { buildFixtures } from './image-helpers.js'
import { daemonRepoArg, extractCommands, isDaemonCommand } from './readme-commands.js'
import type { ReadmeCommand } from './readme-commands.js'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

/** The longest a single README command may take (a difficulty-20 init on a loaded machine) */
const COMMAND_TIMEOUT_MS = 300_000
/** The longest a daemon may take to serve /healthz */
const READY_TIMEOUT_S = 120

const TOOLS = ['bash', 'unshare', 'ip', 'jq', 'curl', 'skopeo', 'umoci']

function missingTools (): string[] {
  return TOOLS.filter(t => spawnSync('sh', ['-c', `command -v ${t} || [ -x /usr/sbin/${t} ]`]).status !== 0)
}

function unshareArgs (): string[] {
  return process.geteuid?.() === 0 ? ['--net'] : ['--net', '--map-root-user']
}

function namespaceWorks (): boolean {
  return spawnSync('unshare', [...unshareArgs(), 'true']).status === 0
}

/** What one command did */
interface Outcome { code: number, stdout: string, stderr: string }

/**
 * A bash process in its own network namespace, fed one command at a time on
 * stdin. Each command's output goes to files, and a marker line on bash's
 * stdout carries its exit status.
 */
class ShellSession {
  private readonly child: ChildProcessWithoutNullStreams
  private buffer = ''
  private waiter?: () => void
  private seq = 0
  readonly exited: Promise<number | null>
  readonly background: Array<{ command: ReadmeCommand, log: string }> = []

  constructor (private readonly outDir: string, cwd: string, env: NodeJS.ProcessEnv) {
    this.child = spawn('unshare', [...unshareArgs(), '--', 'bash', '--noprofile', '--norc'], { cwd, env, detached: true })
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => { this.buffer += d; this.waiter?.() })
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => { this.buffer += `\n__STDERR__ ${d}`; this.waiter?.() })
    this.exited = new Promise(resolve => this.child.once('close', code => { resolve(code); this.waiter?.() }))
  }

  /** Run shell `text` (its stdout and stderr to files), and return its exit status and output */
  async run (text: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<Outcome> {
    const n = ++this.seq
    const out = path.join(this.outDir, `${n}.out`)
    const err = path.join(this.outDir, `${n}.err`)
    this.child.stdin.write(`{\n${text}\n} </dev/null >'${out}' 2>'${err}'\necho "__RC__${n} $?"\n`)
    const code = await this.marker(n, timeoutMs)
    return { code, stdout: await readOr(out), stderr: await readOr(err) }
  }

  /** Start a daemon command in the background and wait until its RPC API serves /healthz */
  async startDaemon (command: ReadmeCommand): Promise<Outcome> {
    const n = ++this.seq
    const log = path.join(this.outDir, `${n}.daemon.log`)
    this.background.push({ command, log })
    const text = command.text.replace(/#[^'"]*$/, '').trim().replace(/&$/, '')
    const repoArg = daemonRepoArg(text)
    const repo = repoArg ?? '${PROVENIR_PATH:-$HOME/.provenir}'
    // the repo's api file holds host:port, or https://host:port and a "ca" line
    const ready = `__repo=${repo}; __pid=$!; __rc=1
for __i in $(seq 1 ${READY_TIMEOUT_S * 10}); do
  if [ -f "$__repo/api" ]; then
    __a=$(head -n1 "$__repo/api"); case $__a in http*) ;; *) __a="http://$__a" ;; esac
    if curl -sfk --max-time 5 "$__a/healthz" >/dev/null; then __rc=0; break; fi
  fi
  kill -0 $__pid 2>/dev/null || break
  sleep 0.1
done`
    this.child.stdin.write(`{\n${text} &\n} </dev/null >'${log}' 2>&1\n${ready}\necho "__RC__${n} $__rc"\n`)
    const code = await this.marker(n, (READY_TIMEOUT_S + 30) * 1000)
    return { code, stdout: '', stderr: await readOr(log) }
  }

  private async marker (n: number, timeoutMs: number): Promise<number> {
    const re = new RegExp(`__RC__${n} (\\d+)\\n`)
    const deadline = Date.now() + timeoutMs
    let exited = false
    void this.exited.then(() => { exited = true })
    while (true) {
      const m = re.exec(this.buffer)
      if (m != null) return Number(m[1])
      if (exited) throw new Error(`the shell exited (output: ${this.buffer.slice(-2000)})`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, left)
        this.waiter = () => { clearTimeout(timer); resolve() }
      })
    }
  }

  /** Stop every background job with SIGTERM and wait for them, then end the shell */
  async close (): Promise<void> {
    if (this.child.exitCode == null) {
      this.child.stdin.write('for __p in $(jobs -p); do kill $__p 2>/dev/null; done; wait; exit 0\n')
      const timer = setTimeout(() => { try { process.kill(-(this.child.pid ?? 0), 'SIGKILL') } catch {} }, 45_000)
      await this.exited
      clearTimeout(timer)
    }
  }
}

async function readOr (file: string): Promise<string> {
  try { return await fs.readFile(file, 'utf8') } catch { return '' }
}

function tail (s: string, n = 3000): string {
  return s.length > n ? `...${s.slice(-n)}` : s
}

/** Run the commands of one README in a fresh HOME and working directory */
async function runReadme (readme: string, root: string, image: string): Promise<void> {
  const file = path.relative(ROOT, readme)
  const commands = extractCommands(file, await fs.readFile(readme, 'utf8'))
  assert.ok(commands.length > 0, `${file} shows no shell command`)
  const home = path.join(root, 'home')
  const work = path.join(root, 'work')
  const bin = path.join(root, 'bin')
  const outDir = path.join(root, 'out')
  for (const d of [home, work, bin, outDir]) await fs.mkdir(d, { recursive: true })
  await fs.symlink(path.join(ROOT, 'packages/cli/bin/provenir'), path.join(bin, 'provenir'))
  await fs.cp(image, path.join(work, 'img'), { recursive: true })
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, PATH: `${bin}:${process.env.PATH ?? ''}`, TMPDIR: os.tmpdir() }
  delete env.PROVENIR_PATH
  delete env.DEBUG
  const shell = new ShellSession(outDir, work, env)
  try {
    const setup = await shell.run('ip link set lo up && set -o pipefail')
    assert.equal(setup.code, 0, `network namespace setup: ${setup.stderr}`)
    for (const command of commands) {
      if (command.skip != null) {
        console.info(`# ${command.file}:${command.line}: skipped (${command.skip}): ${command.text.split('\n')[0]}`)
        continue
      }
      const started = Date.now()
      const outcome = isDaemonCommand(command.text) ? await shell.startDaemon(command) : await shell.run(command.text)
      console.info(`# ${command.file}:${command.line}: exit ${outcome.code} after ${((Date.now() - started) / 1000).toFixed(1)} s: $ ${command.text}`)
      if (outcome.code !== 0) {
        const daemons = await Promise.all(shell.background.map(async b => `--- log of ${b.command.file}:${b.command.line} (${b.command.text})\n${tail(await readOr(b.log))}`))
        // logs the README itself sends to files in the working directory
        for (const f of (await fs.readdir(work)).filter(f => f.endsWith('.log'))) daemons.push(`--- ${f}\n${tail(await readOr(path.join(work, f)))}`)
        assert.fail(`${command.file}:${command.line}: \`${command.text}\` exited ${outcome.code}` +
          `\n--- stdout\n${tail(outcome.stdout)}\n--- stderr\n${tail(outcome.stderr)}\n${daemons.join('\n')}`)
      }
    }
  } finally {
    await shell.close()
  }
}

describe('the README commands, run as shown', () => {
  const missing = missingTools()
  const skip = missing.length > 0
    ? `needs ${missing.join(', ')}`
    : namespaceWorks() ? false : 'needs a network namespace (unshare --net; root or unprivileged user namespaces)'
  const dirs: string[] = []
  after(async () => { for (const d of dirs) await fs.rm(d, { recursive: true, force: true }) })

  for (const readme of ['README.md', 'packages/cli/README.md']) {
    it(`runs every command of ${readme} in order on a fresh repo`, { skip }, async () => {
      const root = await tempDir()
      dirs.push(root)
      const { small } = await buildFixtures('small')
      await runReadme(path.join(ROOT, readme), root, small.oci)
    })
  }
})
