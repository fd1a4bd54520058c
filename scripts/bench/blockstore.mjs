#!/usr/bin/env node
// Blockstore benchmark: LevelBlockstore against FsBlockstore, with blockstore-core's
// MemoryBlockstore as the baseline measured in the same run.
//
//   npx tsc -b packages/content
//   npm exec -- node scripts/bench/blockstore.mjs [--mib 256] [--small 10000] [--concurrency 1] [--mode durable|relaxed|both] [--runs 3]
//
// For each store it writes then reads N MiB as 1 MiB blocks, and `--small` 4 KiB blocks,
// and prints MB/s and ops/s. "durable" is the default store config (fsync / sync writes; for
// FsBlockstore a group commit, so the put figure runs until `flush()` says all is on disk);
// "relaxed" is `sync: false`. put verifies each block (the default); get is timed without
// `verify: true`, with it, and with it after the store is reopened (FsBlockstore skips the hash
// of a file unchanged since it wrote it, and remembers nothing across a reopen). It also times
// sha256 of 1 MiB, the cost of verification.
// Each figure is the median of `--runs` runs, each on a fresh store: on a shared machine single runs
// of the read figures vary by 2-3x. Reads hit the page cache (the blocks were just written).
// Numbers are for comparing stores on one machine in one run; they are not asserted anywhere.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { FsBlockstore, LevelBlockstore } from '../../packages/content/dist/src/index.js'

const { values: args } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    small: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '1' },
    mode: { type: 'string', default: 'both' },
    runs: { type: 'string', default: '3' }
  }
})
const MIB = 1024 * 1024
const bigCount = Number(args.mib)
const smallCount = Number(args.small)
const concurrency = Number(args.concurrency)
const runs = Number(args.runs)

function sha256 (bytes) {
  return createHash('sha256').update(bytes).digest()
}

/** `count` distinct blocks of `size` bytes: one random buffer with a counter in its first bytes. */
function makeBlocks (count, size) {
  const base = randomBytes(size)
  const blocks = []
  for (let i = 0; i < count; i++) {
    const bytes = new Uint8Array(size)
    bytes.set(base)
    new DataView(bytes.buffer).setUint32(0, i)
    blocks.push({ cid: CID.createV1(raw.code, Digest.create(0x12, sha256(bytes))), bytes })
  }
  return blocks
}

async function drain (gen) {
  let n = 0
  for await (const chunk of gen) n += chunk.byteLength
  return n
}

/** Runs `fn` over `items` with at most `concurrency` in flight; returns seconds taken. */
async function timed (items, fn, after = async () => {}) {
  const start = process.hrtime.bigint()
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]
      await fn(item)
    }
  }))
  await after()
  return Number(process.hrtime.bigint() - start) / 1e9
}

function rate (count, size, seconds) {
  return { mbps: (count * size / 1e6 / seconds), ops: count / seconds }
}

function benchSha256 () {
  const buf = randomBytes(MIB)
  for (let i = 0; i < 50; i++) sha256(buf) // warm up
  const n = 500
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) sha256(buf)
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / n
  return ms
}

async function benchOnce (create, blocks, size) {
  const { store, cleanup } = await create()
  try {
    // a put is done when it is on disk: FsBlockstore's group commit makes it durable after it resolves
    const put = await timed(blocks, async ({ cid, bytes }) => { await store.put(cid, bytes) }, async () => { await store.flush?.() })
    const get = await timed(blocks, async ({ cid }) => { await drain(store.get(cid)) })
    // FsBlockstore skips the hash of files unchanged since it wrote them; a reopened store remembers none
    const getVerified = await timed(blocks, async ({ cid }) => { await drain(store.get(cid, { verify: true })) })
    if (typeof store.close === 'function') {
      await store.close()
      await store.open()
    }
    const getHashed = await timed(blocks, async ({ cid }) => { await drain(store.get(cid, { verify: true })) })
    return {
      put: rate(blocks.length, size, put),
      get: rate(blocks.length, size, get),
      getVerified: rate(blocks.length, size, getVerified),
      getHashed: rate(blocks.length, size, getHashed)
    }
  } finally {
    await cleanup()
  }
}

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

async function benchStore (create, blocks, size) {
  const results = []
  for (let i = 0; i < runs; i++) results.push(await benchOnce(create, blocks, size))
  const pick = (metric) => ({
    mbps: median(results.map(r => r[metric].mbps)),
    ops: median(results.map(r => r[metric].ops))
  })
  return { put: pick('put'), get: pick('get'), getVerified: pick('getVerified'), getHashed: pick('getHashed') }
}

function storeFactories (sync) {
  const onDisk = (Class) => async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenir-bench-'))
    const store = new Class({ path: dir, sync })
    await store.open()
    return { store, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }) } }
  }
  return [
    // the baseline neither verifies nor persists: it shows the cost of the harness and of copying
    ['memory (baseline)', async () => ({ store: new MemoryBlockstore(), cleanup: async () => {} })],
    ['level', onDisk(LevelBlockstore)],
    ['fs', onDisk(FsBlockstore)]
  ]
}

function fmt (r) {
  return `${r.mbps.toFixed(1).padStart(8)} MB/s ${r.ops.toFixed(0).padStart(8)} ops/s`
}

const shaMs = benchSha256()
console.log(`sha256 of 1 MiB: ${shaMs.toFixed(3)} ms (${(MIB / 1e6 / (shaMs / 1e3)).toFixed(0)} MB/s, one core)`)
console.log(`median of ${runs} runs; concurrency ${concurrency}; put verifies each block and counts until it is durable (flush); get is timed without { verify: true }, with it, and with it after a reopen (FsBlockstore then hashes every file)\n`)

const workloads = [
  [`${bigCount} x 1 MiB`, bigCount, MIB],
  [`${smallCount} x 4 KiB`, smallCount, 4096]
]
const modes = args.mode === 'both' ? ['durable', 'relaxed'] : [args.mode]

for (const [label, count, size] of workloads) {
  const blocks = makeBlocks(count, size)
  for (const mode of modes) {
    console.log(`== ${label}, ${mode} (${mode === 'durable' ? 'fsync / sync writes' : 'sync: false'})`)
    console.log(`${'store'.padEnd(18)} ${'put'.padEnd(29)} ${'get'.padEnd(29)} ${'get { verify: true }'.padEnd(29)} verify after reopen`)
    for (const [name, create] of storeFactories(mode === 'durable')) {
      if (name.startsWith('memory') && mode !== modes[0]) continue
      const r = await benchStore(create, blocks, size)
      console.log(`${name.padEnd(18)} ${fmt(r.put)}   ${fmt(r.get)}   ${fmt(r.getVerified)}   ${fmt(r.getHashed)}`)
    }
    console.log('')
  }
}
