import { readFileSync } from 'node:fs'
import { ProvenirError } from '@provenir/interface'
import { Command, CommanderError } from 'commander'
import { registerGc, registerProviders, registerRepo } from './commands/content.js'
import { registerDaemon } from './commands/daemon.js'
import { registerId } from './commands/id.js'
import { registerImage } from './commands/image.js'
import { registerInit } from './commands/init.js'
import { registerKeys, registerPolicy } from './commands/keys.js'
import { registerMirror } from './commands/mirror.js'
import { registerName, registerRegistry } from './commands/name.js'
import { registerPeers } from './commands/peers.js'
import { registerService } from './commands/service.js'
import { registerSwarm } from './commands/swarm.js'
import { registerTls } from './commands/tls.js'
import { registerTrust } from './commands/trust.js'
import { REPO_ENV } from './constants.js'

function version (): string {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version
  } catch {
    return '0.0.0'
  }
}

/**
 * The `provenir` command tree. Errors are not printed here: they propagate
 * out of `parseAsync` (commander's own as CommanderError) for `run` to report.
 */
export function createProgram (): Command {
  const program = new Command('provenir')
    .description('provenir: a peer-to-peer container-image registry node')
    .version(version(), '-V, --version')
    .option('--repo <path>', `repo directory (default: $${REPO_ENV}, else ~/.provenir)`)
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ outputError: () => {} })
  // subcommands copy exitOverride and configureOutput when they are made, so register them last
  registerInit(program)
  registerDaemon(program)
  registerId(program)
  registerPeers(program)
  registerSwarm(program)
  registerImage(program)
  registerProviders(program)
  registerGc(program)
  registerRepo(program)
  registerKeys(program)
  registerPolicy(program)
  registerTrust(program)
  registerName(program)
  registerRegistry(program)
  registerMirror(program)
  registerService(program)
  registerTls(program)
  return program
}

/**
 * Print an error the way every command does: `Error: <message>` on stderr,
 * or `{"error":{"name","message"}}` with `--json`. A stack trace is added
 * only for unexpected errors (bugs). Returns the exit code.
 */
export async function reportError (err: unknown, json: boolean): Promise<number> {
  if (err instanceof CommanderError) {
    if (err.exitCode === 0) return 0
    const message = err.message.replace(/^error: /, '')
    if (err.code === 'commander.help' || err.code === 'commander.helpDisplayed') return err.exitCode
    process.stderr.write(json ? JSON.stringify({ error: { name: 'UsageError', message } }) + '\n' : `Error: ${message}\n`)
    return err.exitCode === 0 ? 1 : err.exitCode
  }
  const e = err instanceof Error ? err : new Error(String(err))
  // every provenir error is expected; only another error is looked up by name, which loads the other packages' error classes
  const expected = e instanceof ProvenirError || (await import('./known-errors.js')).isExpectedError(e)
  if (json) {
    process.stderr.write(JSON.stringify({ error: { name: e.name, message: e.message } }) + '\n')
  } else {
    process.stderr.write(`Error: ${e.message}\n`)
    if (!expected && e.stack != null) process.stderr.write(`${e.stack}\n`)
  }
  const code = (e as { exitCode?: unknown }).exitCode
  return typeof code === 'number' && code > 0 ? code : 1
}

/** Run the CLI on `argv` (as `process.argv`); resolves to the exit code */
export async function run (argv: string[] = process.argv): Promise<number> {
  const program = createProgram()
  try {
    await program.parseAsync(argv)
    return 0
  } catch (err) {
    return await reportError(err, argv.slice(2).includes('--json'))
  }
}
