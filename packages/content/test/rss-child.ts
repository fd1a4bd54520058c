/**
 * One phase of the large-image round trip, run in its own process so that its
 * peak RSS (`process.resourceUsage().maxRSS`) is the phase's alone:
 *
 *   node rss-child.js import-oci|import-archive NODE_DIR SOURCE
 *   node rss-child.js export-oci|export-archive NODE_DIR DEST DIGEST
 *
 * Prints one JSON line: { phase, digest, bytes, ms, maxRssBytes }.
 */

import { FsBlockstore } from '../src/blockstore-fs.js'
import { exportDockerArchive, exportOciLayout } from '../src/export.js'
import { ImageIndex } from '../src/image-index.js'
import { importDockerArchive, importOciLayout } from '../src/import.js'
import { join } from 'node:path'

const [phase, dir, path, digestArg] = process.argv.slice(2)
const store = new FsBlockstore({ path: join(dir, 'blocks') })
await store.open()
const index = new ImageIndex({ path: join(dir, 'images'), blockstore: store })
await index.open()
const start = performance.now()
let digest = digestArg
let bytes = 0
if (phase === 'import-oci' || phase === 'import-archive') {
  const records = phase === 'import-oci' ? await importOciLayout(path, store, index) : await importDockerArchive(path, store, index)
  digest = records[0].manifestDigest
  bytes = records[0].blobs.reduce((n, b) => n + b.size, 0)
} else if (phase === 'export-oci' || phase === 'export-archive') {
  const record = phase === 'export-oci' ? await exportOciLayout(digest, store, index, path) : await exportDockerArchive(digest, store, index, path)
  bytes = record.blobs.reduce((n, b) => n + b.size, 0)
} else {
  throw new Error(`unknown phase ${phase}`)
}
const ms = performance.now() - start
await index.close()
await store.close()
process.stdout.write(JSON.stringify({ phase, digest, bytes, ms, maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + '\n')
