import { randomBytes } from 'node:crypto'
import { link, lstat, mkdir, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { generateKeyPairFromSeed, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { InvalidParametersError, KeyNotFoundError, KeystoreCorruptError, KeystorePermissionError, RepoExistsError } from '@provenir/interface'
import { KEY_NAME_PATTERN, KEYSTORE_FILE_MODE, KEYSTORE_VERSION, MAX_KEYSTORE_BYTES } from './constants.js'
import type { PrivateKey } from '@libp2p/interface'

/** The key types a keystore holds. */
export type KeystoreKeyType = 'Ed25519'

/** One entry of the keystore file. */
export interface KeystoreEntry {
  type: KeystoreKeyType
  /** base64 (with padding) of `privateKeyToProtobuf(key)` */
  privateKey: string
}

/** The JSON document in a keystore file. */
export interface KeystoreFile {
  version: typeof KEYSTORE_VERSION
  keys: Record<string, KeystoreEntry>
}

export interface KeystoreCreateOptions {
  /**
   * Replace an existing keystore file. Without it, `create` refuses with a
   * RepoExistsError when the file exists.
   *
   * @default false
   */
  force?: boolean
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Throws InvalidParametersError unless `name` is a valid key name. */
function assertKeyName (name: unknown): asserts name is string {
  if (typeof name !== 'string' || !KEY_NAME_PATTERN.test(name)) {
    throw new InvalidParametersError(`invalid key name ${JSON.stringify(name)}: use 1 to 64 of a-z, A-Z, 0-9, '.', '_', '-'`)
  }
}

/** Throws InvalidParametersError unless `key` is a private key the keystore can hold. */
function assertKey (name: string, key: unknown): asserts key is PrivateKey {
  const type = (key as PrivateKey | undefined)?.type
  if (type !== 'Ed25519') {
    throw new InvalidParametersError(`key "${name}" must be an Ed25519 private key, got ${type == null ? String(key) : type}`)
  }
}

function errorCode (err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

function octal (mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0')
}

/**
 * A file of named private keys, such as the node key (`self`) and namespace
 * keys. One JSON document:
 *
 * ```json
 * { "version": 1, "keys": { "self": { "type": "Ed25519", "privateKey": "CAESQ..." } } }
 * ```
 *
 * The file has mode 0600 and every write is atomic: a temporary file in the
 * same directory (mode 0600) is written and fsynced, renamed over the old
 * one, and the directory is fsynced. A crash leaves the old file or the new
 * one, never half of one. Reading never changes the file.
 *
 * Writes through one `Keystore` are serialised; two processes writing the same
 * file at once are not coordinated (the last rename wins).
 */
export class Keystore {
  /** The absolute path of the keystore file */
  readonly path: string
  #keys: Map<string, PrivateKey>
  #writes: Promise<void> = Promise.resolve()

  private constructor (path: string, keys: Map<string, PrivateKey>) {
    this.path = path
    this.#keys = keys
  }

  /**
   * Write a new keystore file holding `keys`, creating its directory (mode
   * 0700) when needed.
   *
   * @throws RepoExistsError when the file exists and `options.force` is not set
   * @throws InvalidParametersError for a bad key name or a key that is not Ed25519
   */
  static async create (path: string, keys: Record<string, PrivateKey> = {}, options: KeystoreCreateOptions = {}): Promise<Keystore> {
    const file = resolve(path)
    const map = new Map<string, PrivateKey>()
    for (const [name, key] of Object.entries(keys)) {
      assertKeyName(name)
      assertKey(name, key)
      map.set(name, key)
    }
    const force = options.force === true
    if (!force && await exists(file)) {
      throw new RepoExistsError(`keystore ${file} already exists; refusing to overwrite it`)
    }
    await mkdir(dirname(file), { recursive: true, mode: 0o700 })
    await writeAtomically(file, serialise(map), { exclusive: !force })
    return new Keystore(file, map)
  }

  /**
   * Read a keystore file. The file is opened read-only and never changed.
   *
   * @throws KeyNotFoundError when the file does not exist
   * @throws KeystorePermissionError when group or others have any access to the file, or it cannot be read
   * @throws KeystoreCorruptError when the file is not a valid keystore
   */
  static async load (path: string): Promise<Keystore> {
    const file = resolve(path)
    const text = await readKeystoreFile(file)
    const keys = parse(file, text)
    await assertConsistent(file, keys)
    return new Keystore(file, keys)
  }

  /**
   * The key named `name`.
   *
   * @throws KeyNotFoundError when there is none
   */
  get (name: string): PrivateKey {
    const key = this.#keys.get(name)
    if (key == null) {
      throw new KeyNotFoundError(`no key named ${JSON.stringify(name)} in keystore ${this.path}`)
    }
    return key
  }

  /** True when a key named `name` is stored. */
  has (name: string): boolean {
    return this.#keys.has(name)
  }

  /** The names of the stored keys, sorted. */
  list (): string[] {
    return [...this.#keys.keys()].sort()
  }

  /**
   * Store `key` as `name` (replacing any key of that name) and rewrite the
   * file atomically. The in-memory keystore changes only once the file is
   * written.
   *
   * @throws InvalidParametersError for a bad key name or a key that is not Ed25519
   */
  async set (name: string, key: PrivateKey): Promise<void> {
    assertKeyName(name)
    assertKey(name, key)
    const write = this.#writes.then(async () => {
      const next = new Map(this.#keys)
      next.set(name, key)
      await writeAtomically(this.path, serialise(next), { exclusive: false })
      this.#keys = next
    })
    // a failed write must not block the ones queued after it
    this.#writes = write.catch(() => {})
    return write
  }
}

function serialise (keys: Map<string, PrivateKey>): string {
  const entries = [...keys.entries()]
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([name, key]): [string, KeystoreEntry] => [name, {
      type: 'Ed25519',
      privateKey: Buffer.from(privateKeyToProtobuf(key)).toString('base64')
    }])
  const doc: KeystoreFile = { version: KEYSTORE_VERSION, keys: Object.fromEntries(entries) }
  return JSON.stringify(doc, null, 2) + '\n'
}

async function readKeystoreFile (file: string): Promise<string> {
  let fh
  try {
    fh = await open(file, 'r')
  } catch (err: unknown) {
    const code = errorCode(err)
    if (code === 'ENOENT') {
      throw new KeyNotFoundError(`keystore ${file} does not exist`, { cause: err })
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new KeystorePermissionError(`keystore ${file} cannot be read: permission denied`, { cause: err })
    }
    throw err
  }

  try {
    const stat = await fh.stat()
    if (!stat.isFile()) {
      throw new KeystoreCorruptError(`keystore ${file} is not a regular file`)
    }
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new KeystorePermissionError(`keystore ${file} has mode ${octal(stat.mode)}; it must be 0600 (chmod 600 ${file})`)
    }
    if (stat.size > MAX_KEYSTORE_BYTES) {
      throw new KeystoreCorruptError(`keystore ${file} is ${stat.size} bytes; a keystore is at most ${MAX_KEYSTORE_BYTES} bytes`)
    }
    const bytes = await fh.readFile()
    if (bytes.byteLength > MAX_KEYSTORE_BYTES) {
      throw new KeystoreCorruptError(`keystore ${file} is over ${MAX_KEYSTORE_BYTES} bytes`)
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
    } catch (err: unknown) {
      throw new KeystoreCorruptError(`keystore ${file} is not UTF-8 text`, { cause: err })
    }
  } finally {
    await fh.close()
  }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value != null && !Array.isArray(value)
}

function parse (file: string, text: string): Map<string, PrivateKey> {
  const corrupt = (why: string, cause?: unknown): KeystoreCorruptError =>
    new KeystoreCorruptError(`keystore ${file} is corrupt: ${why}`, cause == null ? undefined : { cause })

  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err: unknown) {
    throw corrupt(`not valid JSON (${(err as Error).message})`, err)
  }
  if (!isObject(doc)) {
    throw corrupt('not a JSON object')
  }
  if (doc.version !== KEYSTORE_VERSION) {
    throw corrupt(`version is ${JSON.stringify(doc.version)}; this version of provenir reads version ${KEYSTORE_VERSION}`)
  }
  if (!isObject(doc.keys)) {
    throw corrupt('"keys" is not an object')
  }

  const keys = new Map<string, PrivateKey>()
  for (const [name, entry] of Object.entries(doc.keys)) {
    if (!KEY_NAME_PATTERN.test(name)) {
      throw corrupt(`invalid key name ${JSON.stringify(name)}`)
    }
    if (!isObject(entry)) {
      throw corrupt(`key "${name}" is not an object`)
    }
    if (entry.type !== 'Ed25519') {
      throw corrupt(`key "${name}" has type ${JSON.stringify(entry.type)}; only "Ed25519" is supported`)
    }
    if (typeof entry.privateKey !== 'string' || !BASE64.test(entry.privateKey)) {
      throw corrupt(`key "${name}" has no base64 "privateKey"`)
    }
    let key: PrivateKey
    try {
      key = privateKeyFromProtobuf(Buffer.from(entry.privateKey, 'base64'))
    } catch (err: unknown) {
      throw corrupt(`key "${name}" is not a valid private key (${(err as Error).message})`, err)
    }
    if (key.type !== 'Ed25519') {
      throw corrupt(`key "${name}" is a ${key.type} key but is labelled Ed25519`)
    }
    keys.set(name, key)
  }
  return keys
}

/**
 * Ed25519 protobuf keys carry seed || public key. Check that the public half
 * is the one the seed derives, so a flipped bit cannot give the node a
 * different identity from the one it signs with.
 */
async function assertConsistent (file: string, keys: Map<string, PrivateKey>): Promise<void> {
  for (const [name, key] of keys) {
    const derived = await generateKeyPairFromSeed('Ed25519', key.raw.subarray(0, 32))
    if (!derived.publicKey.equals(key.publicKey)) {
      throw new KeystoreCorruptError(`keystore ${file} is corrupt: key "${name}" has a public key that does not match its private key`)
    }
  }
}

async function exists (file: string): Promise<boolean> {
  try {
    await lstat(file)
    return true
  } catch (err: unknown) {
    if (errorCode(err) === 'ENOENT') return false
    throw err
  }
}

/** fsync a directory so a rename in it is durable; a no-op where directories cannot be opened (Windows). */
async function syncDirectory (dir: string): Promise<void> {
  let fh
  try {
    fh = await open(dir, 'r')
    await fh.sync()
  } catch (err: unknown) {
    const code = errorCode(err)
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EACCES' && code !== 'EBADF') throw err
  } finally {
    await fh?.close()
  }
}

/**
 * Write `data` to `file` atomically with mode 0600: temporary file in the same
 * directory, fsync, then rename over `file` (or, when `exclusive`, hard-link
 * it into place so that an existing file is never replaced), then fsync the
 * directory.
 */
async function writeAtomically (file: string, data: string, options: { exclusive: boolean }): Promise<void> {
  const dir = dirname(file)
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  let placed = false
  try {
    const fh = await open(tmp, 'wx', KEYSTORE_FILE_MODE)
    try {
      // the umask may have taken bits away; make it exactly 0600
      await fh.chmod(KEYSTORE_FILE_MODE)
      await fh.writeFile(data, 'utf8')
      await fh.sync()
    } finally {
      await fh.close()
    }

    if (options.exclusive) {
      await linkExclusive(tmp, file)
    } else {
      await rename(tmp, file)
      placed = true
    }
    await syncDirectory(dir)
  } finally {
    if (!placed) {
      await unlink(tmp).catch(() => {})
    }
  }
}

/** Put `tmp` at `file` unless `file` exists. `tmp` is removed by the caller. */
async function linkExclusive (tmp: string, file: string): Promise<void> {
  try {
    await link(tmp, file)
    return
  } catch (err: unknown) {
    const code = errorCode(err)
    if (code === 'EEXIST') {
      throw new RepoExistsError(`keystore ${file} already exists; refusing to overwrite it`, { cause: err })
    }
    // filesystems without hard links: check, then rename (not race-free)
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') {
      throw err
    }
  }
  if (await exists(file)) {
    throw new RepoExistsError(`keystore ${file} already exists; refusing to overwrite it`)
  }
  await rename(tmp, file)
}
