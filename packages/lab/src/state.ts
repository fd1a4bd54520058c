/**
 * The lab's state file (`<dir>/state.json`): what the lab made, so `down`
 * can remove it after a crash. It is written before each thing is made (the
 * lab id first), atomically (a temp file renamed over it).
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { MAX_STATE_BYTES, STATE_VERSION } from './constants.js'
import { LabStateError } from './errors.js'
import type { HostNames } from './names.js'

/** One host as the state file records it */
export interface HostState extends HostNames {
  /** `<lab dir>/hosts/<name>`: the repo, the daemon's log, metrics, rollout outputs */
  dir: string
  /** The daemon's repo (`PROVENIR_PATH`) */
  repo: string
  /** The daemon's NodeId, once its repo exists */
  peerId?: string
  /** The running daemon's pid */
  daemonPid?: number
  /** The daemon's registry gateway, `http://127.0.0.1:<port>` inside the namespace */
  gateway?: string
  /** The origin only: docker-registry's pid */
  registryPid?: number
}

export interface LabState {
  version: number
  /** The lab id: every object is named `pvlab<id>-...`, addresses are `10.77.<id>.x` */
  id: number
  /** The lab's directory (absolute) */
  dir: string
  bridge: string
  partitionBridge: string
  /** Each host's link cap, both directions, bits/s */
  rate: number
  /** The origin's link cap, bits/s */
  originRate: number
  /** The daemons' swarm difficulty */
  difficulty: number
  /** The daemons' DEBUG pattern */
  debug: string
  /** ISO time of `up` */
  created: string
  /** The origin first (`origin`), then h1..hN */
  hosts: HostState[]
  /** The hosts a partition has moved to the partition bridge */
  partitioned?: string[]
}

export function statePath (dir: string): string {
  return path.join(dir, 'state.json')
}

/** Writes the state atomically: a temp file in the same directory, renamed over the old one */
export async function writeState (state: LabState): Promise<void> {
  const file = statePath(state.dir)
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`
  await fs.writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 })
  await fs.rename(tmp, file)
}

/** The state of the lab in `dir`, or undefined when there is none */
export async function readState (dir: string): Promise<LabState | undefined> {
  const file = statePath(dir)
  let text: string
  try {
    const stat = await fs.stat(file)
    if (stat.size > MAX_STATE_BYTES) throw new LabStateError(`${file} is ${stat.size} bytes, over the ${MAX_STATE_BYTES} a state file may be`)
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  let state: LabState
  try {
    state = JSON.parse(text)
  } catch (err) {
    throw new LabStateError(`${file} does not parse: ${(err as Error).message}`, { cause: err })
  }
  if (state?.version !== STATE_VERSION || !Number.isInteger(state.id) || !Array.isArray(state.hosts) || typeof state.bridge !== 'string') {
    throw new LabStateError(`${file} is not a lab state file of version ${STATE_VERSION}`)
  }
  if (path.resolve(state.dir) !== path.resolve(dir)) {
    throw new LabStateError(`${file} describes the lab in ${state.dir}, not this directory: it was moved, so its objects' ownership cannot be checked`)
  }
  return state
}
