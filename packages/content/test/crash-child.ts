/**
 * Writes blocks into an FsBlockstore and kills itself with SIGKILL before
 * they are all durable, as a crash would:
 *
 *   node crash-child.js DIR COUNT SIZE
 *
 * Prints one JSON line first: { cids, unsynced } (the CIDs in write order).
 */

import { FsBlockstore } from '../src/blockstore-fs.js'
import { makeBlocks } from './fixtures.js'

const [dir, count, size] = process.argv.slice(2)
const store = new FsBlockstore({ path: dir })
await store.open()
const blocks = await makeBlocks(Number(count), Number(size))
for (const { cid, bytes } of blocks) await store.put(cid, bytes)
process.stdout.write(JSON.stringify({ cids: blocks.map(b => b.cid.toString()), unsynced: store.unsynced }) + '\n', () => {
  process.kill(process.pid, 'SIGKILL')
})
