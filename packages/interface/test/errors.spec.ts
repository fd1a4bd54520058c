import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InsufficientDifficultyError, KeystoreCorruptError, ProvenirError, isError } from '../src/index.js'

describe('errors', () => {
  it('identifies errors by name, not by class identity', () => {
    const err = new InsufficientDifficultyError('below c1')
    assert.equal(err.name, 'InsufficientDifficultyError')
    assert.ok(err instanceof ProvenirError)
    assert.ok(isError(err, 'InsufficientDifficultyError'))
    assert.ok(!isError(err, 'KeystoreCorruptError'))
    assert.ok(!isError(new Error('x'), 'KeystoreCorruptError'))
    assert.equal(new KeystoreCorruptError('x').name, 'KeystoreCorruptError')
  })

  it('recognises an error of the same name from another copy of the package', () => {
    const foreign = new Error('from another copy')
    foreign.name = 'KeystoreCorruptError'
    assert.ok(isError(foreign, 'KeystoreCorruptError'))
  })
})
