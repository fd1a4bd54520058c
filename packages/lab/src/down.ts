/**
 * `lab down`: removes everything a lab made. It works from the state file
 * alone (after a crash of the lab itself, even half-way through `up`), and
 * touches only objects carrying the lab's prefix `pvlab<id>-`, and those only
 * while the lab's bridge names this lab's directory as its alias, i.e. the id
 * is still this lab's. The bridge goes last, so a `down` that is itself
 * interrupted can be run again.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { KILL_GRACE_MS, LAB_PREFIX } from './constants.js'
import { CommandFailedError } from './errors.js'
import { bridgeName, labPrefix } from './names.js'
import { bridgeOwner, deleteLink, deleteNamespace, killNamespace, listLinks, listNamespaces } from './network.js'
import { readState } from './state.js'
import { poll } from './sys.js'

export interface DownOptions {
  /** Remove every object named `pvlab...` on this machine, whichever lab made it */
  all?: boolean
  /** Keep the hosts' logs, metrics and rollout reports (the repos and images go) */
  keepLogs?: boolean
}

export interface DownReport {
  /** The lab id taken down, when the state named one */
  id?: number
  namespaces: string[]
  links: string[]
  /** Processes ended (pids), found in the lab's namespaces */
  processes: number[]
  /** The directory removed, or kept with only its logs */
  dir?: string
  /** Why objects with the lab's prefix were left alone, if they were */
  skipped?: string
}

/** Ends the processes of, and deletes, every namespace and link whose name starts with `prefix` */
export async function sweep (prefix: string): Promise<Omit<DownReport, 'dir'>> {
  const namespaces = await listNamespaces(prefix)
  const killed = await Promise.all(namespaces.map(async ns => killNamespace(ns, 'SIGTERM', KILL_GRACE_MS)))
  const links = (await listLinks(prefix)).map(l => l.ifname)
  // veths first (each takes its namespace end with it), the bridges after
  const isBridge = (name: string): boolean => /-b[rp]$/.test(name)
  for (const link of links.filter(l => !isBridge(l))) await deleteLink(link)
  for (const ns of namespaces) await deleteNamespace(ns)
  for (const link of links.filter(isBridge).sort((a, b) => a.endsWith('-br') ? 1 : b.endsWith('-br') ? -1 : 0)) await deleteLink(link)
  // a namespace's devices are freed asynchronously: wait until none is left
  await poll(async () => {
    const left = [...await listNamespaces(prefix), ...(await listLinks(prefix)).map(l => l.ifname)]
    return left.length === 0 ? true : undefined
  }, 15_000, () => new CommandFailedError(`objects named ${prefix}* are still there after down`, null, ''))
  return { namespaces, links, processes: killed.flat() }
}

/** Removes the lab's directory, or with `keepLogs` everything in it but logs, metrics and reports */
async function removeDir (dir: string, keepLogs: boolean): Promise<void> {
  if (!keepLogs) {
    await fs.rm(dir, { recursive: true, force: true })
    return
  }
  const hosts = path.join(dir, 'hosts')
  for (const host of await fs.readdir(hosts).catch(() => [])) {
    for (const sub of ['repo', 'registry', 'out']) await fs.rm(path.join(hosts, host, sub), { recursive: true, force: true })
  }
  await fs.rm(path.join(dir, 'state.json'), { force: true })
}

/** Takes down the lab in `dir` (see the module comment); safe to run again and on a lab that is half up */
export async function labDown (dir: string, options: DownOptions = {}): Promise<DownReport> {
  dir = path.resolve(dir)
  const state = await readState(dir)
  let report: DownReport = { namespaces: [], links: [], processes: [] }
  if (options.all === true) {
    report = await sweep(LAB_PREFIX)
  } else if (state != null) {
    const owner = await bridgeOwner(bridgeName(state.id))
    if (owner === state.dir) {
      report = await sweep(labPrefix(state.id))
    } else if (owner != null) {
      report.skipped = `${bridgeName(state.id)} belongs to the lab in ${owner === '' ? '(no directory)' : owner}, not this one: its objects were left alone`
    }
  }
  if (state?.id != null) report.id = state.id
  // only a directory with a state file is a lab's: never remove another directory
  if (state != null) {
    await removeDir(dir, options.keepLogs === true)
    report.dir = dir
  }
  return report
}
