import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createSwarm } from '@provenir/testbed'
import { createGateway } from '../src/index.js'
import type { Gateway, GatewayInit } from '../src/index.js'
import type { ProvenirNode } from '@provenir/node'
import type { Swarm } from '@provenir/testbed'

/** The repository root (this file runs from packages/gateway/dist/test) */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')
export const FIXTURES = join(ROOT, 'fixtures/out')

/** Builds (or reuses) the fixture images with scripts/fixtures/build-images.sh. */
export async function buildFixtures (which: 'small' | 'large' | 'all'): Promise<void> {
  const { code, stderr } = await run('bash', [join(ROOT, 'scripts/fixtures/build-images.sh'), FIXTURES, which], { cwd: ROOT })
  if (code !== 0) throw new Error(`build-images.sh exited ${code}: ${stderr}`)
}

export async function run (cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<{ code: number | null, stdout: string, stderr: string, ms: number }> {
  const started = performance.now()
  const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { code, stdout, stderr, ms: performance.now() - started }
}

/** Runs skopeo and fails with its stderr unless it exits 0; returns stdout and the time taken. */
export async function skopeo (...args: string[]): Promise<{ stdout: string, ms: number }> {
  const r = await run('skopeo', args)
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return { stdout: r.stdout, ms: r.ms }
}

export async function tempDir (prefix = 'provenir-gateway-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

export async function startGateway (node: ProvenirNode, init: Partial<GatewayInit> = {}): Promise<{ gateway: Gateway, url: string, hostPort: string, dir: string }> {
  const dir = await tempDir()
  const gateway = createGateway({ node, port: 0, dataPath: dir, ...init })
  const { port } = await gateway.listen()
  return { gateway, url: `http://127.0.0.1:${port}`, hostPort: `127.0.0.1:${port}`, dir }
}

export interface GatewayPair {
  swarm: Swarm
  /** Node 0's gateway */
  a: { gateway: Gateway, hostPort: string, dir: string }
  /** Node 1's gateway: B holds nothing until it pulls from A through the swarm */
  b: { gateway: Gateway, hostPort: string, dir: string }
  /** A scratch directory for pulled layouts */
  out: string
  /** The fixture layout as built: its manifest digest and blob digests */
  original: Awaited<ReturnType<typeof readLayout>>
  stop(): Promise<void>
}

/**
 * Two in-process nodes (TCP, blockstores on disk), each with a gateway, and
 * the fixture image `which` built; what the skopeo suites start from.
 */
export async function startGatewayPair (which: 'small' | 'large'): Promise<GatewayPair> {
  await buildFixtures(which)
  const original = await readLayout(join(FIXTURES, `${which}/oci`))
  const swarm = await createSwarm({ size: 2, transport: 'tcp', difficulty: 4, topology: 'line', blockstores: true })
  await swarm.waitForRoutingTables(1)
  const a = await startGateway(swarm.nodes[0])
  const b = await startGateway(swarm.nodes[1])
  const out = await tempDir('provenir-gateway-out-')
  return {
    swarm,
    a,
    b,
    out,
    original,
    stop: async () => { await stopAll(swarm, [a, b], [out]) }
  }
}

/**
 * Closes the gateways, stops the swarm and removes the gateways' and the
 * other directories; any may be missing (a `before` that failed).
 */
export async function stopAll (swarm: Swarm | undefined, gateways: Array<{ gateway: Gateway, dir: string } | undefined>, dirs: Array<string | undefined> = []): Promise<void> {
  for (const g of gateways) await g?.gateway.close()
  await swarm?.stop()
  for (const g of gateways) await removeDir(g?.dir)
  for (const d of dirs) await removeDir(d)
}

export async function sha256File (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return `sha256:${hash.digest('hex')}`
}

/**
 * Reads an OCI layout: the manifest digest its index names, and the digest
 * each blob file really has (by hashing it), keyed by the name it is stored
 * under.
 */
export async function readLayout (dir: string): Promise<{ manifestDigest: string, blobs: Map<string, string> }> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'))
  const manifestDigest: string = index.manifests[0].digest
  const blobs = new Map<string, string>()
  const blobDir = join(dir, 'blobs/sha256')
  for (const name of await readdir(blobDir)) blobs.set(`sha256:${name}`, await sha256File(join(blobDir, name)))
  return { manifestDigest, blobs }
}

/** The digests an image's manifest references (config and layers), read from a layout. */
export async function manifestBlobs (dir: string, manifestDigest: string): Promise<string[]> {
  const m = JSON.parse(await readFile(join(dir, 'blobs/sha256', manifestDigest.slice(7)), 'utf8'))
  return [m.config.digest, ...m.layers.map((l: { digest: string }) => l.digest)]
}

export async function removeDir (dir: string | undefined): Promise<void> {
  if (dir != null) await rm(dir, { recursive: true, force: true })
}

export const sha256 = (b: Uint8Array | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** The sha256 of a gzip file's uncompressed bytes (a layer's diff id). */
export async function gunzipSha256 (path: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(path), createGunzip(), async function (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) hash.update(chunk)
  })
  return `sha256:${hash.digest('hex')}`
}
