import { InvalidArgumentError } from 'commander'
import { resolveRepoPath } from '../repo-paths.js'
import type { Command } from 'commander'

/** Options every command takes */
export interface JsonOption {
  json?: boolean
}

/** The repo directory for this invocation: `--repo`, `$PROVENIR_PATH` or `~/.provenir` */
export function repoOf (cmd: Command): string {
  return resolveRepoPath(cmd.optsWithGlobals<{ repo?: string }>().repo)
}

/** A commander argument parser for an integer in [min, max] */
export function integerIn (min: number, max: number): (value: string) => number {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}.`)
    }
    return Number(value)
  }
}

/** A commander argument parser that collects a repeatable option into an array */
export function collect (value: string, previous?: string[]): string[] {
  return [...(previous ?? []), value]
}

/** Exit code of a command cancelled by a signal: 128 + the signal's number */
export function signalExitCode (signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1
}

export interface SignalAbort {
  readonly signal: AbortSignal
  /** The signal that arrived, if one did */
  readonly received?: NodeJS.Signals
  /** Remove the handlers */
  dispose(): void
}

/** Abort on the first SIGINT or SIGTERM instead of dying, so that work in progress can clean up */
export function abortOnSignals (): SignalAbort {
  const controller = new AbortController()
  const state: { received?: NodeJS.Signals } = {}
  const handler = (sig: NodeJS.Signals): void => {
    if (state.received != null) {
      // a second signal: stop waiting for the clean-up
      process.exit(signalExitCode(sig))
    }
    state.received = sig
    controller.abort(new Error(`received ${sig}`))
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return {
    signal: controller.signal,
    get received () { return state.received },
    dispose () {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    }
  }
}

/** Attach the exit code the CLI should end with to an error */
export function withExitCode<E extends Error> (err: E, exitCode: number): E {
  return Object.assign(err, { exitCode })
}
