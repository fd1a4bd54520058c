/**
 * Reads a tarball's table of contents by positional reads: each header, and
 * where its data sits in the file, without reading the data. The importer then
 * reads a docker-archive's small JSON entries by offset and streams its layers
 * straight from the file, in whatever order they were written (skopeo writes
 * the layers before the config and `manifest.json`, so a single streaming pass
 * would meet a layer before it knows the digest to expect).
 *
 * ustar, PAX (`x` per-entry path/linkpath/size; `g` ignored) and GNU long names
 * (`L`, `K`) are understood. Every header's checksum is checked, the size of
 * every entry and of every metadata body is bounded, and an entry whose data
 * runs past the end of the file, or a file without the end-of-archive marker,
 * is `ArchiveTruncatedError`.
 *
 * @internal
 */

import { open } from 'node:fs/promises'
import { MAX_ARCHIVE_ENTRIES, MAX_BLOB_SIZE, MAX_TAR_META_SIZE } from './constants.js'
import { ArchiveInvalidError, ArchiveTruncatedError, InputLimitError } from './errors.js'
import type { AbortOptions } from '@provenir/interface'
import type { FileHandle } from 'node:fs/promises'

const BLOCK = 512

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other'

export interface TarEntry {
  /** Normalised path: no leading `./` or `/`, no trailing `/` */
  name: string
  type: TarEntryType
  /** Bytes of data */
  size: number
  /** Where the data starts in the file */
  offset: number
  /** Target of a symlink or hard link, as written */
  linkname?: string
}

export interface TarIndexOptions extends AbortOptions {
  /** @default MAX_ARCHIVE_ENTRIES */
  maxEntries?: number
  /** Largest entry accepted. @default MAX_BLOB_SIZE */
  maxEntrySize?: number
}

function cstring (block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length)
  const end = field.indexOf(0)
  return Buffer.from(end === -1 ? field : field.subarray(0, end)).toString('utf8')
}

function octal (block: Uint8Array, start: number, length: number, what: string): number {
  const field = block.subarray(start, start + length)
  if ((field[0] & 0x80) !== 0) {
    // GNU base-256: big-endian, first byte's high bit set
    let value = field[0] & 0x7f
    for (let i = 1; i < field.length; i++) {
      value = value * 256 + field[i]
      if (!Number.isSafeInteger(value)) throw new ArchiveInvalidError(`Tar header ${what} is out of range`)
    }
    return value
  }
  const text = Buffer.from(field).toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '')
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) throw new ArchiveInvalidError(`Tar header ${what} is not octal: ${JSON.stringify(text)}`)
  return parseInt(text, 8)
}

function checksumOk (block: Uint8Array): boolean {
  const stored = octal(block, 148, 8, 'checksum')
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += (i >= 148 && i < 156) ? 32 : block[i]
  return sum === stored
}

/**
 * Normalises an archive path and refuses one that is absolute after `./`
 * stripping would not help or that climbs out with `..`.
 */
export function normaliseTarPath (path: string): string {
  const parts: string[] = []
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (parts.length === 0) throw new ArchiveInvalidError(`Archive path ${JSON.stringify(path)} leaves the archive`)
      parts.pop()
      continue
    }
    parts.push(part)
  }
  return parts.join('/')
}

function parsePax (body: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {}
  const text = Buffer.from(body)
  let pos = 0
  while (pos < text.length) {
    const space = text.indexOf(0x20, pos)
    if (space === -1) break
    const length = parseInt(text.subarray(pos, space).toString('latin1'), 10)
    if (!Number.isSafeInteger(length) || length <= space - pos || pos + length > text.length) {
      throw new ArchiveInvalidError('Malformed PAX header record')
    }
    const record = text.subarray(space + 1, pos + length - 1).toString('utf8')
    const eq = record.indexOf('=')
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1)
    pos += length
  }
  return out
}

async function readExactly (fh: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buf = Buffer.alloc(length)
  let read = 0
  while (read < length) {
    const { bytesRead } = await fh.read(buf, read, length - read, position + read)
    if (bytesRead === 0) break
    read += bytesRead
  }
  if (read < length) throw new ArchiveTruncatedError(`The tarball ends inside a header or metadata block (offset ${position + read})`)
  return buf
}

function typeOf (flag: string): TarEntryType {
  switch (flag) {
    case '0': case '\0': case '': case '7': return 'file'
    case '5': return 'directory'
    case '2': return 'symlink'
    case '1': return 'hardlink'
    default: return 'other'
  }
}

/** Lists every entry of the tarball at `path` (a later entry of the same name replaces an earlier one, as tar extraction does). */
export async function indexTar (path: string, options: TarIndexOptions = {}): Promise<Map<string, TarEntry>> {
  const maxEntries = options.maxEntries ?? MAX_ARCHIVE_ENTRIES
  const maxEntrySize = options.maxEntrySize ?? MAX_BLOB_SIZE
  const fh = await open(path, 'r')
  try {
    const fileSize = (await fh.stat()).size
    const entries = new Map<string, TarEntry>()
    let pos = 0
    let count = 0
    let longName: string | undefined
    let longLink: string | undefined
    let pax: Record<string, string> = {}
    for (;;) {
      options.signal?.throwIfAborted()
      if (pos + BLOCK > fileSize) {
        throw new ArchiveTruncatedError(`The tarball ends at byte ${fileSize} without its end-of-archive marker`)
      }
      const header = await readExactly(fh, pos, BLOCK)
      if (header.every(b => b === 0)) return entries
      if (pos === 0 && header[0] === 0x1f && header[1] === 0x8b) {
        throw new ArchiveInvalidError('The archive is gzip-compressed; decompress it first')
      }
      if (!checksumOk(header)) throw new ArchiveInvalidError(`Bad tar header checksum at offset ${pos}`)
      const size = octal(header, 124, 12, 'size')
      const flag = String.fromCharCode(header[156])
      const dataOffset = pos + BLOCK
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > MAX_TAR_META_SIZE) throw new InputLimitError(`Tar metadata entry of ${size} bytes at offset ${pos} is over the ${MAX_TAR_META_SIZE} byte limit`)
        const body = await readExactly(fh, dataOffset, size)
        if (flag === 'x') pax = parsePax(body)
        else if (flag === 'L') longName = cstring(body, 0, body.length)
        else if (flag === 'K') longLink = cstring(body, 0, body.length)
        pos = dataOffset + Math.ceil(size / BLOCK) * BLOCK
        continue
      }
      if (++count > maxEntries) throw new InputLimitError(`The tarball has more than ${maxEntries} entries`)
      const entrySize = pax.size != null ? Number(pax.size) : size
      if (!Number.isSafeInteger(entrySize) || entrySize < 0) throw new ArchiveInvalidError(`Bad entry size at offset ${pos}`)
      if (entrySize > maxEntrySize) throw new InputLimitError(`Tar entry at offset ${pos} is ${entrySize} bytes, over the ${maxEntrySize} byte limit`)
      const magic = cstring(header, 257, 6)
      const prefix = magic === 'ustar' ? cstring(header, 345, 155) : ''
      const rawName = pax.path ?? longName ?? (prefix !== '' ? `${prefix}/${cstring(header, 0, 100)}` : cstring(header, 0, 100))
      const linkname = pax.linkpath ?? longLink ?? cstring(header, 157, 100)
      const type = typeOf(flag)
      if (dataOffset + entrySize > fileSize) {
        throw new ArchiveTruncatedError(`Entry ${JSON.stringify(rawName)} needs ${entrySize} bytes from offset ${dataOffset}, but the tarball ends at ${fileSize}`)
      }
      const name = normaliseTarPath(rawName)
      if (name !== '') {
        entries.set(name, { name, type, size: type === 'file' ? entrySize : 0, offset: dataOffset, ...(type === 'symlink' || type === 'hardlink' ? { linkname } : {}) })
      }
      longName = undefined
      longLink = undefined
      pax = {}
      pos = dataOffset + Math.ceil(entrySize / BLOCK) * BLOCK
    }
  } finally {
    await fh.close()
  }
}

/**
 * Follows symlinks and hard links (at most 16 hops) to the regular file an
 * archive path names. Throws `ArchiveInvalidError` when there is none.
 */
export function resolveTarFile (entries: Map<string, TarEntry>, path: string): TarEntry {
  let name = normaliseTarPath(path)
  for (let hops = 0; hops < 16; hops++) {
    const entry = entries.get(name)
    if (entry == null) throw new ArchiveInvalidError(`The archive has no entry ${JSON.stringify(path)}`)
    if (entry.type === 'file') return entry
    if (entry.type === 'symlink' && entry.linkname != null) {
      const dir = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : ''
      name = entry.linkname.startsWith('/') ? normaliseTarPath(entry.linkname) : normaliseTarPath(`${dir}/${entry.linkname}`)
      continue
    }
    if (entry.type === 'hardlink' && entry.linkname != null) {
      name = normaliseTarPath(entry.linkname)
      continue
    }
    throw new ArchiveInvalidError(`Archive entry ${JSON.stringify(path)} is not a file`)
  }
  throw new ArchiveInvalidError(`Archive entry ${JSON.stringify(path)} has too many levels of links`)
}
