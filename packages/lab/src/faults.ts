/**
 * Faults: a host crashes (every process in its namespace is SIGKILLed), a
 * host's link goes down or up (its cable is pulled: the bridge end is set
 * down), a group of hosts is partitioned from the rest (their links move to a
 * second bridge, so they reach each other and nobody else), and the partition
 * heals. Each can fire at a moment: after some time, or once the host's link
 * has carried some bytes (`kill h1 at 40MB`).
 */
import { InvalidParametersError } from '@provenir/interface'
import { KILL_GRACE_MS, SAMPLE_INTERVAL_MS } from './constants.js'
import { FaultSpecError } from './errors.js'
import { bridgeOwner, createBridge, deleteLink, killNamespace, linkCounters, setBridge, setLink } from './network.js'
import { delay, poll } from './sys.js'
import { parseTrigger, formatTrigger } from './units.js'
import type { Lab } from './lab.js'
import type { LinkCounters } from './network.js'
import type { Trigger } from './units.js'

export type FaultAction =
  | { kind: 'kill', host: string }
  | { kind: 'link', host: string, state: 'up' | 'down' }
  | { kind: 'partition', hosts: string[] }
  | { kind: 'heal' }

export interface ScheduledFault {
  action: FaultAction
  at: Trigger
  /** As it was written, e.g. `kill h1 at 40MB` */
  spec: string
}

export interface FiredFault {
  spec: string
  /** Seconds after the start it was scheduled against */
  at: number
  /** The processes a kill ended */
  pids?: number[]
  error?: string
}

const MAX_SPEC = 256

/** The longest a size trigger waits for its bytes */
const TRIGGER_WAIT_MS = 24 * 3_600_000

/**
 * Parses `kill <host> at <when>`, `link <host> down|up at <when>`,
 * `partition <host>[,<host>...] at <when>`, `heal at <when>`; `<when>` is a
 * time (`5s`) or a size (`40MB`: once the (first) host's link has carried that
 * many bytes, sent plus received). `at <when>` may be left out: at once.
 */
export function parseFault (spec: string): ScheduledFault {
  if (spec.length > MAX_SPEC) throw new FaultSpecError(`a fault is at most ${MAX_SPEC} characters`)
  const words = spec.trim().split(/[\s,]+/).filter(w => w !== '')
  const atIndex = words.indexOf('at')
  const [head, when] = atIndex >= 0 ? [words.slice(0, atIndex), words.slice(atIndex + 1)] : [words, []]
  if (when.length > 1) throw new FaultSpecError(`"${spec}": one moment after "at"`)
  let at: Trigger = { ms: 0 }
  try {
    if (when.length === 1) at = parseTrigger(when[0])
  } catch (err) {
    throw new FaultSpecError(`"${spec}": ${(err as Error).message}`, { cause: err })
  }
  const [kind, ...args] = head
  let action: FaultAction
  if (kind === 'kill' && args.length === 1) action = { kind, host: args[0] }
  else if (kind === 'link' && args.length === 2 && (args[1] === 'up' || args[1] === 'down')) action = { kind, host: args[0], state: args[1] }
  else if (kind === 'partition' && args.length >= 1) action = { kind, hosts: args }
  else if (kind === 'heal' && args.length === 0) action = { kind }
  else throw new FaultSpecError(`"${spec}" is not a fault: kill <host>, link <host> down|up, partition <hosts...> or heal, then optionally "at <5s|40MB>"`)
  if (action.kind === 'heal' && 'bytes' in at) throw new FaultSpecError(`"${spec}": heal names no host, so it fires at a time, not a size`)
  return { action, at, spec: spec.trim() }
}

/** The host a byte trigger counts on */
function triggerHost (action: FaultAction): string | undefined {
  return action.kind === 'partition' ? action.hosts[0] : action.kind === 'heal' ? undefined : action.host
}

/** A host crash: SIGKILL to every process in its namespace (the daemon, and on the origin docker-registry) */
export async function killHost (lab: Lab, name: string): Promise<number[]> {
  const h = lab.host(name)
  const pids = await killNamespace(h.ns, 'SIGKILL', KILL_GRACE_MS)
  delete h.daemonPid
  delete h.registryPid
  await lab.save()
  return pids
}

/** Pulls (down) or plugs back (up) the host's cable */
export async function setHostLink (lab: Lab, name: string, state: 'up' | 'down'): Promise<void> {
  await setLink(lab.host(name), state)
}

/** Moves `names` onto the partition bridge: they reach each other and nobody else until `heal` */
export async function partition (lab: Lab, names: string[]): Promise<void> {
  if (names.length === 0) throw new InvalidParametersError('partition needs at least one host')
  const hosts = names.map(n => lab.host(n))
  if (await bridgeOwner(lab.state.partitionBridge) == null) await createBridge(lab.state.partitionBridge, lab.dir)
  for (const h of hosts) await setBridge(h, lab.state.partitionBridge)
  lab.state.partitioned = [...new Set([...(lab.state.partitioned ?? []), ...hosts.map(h => h.name)])]
  await lab.save()
}

/** Puts every partitioned host back on the lab's bridge and removes the partition bridge */
export async function heal (lab: Lab): Promise<void> {
  for (const name of lab.state.partitioned ?? []) await setBridge(lab.host(name), lab.state.bridge)
  if (await bridgeOwner(lab.state.partitionBridge) === lab.dir) await deleteLink(lab.state.partitionBridge)
  lab.state.partitioned = []
  await lab.save()
}

/** Applies one fault now */
export async function applyFault (lab: Lab, action: FaultAction): Promise<{ pids?: number[] }> {
  switch (action.kind) {
    case 'kill': return { pids: await killHost(lab, action.host) }
    case 'link': await setHostLink(lab, action.host, action.state); return {}
    case 'partition': await partition(lab, action.hosts); return {}
    case 'heal': await heal(lab); return {}
  }
}

/** A moment to count from: a time and every link's counters then */
export interface Since {
  /** performance.now() */
  t0: number
  counters: Map<string, LinkCounters>
}

/**
 * Resolves when `at` has come: `ms` after `since.t0`, or once `host`'s link
 * has carried `bytes` (sent plus received) since `since`.
 */
export async function waitForTrigger (lab: Lab, host: string | undefined, at: Trigger, since: Since, signal?: AbortSignal): Promise<void> {
  if ('ms' in at) {
    const left = at.ms - (performance.now() - since.t0)
    if (left > 0) await delay(left, signal)
    return
  }
  if (host == null) throw new FaultSpecError('a size trigger needs a host')
  const h = lab.host(host)
  const base = since.counters.get(h.name) ?? { sent: 0, received: 0 }
  await poll(async () => {
    const c = await linkCounters(h.veth)
    return c.sent - base.sent + c.received - base.received >= at.bytes ? true : undefined
  }, TRIGGER_WAIT_MS, () => new FaultSpecError(`${h.name}'s link did not carry ${formatTrigger(at)} within ${TRIGGER_WAIT_MS / 3_600_000} h`), { interval: SAMPLE_INTERVAL_MS / 5, signal })
}

/**
 * Fires each fault at its moment, in parallel; resolves with what fired once
 * all have, or when `signal` aborts (those not yet fired are left out).
 */
export async function runScheduled (lab: Lab, faults: ScheduledFault[], since: Since, signal: AbortSignal): Promise<FiredFault[]> {
  const fired: FiredFault[] = []
  await Promise.all(faults.map(async f => {
    try {
      await waitForTrigger(lab, triggerHost(f.action), f.at, since, signal)
    } catch {
      return
    }
    const at = (performance.now() - since.t0) / 1000
    try {
      const res = await applyFault(lab, f.action)
      fired.push({ spec: f.spec, at, ...res })
    } catch (err) {
      fired.push({ spec: f.spec, at, error: (err as Error).message })
    }
  }))
  return fired.sort((a, b) => a.at - b.at)
}

export function describeFault (f: ScheduledFault): string {
  return `${f.spec} (${'ms' in f.at ? 'after' : 'once its link carried'} ${formatTrigger(f.at)})`
}
