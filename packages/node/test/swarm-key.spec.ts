import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateSwarmKey, parseSwarmKey } from '../src/index.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('swarm.key', () => {
  it('generates keys in the Kubo format that parse back', () => {
    const key = generateSwarmKey()
    const text = new TextDecoder().decode(key)
    assert.match(text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    assert.notDeepEqual(generateSwarmKey(), key)
    assert.equal(new TextDecoder().decode(parseSwarmKey(key)), text.trimEnd())
  })

  it('accepts CRLF line endings and upper-case hex, as Kubo does', () => {
    const hex = 'AB'.repeat(32)
    const parsed = parseSwarmKey(enc(`/key/swarm/psk/1.0.0/\r\n/base16/\r\n${hex}\r\n`))
    assert.equal(new TextDecoder().decode(parsed), `/key/swarm/psk/1.0.0/\n/base16/\n${hex.toLowerCase()}`)
  })

  const bad: Array<[string, string, RegExp]> = [
    ['a wrong header', '/key/swarm/psk/2.0.0/\n/base16/\n' + 'a'.repeat(64), /first line/],
    ['a base64 key', '/key/swarm/psk/1.0.0/\n/base64/\n' + 'a'.repeat(44), /base16/],
    ['a short key', '/key/swarm/psk/1.0.0/\n/base16/\n' + 'a'.repeat(62), /64 hex digits/],
    ['non-hex digits', '/key/swarm/psk/1.0.0/\n/base16/\n' + 'g'.repeat(64), /64 hex digits/],
    ['an empty file', '', /first line/]
  ]
  for (const [what, text, message] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parseSwarmKey(enc(text), '/repo/swarm.key'), (err: Error) => {
        assert.equal(err.name, 'InvalidSwarmKeyError')
        assert.match(err.message, /^\/repo\/swarm\.key: /)
        assert.match(err.message, message)
        return true
      })
    })
  }
})
