import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isError } from '@provenir/interface'
import {
  assertPolicy,
  encodeEnvelope,
  findRule,
  formatReport,
  imageSignatureStatement,
  layerSignatureStatement,
  matchGlob,
  parsePolicy,
  provenanceFromHistory,
  repositoryOf,
  signStatement,
  userIdFromKey,
  verifyImage,
  type Envelope,
  type PolicyMode,
  type TrustPolicy,
  type VerificationReport
} from '../src/index.js'
import { baseManifestDigest, flipBase64Byte, key, layerDigests, manifest, manifestBytes, manifestDigest, mutate, parsed } from './fixtures.js'

const A = await key('vendor-a') // base-image vendor
const B = await key('app-team-b') // app team
const C = await key('stranger-c') // a valid key nobody trusts
const BUILDER = await key('ci-builder')
const [idA, idB, idC, idBuilder] = [A, B, C, BUILDER].map(k => userIdFromKey(k))

/** A signs the two base layers, B the app layer and the manifest. */
async function multiIssuerStatements (): Promise<{ vendorLayers: Envelope, appLayer: Envelope, manifestSig: Envelope }> {
  return {
    vendorLayers: await signStatement(layerSignatureStatement(layerDigests.slice(0, 2), { source: 'docker.io/library/node:22-alpine' }), A),
    appLayer: await signStatement(layerSignatureStatement([layerDigests[2]]), B),
    manifestSig: await signStatement(imageSignatureStatement(manifestDigest, { repository: 'acme/app' }), B)
  }
}

function multiIssuerPolicy (mode: PolicyMode): TrustPolicy {
  return parsePolicy({
    version: 1,
    rules: [{
      match: 'acme/*',
      mode,
      manifest: { signers: [idB] },
      layers: [
        { layers: 'base:2', signers: [idA] },
        { layers: 'rest', signers: [idB] }
      ]
    }]
  })
}

function failures (report: VerificationReport): string[] {
  return report.checks.filter(c => c.result === 'fail').map(c => `${c.object} | ${c.rule}`)
}

describe('policy.json schema', () => {
  const bad = (doc: unknown, message: string | RegExp): void => {
    assert.throws(() => parsePolicy(doc), (err: Error) => {
      assert.equal(err.name, 'PolicyInvalidError')
      if (typeof message === 'string') assert.equal(err.message, message)
      else assert.match(err.message, message)
      return true
    })
  }

  it('names the bad field in every error', () => {
    bad({ version: 1, rules: [{ match: 'acme/*', mode: 'enforcing' }] }, 'policy.json: /rules/0/mode must be one of enforce, audit, off')
    bad({ version: 2, rules: [] }, 'policy.json: /version must be 1')
    bad({ rules: [] }, 'policy.json: / must have the field "version"')
    bad({ version: 1, rules: [{ mode: 'audit' }] }, 'policy.json: /rules/0 must have the field "match"')
    bad({ version: 1, rules: [{ match: 'acme/*', manifest: { signers: [idA], treshold: 1 } }] }, 'policy.json: /rules/0/manifest/treshold is not a known field')
    bad({ version: 1, rules: [{ match: 'acme/*', manifest: { signers: [idA, 'alice'] } }] }, 'policy.json: /rules/0/manifest/signers/1 must be a UserId (k51qzi5uqu5...)')
    bad({ version: 1, rules: [{ match: 'acme/*', manifest: { signers: [] } }] }, 'policy.json: /rules/0/manifest/signers must NOT have fewer than 1 items')
    bad({ version: 1, rules: [{ match: 'acme/*', layers: [{ layers: 'bottom:2', signers: [idA] }] }] }, 'policy.json: /rules/0/layers/0/layers must be all, rest, base:N, top:N or an array of layer indexes')
    bad({ version: 1, rules: [{ match: 'acme/*', layers: [{ layers: [0, 'one'], signers: [idA] }] }] }, 'policy.json: /rules/0/layers/0/layers/1 must be an integer')
    bad({ version: 1, rules: [{ match: 'acme/*', attestations: [{ predicateType: 'https://slsa.dev/provenance/v1' }] }] }, 'policy.json: /rules/0/attestations/0 must have the field "builders"')
    bad({ version: 1, rules: [{ match: 'acme app' }] }, /^policy\.json: \/rules\/0\/match must be a repository glob/)
    bad({ version: 1, default: 'allow', rules: [] }, 'policy.json: /default must be one of enforce, audit, off')
    bad('{"version": 1,', /^policy\.json: not valid JSON/)
  })

  it('checks what the schema cannot: thresholds, one "rest" per rule, UserIds that decode', () => {
    bad({ version: 1, rules: [{ match: 'a/*', manifest: { signers: [idA], threshold: 2 } }] }, 'policy.json: /rules/0/manifest/threshold must be at most the number of signers (1)')
    bad({ version: 1, rules: [{ match: 'a/*', layers: [{ layers: 'rest', signers: [idA] }, { layers: 'rest', signers: [idB] }] }] }, 'policy.json: /rules/0/layers may have at most one entry with layers "rest"')
    bad({ version: 1, rules: [{ match: 'a/*', manifest: { signers: ['k51qzi5uqu5' + '0'.repeat(51)] } }] }, /^policy\.json: \/rules\/0\/manifest\/signers\/0 is not a valid UserId/)
  })

  it('uses the given source name and accepts text, bytes and objects', () => {
    const doc = { version: 1, rules: [{ match: ['acme/*', 'acme/**'], mode: 'audit', manifest: { signers: [idB] } }] }
    assert.deepEqual(parsePolicy(JSON.stringify(doc)), doc)
    assert.deepEqual(parsePolicy(new TextEncoder().encode(JSON.stringify(doc))), doc)
    assert.throws(() => parsePolicy({ version: 1 }, { source: '/etc/provenir/policy.json' }), { message: '/etc/provenir/policy.json: / must have the field "rules"' })
  })
})

describe('rule matching', () => {
  it('globs: * and ? stay in a segment, ** crosses them', () => {
    assert.ok(matchGlob('acme/*', 'acme/app'))
    assert.ok(!matchGlob('acme/*', 'acme/team/app'))
    assert.ok(matchGlob('acme/**', 'acme/team/app'))
    assert.ok(matchGlob('acme/app-?', 'acme/app-1'))
    assert.ok(!matchGlob('acme/app', 'acme/app2'))
    assert.ok(!matchGlob('acme.io/*', 'acmexio/app'), 'dots are literal')
  })

  it('takes namespace/repo from a reference, and the first matching rule', () => {
    assert.equal(repositoryOf('acme/app:1.0'), 'acme/app')
    assert.equal(repositoryOf(`localhost:5000/acme/app@${manifestDigest}`), 'acme/app')
    assert.equal(repositoryOf(`${idB}/app`), `${idB}/app`)
    assert.throws(() => repositoryOf('acme//app'), { name: 'InvalidParametersError' })
    const policy = parsePolicy({ version: 1, rules: [{ match: 'acme/app', mode: 'off' }, { match: 'acme/*', mode: 'audit' }] })
    assert.equal(findRule(policy, 'acme/app:latest')?.index, 0)
    assert.equal(findRule(policy, 'registry.example/acme/web')?.index, 1)
    assert.equal(findRule(policy, 'other/web'), undefined)
  })
})

describe('verifyImage: a multi-issuer image', () => {
  it('passes when A signed the base layers and B the app layer and the manifest', async () => {
    const s = await multiIssuerStatements()
    const report = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [s.vendorLayers, s.appLayer, s.manifestSig], policy: multiIssuerPolicy('enforce'), reference: 'acme/app:1.0' })
    assert.equal(report.passed, true)
    assert.equal(report.allowed, true)
    assert.deepEqual(assertPolicy(report), [])
    // the report lists each object against each rule, with the signers that satisfied it
    assert.deepEqual(report.checks.map(c => [c.object, c.rule, c.result, c.signers]), [
      [`manifest ${manifestDigest}`, 'rules[0].manifest', 'pass', [idB]],
      [`layer 0 ${layerDigests[0]}`, 'rules[0].layers[0] (base:2)', 'pass', [idA]],
      [`layer 1 ${layerDigests[1]}`, 'rules[0].layers[0] (base:2)', 'pass', [idA]],
      [`layer 2 ${layerDigests[2]}`, 'rules[0].layers[1] (rest)', 'pass', [idB]]
    ])
    assert.deepEqual(report.statements.map(x => [x.index, x.valid, x.signers]), [[0, true, [idA]], [1, true, [idB]], [2, true, [idB]]])
    assert.equal(report.ruleIndex, 0)
    assert.equal(report.repository, 'acme/app')

    // the readable report lists the chain: statements, then each object against each rule
    const text = formatReport(report)
    assert.match(text, /^acme\/app:1\.0 sha256:[0-9a-f]{64}: PASSED\n  policy: rules\[0\] for acme\/app, mode enforce\n  statements:\n/)
    assert.ok(text.includes(`    [0] https://provenir.dev/signature/layer/v1 signed by ${idA}; subjects ${layerDigests[0]}, ${layerDigests[1]}`))
    assert.ok(text.includes(`    ok   layer 2 ${layerDigests[2]}  rules[0].layers[1] (rest): signed by`))
  })

  it('takes statements as the JSON bytes of their blocks', async () => {
    const s = await multiIssuerStatements()
    const blocks = [s.vendorLayers, s.appLayer, s.manifestSig].map(encodeEnvelope)
    const report = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [...blocks, new TextEncoder().encode('{oops')], policy: multiIssuerPolicy('enforce'), reference: 'acme/app:1.0' })
    assert.equal(report.passed, true)
    assert.equal(report.statements[3].error?.name, 'EnvelopeInvalidError')
  })

  it('without A\'s statement, fails under enforce, naming the object and the rule', async () => {
    const s = await multiIssuerStatements()
    const report = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [s.appLayer, s.manifestSig], policy: multiIssuerPolicy('enforce'), reference: 'acme/app:1.0' })
    assert.equal(report.passed, false)
    assert.equal(report.allowed, false)
    assert.deepEqual(failures(report), [
      `layer 0 ${layerDigests[0]} | rules[0].layers[0] (base:2)`,
      `layer 1 ${layerDigests[1]} | rules[0].layers[0] (base:2)`
    ])
    assert.throws(() => assertPolicy(report), (err: Error) => {
      assert.ok(isError(err, 'PolicyViolationError'))
      assert.equal(err.message, `the trust policy (mode enforce) refuses acme/app:1.0: layer 0 ${layerDigests[0]} breaks rules[0].layers[0] (base:2): needs a layer signature by one of ${idA.slice(0, 16)}…${idA.slice(-4)}; the layer has no valid layer signature (and 1 more failing check)`)
      assert.equal((err as Error & { report: VerificationReport }).report, report)
      return true
    })
  })

  it('without A\'s statement, passes with warnings under audit', async () => {
    const s = await multiIssuerStatements()
    const report = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [s.appLayer, s.manifestSig], policy: multiIssuerPolicy('audit'), reference: 'acme/app:1.0' })
    assert.equal(report.passed, false)
    assert.equal(report.allowed, true)
    const warnings = assertPolicy(report)
    assert.equal(warnings.length, 2)
    assert.match(formatReport(report), /: FAILED \(allowed: mode audit\)\n/)
    assert.match(warnings[0], new RegExp(`^audit: layer 0 ${layerDigests[0]} breaks rules\\[0\\]\\.layers\\[0\\] \\(base:2\\)`))
  })

  it('does not let B\'s layer signature stand in for A on the base layers', async () => {
    const s = await multiIssuerStatements()
    const bSignsAll = await signStatement(layerSignatureStatement(layerDigests), B)
    const report = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [bSignsAll, s.manifestSig], policy: multiIssuerPolicy('enforce'), reference: 'acme/app:1.0' })
    assert.deepEqual(failures(report).length, 2)
    assert.match(report.checks[1].reason, /signed only by keys not allowed here/)
  })

  it('under off, checks nothing', async () => {
    const report = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [], policy: multiIssuerPolicy('off'), reference: 'acme/app:1.0' })
    assert.equal(report.allowed, true)
    assert.equal(report.checks[0].result, 'skip')
  })
})

describe('verifyImage: rejections', () => {
  const manifestOnly = (mode: PolicyMode = 'enforce'): TrustPolicy => parsePolicy({ version: 1, rules: [{ match: 'acme/*', mode, manifest: { signers: [idB] } }] })

  it('rejects a valid signature by a key the policy does not trust', async () => {
    const byC = await signStatement(imageSignatureStatement(manifestDigest), C)
    const report = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [byC], policy: manifestOnly(), reference: 'acme/app' })
    assert.equal(report.statements[0].valid, true, 'the signature itself is valid')
    assert.deepEqual(report.checks[0].untrusted, [idC])
    assert.deepEqual(failures(report), [`manifest ${manifestDigest} | rules[0].manifest`])
    assert.throws(() => assertPolicy(report), (err: Error) => {
      assert.equal(err.name, 'PolicyViolationError')
      assert.ok(err.message.includes(`manifest ${manifestDigest} breaks rules[0].manifest`))
      assert.ok(err.message.includes('valid signatures by keys this rule does not trust'))
      assert.ok(err.message.includes(idC.slice(0, 16)))
      return true
    })
  })

  it('rejects a statement whose subject is a different digest', async () => {
    const other = await signStatement(imageSignatureStatement(baseManifestDigest), B)
    const report = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [other], policy: manifestOnly(), reference: 'acme/app' })
    assert.throws(() => assertPolicy(report), (err: Error) => {
      assert.equal(err.name, 'PolicyViolationError')
      assert.ok(err.message.includes(`image signatures for other digests ignored: statement 0 names ${baseManifestDigest}`))
      return true
    })
  })

  it('rejects tampered statements (payload, signature, keyid), reports why, and counts them for nothing', async () => {
    const good = await signStatement(imageSignatureStatement(manifestDigest), B)
    const statements = [
      { ...good, payload: flipBase64Byte(good.payload, 30) },
      mutate(good, e => { e.signatures[0].sig = flipBase64Byte(e.signatures[0].sig, 1) }),
      mutate(await signStatement(imageSignatureStatement(manifestDigest), C), e => { e.signatures[0].keyid = idB }),
      { not: 'an envelope' }
    ]
    const report = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements, policy: manifestOnly(), reference: 'acme/app' })
    assert.deepEqual(report.statements.map(s => s.error?.name), ['SignatureInvalidError', 'SignatureInvalidError', 'SignatureInvalidError', 'EnvelopeInvalidError'])
    assert.equal(report.warnings.length, 4)
    assert.match(report.warnings[2], /statement 2 .*was rejected: SignatureInvalidError/)
    assert.deepEqual(failures(report), [`manifest ${manifestDigest} | rules[0].manifest`])
    assert.throws(() => assertPolicy(report), { name: 'PolicyViolationError' })
    // one good statement among them is enough
    const ok = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [...statements, good], policy: manifestOnly(), reference: 'acme/app' })
    assert.equal(ok.passed, true)
    assert.equal(ok.warnings.length, 4)
  })

  it('fails an image no rule matches under the default mode (enforce unless set)', async () => {
    const report = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [], policy: manifestOnly(), reference: 'other/app' })
    assert.deepEqual(failures(report), ['image | default'])
    assert.throws(() => assertPolicy(report), { name: 'PolicyViolationError', message: /no rule matches repository other\/app/ })
    const audit = parsePolicy({ version: 1, default: 'audit', rules: [] })
    assert.equal((await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [], policy: audit, reference: 'other/app' })).allowed, true)
  })

  it('checks the manifest bytes against the digest when given bytes', async () => {
    const good = await signStatement(imageSignatureStatement(manifestDigest), B)
    const report = await verifyImage({ manifest: manifestBytes, manifestDigest, statements: [good], policy: manifestOnly(), reference: 'acme/app' })
    assert.equal(report.passed, true)
    await assert.rejects(verifyImage({ manifest: manifestBytes, manifestDigest: baseManifestDigest, statements: [good], policy: manifestOnly(), reference: 'acme/app' }), { name: 'DigestMismatchError' })
  })

  it('bounds the number of statements', async () => {
    await assert.rejects(verifyImage({ manifest: parsed.manifest, manifestDigest, statements: new Array(257).fill({}), policy: manifestOnly(), reference: 'acme/app' }), { name: 'InvalidParametersError' })
  })
})

describe('verifyImage: layers and attestations', () => {
  it('covers every layer: an uncovered layer fails, out-of-range selectors fail', async () => {
    const s = await multiIssuerStatements()
    const statements = [s.vendorLayers, s.appLayer, s.manifestSig]
    const onlyBase = parsePolicy({ version: 1, rules: [{ match: 'acme/*', layers: [{ layers: 'base:2', signers: [idA] }] }] })
    const r1 = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements, policy: onlyBase, reference: 'acme/app' })
    assert.deepEqual(failures(r1), [`layer 2 ${layerDigests[2]} | rules[0].layers`])
    assert.equal(r1.checks.at(-1)?.reason, 'no entry of the rule covers this layer')

    const indexes = parsePolicy({ version: 1, rules: [{ match: 'acme/*', layers: [{ layers: [0, 1], signers: [idA] }, { layers: [-1], signers: [idB] }] }] })
    assert.equal((await verifyImage({ manifest: parsed.manifest, manifestDigest, statements, policy: indexes, reference: 'acme/app' })).passed, true)

    const top = parsePolicy({ version: 1, rules: [{ match: 'acme/*', layers: [{ layers: 'top:1', signers: [idB] }, { layers: 'rest', signers: [idA, idB] }] }] })
    assert.equal((await verifyImage({ manifest: parsed.manifest, manifestDigest, statements, policy: top, reference: 'acme/app' })).passed, true)

    const tooMany = parsePolicy({ version: 1, rules: [{ match: 'acme/*', layers: [{ layers: 'base:4', signers: [idA] }, { layers: [5], signers: [idA] }] }] })
    const r2 = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements, policy: tooMany, reference: 'acme/app' })
    assert.deepEqual(r2.checks.filter(c => c.result === 'fail').map(c => c.reason), [
      'base:4 asks for 4 layers but the image has 3',
      'layer index 5 is out of range: the image has 3 layers',
      'no entry of the rule covers this layer',
      'no entry of the rule covers this layer',
      'no entry of the rule covers this layer'
    ])
  })

  it('a threshold asks for several signers on a layer or the manifest', async () => {
    const s = await multiIssuerStatements()
    const cosigned = await signStatement(layerSignatureStatement([layerDigests[2]]), [A, B])
    const policy = parsePolicy({ version: 1, rules: [{ match: 'acme/*', manifest: { signers: [idA, idB], threshold: 1 }, layers: [{ layers: 'all', signers: [idA, idB], threshold: 2 }] }] })
    const report = await verifyImage({ manifest: parsed.manifest, manifestDigest, statements: [s.vendorLayers, cosigned, s.manifestSig], policy, reference: 'acme/app' })
    assert.deepEqual(failures(report), [
      `layer 0 ${layerDigests[0]} | rules[0].layers[0] (all)`,
      `layer 1 ${layerDigests[1]} | rules[0].layers[0] (all)`
    ])
    assert.deepEqual(report.checks.find(c => c.object.startsWith('layer 2'))?.signers, [idA, idB])
  })

  it('requires SLSA provenance by an allowed builder whose builder.id is the signer', async () => {
    const s = await multiIssuerStatements()
    const provenance = (builder: string): ReturnType<typeof provenanceFromHistory> => provenanceFromHistory(parsed.config, {
      manifestDigest, baseImages: [baseManifestDigest], builder, invocationId: 'i', startedOn: '2026-11-20T10:15:00Z', finishedOn: '2026-11-20T10:15:31Z'
    })
    const policy = parsePolicy({
      version: 1,
      rules: [{ match: 'acme/*', manifest: { signers: [idB] }, attestations: [{ predicateType: 'https://slsa.dev/provenance/v1', builders: [idBuilder] }] }]
    })
    const run = async (statements: Envelope[]): Promise<VerificationReport> => verifyImage({ manifest: manifest as any, manifestDigest, statements: [s.manifestSig, ...statements], policy, reference: 'acme/app' })

    const good = await run([await signStatement(provenance(idBuilder), BUILDER)])
    assert.equal(good.passed, true)
    assert.equal(good.checks[1].rule, 'rules[0].attestations[0]')

    const missing = await run([])
    assert.throws(() => assertPolicy(missing), { name: 'PolicyViolationError', message: /breaks rules\[0\]\.attestations\[0\]: needs a https:\/\/slsa\.dev\/provenance\/v1 attestation naming the manifest.*none was found/ })

    const wrongSigner = await run([await signStatement(provenance(idBuilder), C)])
    assert.match(wrongSigner.checks[1].reason, /statement 1 is signed by .*, not an allowed builder/)

    // the builder key signs a predicate that claims some other builder
    const claimsOther = await run([await signStatement(provenance(idC), BUILDER)])
    assert.equal(claimsOther.passed, false)
    assert.match(claimsOther.checks[1].reason, /names builder "k51/)
  })
})
