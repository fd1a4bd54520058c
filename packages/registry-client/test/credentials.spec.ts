import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { inspect } from 'node:util'
import { AuthFileCredentials, RegistryCredentials, credentialsFromHelper, defaultAuthFiles, normaliseAuthKey } from '../src/index.js'

const basic = (user: string, password: string): string => Buffer.from(`${user}:${password}`).toString('base64')

describe('credentials', () => {
  let dir: string
  let savedPath: string | undefined

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'provenir-creds-'))
    // a docker-credential helper that knows one server
    const bin = path.join(dir, 'bin')
    await fs.mkdir(bin)
    await fs.writeFile(path.join(bin, 'docker-credential-fake'), `#!/bin/sh
read server
case "$server" in
  https://index.docker.io/v1/) echo '{"ServerURL":"x","Username":"hubuser","Secret":"hub-secret"}' ;;
  tokens.example.org) echo '{"ServerURL":"x","Username":"<token>","Secret":"refresh-token"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`, { mode: 0o755 })
    savedPath = process.env.PATH
    process.env.PATH = `${bin}:${process.env.PATH ?? ''}`
  })

  after(async () => {
    process.env.PATH = savedPath
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('finds the files in containers/image\'s order', () => {
    assert.deepEqual(defaultAuthFiles({ XDG_RUNTIME_DIR: '/run/user/1000' }, '/home/u'), [
      '/run/user/1000/containers/auth.json', '/home/u/.config/containers/auth.json', '/home/u/.docker/config.json'
    ])
    assert.deepEqual(defaultAuthFiles({ REGISTRY_AUTH_FILE: '/etc/auth.json', XDG_CONFIG_HOME: '/cfg', DOCKER_CONFIG: '/dk' }, '/home/u'), [
      '/etc/auth.json', '/cfg/containers/auth.json', '/dk/config.json'
    ])
  })

  it('normalises the keys docker and podman write', () => {
    assert.equal(normaliseAuthKey('https://index.docker.io/v1/'), 'docker.io')
    assert.equal(normaliseAuthKey('registry-1.docker.io'), 'docker.io')
    assert.equal(normaliseAuthKey('http://127.0.0.1:5000/v2/'), '127.0.0.1:5000')
    assert.equal(normaliseAuthKey('quay.io/org/'), 'quay.io/org')
  })

  it('takes the most specific entry of the first file that has one', async () => {
    const first = path.join(dir, 'first.json')
    const second = path.join(dir, 'second.json')
    await fs.writeFile(first, JSON.stringify({ auths: { 'quay.io/org': { auth: basic('org-user', 'p1') }, 'quay.io': { auth: basic('quay-user', 'p2') } } }))
    await fs.writeFile(second, JSON.stringify({ auths: { 'ghcr.io': { auth: basic('gh-user', 'p3') }, 'quay.io': { auth: basic('second-quay', 'p4') } } }))
    const creds = new AuthFileCredentials([path.join(dir, 'missing.json'), first, second])
    assert.equal((await creds.lookup('quay.io', 'org/app'))?.username, 'org-user')
    assert.equal((await creds.lookup('quay.io', 'other/app'))?.username, 'quay-user')
    assert.equal((await creds.lookup('ghcr.io', 'x/y'))?.username, 'gh-user')
    assert.equal(await creds.lookup('example.org', 'x'), undefined)
    const found = await creds.lookup('quay.io', 'org/app')
    assert.equal(found?.source, first)
    assert.equal(found?.basic(), `Basic ${basic('org-user', 'p1')}`)
  })

  it('asks credHelpers and credsStore through docker-credential-<name>', async () => {
    const file = path.join(dir, 'helpers.json')
    await fs.writeFile(file, JSON.stringify({ credHelpers: { 'tokens.example.org': 'fake' }, credsStore: 'fake', auths: { 'https://index.docker.io/v1/': {} } }))
    const creds = new AuthFileCredentials([file])
    const hub = await creds.lookup('docker.io', 'library/alpine')
    assert.equal(hub?.username, 'hubuser')
    assert.equal(hub?.source, 'docker-credential-fake')
    const token = await creds.lookup('tokens.example.org', 'a/b')
    assert.equal(token?.identityToken, 'refresh-token')
    assert.equal(await creds.lookup('nothing.example.org', 'a'), undefined, 'the helper\'s "not found" is no credentials')
    assert.equal(await credentialsFromHelper('not-installed', 'quay.io'), undefined)
  })

  it('refuses a file that is not JSON, naming it', async () => {
    const file = path.join(dir, 'bad.json')
    await fs.writeFile(file, '{ not json')
    await assert.rejects(new AuthFileCredentials([file]).lookup('quay.io', 'a'), { name: 'CredentialsError', message: new RegExp(file) })
  })

  it('never prints its secret', () => {
    const creds = new RegistryCredentials({ username: 'alice', password: 'hunter2-secret', identityToken: 'tok-secret', source: '/x/auth.json' })
    for (const text of [inspect(creds), JSON.stringify(creds), String(creds), `${creds.toString()}`, inspect({ nested: creds }, { depth: 5 })]) {
      assert.doesNotMatch(text, /hunter2|tok-secret/)
      assert.match(text, /alice/)
    }
  })
})
