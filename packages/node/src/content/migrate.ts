/**
 * Releases before the content service kept the registry's state in the
 * gateway's own file (`<repo>/gateway/state.json`, version 1): repositories
 * and tags, every manifest pushed (with what the referrers API needs, and the
 * blocks it pinned for indexes and artifacts), and every blob uploaded. On
 * the first start of this release the daemon moves it into the node's index
 * (`RepositoryIndex`) and renames the file to `state.json.v1.bak`.
 *
 * The file never said which repository a blob or an untagged manifest was
 * pushed to (blobs were node-wide), so every migrated manifest and blob is
 * linked to every repository the file knew: everything readable through a
 * repository before stays readable through it. Tags are kept as they were.
 * Blocks are pinned again (pins are idempotent). A migration a crash
 * interrupts runs again at the next start: every step is idempotent, and
 * the file is renamed last.
 */

import { readFile, rename } from 'node:fs/promises'
import { isDigest } from '@provenir/content'
import { InvalidConfigError } from '@provenir/interface'
import type { ContentServiceComponents } from './components.js'
import type { AbortOptions } from '@libp2p/interface'
import type { BlobEntry, ManifestEntry } from '@provenir/content'

/** The most a state file may hold before it is refused (the old gateway kept it in memory whole) */
export const MAX_LEGACY_STATE_BYTES = 256 * 1024 * 1024

/** What a migration did */
export interface MigrationResult {
  /** False when there was no file to migrate */
  migrated: boolean
  repositories: number
  tags: number
  manifests: number
  blobs: number
  /** Where the old file is kept */
  backup?: string
}

interface StateFileV1 {
  version: 1
  repos: Record<string, { tags: Record<string, string> }>
  manifests: Record<string, ManifestEntry>
  blobs: Record<string, BlobEntry>
}

function parseState (text: string, file: string): StateFileV1 {
  let state: StateFileV1
  try {
    state = JSON.parse(text)
  } catch (err: any) {
    throw new InvalidConfigError(`${file} is not JSON (${err.message}); move it away to start without it`)
  }
  if (state?.version !== 1 || typeof state.repos !== 'object' || typeof state.manifests !== 'object' || typeof state.blobs !== 'object') {
    throw new InvalidConfigError(`${file} is not a version 1 gateway state; move it away to start without it`)
  }
  return state
}

/** Moves a version 1 gateway state file into the index; see the file's comment */
export async function migrateGatewayState (c: ContentServiceComponents, file: string, options: AbortOptions = {}): Promise<MigrationResult> {
  let text: string
  try {
    text = await readFile(file, { encoding: 'utf8', signal: options.signal })
  } catch (err: any) {
    if (err.code === 'ENOENT') return { migrated: false, repositories: 0, tags: 0, manifests: 0, blobs: 0 }
    throw err
  }
  if (Buffer.byteLength(text) > MAX_LEGACY_STATE_BYTES) throw new InvalidConfigError(`${file} is over ${MAX_LEGACY_STATE_BYTES} bytes`)
  const state = parseState(text, file)
  const log = c.logger.forComponent('provenir:content:migrate')
  const manifests = Object.entries(state.manifests).filter(([d]) => isDigest(d))
  const blobs = Object.entries(state.blobs).filter(([d]) => isDigest(d))
  for (const [digest, entry] of manifests) await c.registry.putManifest(digest, entry, options)
  for (const [digest, entry] of blobs) await c.registry.putBlob(digest, entry, options)
  // the image records' blobs too: a repository that held an image could read its layers
  const imageBlobs: string[] = []
  for (const [digest] of manifests) {
    const record = await c.images.get(digest, options)
    if (record != null) imageBlobs.push(...record.blobs.slice(1).map(b => b.digest))
  }
  let tags = 0
  for (const [repository, repo] of Object.entries(state.repos)) {
    const named = Object.fromEntries(Object.entries(repo.tags ?? {}).filter(([, d]) => isDigest(d)))
    tags += Object.keys(named).length
    await c.registry.link({ repository, known: true, manifests: manifests.map(([d]) => d), blobs: [...blobs.map(([d]) => d), ...imageBlobs], tags: named })
  }
  const backup = `${file}.v1.bak`
  await rename(file, backup)
  const result = { migrated: true, repositories: Object.keys(state.repos).length, tags, manifests: manifests.length, blobs: blobs.length, backup }
  log('migrated %s: %d repositories, %d tags, %d manifests, %d blobs (the file is kept as %s)', file, result.repositories, tags, result.manifests, result.blobs, backup)
  return result
}
