/**
 * Trust on the real test image: `scripts/fixtures/build-images.sh` builds the
 * "small" image (a base layer and an app layer, made with umoci) into
 * `fixtures/out` under the repo root, or reuses it. Skipped when umoci,
 * skopeo, openssl or jq are not installed.
 */

import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parseImageConfig, parseManifest, type ImageManifest } from '@provenir/content'
import {
  assertPolicy,
  imageSignatureStatement,
  layerSignatureStatement,
  parsePolicy,
  provenanceFromHistory,
  signStatement,
  userIdFromKey,
  verifyImage,
  verifyStatement,
  type HistoryStep,
  type PolicyMode
} from '../src/index.js'
import { key } from './fixtures.js'

/** The repo root (this file runs from packages/trust/dist/test). */
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const OUT = process.env.PROVENIR_FIXTURES ?? join(REPO_ROOT, 'fixtures', 'out')

const missing = ['umoci', 'skopeo', 'openssl', 'jq'].filter(t => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0)
const skip = missing.length > 0 ? `skipped: ${missing.join(', ')} not installed` : false

function smallImage (): { manifest: ImageManifest, manifestDigest: string, configBytes: Uint8Array } {
  execFileSync('bash', [join(REPO_ROOT, 'scripts', 'fixtures', 'build-images.sh'), OUT, 'small'], { stdio: ['ignore', 'ignore', 'inherit'] })
  const layout = join(OUT, 'small', 'oci')
  const blob = (digest: string): Uint8Array => readFileSync(join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)))
  const manifestDigest = readFileSync(join(OUT, 'small', 'manifest-digest'), 'utf8').trim()
  const parsed = parseManifest(blob(manifestDigest), { expectedDigest: manifestDigest })
  if (parsed.kind !== 'manifest') throw new Error('the small fixture is not an image manifest')
  const configBytes = blob(parsed.manifest.config.digest)
  parseImageConfig(configBytes, { expectedDigest: parsed.manifest.config.digest })
  return { manifest: parsed.manifest, manifestDigest, configBytes }
}

/** The base image the fixture's build started from. The fixture records none, so the builder names it. */
const BASE = { name: 'registry.example/provenir/fixture-base:1', digest: 'sha256:' + 'b'.repeat(64) }

describe('the real test image', { skip }, () => {
  it('provenance from its config history carries the history\'s steps and the base image as a resolved dependency', async () => {
    const { manifestDigest, configBytes } = smallImage()
    const builder = await key('ci-builder')
    const statement = provenanceFromHistory(configBytes, { manifestDigest, baseImages: [BASE], builder: userIdFromKey(builder), invocationId: 'fixture-build' })
    const history = (JSON.parse(new TextDecoder().decode(configBytes)) as { history: Array<{ created_by: string, empty_layer?: boolean }> }).history
    const steps = statement.predicate.buildDefinition.externalParameters.steps as HistoryStep[]
    assert.deepEqual(steps.map(s => s.createdBy), history.map(h => h.created_by))
    assert.deepEqual(steps.map(s => [s.instruction, s.emptyLayer, s.layer]), [['COPY', false, 0], ['COPY', false, 1], ['CMD', true, undefined]])
    assert.deepEqual(statement.predicate.buildDefinition.resolvedDependencies, [{ name: BASE.name, uri: `oci://${BASE.name}@${BASE.digest}`, digest: { sha256: 'b'.repeat(64) } }])
    // the times come from the config, so the statement is the same on every run
    assert.equal(statement.predicate.runDetails.metadata.startedOn, '2023-11-14T22:13:20.000Z')
    await verifyStatement(await signStatement(statement, builder), { digests: [manifestDigest], signers: [userIdFromKey(builder)] })
  })

  it('base layer signed by A, app layer and manifest by B: passes; without A fails under enforce, warns under audit', async () => {
    const { manifest, manifestDigest } = smallImage()
    const A = await key('vendor-a')
    const B = await key('app-team-b')
    const [base, app] = manifest.layers.map(l => l.digest)
    const byA = await signStatement(layerSignatureStatement([base]), A)
    const byB = await signStatement(layerSignatureStatement([app]), B)
    const manifestByB = await signStatement(imageSignatureStatement(manifestDigest), B)
    const policy = (mode: PolicyMode): ReturnType<typeof parsePolicy> => parsePolicy({
      version: 1,
      rules: [{ match: 'fixtures/*', mode, manifest: { signers: [userIdFromKey(B)] }, layers: [{ layers: 'base:1', signers: [userIdFromKey(A)] }, { layers: 'rest', signers: [userIdFromKey(B)] }] }]
    })
    const ok = await verifyImage({ manifest, manifestDigest, statements: [byA, byB, manifestByB], policy: policy('enforce'), reference: 'fixtures/small:v1' })
    assert.equal(ok.passed, true)
    assert.deepEqual(assertPolicy(ok), [])

    const enforce = await verifyImage({ manifest, manifestDigest, statements: [byB, manifestByB], policy: policy('enforce'), reference: 'fixtures/small:v1' })
    assert.throws(() => assertPolicy(enforce), { name: 'PolicyViolationError', message: new RegExp(`layer 0 ${base} breaks rules\\[0\\]\\.layers\\[0\\] \\(base:1\\)`) })

    const audit = await verifyImage({ manifest, manifestDigest, statements: [byB, manifestByB], policy: policy('audit'), reference: 'fixtures/small:v1' })
    const warnings = assertPolicy(audit)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0], /^audit: layer 0 sha256:[0-9a-f]{64} breaks rules\[0\]\.layers\[0\] \(base:1\)/)
  })
})
