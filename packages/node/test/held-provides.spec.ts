import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { HeldProvides } from '../src/swarm/held-provides.js'

const cidOf = async (text: string): Promise<CID> => CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text)))

describe('a pull\'s held provides', () => {
  it('provides each CID once, the delay after it was asked for', async () => {
    const provided: string[] = []
    const held = new HeldProvides(cid => { provided.push(cid.toString()) }, 150)
    const a = await cidOf('a')
    held.add(a)
    held.add(a)
    await sleep(50)
    assert.deepEqual(provided, [], 'nothing before the delay')
    assert.equal(held.size, 1)
    await sleep(250)
    assert.deepEqual(provided, [a.toString()])
    assert.equal(held.size, 0)
  })

  it('flush provides what is held at once, and the timers do not provide it again', async () => {
    const provided: string[] = []
    const held = new HeldProvides(cid => { provided.push(cid.toString()) }, 100)
    const a = await cidOf('a')
    const b = await cidOf('b')
    held.add(a)
    held.add(b)
    held.flush()
    assert.deepEqual(provided.sort(), [a.toString(), b.toString()].sort())
    await sleep(200)
    assert.equal(provided.length, 2)
  })

  it('cancel drops what is held: a failed pull advertises none of it', async () => {
    const provided: string[] = []
    const held = new HeldProvides(cid => { provided.push(cid.toString()) }, 100)
    held.add(await cidOf('a'))
    held.cancel()
    assert.equal(held.size, 0)
    await sleep(200)
    assert.deepEqual(provided, [])
  })
})
