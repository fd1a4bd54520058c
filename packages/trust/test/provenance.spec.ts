import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { computeDigest } from '@provenir/content'
import {
  BUILD_TYPE_DOCKERFILE,
  BUILD_TYPE_IMAGE_HISTORY,
  PREDICATE_TYPE_SLSA_PROVENANCE_V1,
  baseImagesFromManifest,
  parseDockerfile,
  provenanceFromHistory,
  provenanceFromRecipe,
  signStatement,
  userIdFromKey,
  verifyStatement,
  type HistoryStep,
  type RecipeStep,
  type SlsaProvenance
} from '../src/index.js'
import { baseManifestDigest, config, configBytes, key, manifestDigest, parsed } from './fixtures.js'

const times = { invocationId: 'build-7f3a', startedOn: '2026-11-20T10:15:00Z', finishedOn: '2026-11-20T10:15:31Z' }

describe('SLSA provenance from the image config history', () => {
  it('carries every history step and the base image digest as a resolved dependency', async () => {
    const builder = await key('ci-builder')
    const statement = provenanceFromHistory(parsed.config, {
      manifestDigest,
      name: 'acme/app:1.0',
      baseImages: [{ name: 'docker.io/library/node:22-alpine', digest: baseManifestDigest }],
      builder: userIdFromKey(builder),
      ...times
    })
    assert.equal(statement.predicateType, PREDICATE_TYPE_SLSA_PROVENANCE_V1)
    assert.deepEqual(statement.subject, [{ name: 'acme/app:1.0', digest: { sha256: manifestDigest.slice(7) } }])
    const { buildDefinition, runDetails } = statement.predicate
    assert.equal(buildDefinition.buildType, BUILD_TYPE_IMAGE_HISTORY)

    const steps = buildDefinition.externalParameters.steps as HistoryStep[]
    assert.deepEqual(steps.map(s => s.createdBy), config.history.map(h => h.created_by))
    assert.deepEqual(steps.filter(s => !s.emptyLayer).map(s => s.layer), [0, 1, 2], 'one step per layer, in order')
    assert.equal(steps.filter(s => s.emptyLayer).length, 8)
    assert.deepEqual(steps.map(s => s.instruction), ['ADD', 'CMD', 'ENV', 'RUN', 'ENTRYPOINT', 'WORKDIR', 'COPY', 'ENV', 'USER', 'EXPOSE', 'CMD'])
    assert.equal(steps[6].createdBy, 'COPY --chown=node:node . /srv/app # buildkit')
    assert.equal(steps[6].layer, 2)

    assert.deepEqual(buildDefinition.resolvedDependencies, [{
      name: 'docker.io/library/node:22-alpine',
      uri: `oci://docker.io/library/node:22-alpine@${baseManifestDigest}`,
      digest: { sha256: baseManifestDigest.slice(7) }
    }])
    assert.deepEqual(runDetails, {
      builder: { id: userIdFromKey(builder) },
      metadata: { invocationId: 'build-7f3a', startedOn: '2026-11-20T10:15:00.000Z', finishedOn: '2026-11-20T10:15:31.000Z' }
    })

    // signed by the builder, it verifies as an attestation of this manifest
    const env = await signStatement(statement, builder)
    const verified = await verifyStatement<SlsaProvenance>(env, { digests: [manifestDigest], predicateType: PREDICATE_TYPE_SLSA_PROVENANCE_V1, signers: [userIdFromKey(builder)] })
    assert.equal(verified.statement.predicate.runDetails.builder.id, userIdFromKey(builder))
  })

  it('takes the base image from the manifest\'s OCI base annotations', async () => {
    const baseImages = baseImagesFromManifest(parsed.manifest)
    assert.deepEqual(baseImages, [{ digest: baseManifestDigest, name: 'docker.io/library/node:22-alpine' }])
    const statement = provenanceFromHistory(parsed.config, { manifestDigest, baseImages, builder: userIdFromKey(await key('ci-builder')), ...times })
    assert.equal(statement.predicate.buildDefinition.resolvedDependencies[0].uri, `oci://docker.io/library/node:22-alpine@${baseManifestDigest}`)
    assert.deepEqual(baseImagesFromManifest({ ...parsed.manifest, annotations: {} }), [])
  })

  it('reads the config from its bytes and defaults the times to the config\'s created', async () => {
    const statement = provenanceFromHistory(configBytes, { manifestDigest, baseImages: [baseManifestDigest], builder: userIdFromKey(await key('ci-builder')) })
    const { metadata } = statement.predicate.runDetails
    assert.equal(metadata.startedOn, '2026-11-20T10:15:30.123Z')
    assert.match(metadata.invocationId, /^[0-9a-f-]{36}$/)
    assert.deepEqual(statement.predicate.buildDefinition.resolvedDependencies, [{ digest: { sha256: baseManifestDigest.slice(7) } }])
  })

  it('refuses a config without history, a bad base digest and a builder that is not a UserId', async () => {
    const builder = userIdFromKey(await key('ci-builder'))
    assert.throws(() => provenanceFromHistory({ ...parsed.config, history: [] }, { manifestDigest, builder }), { name: 'RecipeInvalidError', message: /no history/ })
    assert.throws(() => provenanceFromHistory(parsed.config, { manifestDigest, builder, baseImages: ['sha256:nope'] }), { name: 'RecipeInvalidError' })
    assert.throws(() => provenanceFromHistory(parsed.config, { manifestDigest, builder: 'ci.example.com' }), { name: 'KeyIdInvalidError' })
  })
})

const dockerfile = [
  '# syntax=docker/dockerfile:1.7',
  '# escape=\\',
  'ARG NODE=22',
  '',
  'FROM docker.io/library/node:22-alpine AS deps',
  'WORKDIR /srv/app',
  'COPY package.json package-lock.json ./',
  '# install only production dependencies',
  'RUN npm ci --omit=dev \\',
  '    # a comment inside a continuation is dropped',
  '    && npm cache clean --force',
  '',
  'FROM docker.io/library/node:22-alpine',
  'COPY --from=deps /srv/app/node_modules /srv/app/node_modules',
  `COPY --from=ghcr.io/acme/assets@sha256:${'a'.repeat(64)} /assets /srv/app/public`,
  'RUN <<BUILD',
  'set -e',
  'echo built > /srv/app/BUILD',
  'BUILD',
  'COPY . /srv/app',
  'USER node',
  'EXPOSE 3000',
  'CMD ["node", "server.js"]',
  ''
].join('\n')

describe('SLSA provenance from a Dockerfile', () => {
  it('parses instructions: continuations, comments, heredocs, line numbers', () => {
    const steps = parseDockerfile(dockerfile)
    assert.deepEqual(steps.map(s => s.instruction), ['ARG', 'FROM', 'WORKDIR', 'COPY', 'RUN', 'FROM', 'COPY', 'COPY', 'RUN', 'COPY', 'USER', 'EXPOSE', 'CMD'])
    assert.deepEqual(steps[4], { line: 9, instruction: 'RUN', arguments: 'npm ci --omit=dev     && npm cache clean --force' })
    assert.equal(steps[8].arguments, '<<BUILD\nset -e\necho built > /srv/app/BUILD\nBUILD')
    assert.equal(steps[9].line, 20)
  })

  it('records the steps, the recipe digest and every pulled image as resolved dependencies', async () => {
    const builder = await key('ci-builder')
    const statement = provenanceFromRecipe(dockerfile, {
      manifestDigest,
      path: 'Dockerfile',
      baseImages: [{ name: 'docker.io/library/node:22-alpine', digest: baseManifestDigest }],
      builder: userIdFromKey(builder),
      ...times
    })
    const { buildDefinition } = statement.predicate
    assert.equal(buildDefinition.buildType, BUILD_TYPE_DOCKERFILE)
    assert.deepEqual(buildDefinition.externalParameters.recipe, { digest: computeDigest(new TextEncoder().encode(dockerfile)), path: 'Dockerfile' })
    assert.equal((buildDefinition.externalParameters.steps as RecipeStep[]).length, 13)
    assert.deepEqual(buildDefinition.resolvedDependencies.map(d => d.digest?.sha256), [baseManifestDigest.slice(7), 'a'.repeat(64)])
    assert.equal(buildDefinition.resolvedDependencies[1].name, `ghcr.io/acme/assets@sha256:${'a'.repeat(64)}`)
  })

  it('refuses an unpinned base image, an unknown instruction and an unterminated heredoc', async () => {
    const builder = userIdFromKey(await key('ci-builder'))
    assert.throws(() => provenanceFromRecipe('FROM alpine:3.20\nRUN true\n', { manifestDigest, builder }), { name: 'RecipeInvalidError', message: /alpine:3\.20 is not pinned/ })
    assert.throws(() => parseDockerfile('FROM scratch\nFETCH http://x\n'), { name: 'RecipeInvalidError', message: /line 2: unknown instruction FETCH/ })
    assert.throws(() => parseDockerfile('FROM scratch\nRUN <<EOT\necho\n'), { name: 'RecipeInvalidError', message: /not terminated/ })
    assert.throws(() => parseDockerfile('RUN true\n'), { name: 'RecipeInvalidError', message: /first instruction/ })
    // FROM scratch and stage names pull nothing
    const s = provenanceFromRecipe('FROM scratch AS a\nCOPY x /x\nFROM a\n', { manifestDigest, builder, ...times })
    assert.deepEqual(s.predicate.buildDefinition.resolvedDependencies, [])
  })

  it('honours the escape parser directive', () => {
    const steps = parseDockerfile('# escape=`\nFROM mcr.microsoft.com/windows/servercore@sha256:' + 'b'.repeat(64) + '\nRUN dir c:\\ `\n  && echo done\n')
    assert.deepEqual(steps[1], { line: 3, instruction: 'RUN', arguments: 'dir c:\\   && echo done' })
  })
})
