/**
 * Real test images for the import/export tests, built by
 * `scripts/fixtures/build-images.sh` into `fixtures/out` under the repo root
 * (gitignored, reused across runs: a second run only checks the blobs).
 */

import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { FsBlockstore } from '../src/blockstore-fs.js'
import { ImageIndex } from '../src/image-index.js'
import { tempDir } from './fixtures.js'

/** The repo root (this file runs from packages/content/dist/test). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
export const FIXTURES_OUT = process.env.PROVENIR_FIXTURES ?? join(REPO_ROOT, 'fixtures', 'out')
const SCRIPT = join(REPO_ROOT, 'scripts', 'fixtures', 'build-images.sh')

export interface FixtureImage {
  /** OCI image layout directory, tag v1 */
  layout: string
  /** docker-archive copy */
  archive: string
  /** The OCI manifest's digest */
  manifestDigest: string
}

function has (tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0
}

/** Why the image tools are missing, or undefined when umoci and skopeo are installed. */
export function toolsMissing (): string | undefined {
  const missing = ['umoci', 'skopeo'].filter(t => !has(t))
  return missing.length > 0 ? `skipped: ${missing.join(', ')} not installed (apt-get install -y skopeo umoci)` : undefined
}

/** The OCI manifest digests the script produced with Debian's umoci 0.4.7 (see scripts/fixtures/README.md). */
export const KNOWN_DIGESTS = {
  small: 'sha256:46e5cc9546ec373375142efc4e9ea8f44326ce54611ae3e87d8b8d091ffc0901',
  large: 'sha256:0a8d2e7d3e1f96b10528fb316bcef80fb5bc4b616b82322edd54fccec104bea9'
}

/** `umoci --version`. */
export function umociVersion (): string {
  return execFileSync('umoci', ['--version']).toString().trim()
}

/** Builds (or reuses) a fixture image, in `out` (default: the shared fixtures/out). */
export function fixtureImage (name: 'small' | 'large', out: string = FIXTURES_OUT): FixtureImage {
  execFileSync('bash', [SCRIPT, out, name], { stdio: ['ignore', 'ignore', 'inherit'] })
  const dir = join(out, name)
  return {
    layout: join(dir, 'oci'),
    archive: join(dir, 'docker-archive.tar'),
    manifestDigest: readFileSync(join(dir, 'manifest-digest'), 'utf8').trim()
  }
}

const execFileP = promisify(execFile)

/** Runs skopeo and returns its stdout. */
export async function skopeo (...args: string[]): Promise<string> {
  const { stdout } = await execFileP('skopeo', args, { maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

/** sha256 of a file, streamed. */
export async function fileDigest (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return `sha256:${hash.digest('hex')}`
}

export async function readJson<T = any> (path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T
}

export interface Node {
  dir: string
  store: FsBlockstore
  index: ImageIndex
  close(): Promise<void>
  reopen(): Promise<Node>
}

/** A blockstore and image index in a temp directory (`blocks/`, `images/`). */
export async function openNode (path?: string): Promise<Node> {
  const dir = path ?? (await tempDir()).path
  const store = new FsBlockstore({ path: join(dir, 'blocks') })
  await store.open()
  const index = new ImageIndex({ path: join(dir, 'images'), blockstore: store })
  await index.open()
  const node: Node = {
    dir,
    store,
    index,
    async close () {
      await index.close()
      await store.close()
    },
    async reopen () {
      await node.close()
      return openNode(dir)
    }
  }
  return node
}

export async function all<T> (source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}

export function exists (path: string): boolean {
  return existsSync(path)
}
