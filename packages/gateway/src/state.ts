/**
 * The gateway's own small database: what the image index does not hold.
 *
 * - `repos`: repository name -> tag -> manifest digest (for manifests by tag,
 *   tags/list and _catalog). Repository names are `<namespace>/<repo>`; until
 *   the naming package lands, a name is only a local label.
 * - `manifests`: every manifest pushed through the gateway (images and
 *   indexes): its media type, size, DAG root and block list, and its `subject`
 *   and artifact type for the referrers API. Image manifests are also recorded
 *   in `node.images`; indexes and manifest lists are not image records, so
 *   the gateway pins their blocks itself.
 * - `blobs`: every blob uploaded through the gateway: its size, DAG root and
 *   blocks (pinned), so a later manifest PUT can build the image record.
 *
 * It is one JSON file (`state.json`), kept in memory and rewritten atomically
 * (temporary file, fsync, rename) after each change. Changes are serialised.
 */

import { open, readFile, rename, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Digest } from '@provenir/content'

export interface ManifestEntry {
  mediaType: string
  size: number
  /** root CID of the manifest bytes' DAG */
  root: string
  /** the blocks the gateway pinned for it (indexes only; image manifests are pinned by node.images) */
  blocks?: string[]
  kind: 'manifest' | 'index'
  /** digest of the `subject` descriptor, for the referrers API */
  subject?: Digest
  artifactType?: string
  annotations?: Record<string, string>
}

export interface BlobEntry {
  size: number
  root: string
  blocks: string[]
}

interface StateFile {
  version: 1
  repos: Record<string, { tags: Record<string, Digest> }>
  manifests: Record<string, ManifestEntry>
  blobs: Record<string, BlobEntry>
}

export class GatewayState {
  readonly #file: string
  #state: StateFile = { version: 1, repos: {}, manifests: {}, blobs: {} }
  #queue: Promise<void> = Promise.resolve()

  constructor (dir: string) {
    this.#file = join(dir, 'state.json')
  }

  async open (): Promise<void> {
    await mkdir(join(this.#file, '..'), { recursive: true })
    try {
      const parsed = JSON.parse(await readFile(this.#file, 'utf8')) as StateFile
      if (parsed.version === 1) this.#state = parsed
    } catch (err: any) {
      if (err.code !== 'ENOENT') throw err
    }
  }

  /** Applies `change` and writes the file, one change at a time. */
  async update<T> (change: (state: StateFile) => T): Promise<T> {
    const run = this.#queue.then(async () => {
      const result = change(this.#state)
      await this.#write()
      return result
    })
    this.#queue = run.then(() => {}, () => {})
    return run
  }

  async #write (): Promise<void> {
    const tmp = `${this.#file}.tmp`
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(JSON.stringify(this.#state))
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, this.#file)
  }

  repos (): string[] {
    return Object.keys(this.#state.repos).sort()
  }

  hasRepo (name: string): boolean {
    return this.#state.repos[name] != null
  }

  tags (name: string): string[] | undefined {
    const repo = this.#state.repos[name]
    return repo == null ? undefined : Object.keys(repo.tags).sort()
  }

  tag (name: string, tag: string): Digest | undefined {
    return this.#state.repos[name]?.tags[tag]
  }

  manifest (digest: string): ManifestEntry | undefined {
    return this.#state.manifests[digest]
  }

  manifests (): Array<[string, ManifestEntry]> {
    return Object.entries(this.#state.manifests)
  }

  blobs (): Array<[string, BlobEntry]> {
    return Object.entries(this.#state.blobs)
  }

  blob (digest: string): BlobEntry | undefined {
    return this.#state.blobs[digest]
  }

  /** Tags of `digest` in every repository, as `repo:tag` */
  tagsOf (digest: string): string[] {
    const out: string[] = []
    for (const [name, repo] of Object.entries(this.#state.repos)) {
      for (const [tag, d] of Object.entries(repo.tags)) if (d === digest) out.push(`${name}:${tag}`)
    }
    return out
  }
}

export type { StateFile }
