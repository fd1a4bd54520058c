import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signBinding } from '@provenir/naming'
import { userIdFromKey } from '@provenir/trust'
import { jsonError, runCli, tempDir } from './helpers.js'

describe('provenir name verify (offline, real processes)', () => {
  let root: string
  let file: string
  let registryId: string
  let userId: string

  before(async () => {
    root = await tempDir()
    const registryKey = await generateKeyPair('Ed25519')
    registryId = peerIdFromPrivateKey(registryKey).toString()
    userId = userIdFromKey(await generateKeyPair('Ed25519'))
    file = path.join(root, 'binding.json')
    await fs.writeFile(file, await signBinding({ name: 'aweiteka', userId, seq: 3 }, registryKey))
  })

  after(async () => {
    await fs.rm(root, { recursive: true, force: true })
  })

  it('validates a binding given only the file and the registry NodeId', async () => {
    const res = await runCli(['name', 'verify', file, '--registry', registryId, '--name', 'aweiteka', '--json'])
    assert.equal(res.code, 0, res.stderr)
    const out = JSON.parse(res.stdout)
    assert.equal(out.valid, true)
    assert.equal(out.name, 'aweiteka')
    assert.equal(out.userId, userId)
    assert.equal(out.seq, 3)
    assert.equal(out.registry, registryId)
  })

  it('refuses it against another registry, for another name, or altered', async () => {
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const wrongRegistry = await runCli(['name', 'verify', file, '--registry', other, '--json'])
    assert.equal(wrongRegistry.code, 1)
    assert.equal(jsonError(wrongRegistry).name, 'BindingInvalidError')

    const wrongName = await runCli(['name', 'verify', file, '--registry', registryId, '--name', 'someone-else', '--json'])
    assert.equal(wrongName.code, 1)
    assert.match(jsonError(wrongName).message, /not someone-else/)

    const env = JSON.parse(await fs.readFile(file, 'utf8'))
    const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString())
    payload.userId = userIdFromKey(await generateKeyPair('Ed25519'))
    env.payload = Buffer.from(JSON.stringify(payload)).toString('base64')
    const altered = path.join(root, 'altered.json')
    await fs.writeFile(altered, JSON.stringify(env))
    const res = await runCli(['name', 'verify', altered, '--registry', registryId])
    assert.equal(res.code, 1)
    assert.match(res.stderr, /^Error: binding refused: /)
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace')
  })
})
