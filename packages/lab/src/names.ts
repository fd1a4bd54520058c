/**
 * The names and addresses of a lab's kernel objects. Everything carries
 * `pvlab<id>-`, so `down` can find it after a crash and never touches what
 * another lab (or anyone else) made. Interface names stay within Linux's 15
 * characters: `pvlab99-h200n` is 13.
 */
import { InvalidParametersError } from '@provenir/interface'
import { HOST_BYTE_BASE, LAB_NET, LAB_PREFIX, MAX_HOSTS, MAX_LAB_ID, ORIGIN_HOST_BYTE } from './constants.js'
import { HostNotFoundError } from './errors.js'

/** The origin's host name */
export const ORIGIN = 'origin'

/** `pvlab<id>-`: the prefix of every object of lab `id` */
export function labPrefix (id: number): string {
  if (!Number.isInteger(id) || id < 0 || id > MAX_LAB_ID) throw new InvalidParametersError(`lab id must be 0 to ${MAX_LAB_ID}, got ${id}`)
  return `${LAB_PREFIX}${id}-`
}

/** The bridge every host of lab `id` is on */
export function bridgeName (id: number): string {
  return `${labPrefix(id)}br`
}

/** The bridge a partition moves its hosts to */
export function partitionBridgeName (id: number): string {
  return `${labPrefix(id)}bp`
}

/** `h3` -> 3, `origin` -> 0; anything else is HostNotFoundError */
export function hostIndex (name: string, hosts: number): number {
  if (name === ORIGIN) return 0
  const m = /^h(\d{1,3})$/.exec(name)
  const i = m != null ? Number(m[1]) : NaN
  if (!(i >= 1 && i <= hosts)) throw new HostNotFoundError(`no host "${name}" in this lab (hosts are ${ORIGIN} and h1 to h${hosts})`)
  return i
}

/** The names of a lab's host: its namespace, the veth's two ends, its address */
export interface HostNames {
  /** `origin` or `h<i>` */
  name: string
  /** The network namespace (`ip netns`) */
  ns: string
  /** The veth end on the bridge, in the root namespace: its counters are the host's traffic */
  veth: string
  /** The veth end inside the namespace */
  vethNs: string
  /** The host's IPv4 address */
  address: string
}

/** The names of host `i` of lab `id` (0: the origin) */
export function hostNames (id: number, i: number): HostNames {
  if (!Number.isInteger(i) || i < 0 || i > MAX_HOSTS) throw new InvalidParametersError(`host index must be 0 to ${MAX_HOSTS}, got ${i}`)
  const prefix = labPrefix(id)
  const short = i === 0 ? 'o' : `h${i}`
  return {
    name: i === 0 ? ORIGIN : `h${i}`,
    ns: `${prefix}${i === 0 ? ORIGIN : `h${i}`}`,
    veth: `${prefix}${short}`,
    vethNs: `${prefix}${short}n`,
    address: `${LAB_NET}.${id}.${i === 0 ? ORIGIN_HOST_BYTE : HOST_BYTE_BASE + i}`
  }
}

/** The lab's /24, e.g. `10.77.3.0/24` */
export function labSubnet (id: number): string {
  labPrefix(id)
  return `${LAB_NET}.${id}.0/24`
}
