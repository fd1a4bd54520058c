import { readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { formatApiAddress, parseApiAddress } from '../api-address.js'
import { createOutput, table } from '../output.js'
import { repoOf } from './common.js'
import type { JsonOption } from './common.js'
import type { RepoConfig } from '../config.js'
import type { Command } from 'commander'

interface CaOptions extends JsonOption {
  pem?: boolean
}

/** What `provenir tls ca` reports */
export interface TlsCaInfo {
  /** The CA certificate file clients trust, or null when the configured certificates chain to the system's CAs */
  caFile: string | null
  /** The directory holding only that file: skopeo's and podman's `--cert-dir` */
  certDir: string | null
  /** SHA-256 fingerprint of the CA certificate */
  fingerprint: string | null
  /** When the CA certificate expires */
  validTo: string | null
  /** The gateway's base URL, as clients on this machine reach it (null: no gateway) */
  gateway: string | null
  /** The gateway serves TLS */
  gatewayTls: boolean
  /** The RPC API serves TLS */
  apiTls: boolean
  /** The CA's PEM text (with `--pem` or `--json`) */
  pem?: string
}

function serves (config: RepoConfig['apiTls'], host: string, isLoopback: (h: string) => boolean): boolean {
  return config.enabled === 'auto' ? !isLoopback(host) : config.enabled
}

/** Where clients trust the gateway's certificate from: the configured `ca`, none (system CAs), or the repo's own CA */
async function caInfo (root: string): Promise<TlsCaInfo> {
  const { listenHosts, loadRepoConfig } = await import('../repo.js')
  const { ensureRepoTls } = await import('../tls.js')
  const { repoPaths } = await import('../repo-paths.js')
  const { isLoopbackHost } = await import('@provenir/interface')
  const config = await loadRepoConfig(root)
  const paths = repoPaths(root)
  const gatewayAddr = config.gateway.listen != null ? parseApiAddress(config.gateway.listen, paths.config, 'gateway.listen') : undefined
  const gatewayTls = gatewayAddr != null && serves(config.gateway.tls, gatewayAddr.host, isLoopbackHost)
  const apiTls = serves(config.apiTls, parseApiAddress(config.api, paths.config).host, isLoopbackHost)
  const tls = config.gateway.tls
  let caFile: string | null
  if (tls.cert != null) {
    caFile = tls.ca != null ? (await import('node:path')).resolve(paths.root, tls.ca) : null
  } else {
    // a repo made before TLS existed gets its CA now, as the daemon would at start
    caFile = (await ensureRepoTls(paths.root, { hosts: listenHosts(config) })).paths.caCert
  }
  const info: TlsCaInfo = {
    caFile,
    certDir: caFile != null && tls.cert == null ? dirname(caFile) : null,
    fingerprint: null,
    validTo: null,
    gateway: gatewayAddr != null ? `${gatewayTls ? 'https' : 'http'}://${formatApiAddress(gatewayAddr)}` : null,
    gatewayTls,
    apiTls
  }
  if (caFile != null) {
    info.pem = await readFile(caFile, 'utf8')
    // node:crypto only here: its import costs every other command ~7 ms of start
    const { X509Certificate } = await import('node:crypto')
    const cert = new X509Certificate(info.pem)
    info.fingerprint = cert.fingerprint256
    info.validTo = new Date(cert.validTo).toISOString()
  }
  return info
}

/** How each client is told to trust the CA */
function usage (info: TlsCaInfo): string[] {
  if (info.caFile == null) return ['The configured certificate chains to a public CA: clients need nothing more.']
  const hostPort = info.gateway?.replace(/^https?:\/\//, '') ?? 'HOST:PORT'
  const certDir = info.certDir ?? `a directory holding only ${info.caFile}`
  return [
    'Clients of a TLS gateway (use the gateway\'s address as they reach it; the certificate names this host\'s names and addresses):',
    `  skopeo copy --dest-cert-dir ${certDir} oci:IMAGE docker://${hostPort}/NAME:TAG   (pulls: --src-cert-dir)`,
    `  podman push --cert-dir ${certDir} IMAGE ${hostPort}/NAME:TAG`,
    `  containerd: /etc/containerd/certs.d/${hostPort}/hosts.toml with`,
    `      server = "https://${hostPort}"`,
    `      [host."https://${hostPort}"]`,
    `        ca = "${info.caFile}"`,
    `  docker: copy ${info.caFile} to /etc/docker/certs.d/${hostPort}/ca.crt`,
    'The provenir CLI trusts this CA by itself.'
  ]
}

export function registerTls (program: Command): void {
  const tls = program.command('tls').description('the TLS of the gateway and the RPC API: the CA clients trust')
  tls.command('ca')
    .description('print the CA certificate clients of the TLS gateway trust, and how to give it to skopeo, podman, containerd and docker')
    .option('--pem', 'print only the CA certificate (PEM), e.g. to copy it to another machine')
    .option('--json', 'print the result as JSON (with the PEM)')
    .action(async (opts: CaOptions, cmd: Command) => {
      const out = createOutput(opts.json === true)
      const info = await caInfo(repoOf(cmd))
      if (out.json) {
        out.result(info)
        return
      }
      if (opts.pem === true) {
        if (info.pem == null) throw new (await import('@provenir/interface')).InvalidParametersError('the configured certificate has no CA file ("gateway.tls.ca"): clients use the system\'s CAs')
        process.stdout.write(info.pem)
        return
      }
      for (const row of table([
        ['CA certificate', info.caFile ?? '(system CAs)'],
        ['Cert dir', info.certDir ?? '-'],
        ['SHA-256', info.fingerprint ?? '-'],
        ['Expires', info.validTo ?? '-'],
        ['Gateway', info.gateway == null ? 'off' : `${info.gateway}${info.gatewayTls ? '' : ' (plain HTTP on loopback; "gateway.tls.enabled": true serves TLS here too)'}`],
        ['RPC API', info.apiTls ? 'TLS' : 'plain HTTP (loopback)']
      ])) out.line(row)
      for (const line of usage(info)) out.line(line)
    })
}
