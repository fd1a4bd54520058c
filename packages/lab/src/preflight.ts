/**
 * Whether the lab can run on this machine, and if not, what is missing. It
 * tries each kernel feature it needs on a throwaway object (a namespace, a
 * veth pair, a bridge, a tbf qdisc, all named `pvlabq<pid>...`) and removes it.
 */
import { LabUnavailableError } from './errors.js'
import { deleteLink, deleteNamespace } from './network.js'
import { run } from './sys.js'

export interface PreflightOptions {
  /** Also require skopeo and curl (rollouts pull with them) @default true */
  skopeo?: boolean
}

async function hasTool (cmd: string, args: string[]): Promise<boolean> {
  const res = await run(cmd, args, { allowFailure: true, timeout: 10_000 }).catch(() => undefined)
  return res?.code === 0
}

/** Tries `args` and returns what is missing when it fails */
async function attempt (cmd: string, args: string[], missing: string): Promise<string | undefined> {
  const res = await run(cmd, args, { allowFailure: true }).catch((err: Error) => ({ code: 1, stderr: err.message }))
  return res.code === 0 ? undefined : `${missing} (${cmd} ${args.join(' ')}: ${res.stderr.trim()})`
}

/** Makes and removes one of each kernel object the lab uses; returns what failed */
async function probeKernel (): Promise<string | undefined> {
  const tag = `pvlabq${process.pid}`
  const ns = `${tag}-ns`
  try {
    return await attempt('ip', ['netns', 'add', ns], 'network namespaces (ip netns)') ??
      await attempt('ip', ['link', 'add', tag, 'type', 'veth', 'peer', 'name', `${tag}n`, 'netns', ns], 'veth pairs') ??
      await attempt('ip', ['link', 'add', `${tag}b`, 'type', 'bridge'], 'Linux bridges') ??
      await attempt('tc', ['qdisc', 'add', 'dev', tag, 'root', 'tbf', 'rate', '100mbit', 'burst', '131072', 'latency', '50ms'], 'the tc tbf qdisc (sch_tbf)')
  } finally {
    await deleteLink(tag).catch(() => {})
    await deleteLink(`${tag}b`).catch(() => {})
    await deleteNamespace(ns).catch(() => {})
  }
}

let cached: Promise<string | undefined> | undefined

/**
 * Why the lab cannot run here (not root, a tool or kernel feature missing),
 * or undefined when it can. Tests skip with this message.
 */
export async function labUnavailable (options: PreflightOptions = {}): Promise<string | undefined> {
  if (options.skopeo === false) return check(options)
  cached ??= check(options)
  return cached
}

async function check (options: PreflightOptions): Promise<string | undefined> {
  if (process.platform !== 'linux') return `the lab needs Linux network namespaces; this is ${process.platform}`
  const uid = process.getuid?.()
  if (uid !== 0) return `the lab needs root (ip netns, veths, tc); running as uid ${uid}`
  const missing: string[] = []
  if (!await hasTool('ip', ['-V'])) missing.push('ip (apt-get install iproute2)')
  if (!await hasTool('tc', ['-V'])) missing.push('tc (apt-get install iproute2)')
  if (!await hasTool('docker-registry', ['--version'])) missing.push('docker-registry, the origin registry (apt-get install docker-registry)')
  if (options.skopeo !== false && !await hasTool('skopeo', ['--version'])) missing.push('skopeo (apt-get install skopeo)')
  if (options.skopeo !== false && !await hasTool('curl', ['--version'])) missing.push('curl, which asks each daemon for a rollout\'s pull (apt-get install curl)')
  if (missing.length > 0) return `the lab cannot run: missing ${missing.join(', ')}`
  const kernel = await probeKernel()
  return kernel != null ? `the lab cannot run: this kernel or container lacks ${kernel}` : undefined
}

/** Throws LabUnavailableError naming what is missing */
export async function assertLabAvailable (options: PreflightOptions = {}): Promise<void> {
  const reason = await labUnavailable(options)
  if (reason != null) throw new LabUnavailableError(reason)
}
