/**
 * Helpers for the end-to-end image tests: the real test images built by
 * `scripts/fixtures/build-images.sh`, and checks of an exported OCI layout
 * against the original.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { ROOT } from './daemon-helpers.js'

export interface Fixture {
  /** The OCI layout (tag v1) */
  oci: string
  /** The docker-archive copy */
  dockerArchive: string
  /** The OCI manifest digest */
  digest: string
}

/**
 * Build (or reuse: the script keeps an up-to-date image) the test images
 * under `fixtures/out` and return where they are.
 */
export async function buildFixtures (which: 'small' | 'large' | 'all' = 'all'): Promise<Record<'small' | 'large', Fixture>> {
  const out = path.join(ROOT, 'fixtures', 'out')
  const child = spawn('bash', [path.join(ROOT, 'scripts/fixtures/build-images.sh'), out, which], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.stdout.resume()
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  if (code !== 0) throw new Error(`build-images.sh exited ${code}: ${stderr}`)
  const fixture = async (name: string): Promise<Fixture> => ({
    oci: path.join(out, name, 'oci'),
    dockerArchive: path.join(out, name, 'docker-archive.tar'),
    digest: (await fs.readFile(path.join(out, name, 'manifest-digest'), 'utf8')).trim()
  })
  // only what was asked for is built: reading the other would fail on a fresh checkout
  const built: Partial<Record<'small' | 'large', Fixture>> = {}
  for (const name of which === 'all' ? ['small', 'large'] as const : [which]) built[name] = await fixture(name)
  return built as Record<'small' | 'large', Fixture>
}

/** sha256 of a file, streamed */
export async function sha256File (file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer)
  return `sha256:${hash.digest('hex')}`
}

/** The blob file of `digest` in an OCI layout */
export function blobPath (layout: string, digest: string): string {
  const [alg, hex] = digest.split(':')
  return path.join(layout, 'blobs', alg, hex)
}

/**
 * Assert that the OCI layout `exported` holds the image `digest` exactly as
 * `original` does: the same manifest bytes, and every blob the manifest
 * names present and hashing to its digest. Returns the digests checked.
 */
export async function assertLayoutMatches (exported: string, original: string, digest: string): Promise<string[]> {
  const manifestBytes = await fs.readFile(blobPath(exported, digest))
  assert.ok(manifestBytes.equals(await fs.readFile(blobPath(original, digest))), 'the manifest bytes are identical')
  assert.equal(await sha256File(blobPath(exported, digest)), digest, 'the manifest hashes to its digest')
  const manifest = JSON.parse(manifestBytes.toString('utf8'))
  const blobs: string[] = [manifest.config.digest, ...manifest.layers.map((l: { digest: string }) => l.digest)]
  for (const blob of blobs) {
    assert.equal(await sha256File(blobPath(exported, blob)), blob, `exported blob ${blob} hashes to its digest`)
    const [a, b] = await Promise.all([fs.stat(blobPath(exported, blob)), fs.stat(blobPath(original, blob))])
    assert.equal(a.size, b.size, `blob ${blob} has the original's size`)
  }
  // the index names the manifest
  const index = JSON.parse(await fs.readFile(path.join(exported, 'index.json'), 'utf8'))
  assert.ok(index.manifests.some((m: { digest: string }) => m.digest === digest), 'index.json lists the manifest')
  return [digest, ...blobs]
}

/** Run `skopeo inspect` on a transport reference; resolves with its parsed JSON */
export async function skopeoInspect (ref: string): Promise<any> {
  const child = spawn('skopeo', ['inspect', ref], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  if (code !== 0) throw new Error(`skopeo inspect ${ref} exited ${code}: ${stderr}`)
  return JSON.parse(stdout)
}

/** Resident set size of a process, in bytes, from /proc (undefined where there is no /proc) */
export async function rssOf (pid: number): Promise<{ rss: number, peak: number } | undefined> {
  try {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8')
    const kb = (field: string): number => {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)
      return m == null ? Number.NaN : Number(m[1]) * 1024
    }
    return { rss: kb('VmRSS'), peak: kb('VmHWM') }
  } catch {
    return undefined
  }
}

/** Total size of the files under `dir`, in bytes (0 when it does not exist) */
export async function duBytes (dir: string): Promise<number> {
  let total = 0
  const walk = async (d: string): Promise<void> => {
    let entries
    try {
      entries = await fs.readdir(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else total += await fs.stat(p).then(s => s.size, () => 0)
    }
  }
  await walk(dir)
  return total
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** Writes an OCI layout of one image with a random layer of `size` bytes; returns its digest and size (manifest, config, layer) */
export async function writeLayout (dir: string, size: number, tag: string): Promise<{ digest: string, size: number, manifest: number }> {
  const layer = randomBytes(size)
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layer)}`] } }))
  const desc = (b: Uint8Array, mediaType: string): object => ({ mediaType, digest: `sha256:${sha256(b)}`, size: b.byteLength })
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: desc(config, 'application/vnd.oci.image.config.v1+json'),
    layers: [desc(layer, 'application/vnd.oci.image.layer.v1.tar+gzip')]
  }))
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true })
  for (const b of [layer, config, manifest]) await fs.writeFile(path.join(dir, 'blobs', 'sha256', sha256(b)), b)
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ ...desc(manifest, 'application/vnd.oci.image.manifest.v1+json'), annotations: { 'org.opencontainers.image.ref.name': tag } }]
  }))
  return { digest: `sha256:${sha256(manifest)}`, size: layer.byteLength + config.byteLength + manifest.byteLength, manifest: manifest.byteLength }
}
