/**
 * A lab: N hosts and an origin on one bridge, each in its own network
 * namespace with its own address and a capped link, each running a provenir
 * daemon; the origin also runs docker-registry. `Lab.up` makes one,
 * `Lab.open` finds the one in a directory, `lab.down()` removes it.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { InvalidParametersError } from '@provenir/interface'
import pMap from 'p-map'
import { CONNECT_TIMEOUT_MS, DEFAULT_DEBUG, DEFAULT_DIFFICULTY, DEFAULT_RATE, LAB_DIR_ENV, LAB_DIR_NAME, MAX_HOSTS, START_CONCURRENCY, STATE_VERSION } from './constants.js'
import { labDown } from './down.js'
import { LabExistsError, LabNotUpError } from './errors.js'
import { hostCli, hostFiles, initHostRepo, nsFetch, apiAddress, resetHostRepo, startHostDaemon, stopHostDaemon, swarmAddress } from './hosts.js'
import { bridgeName, hostIndex, hostNames, partitionBridgeName, ORIGIN } from './names.js'
import { claimLabId, createHost, linkCounters } from './network.js'
import { startRegistry } from './origin.js'
import { assertLabAvailable } from './preflight.js'
import { readState, writeState } from './state.js'
import { poll } from './sys.js'
import type { DownOptions, DownReport } from './down.js'
import type { LinkCounters } from './network.js'
import type { HostState, LabState } from './state.js'
import type { RunOptions } from './sys.js'

export interface LabUpOptions {
  /** The lab's directory @default $PROVENIR_LAB_DIR, else <tmpdir>/provenir-lab */
  dir?: string
  /** Hosts besides the origin (1 to MAX_HOSTS) */
  hosts: number
  /** Each host's link cap in both directions, bits/s @default DEFAULT_RATE */
  rate?: number
  /** The origin's link cap, bits/s @default rate */
  originRate?: number
  /** The daemons' swarm difficulty @default DEFAULT_DIFFICULTY */
  difficulty?: number
  /** The daemons' DEBUG pattern @default DEFAULT_DEBUG */
  debug?: string
  /** What `up` is doing, for a CLI to print */
  onProgress?: (message: string) => void
  signal?: AbortSignal
}

/** The lab directory when none is given */
export function defaultLabDir (): string {
  return process.env[LAB_DIR_ENV] ?? path.join(os.tmpdir(), LAB_DIR_NAME)
}

function validateUp (options: LabUpOptions): void {
  if (!Number.isInteger(options.hosts) || options.hosts < 1 || options.hosts > MAX_HOSTS) {
    throw new InvalidParametersError(`hosts must be 1 to ${MAX_HOSTS}, got ${options.hosts}`)
  }
  const d = options.difficulty ?? DEFAULT_DIFFICULTY
  if (!Number.isInteger(d) || d < 0 || d > 24) throw new InvalidParametersError(`difficulty must be 0 to 24 in a lab, got ${d}`)
  if (options.debug != null && (options.debug.length > 1024 || /[\n\0]/.test(options.debug))) throw new InvalidParametersError('debug must be one line of at most 1024 characters')
}

export class Lab {
  readonly state: LabState

  private constructor (state: LabState) {
    this.state = state
  }

  /**
   * Brings a lab up. On any failure it takes down what it made and throws.
   * @throws LabUnavailableError when not root or a tool or kernel feature is missing
   * @throws LabExistsError when a lab is already up in the directory
   */
  static async up (options: LabUpOptions): Promise<Lab> {
    validateUp(options)
    await assertLabAvailable({ skopeo: false })
    const dir = path.resolve(options.dir ?? defaultLabDir())
    if (await readState(dir) != null) throw new LabExistsError(`a lab is already up in ${dir}: "lab down" first`)
    await fs.mkdir(path.join(dir, 'hosts'), { recursive: true })
    const rate = options.rate ?? DEFAULT_RATE
    const state: LabState = {
      version: STATE_VERSION,
      id: -1,
      dir,
      bridge: '',
      partitionBridge: '',
      rate,
      originRate: options.originRate ?? rate,
      difficulty: options.difficulty ?? DEFAULT_DIFFICULTY,
      debug: options.debug ?? DEFAULT_DEBUG,
      created: new Date().toISOString(),
      hosts: []
    }
    const lab = new Lab(state)
    try {
      await lab.#build(options)
    } catch (err) {
      await labDown(dir).catch(() => {})
      // before the first state write there is nothing for down to find: remove what up made
      await fs.rm(path.join(dir, 'hosts'), { recursive: true, force: true }).catch(() => {})
      await fs.rmdir(dir).catch(() => {})
      throw err
    }
    return lab
  }

  /** The lab up in `dir` @throws LabNotUpError when there is none */
  static async open (dir: string = defaultLabDir()): Promise<Lab> {
    const state = await readState(path.resolve(dir))
    if (state == null) throw new LabNotUpError(`no lab is up in ${path.resolve(dir)} ("lab up" makes one)`)
    return new Lab(state)
  }

  async #build (options: LabUpOptions): Promise<void> {
    const { state } = this
    const say = options.onProgress ?? (() => {})
    state.id = await claimLabId(state.dir, async id => {
      state.id = id
      await writeState(state)
    })
    state.bridge = bridgeName(state.id)
    state.partitionBridge = partitionBridgeName(state.id)
    for (let i = 0; i <= options.hosts; i++) {
      const names = hostNames(state.id, i)
      const dir = path.join(state.dir, 'hosts', names.name)
      state.hosts.push({ ...names, dir, repo: path.join(dir, 'repo') })
    }
    await this.save()
    say(`lab ${state.id}: ${options.hosts} hosts and an origin on ${state.bridge}, 10.77.${state.id}.0/24`)
    await pMap(state.hosts, async h => {
      await createHost(h, state.bridge, h.name === ORIGIN ? state.originRate : state.rate)
    }, { concurrency: START_CONCURRENCY })
    const origin = this.origin
    origin.registryPid = await startRegistry(origin)
    await this.save()
    say('docker-registry is up on the origin; making the repos')
    await this.#initRepos()
    say('starting the daemons')
    await this.#startAll(options.signal)
    say('waiting until every daemon has a peer')
    await this.waitConnected(options.signal)
  }

  /** Every repo: the seeds (the origin, then h1) first, since the others bootstrap to them */
  async #initRepos (): Promise<void> {
    const [origin, first] = [this.origin, this.state.hosts[1]]
    origin.peerId = await initHostRepo(this.state, origin, [])
    first.peerId = await initHostRepo(this.state, first, [swarmAddress(origin)])
    const seeds = [swarmAddress(origin), swarmAddress(first)]
    for (const h of this.state.hosts.slice(2)) h.peerId = await initHostRepo(this.state, h, seeds)
    await this.save()
  }

  async #startAll (signal?: AbortSignal): Promise<void> {
    await this.startDaemons(this.state.hosts.map(h => h.name), signal)
  }

  /**
   * Starts the daemons of `names` in the order they bootstrap: the origin,
   * then h1 (which bootstraps to the origin), then the rest. A daemon dials
   * its bootstrap peers once, at start, so one started before its seeds
   * listen would stay alone.
   */
  async startDaemons (names: string[], signal?: AbortSignal): Promise<void> {
    const seeds = [ORIGIN, 'h1']
    for (const group of [...seeds.map(s => names.filter(n => n === s)), names.filter(n => !seeds.includes(n))]) {
      await pMap(group, async name => { await this.startDaemon(name, signal) }, { concurrency: START_CONCURRENCY })
    }
  }

  /** Waits until every running daemon is connected to at least one peer */
  async waitConnected (signal?: AbortSignal): Promise<void> {
    await pMap(this.state.hosts.filter(h => h.daemonPid != null), async h => {
      await poll(async () => {
        const res = await hostCli<{ peers: unknown[] }>(h, ['peers'], { signal })
        return res.peers.length > 0 ? true : undefined
      }, CONNECT_TIMEOUT_MS, last => new LabNotUpError(`${h.name} found no peer within ${CONNECT_TIMEOUT_MS} ms: ${String(last ?? 'no error')}`), { interval: 250, signal })
    }, { concurrency: START_CONCURRENCY })
  }

  get id (): number { return this.state.id }
  get dir (): string { return this.state.dir }
  get origin (): HostState { return this.state.hosts[0] }
  /** h1..hN */
  get hosts (): HostState[] { return this.state.hosts.slice(1) }

  /** A host by name (`origin`, `h1`..`hN`) @throws HostNotFoundError */
  host (name: string): HostState {
    return this.state.hosts[hostIndex(name, this.state.hosts.length - 1)]
  }

  async save (): Promise<void> {
    await writeState(this.state)
  }

  /** Starts a host's daemon (after `up`, a kill, or a reset) and records its pid */
  async startDaemon (name: string, signal?: AbortSignal): Promise<void> {
    const h = this.host(name)
    const started = await startHostDaemon(this.state, h, { signal })
    h.daemonPid = started.pid
    if (started.gateway != null) h.gateway = started.gateway
    await this.save()
  }

  /** Stops a host's daemon gracefully */
  async stopDaemon (name: string): Promise<void> {
    const h = this.host(name)
    await stopHostDaemon(h)
    delete h.daemonPid
    await this.save()
  }

  /** Stops every daemon, empties its stores (identity and config stay) and starts them again: cold hosts */
  async resetDaemons (signal?: AbortSignal): Promise<void> {
    await pMap(this.state.hosts, async h => {
      await this.stopDaemon(h.name)
      await resetHostRepo(h)
    }, { concurrency: START_CONCURRENCY })
    await this.startDaemons(this.state.hosts.map(h => h.name), signal)
  }

  /** `provenir <args> --json` inside the host's namespace, parsed */
  async cli<T = any>(name: string, args: string[], options: RunOptions = {}): Promise<T> {
    return hostCli<T>(this.host(name), args, options)
  }

  /** The byte counters of every host's link (origin included), by host name */
  async counters (): Promise<Map<string, LinkCounters>> {
    const all = await Promise.all(this.state.hosts.map(async h => [h.name, await linkCounters(h.veth)] as const))
    return new Map(all)
  }

  /** The daemon's Prometheus metrics, fetched inside its namespace and kept as `<host>/metrics/<label>.prom` */
  async snapshotMetrics (name: string, label: string): Promise<string> {
    const h = this.host(name)
    const text = await nsFetch(h, `http://${await apiAddress(h)}/metrics`)
    const dir = hostFiles(h).metrics
    await fs.mkdir(dir, { recursive: true })
    await fs.writeFile(path.join(dir, `${label.replace(/[^\w.-]/g, '_')}.prom`), text)
    return text
  }

  /** Removes everything the lab made (see `labDown`) */
  async down (options: DownOptions = {}): Promise<DownReport> {
    return labDown(this.state.dir, options)
  }
}
