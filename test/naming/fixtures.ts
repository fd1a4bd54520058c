import { spawn, type ChildProcess } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { Resolver as DnsResolver } from 'node:dns/promises'
import { existsSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

export const MANIFEST = 'sha256:' + 'a'.repeat(64)
export const MANIFEST2 = 'sha256:' + 'b'.repeat(64)
export const ROOT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

export async function newKey (): Promise<PrivateKey> {
  return generateKeyPair('Ed25519')
}

/** Debian's dnsmasq, when installed (`.ci/run` installs dnsmasq-base) */
export const DNSMASQ = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find(p => existsSync(p))

async function freeUdpPort (): Promise<number> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve, reject) => { socket.once('error', reject); socket.bind(0, '127.0.0.1', resolve) })
  const { port } = socket.address()
  await new Promise<void>(resolve => { socket.close(() => { resolve() }) })
  return port
}

export interface Dnsmasq {
  /** `127.0.0.1:<port>` */
  server: string
  stop(): Promise<void>
}

/**
 * dnsmasq on a free high port of 127.0.0.1, serving only `txt` (each
 * `name,value` as dnsmasq's --txt-record takes it), returned once it answers
 * `probe` (a TXT name it serves), not after a fixed time.
 */
export async function startDnsmasq (txt: string[], probe: string): Promise<Dnsmasq> {
  if (DNSMASQ == null) throw new Error('dnsmasq is not installed')
  const port = await freeUdpPort()
  const server = `127.0.0.1:${port}`
  const child: ChildProcess = spawn(DNSMASQ, [
    '--no-daemon', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts',
    '--conf-file=/dev/null', '--pid-file=',
    ...txt.map(t => `--txt-record=${t}`)
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  child.stderr?.on('data', (d: Buffer) => { log += d.toString() })
  const stop = async (): Promise<void> => {
    if (child.exitCode != null || child.signalCode != null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
  const resolver = new DnsResolver({ timeout: 200, tries: 1 })
  resolver.setServers([server])
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode != null) throw new Error(`dnsmasq exited: ${log}`)
    try {
      if ((await resolver.resolveTxt(probe)).length > 0) return { server, stop }
    } catch {}
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`dnsmasq did not answer ${probe} within 10 s: ${log}`)
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
