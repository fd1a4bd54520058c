import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { coalesce } from '../src/content/ingest.js'

async function * pieces (sizes: number[]): AsyncGenerator<Uint8Array> {
  let next = 0
  for (const size of sizes) {
    yield Uint8Array.from({ length: size }, () => next++ & 0xff)
  }
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const chunk of source) out.push(Uint8Array.from(chunk))
  return out
}

const flat = (chunks: Uint8Array[]): number[] => chunks.flatMap(c => [...c])

describe('ingest: coalesce', () => {
  it('gathers small pieces into buffers of the given size, the last one shorter, the bytes unchanged', async () => {
    const sizes = [3, 5, 7, 1, 6, 5, 2]
    const out = await collect(coalesce(pieces(sizes), 8))
    assert.deepEqual(out.map(c => c.byteLength), [8, 8, 8, 5])
    assert.deepEqual(flat(out), flat(await collect(pieces(sizes))))
  })

  it('passes a piece already as large as the size through, and splits one that crosses a boundary', async () => {
    const out = await collect(coalesce(pieces([16, 3, 10, 8]), 8))
    assert.deepEqual(out.map(c => c.byteLength), [16, 8, 8, 5])
    assert.deepEqual(flat(out), flat(await collect(pieces([16, 3, 10, 8]))))
  })

  it('yields nothing for an empty source, and hands out a fresh buffer each time (callers keep them)', async () => {
    assert.deepEqual(await collect(coalesce(pieces([]), 8)), [])
    const kept: Uint8Array[] = []
    for await (const chunk of coalesce(pieces([4, 4, 4, 4]), 8)) kept.push(chunk)
    assert.equal(kept.length, 2)
    // nothing is reused: the first buffer still holds its bytes after the second was filled
    assert.deepEqual([...kept[0], ...kept[1]], flat(await collect(pieces([4, 4, 4, 4]))))
  })
})
