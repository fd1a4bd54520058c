/**
 * The lab's kernel objects: a bridge, and per host a network namespace with
 * loopback up and one veth to the bridge, carrying the host's address, capped
 * in both directions by a tbf qdisc on each end (the bridge end shapes what
 * the host receives, the namespace end what it sends). netem is not needed:
 * the lab adds no latency, only rate limits.
 */
import fs from 'node:fs/promises'
import { LAB_PREFIX, MAX_LAB_ID, TBF_BURST_SECONDS, TBF_LATENCY_MS, TBF_MIN_BURST } from './constants.js'
import { AddressRangeInUseError, CommandFailedError, LabBusyError } from './errors.js'
import { bridgeName, labSubnet } from './names.js'
import { ip, ipJson, poll, tc } from './sys.js'
import { tcRate } from './units.js'
import type { HostNames } from './names.js'

interface IpLink { ifname: string, ifalias?: string, operstate?: string, master?: string }
interface IpAddr { ifname: string, addr_info?: Array<{ family: string, local: string, prefixlen: number }> }
interface IpRoute { dst: string }

function ipv4ToInt (a: string): number {
  return a.split('.').reduce((acc, b) => acc * 256 + Number(b), 0)
}

/** Whether two IPv4 prefixes share an address */
export function prefixesOverlap (a: string, b: string): boolean {
  const [an, al] = a.split('/')
  const [bn, bl] = b.split('/')
  const len = Math.min(Number(al ?? 32), Number(bl ?? 32))
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0
  return ((ipv4ToInt(an) & mask) >>> 0) === ((ipv4ToInt(bn) & mask) >>> 0)
}

/** The root namespace's IPv4 addresses and routes, as prefixes (the default route left out) */
async function rootPrefixes (): Promise<string[]> {
  const addrs = await ipJson<IpAddr[]>(['-4', 'addr', 'show'])
  const routes = await ipJson<IpRoute[]>(['-4', 'route', 'show', 'table', 'all'])
  const out: string[] = []
  for (const a of addrs) for (const i of a.addr_info ?? []) if (i.family === 'inet') out.push(`${i.local}/${i.prefixlen}`)
  for (const r of routes) {
    if (r.dst === 'default' || !/^\d+\.\d+\.\d+\.\d+/.test(r.dst)) continue
    out.push(r.dst.includes('/') ? r.dst : `${r.dst}/32`)
  }
  return out
}

/** The links whose name starts with `prefix`, with their alias */
export async function listLinks (prefix: string, ns?: string): Promise<IpLink[]> {
  const links = await ipJson<IpLink[]>([...(ns != null ? ['-n', ns] : []), 'link', 'show'])
  return links.filter(l => l.ifname.startsWith(prefix))
}

/** The network namespaces whose name starts with `prefix` */
export async function listNamespaces (prefix: string): Promise<string[]> {
  const list = await ipJson<Array<{ name: string }>>(['netns', 'list'])
  return list.map(n => n.name).filter(n => n.startsWith(prefix))
}

/** The bridge's alias (the directory of the lab that made it), '' without one, undefined when there is no such bridge */
export async function bridgeOwner (bridge: string): Promise<string | undefined> {
  const links = await listLinks(bridge)
  const link = links.find(l => l.ifname === bridge)
  return link == null ? undefined : (link.ifalias ?? '')
}

/**
 * Claims a free lab id by creating its bridge: `ip link add` fails when the
 * name exists, so two labs starting at once never share an id. The bridge's
 * alias is set to the lab's directory, which is how `down` knows the prefix
 * is its own. Ids whose /24 overlaps an address or route of this machine are
 * skipped. `onTry(id)` runs before each attempt (the state file records it).
 */
export async function claimLabId (dir: string, onTry: (id: number) => Promise<void>): Promise<number> {
  const used = await rootPrefixes()
  let overlapping = 0
  for (let id = 0; id <= MAX_LAB_ID; id++) {
    if (used.some(p => prefixesOverlap(p, labSubnet(id)))) {
      overlapping++
      continue
    }
    await onTry(id)
    const res = await ip(['link', 'add', bridgeName(id), 'type', 'bridge'], { allowFailure: true })
    if (res.code !== 0) {
      if (/exists/i.test(res.stderr)) continue
      throw new CommandFailedError(`ip link add ${bridgeName(id)} type bridge failed: ${res.stderr.trim()}`, res.code, res.stderr)
    }
    await ip(['link', 'set', bridgeName(id), 'alias', dir])
    await ip(['link', 'set', bridgeName(id), 'up'])
    return id
  }
  if (overlapping > MAX_LAB_ID) throw new AddressRangeInUseError(`every /24 of the lab's range ${labSubnet(0).replace(/\.0\.0\/24$/, '.0.0/16')} overlaps an address or route of this machine`)
  throw new LabBusyError(`every lab id from 0 to ${MAX_LAB_ID} is taken (bridges ${LAB_PREFIX}<id>-br exist); "lab down --all" removes every lab`)
}

/** A bridge for partitions, with the lab's directory as its alias */
export async function createBridge (name: string, dir: string): Promise<void> {
  await ip(['link', 'add', name, 'type', 'bridge'])
  await ip(['link', 'set', name, 'alias', dir])
  await ip(['link', 'set', name, 'up'])
}

/** tbf arguments for a cap of `rate` bits/s */
function tbf (rate: number): string[] {
  const burst = Math.max(TBF_MIN_BURST, Math.ceil(rate / 8 * TBF_BURST_SECONDS))
  return ['tbf', 'rate', tcRate(rate), 'burst', String(burst), 'latency', `${TBF_LATENCY_MS}ms`]
}

/** Caps both directions of the host's link at `rate` bits/s (replacing any cap) */
export async function capLink (host: HostNames, rate: number): Promise<void> {
  await tc(['qdisc', 'replace', 'dev', host.veth, 'root', ...tbf(rate)])
  await tc(['qdisc', 'replace', 'dev', host.vethNs, 'root', ...tbf(rate)], host.ns)
}

/**
 * The host's namespace, loopback up, and a veth from it to `bridge` with the
 * host's address (/24), capped at `rate` both ways.
 */
export async function createHost (host: HostNames, bridge: string, rate: number): Promise<void> {
  await ip(['netns', 'add', host.ns])
  await ip(['-n', host.ns, 'link', 'set', 'lo', 'up'])
  await ip(['link', 'add', host.veth, 'type', 'veth', 'peer', 'name', host.vethNs, 'netns', host.ns])
  await ip(['link', 'set', host.veth, 'master', bridge, 'up'])
  await ip(['-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', host.vethNs])
  await ip(['-n', host.ns, 'link', 'set', host.vethNs, 'up'])
  await capLink(host, rate)
}

/** Bytes through the host's link so far: `sent` by the host, `received` by it */
export interface LinkCounters { sent: number, received: number }

/**
 * Reads the bridge end's counters: what it receives the host sent, what it
 * transmits the host received. They include Ethernet, IP and TCP headers.
 */
export async function linkCounters (veth: string): Promise<LinkCounters> {
  const read = async (what: string): Promise<number> => Number(await fs.readFile(`/sys/class/net/${veth}/statistics/${what}`, 'utf8'))
  const [rx, tx] = await Promise.all([read('rx_bytes'), read('tx_bytes')])
  return { sent: rx, received: tx }
}

/** Brings the bridge end of a host's link down (the host sees its carrier go) or up */
export async function setLink (host: HostNames, state: 'up' | 'down'): Promise<void> {
  await ip(['link', 'set', host.veth, state])
}

/** Whether the bridge end of the host's link is up */
export async function linkIsUp (host: HostNames): Promise<boolean> {
  const links = await listLinks(host.veth)
  const link = links.find(l => l.ifname === host.veth)
  return link != null && link.operstate !== 'DOWN'
}

/** Moves the bridge end of a host's link onto `bridge` */
export async function setBridge (host: HostNames, bridge: string): Promise<void> {
  await ip(['link', 'set', host.veth, 'master', bridge])
}

/** The pids of every process in namespace `ns` */
export async function namespacePids (ns: string): Promise<number[]> {
  const res = await ip(['netns', 'pids', ns], { allowFailure: true })
  if (res.code !== 0) return []
  return res.stdout.split('\n').map(s => s.trim()).filter(s => s !== '').map(Number)
}

function signal (pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {}
}

/**
 * Ends every process in namespace `ns`: `sig` first (SIGKILL is a host
 * crash), then SIGKILL after `grace` ms for whatever is left. Resolves once
 * the namespace holds no process.
 */
export async function killNamespace (ns: string, sig: NodeJS.Signals, grace: number): Promise<number[]> {
  const pids = await namespacePids(ns)
  for (const pid of pids) signal(pid, sig)
  const empty = async (): Promise<true | undefined> => (await namespacePids(ns)).length === 0 ? true : undefined
  try {
    await poll(empty, grace, () => new Error('still running'), { interval: 50 })
  } catch {
    for (const pid of await namespacePids(ns)) signal(pid, 'SIGKILL')
    await poll(empty, grace, () => new CommandFailedError(`processes in ${ns} outlived SIGKILL: ${pids.join(', ')}`, null, ''), { interval: 50 })
  }
  return pids
}

/** Deletes a link if it exists (a veth's other end goes with it) */
export async function deleteLink (name: string): Promise<void> {
  const res = await ip(['link', 'del', name], { allowFailure: true })
  if (res.code !== 0 && !/cannot find|does not exist/i.test(res.stderr)) {
    throw new CommandFailedError(`ip link del ${name} failed: ${res.stderr.trim()}`, res.code, res.stderr)
  }
}

/** Deletes a namespace if it exists */
export async function deleteNamespace (ns: string): Promise<void> {
  const res = await ip(['netns', 'del', ns], { allowFailure: true })
  if (res.code !== 0 && !/no such file|does not exist/i.test(res.stderr)) {
    throw new CommandFailedError(`ip netns del ${ns} failed: ${res.stderr.trim()}`, res.code, res.stderr)
  }
}
