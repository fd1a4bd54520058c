import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { Keystore } from '../src/index.js'
import type { PrivateKey } from '@libp2p/interface'

let dir: string
let n = 0
/** A fresh keystore path in the test directory */
const fresh = (): string => join(dir, `ks-${n++}`, 'keystore.json')

async function fileState (path: string): Promise<{ bytes: Buffer, mode: number, mtimeMs: number }> {
  const s = await stat(path)
  return { bytes: await readFile(path), mode: s.mode & 0o777, mtimeMs: s.mtimeMs }
}

/** Assert `fn` rejects with an error named `name` whose message names `path`, and that the file did not change. */
async function rejectsNamingFile (path: string, name: string, fn: () => Promise<unknown>): Promise<Error> {
  const before = await fileState(path)
  let caught: Error | undefined
  await assert.rejects(fn(), (err: Error) => {
    caught = err
    assert.equal(err.name, name)
    assert.ok(err.message.includes(path), `message names the file: ${err.message}`)
    return true
  })
  assert.deepEqual(await fileState(path), before, 'the file is unchanged')
  assert.ok(caught != null)
  return caught
}

async function writeRaw (path: string, text: string | Buffer, mode = 0o600): Promise<void> {
  const ks = await Keystore.create(path, {})
  await writeFile(ks.path, text)
  await chmod(ks.path, mode)
}

describe('Keystore', () => {
  let self: PrivateKey
  let alice: PrivateKey

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenir-keystore-'))
    self = await generateKeyPair('Ed25519')
    alice = await generateKeyPair('Ed25519')
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('round-trips keys through the file', async () => {
    const path = fresh()
    const created = await Keystore.create(path, { self, 'alice.ns-1_x': alice })
    assert.equal(created.path, path)
    assert.deepEqual(created.list(), ['alice.ns-1_x', 'self'])

    const loaded = await Keystore.load(path)
    assert.deepEqual(loaded.list(), ['alice.ns-1_x', 'self'])
    assert.ok(loaded.has('self'))
    assert.ok(!loaded.has('bob'))
    assert.ok(loaded.get('self').equals(self))
    assert.ok(loaded.get('alice.ns-1_x').equals(alice))
    assert.throws(() => loaded.get('bob'), (err: Error) => err.name === 'KeyNotFoundError' && err.message.includes(path))
  })

  it('writes the documented JSON format with mode 0600', async () => {
    const path = fresh()
    await Keystore.create(path, { self })
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    const doc = JSON.parse(await readFile(path, 'utf8'))
    assert.deepEqual(doc, {
      version: 1,
      keys: { self: { type: 'Ed25519', privateKey: Buffer.from(privateKeyToProtobuf(self)).toString('base64') } }
    })
  })

  it('set() adds and replaces keys atomically, keeping mode 0600 and leaving no temporary files', async () => {
    const path = fresh()
    const ks = await Keystore.create(path, { self })
    const keys = await Promise.all(Array.from({ length: 5 }, async () => generateKeyPair('Ed25519')))
    // concurrent sets are serialised: none is lost
    await Promise.all(keys.map(async (k, i) => { await ks.set(`ns${i}`, k) }))
    await ks.set('self', alice)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    const loaded = await Keystore.load(path)
    assert.deepEqual(loaded.list(), ['ns0', 'ns1', 'ns2', 'ns3', 'ns4', 'self'])
    keys.forEach((k, i) => { assert.ok(loaded.get(`ns${i}`).equals(k)) })
    assert.ok(loaded.get('self').equals(alice))
    assert.deepEqual(await readdir(join(path, '..')), ['keystore.json'])
  })

  it('validates key names and key types', async () => {
    const path = fresh()
    for (const name of ['', 'a/b', '../x', 'a b', 'x'.repeat(65), 'é']) {
      await assert.rejects(Keystore.create(path, { [name]: self }), { name: 'InvalidParametersError' })
    }
    const ks = await Keystore.create(path, { ['x'.repeat(64)]: self })
    await assert.rejects(ks.set('no/slash', self), { name: 'InvalidParametersError' })
    const secp = await generateKeyPair('secp256k1')
    await assert.rejects(ks.set('secp', secp), { name: 'InvalidParametersError' })
    assert.deepEqual(ks.list(), ['x'.repeat(64)])
  })

  it('create() refuses to overwrite an existing file unless forced', async () => {
    const path = fresh()
    await Keystore.create(path, { self })
    await rejectsNamingFile(path, 'RepoExistsError', async () => Keystore.create(path, { self: alice }))
    assert.ok((await Keystore.load(path)).get('self').equals(self))

    await Keystore.create(path, { self: alice }, { force: true })
    assert.ok((await Keystore.load(path)).get('self').equals(alice))
    assert.deepEqual(await readdir(join(path, '..')), ['keystore.json'])
  })

  it('load() of a missing file is a KeyNotFoundError naming the file', async () => {
    const path = fresh()
    await assert.rejects(Keystore.load(path), (err: Error) => err.name === 'KeyNotFoundError' && err.message.includes(path))
  })

  it('load() refuses a file group or others can access, naming the file and the fix', async () => {
    const path = fresh()
    await Keystore.create(path, { self })
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o601]) {
      await chmod(path, mode)
      const err = await rejectsNamingFile(path, 'KeystorePermissionError', async () => Keystore.load(path))
      assert.ok(err.message.includes(`mode 0${mode.toString(8)}`), err.message)
      assert.ok(err.message.includes(`chmod 600 ${path}`), err.message)
    }
    await chmod(path, 0o400)
    assert.ok((await Keystore.load(path)).get('self').equals(self), 'owner-only read access is fine')
  })

  it('load() refuses corrupt files with KeystoreCorruptError naming the file, and leaves them as they are', async () => {
    const good = Buffer.from(privateKeyToProtobuf(self)).toString('base64')
    const full = JSON.stringify({ version: 1, keys: { self: { type: 'Ed25519', privateKey: good } } })
    // the right 64-byte key, with the public half of another key
    const mixed = Buffer.from(privateKeyToProtobuf(self))
    mixed.set(alice.publicKey.raw, 4 + 32)
    const cases: Array<[string, string | Buffer]> = [
      ['empty', ''],
      ['not JSON', 'hello'],
      ['truncated', full.slice(0, full.length - 7)],
      ['binary', Buffer.from([0xff, 0xfe, 0x00, 0x01])],
      ['array', '[]'],
      ['null', 'null'],
      ['no version', JSON.stringify({ keys: {} })],
      ['version 2', JSON.stringify({ version: 2, keys: {} })],
      ['keys not an object', JSON.stringify({ version: 1, keys: [] })],
      ['bad name', JSON.stringify({ version: 1, keys: { 'a/b': { type: 'Ed25519', privateKey: good } } })],
      ['wrong type', JSON.stringify({ version: 1, keys: { self: { type: 'RSA', privateKey: good } } })],
      ['not base64', JSON.stringify({ version: 1, keys: { self: { type: 'Ed25519', privateKey: '!!!!' } } })],
      ['short key', JSON.stringify({ version: 1, keys: { self: { type: 'Ed25519', privateKey: good.slice(0, 40) } } })],
      ['not a key', JSON.stringify({ version: 1, keys: { self: { type: 'Ed25519', privateKey: Buffer.from('hello world!').toString('base64') } } })],
      ['mismatched public key', JSON.stringify({ version: 1, keys: { self: { type: 'Ed25519', privateKey: mixed.toString('base64') } } })]
    ]
    for (const [what, text] of cases) {
      const path = fresh()
      await writeRaw(path, text)
      await rejectsNamingFile(path, 'KeystoreCorruptError', async () => Keystore.load(path)).catch((err: Error) => {
        throw new Error(`case "${what}": ${err.message}`)
      })
    }
  })

  it('load() of a directory is a clear error naming it', async () => {
    const path = fresh()
    await Keystore.create(path, {})
    const parent = join(path, '..')
    await chmod(parent, 0o700)
    await assert.rejects(Keystore.load(parent), (err: Error) => err.message.includes(parent))
  })
})
