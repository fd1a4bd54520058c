/**
 * A stand-in for Docker Hub in tests: Debian's docker-registry (distribution
 * 2.8) behind TLS (a CA made with openssl) with token auth (its `auth.token`
 * config and the issuer in `token-issuer.ts`), holding the test images
 * pushed with skopeo. Its access log says which objects it served.
 *
 * Users: `pusher` may push and pull anywhere; `alice` may pull `private/*`;
 * anonymous callers may pull anything outside `private/`.
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { makePki, type Pki } from './pki.js'
import { TOKEN_ISSUER, TOKEN_SERVICE, startTokenIssuer, type TokenIssuer } from './token-issuer.js'

const run = promisify(execFile)

export const PUSHER = { username: 'pusher', password: 'pusher-secret-0123' }
export const ALICE = { username: 'alice', password: 'alice-secret-4567' }

/** The built test images (see scripts/fixtures) */
export const FIXTURES = path.resolve(import.meta.dirname, '..', '..', '..', 'fixtures', 'out')

export interface AccessEntry {
  method: string
  path: string
  status: number
  /** The client's User-Agent, when the log line has one */
  userAgent?: string
}

export interface StandIn {
  /** `127.0.0.1:<port>`, as names write the registry */
  host: string
  /** `https://127.0.0.1:<port>` */
  url: string
  pki: Pki
  issuer: TokenIssuer
  /** The registry's storage, for a test that serves its blobs from elsewhere */
  storage: string
  /**
   * Every request the registry logged so far, in order. With `until`, read again every 50 ms
   * until it holds (at most `timeoutMs`): a line reaches the file after the response, through the
   * registry's output pipe and this process's write stream.
   */
  accessLog(until?: (entries: AccessEntry[]) => boolean, timeoutMs?: number): Promise<AccessEntry[]>
  /** Pushes an OCI layout's image as `<repository>:<tag>` with skopeo */
  push(layout: string, repository: string, tag: string): Promise<void>
  /** Stops the registry process (the token issuer keeps running) */
  stop(): Promise<void>
  /** Stops everything and removes the directory */
  close(): Promise<void>
}

function authConfig (auth: 'token' | 'htpasswd', dir: string, pki: Pki, issuer: TokenIssuer): string {
  if (auth === 'htpasswd') return `auth:\n  htpasswd:\n    realm: provenir-test\n    path: ${path.join(dir, 'htpasswd')}\n`
  return `auth:
  token:
    realm: ${issuer.url}
    service: ${TOKEN_SERVICE}
    issuer: ${TOKEN_ISSUER}
    rootcertbundle: ${pki.tokenCert}
`
}

function registryConfig (dir: string, pki: Pki, issuer: TokenIssuer, auth: 'token' | 'htpasswd'): string {
  return `version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'storage')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  secret: provenir-test-secret
  tls:
    certificate: ${pki.serverCert}
    key: ${pki.serverKey}
${authConfig(auth, dir, pki, issuer)}`
}

/** An htpasswd line for docker-registry's basic auth: bcrypt at its lowest cost (the registry checks it on every request) */
async function htpasswd (user: string, password: string): Promise<string> {
  const script = 'import crypt,sys; print(sys.argv[1] + ":" + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))'
  const { stdout } = await run('python3', ['-W', 'ignore', '-c', script, user, password])
  return stdout.trim()
}

/** Starts docker-registry and waits for the port it logs */
async function startRegistry (config: string, logFile: string): Promise<{ child: ChildProcess, port: number }> {
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] })
  const log = createWriteStream(logFile, { flags: 'a' })
  child.stdout?.pipe(log, { end: false })
  let buffered = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill(); reject(new Error(`docker-registry did not start within 20 s: ${buffered.slice(-2000)}`)) }, 20_000)
    child.stderr?.on('data', (chunk: Buffer) => {
      log.write(chunk)
      buffered += chunk.toString()
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(buffered)
      if (m != null) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`docker-registry exited (${String(code)}): ${buffered.slice(-2000)}`)) })
  })
  return { child, port }
}

export interface StandInInit {
  /** Images to push: [layout dir, repository, tag] */
  images?: Array<[string, string, string]>
  /** Token auth (Docker Hub's way, the default) or Basic auth for every request (users pusher and alice, any repository) */
  auth?: 'token' | 'htpasswd'
  /** Certificates made before (several registries under one CA) */
  pki?: Pki
}

/** Starts the stand-in in `dir` (made if missing) */
export async function startStandIn (dir: string, init: StandInInit = {}): Promise<StandIn> {
  await fs.mkdir(dir, { recursive: true })
  const auth = init.auth ?? 'token'
  const pki = init.pki ?? await makePki(path.join(dir, 'pki'))
  if (auth === 'htpasswd') await fs.writeFile(path.join(dir, 'htpasswd'), `${await htpasswd(PUSHER.username, PUSHER.password)}\n${await htpasswd(ALICE.username, ALICE.password)}\n`)
  const issuer = await startTokenIssuer(pki, {
    users: {
      [PUSHER.username]: { password: PUSHER.password, grants: [{ repository: '*', actions: ['pull', 'push'] }] },
      [ALICE.username]: { password: ALICE.password, grants: [{ repository: 'private/*', actions: ['pull'] }] }
    },
    isPublic: repository => !repository.startsWith('private/')
  })
  const config = path.join(dir, 'registry.yml')
  await fs.writeFile(config, registryConfig(dir, pki, issuer, auth))
  const logFile = path.join(dir, 'registry.log')
  const { child, port } = await startRegistry(config, logFile)
  const host = `127.0.0.1:${port}`
  const stopChild = async (): Promise<void> => {
    if (child.exitCode != null || child.signalCode != null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill()
    await exited
  }
  const standIn: StandIn = {
    host,
    url: `https://${host}`,
    pki,
    issuer,
    storage: path.join(dir, 'storage'),
    async accessLog (until, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const text = await fs.readFile(logFile, 'utf8')
        const out: AccessEntry[] = []
        for (const m of text.matchAll(/"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3})(?: \S+ "[^"]*" "([^"]*)")?/g)) {
          out.push({ method: m[1], path: m[2], status: Number(m[3]), ...(m[4] != null ? { userAgent: m[4] } : {}) })
        }
        if (until == null || until(out) || Date.now() >= deadline) return out
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    },
    async push (layout, repository, tag) {
      await run('skopeo', ['copy', '--quiet', '--dest-cert-dir', pki.certDir, '--dest-creds', `${PUSHER.username}:${PUSHER.password}`,
        `oci:${layout}`, `docker://${host}/${repository}:${tag}`], { maxBuffer: 16 * 1024 * 1024 })
    },
    async stop () {
      await stopChild()
    },
    async close () {
      await stopChild()
      await issuer.close()
      await fs.rm(dir, { recursive: true, force: true })
    }
  }
  try {
    for (const [layout, repository, tag] of init.images ?? []) await standIn.push(layout, repository, tag)
  } catch (err) {
    await standIn.close()
    throw err
  }
  return standIn
}
