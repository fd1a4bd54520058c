/**
 * The origin host's registry: Debian's docker-registry (distribution), the
 * central baseline, started detached in the origin's namespace on its lab
 * address, with its storage and log in the origin's directory.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { IMPORT_TIMEOUT_MS, REGISTRY_PORT, REGISTRY_READY_TIMEOUT_MS } from './constants.js'
import { DaemonStartError } from './errors.js'
import { nsFetch, tailLines } from './hosts.js'
import { nsRun, poll } from './sys.js'
import type { HostState } from './state.js'

/** The registry's base address, `<origin address>:5000` */
export function registryAddress (origin: HostState): string {
  return `${origin.address}:${REGISTRY_PORT}`
}

function registryConfig (origin: HostState): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(origin.dir, 'registry')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${registryAddress(origin)}`,
    ''
  ].join('\n')
}

/** Starts docker-registry in the origin's namespace and waits until `/v2/` answers; returns its pid */
export async function startRegistry (origin: HostState): Promise<number> {
  await fs.mkdir(origin.dir, { recursive: true })
  const cfg = path.join(origin.dir, 'registry.yml')
  const logFile = path.join(origin.dir, 'registry.log')
  await fs.writeFile(cfg, registryConfig(origin))
  const log = await fs.open(logFile, 'a')
  let pid: number
  try {
    const child = spawn('ip', ['netns', 'exec', origin.ns, 'docker-registry', 'serve', cfg], { detached: true, stdio: ['ignore', log.fd, log.fd] })
    child.unref()
    if (child.pid == null) throw new DaemonStartError('docker-registry did not start')
    pid = child.pid
  } finally {
    await log.close()
  }
  await poll(async () => {
    try {
      process.kill(pid, 0)
    } catch {
      throw new DaemonStartError(`docker-registry exited: ${(await tailLines(logFile)).join('\n')}`)
    }
    await nsFetch(origin, `http://${registryAddress(origin)}/v2/`, { timeout: 5_000 })
    return true
  }, REGISTRY_READY_TIMEOUT_MS, last => last instanceof DaemonStartError ? last : new DaemonStartError(`docker-registry did not answer within ${REGISTRY_READY_TIMEOUT_MS} ms: ${String(last)}`))
  return pid
}

/**
 * Copies an OCI layout's image into the origin's registry (skopeo, inside the
 * origin's namespace, so the bytes never cross a capped link); returns the
 * reference the hosts pull.
 */
export async function pushToRegistry (origin: HostState, layout: string, tag: string, name: string, signal?: AbortSignal): Promise<string> {
  const ref = `${registryAddress(origin)}/lab/${name}:${tag}`
  await nsRun(origin.ns, 'skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${ref}`], { timeout: IMPORT_TIMEOUT_MS, signal })
  return ref
}
