import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import tar from 'tar-stream'
import { indexTar, normaliseTarPath, resolveTarFile } from '../src/tar.js'
import { tempDir } from './fixtures.js'

interface Item { name: string, body?: string, type?: 'symlink' | 'directory', linkname?: string, pax?: Record<string, string> }

async function makeTar (path: string, items: Item[]): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (c: Buffer) => chunks.push(c))
  const done = new Promise(resolve => pack.on('end', resolve))
  for (const item of items) {
    await new Promise<void>((resolve, reject) => {
      const header = { name: item.name, type: item.type ?? 'file', linkname: item.linkname, ...(item.pax != null ? { pax: item.pax } : {}) } as tar.Headers
      pack.entry(header, item.body ?? '', err => { err != null ? reject(err) : resolve() })
    })
  }
  pack.finalize()
  await done
  const bytes = Buffer.concat(chunks)
  await writeFile(path, bytes)
  return bytes
}

describe('tar index', () => {
  let dir: { path: string, remove(): Promise<void> }
  before(async () => { dir = await tempDir('provenir-tar-') })
  after(async () => { await dir.remove() })

  it('lists entries with offsets, long names and symlinks, without reading data', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(120)}.json`
    const path = join(dir.path, 'a.tar')
    const bytes = await makeTar(path, [
      { name: 'blobs/', type: 'directory' },
      { name: './blobs/one.tar', body: 'layer bytes' },
      { name: long, body: '{"long":true}' },
      { name: 'abc/layer.tar', type: 'symlink', linkname: '../blobs/one.tar' },
      { name: 'manifest.json', body: '[]' }
    ])
    const entries = await indexTar(path)
    const one = entries.get('blobs/one.tar')
    assert.ok(one != null)
    assert.equal(one.type, 'file')
    assert.equal(bytes.subarray(one.offset, one.offset + one.size).toString(), 'layer bytes')
    const longEntry = entries.get(long)
    assert.ok(longEntry != null, 'long (PAX / GNU) name kept')
    assert.equal(bytes.subarray(longEntry.offset, longEntry.offset + longEntry.size).toString(), '{"long":true}')
    assert.equal(entries.get('blobs')?.type, 'directory')
    assert.equal(resolveTarFile(entries, 'abc/layer.tar'), one)
    assert.throws(() => resolveTarFile(entries, 'blobs'), { name: 'ArchiveInvalidError' })
    assert.throws(() => resolveTarFile(entries, 'missing.json'), { name: 'ArchiveInvalidError' })
  })

  it('refuses paths that leave the archive, link loops, bad checksums, and passes the bounds', async () => {
    assert.throws(() => normaliseTarPath('../etc/passwd'), { name: 'ArchiveInvalidError' })
    assert.equal(normaliseTarPath('/./a//b/../c'), 'a/c')
    const loop = join(dir.path, 'loop.tar')
    await makeTar(loop, [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }])
    const loopEntries = await indexTar(loop)
    assert.throws(() => resolveTarFile(loopEntries, 'a'), { name: 'ArchiveInvalidError', message: /levels of links/ })

    const path = join(dir.path, 'b.tar')
    const bytes = await makeTar(path, [{ name: 'x', body: 'x'.repeat(2000) }, { name: 'y', body: 'y' }, { name: 'z', body: 'z' }])
    await assert.rejects(indexTar(path, { maxEntries: 2 }), { name: 'InputLimitError' })
    await assert.rejects(indexTar(path, { maxEntrySize: 1000 }), { name: 'InputLimitError' })
    const bad = Buffer.from(bytes)
    bad[10] ^= 0xff
    const badPath = join(dir.path, 'bad.tar')
    await writeFile(badPath, bad)
    await assert.rejects(indexTar(badPath), { name: 'ArchiveInvalidError', message: /checksum/ })
    const cut = join(dir.path, 'cut.tar')
    await writeFile(cut, (await readFile(path)).subarray(0, 1024))
    await assert.rejects(indexTar(cut), { name: 'ArchiveTruncatedError' })
    const gz = join(dir.path, 'gz.tar')
    await writeFile(gz, Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(1022)]))
    await assert.rejects(indexTar(gz), { name: 'ArchiveInvalidError', message: /gzip/ })
  })
})
