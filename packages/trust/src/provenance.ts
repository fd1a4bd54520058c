/**
 * SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance) for images,
 * derived either from the image config's `history` or from the Dockerfile the
 * image was built from. The statement's subject is the image's manifest digest;
 * the builder's UserId is `runDetails.builder.id`, and the statement is meant
 * to be signed by that same key (the policy checks both).
 *
 * `externalParameters` by buildType:
 * - `https://provenir.dev/build/image-history/v1`:
 *   `{ source: 'image-config-history', steps: HistoryStep[] }`, one step per
 *   history entry, in order (empty_layer entries included and marked).
 * - `https://provenir.dev/build/dockerfile/v1`:
 *   `{ source: 'dockerfile', recipe: { digest, path? }, steps: RecipeStep[] }`,
 *   one step per instruction, with its line number.
 *
 * `resolvedDependencies` lists the base images, each with its manifest digest.
 */

import { randomUUID } from 'node:crypto'
import { computeDigest, isDigest, parseImageConfig, type ImageConfig, type ImageManifest } from '@provenir/content'
import { BUILD_TYPE_DOCKERFILE, BUILD_TYPE_IMAGE_HISTORY, MAX_BUILD_STEPS, MAX_RECIPE_BYTES, MAX_RECIPE_LINES, PREDICATE_TYPE_SLSA_PROVENANCE_V1 } from './constants.js'
import { RecipeInvalidError } from './errors.js'
import { publicKeyFromUserId, type UserId } from './keys.js'
import { createStatement, digestSet, type DigestSet, type Statement } from './statement.js'

/** A SLSA ResourceDescriptor. */
export interface ResourceDescriptor {
  uri?: string
  digest?: DigestSet
  name?: string
  mediaType?: string
  annotations?: Record<string, string>
}

/** One step taken from an image config history entry. */
export interface HistoryStep {
  /** the entry's `created_by`, unchanged */
  createdBy: string
  /** the Dockerfile instruction keyword it came from, when it can be told (`RUN`, `COPY`, ...) */
  instruction?: string
  /** true when the step made no layer */
  emptyLayer: boolean
  /** index of the layer the step made (counting only steps that made one) */
  layer?: number
  created?: string
  comment?: string
}

/** One instruction of a Dockerfile. */
export interface RecipeStep {
  /** 1-based line the instruction starts on */
  line: number
  /** upper-case keyword: FROM, RUN, COPY, ... */
  instruction: string
  /** the rest of the instruction, continuation lines joined, heredoc bodies appended */
  arguments: string
}

/** The SLSA provenance v1 predicate. */
export interface SlsaProvenance {
  buildDefinition: {
    buildType: string
    externalParameters: Record<string, unknown>
    internalParameters?: Record<string, unknown>
    resolvedDependencies: ResourceDescriptor[]
  }
  runDetails: {
    builder: { id: string, version?: Record<string, string> }
    metadata: { invocationId: string, startedOn: string, finishedOn: string }
    byproducts?: ResourceDescriptor[]
  }
}

/** A base image the build started from. */
export interface BaseImage {
  /** its manifest digest */
  digest: string
  /** how the build named it, e.g. `docker.io/library/alpine:3.20` */
  name?: string
  mediaType?: string
}

export interface ProvenanceOptions {
  /** the built image's manifest digest: the statement's subject */
  manifestDigest: string
  /** the subject's name, e.g. `namespace/repo:tag` @default the digest */
  name?: string
  /** base images (manifest digests) the build used */
  baseImages?: Array<BaseImage | string>
  /** the builder's UserId */
  builder: UserId
  /** @default a random UUID */
  invocationId?: string
  /** @default the config's `created` (history), else now */
  startedOn?: string | Date
  /** @default the config's `created` (history), else now */
  finishedOn?: string | Date
}

export interface RecipeProvenanceOptions extends ProvenanceOptions {
  /** where the recipe was read from, recorded in `externalParameters.recipe.path` */
  path?: string
}

const INSTRUCTIONS = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL'])

function isoTime (value: string | Date | undefined, fallback: string | undefined, what: string): string {
  const time = value ?? fallback ?? new Date()
  const date = time instanceof Date ? time : new Date(time)
  if (Number.isNaN(date.getTime())) throw new RecipeInvalidError(`${what} ${JSON.stringify(time)} is not a date`)
  return date.toISOString()
}

function baseImageDescriptor (image: BaseImage | string): ResourceDescriptor {
  const base = typeof image === 'string' ? { digest: image } : image
  if (!isDigest(base.digest)) throw new RecipeInvalidError(`base image digest ${JSON.stringify(base.digest)} is not a digest`)
  const descriptor: ResourceDescriptor = { digest: digestSet(base.digest) }
  if (base.name != null) {
    descriptor.name = base.name
    descriptor.uri = `oci://${base.name.replace(/@.*$/, '')}@${base.digest}`
  }
  if (base.mediaType != null) descriptor.mediaType = base.mediaType
  return descriptor
}

function predicate (buildType: string, externalParameters: Record<string, unknown>, dependencies: ResourceDescriptor[], options: ProvenanceOptions, created: string | undefined): SlsaProvenance {
  publicKeyFromUserId(options.builder)
  return {
    buildDefinition: { buildType, externalParameters, resolvedDependencies: dependencies },
    runDetails: {
      builder: { id: options.builder },
      metadata: {
        invocationId: options.invocationId ?? randomUUID(),
        startedOn: isoTime(options.startedOn, created, 'startedOn'),
        finishedOn: isoTime(options.finishedOn, created, 'finishedOn')
      }
    }
  }
}

/** OCI annotation: the manifest digest of the image this one was built on. */
export const ANNOTATION_BASE_DIGEST = 'org.opencontainers.image.base.digest'
/** OCI annotation: the reference of the image this one was built on. */
export const ANNOTATION_BASE_NAME = 'org.opencontainers.image.base.name'

/**
 * The base image a manifest declares through the OCI annotations
 * `org.opencontainers.image.base.digest` and `.base.name` (BuildKit writes
 * them), ready for `ProvenanceOptions.baseImages`. Empty when there is none.
 */
export function baseImagesFromManifest (manifest: ImageManifest): BaseImage[] {
  const digest = manifest.annotations?.[ANNOTATION_BASE_DIGEST]
  if (digest == null || !isDigest(digest)) return []
  const name = manifest.annotations?.[ANNOTATION_BASE_NAME]
  return [name == null ? { digest } : { digest, name }]
}

/** The Dockerfile keyword a history `created_by` came from, when it can be told. */
export function instructionOf (createdBy: string): string | undefined {
  const text = createdBy.trim()
  const nop = /^\/bin\/sh -c #\(nop\)\s+([A-Za-z]+)\b/.exec(text)
  if (nop != null) return nop[1].toUpperCase()
  if (text.startsWith('/bin/sh -c ') || text.startsWith('|')) return 'RUN'
  const word = /^([A-Z]+)\b/.exec(text)
  if (word != null && INSTRUCTIONS.has(word[1])) return word[1]
  return undefined
}

/** The build steps recorded in an image config's history. */
export function historySteps (config: ImageConfig): HistoryStep[] {
  const history = config.history ?? []
  if (history.length === 0) throw new RecipeInvalidError('the image config has no history to take build steps from')
  if (history.length > MAX_BUILD_STEPS) throw new RecipeInvalidError(`the image config has ${history.length} history entries; at most ${MAX_BUILD_STEPS} are accepted`)
  let layer = 0
  return history.map(entry => {
    const createdBy = entry.created_by ?? ''
    const step: HistoryStep = { createdBy, emptyLayer: entry.empty_layer === true }
    const instruction = instructionOf(createdBy)
    if (instruction != null) step.instruction = instruction
    if (!step.emptyLayer) step.layer = layer++
    if (entry.created != null) step.created = entry.created
    if (entry.comment != null) step.comment = entry.comment
    return step
  })
}

/**
 * A SLSA provenance statement for an image, with the build steps taken from
 * its config's `history` (the config as parsed, or its bytes).
 *
 * @throws RecipeInvalidError when the config has no history or an option is invalid
 */
export function provenanceFromHistory (config: ImageConfig | Uint8Array, options: ProvenanceOptions): Statement<SlsaProvenance> {
  const parsed = config instanceof Uint8Array ? parseImageConfig(config).config : config
  const steps = historySteps(parsed)
  const dependencies = (options.baseImages ?? []).map(baseImageDescriptor)
  const external = { source: 'image-config-history', steps }
  return createStatement([{ name: options.name, digest: options.manifestDigest }], PREDICATE_TYPE_SLSA_PROVENANCE_V1,
    predicate(BUILD_TYPE_IMAGE_HISTORY, external, dependencies, options, parsed.created))
}

/** Heredoc openers in an instruction: `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`. */
const HEREDOC = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g

/**
 * Splits a Dockerfile into instructions: parser directives (`# escape=`),
 * comments, line continuations and heredocs handled as BuildKit does.
 *
 * @throws RecipeInvalidError for an unknown instruction, an unterminated heredoc or a recipe over the size limit
 */
export function parseDockerfile (text: string): RecipeStep[] {
  if (Buffer.byteLength(text) > MAX_RECIPE_BYTES) throw new RecipeInvalidError(`the recipe is over ${MAX_RECIPE_BYTES} bytes`)
  let newlines = 0
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) {
    if (++newlines >= MAX_RECIPE_LINES) throw new RecipeInvalidError(`the recipe has over ${MAX_RECIPE_LINES} lines`)
  }
  const lines = text.split(/\r?\n/)
  let escape = '\\'
  let i = 0
  // parser directives: only before anything else
  for (; i < lines.length; i++) {
    const directive = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(lines[i])
    if (directive == null) break
    if (directive[1].toLowerCase() === 'escape') {
      if (directive[2] !== '\\' && directive[2] !== '`') throw new RecipeInvalidError(`line ${i + 1}: escape must be \\ or \``)
      escape = directive[2]
    }
  }

  const steps: RecipeStep[] = []
  while (i < lines.length) {
    const start = i
    const first = lines[i].trim()
    i++
    if (first === '' || first.startsWith('#')) continue
    let logical = ''
    let current = lines[start].trimEnd()
    for (;;) {
      if (current.endsWith(escape)) {
        logical += current.slice(0, -1)
        // comment and empty lines inside a continuation are dropped
        while (i < lines.length && (lines[i].trim().startsWith('#') || lines[i].trim() === '')) i++
        if (i >= lines.length) break
        current = lines[i++].trimEnd()
        continue
      }
      logical += current
      break
    }
    logical = logical.trim()
    const match = /^([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(logical)
    if (match == null) throw new RecipeInvalidError(`line ${start + 1}: cannot read an instruction in ${JSON.stringify(logical.slice(0, 80))}`)
    const instruction = match[1].toUpperCase()
    if (!INSTRUCTIONS.has(instruction)) throw new RecipeInvalidError(`line ${start + 1}: unknown instruction ${match[1]}`)
    if (steps.length === 0 && instruction !== 'FROM' && instruction !== 'ARG') {
      throw new RecipeInvalidError(`line ${start + 1}: the first instruction must be FROM (or ARG), got ${instruction}`)
    }
    let args = match[2] ?? ''
    if (instruction === 'RUN' || instruction === 'COPY' || instruction === 'ADD') {
      for (const heredoc of [...args.matchAll(HEREDOC)]) {
        const [, strip, , word] = heredoc
        const body: string[] = []
        for (;;) {
          if (i >= lines.length) throw new RecipeInvalidError(`line ${start + 1}: heredoc <<${word} is not terminated`)
          const line = lines[i++]
          if ((strip === '-' ? line.replace(/^\t+/, '') : line) === word) break
          body.push(line)
        }
        args += `\n${body.join('\n')}\n${word}`
      }
    }
    steps.push({ line: start + 1, instruction, arguments: args })
    if (steps.length > MAX_BUILD_STEPS) throw new RecipeInvalidError(`the recipe has more than ${MAX_BUILD_STEPS} instructions`)
  }
  if (steps.length === 0) throw new RecipeInvalidError('the recipe has no instructions')
  return steps
}

/** Image names a Dockerfile pulls from: FROM images and `COPY --from=` images that are not stages. */
export function recipeBaseImages (steps: RecipeStep[]): string[] {
  const stages = new Set<string>()
  const images: string[] = []
  const add = (name: string): void => {
    if (name !== 'scratch' && !stages.has(name.toLowerCase()) && !/^\d+$/.test(name) && !images.includes(name)) images.push(name)
  }
  for (const step of steps) {
    const words = step.arguments.split(/\s+/).filter(w => w !== '')
    if (step.instruction === 'FROM') {
      const image = words.find(w => !w.startsWith('--'))
      if (image != null) add(image)
      const as = words.findIndex(w => w.toLowerCase() === 'as')
      if (as >= 0 && words[as + 1] != null) stages.add(words[as + 1].toLowerCase())
    } else if (step.instruction === 'COPY' || step.instruction === 'ADD') {
      const from = words.find(w => w.startsWith('--from='))
      if (from != null) add(from.slice('--from='.length))
    }
  }
  return images
}

/**
 * A SLSA provenance statement for an image, with the build steps taken from
 * the Dockerfile it was built from. Every image the recipe pulls must be
 * resolved to a manifest digest: pinned in the recipe (`FROM alpine@sha256:...`)
 * or given in `options.baseImages` with a matching `name`.
 *
 * @throws RecipeInvalidError for a recipe that cannot be parsed or an unresolved base image
 */
export function provenanceFromRecipe (dockerfile: string, options: RecipeProvenanceOptions): Statement<SlsaProvenance> {
  const steps = parseDockerfile(dockerfile)
  const given = (options.baseImages ?? []).map(b => typeof b === 'string' ? { digest: b } : b)
  const dependencies: ResourceDescriptor[] = []
  const used = new Set<BaseImage>()
  for (const name of recipeBaseImages(steps)) {
    const pinned = /@(sha256:[a-f0-9]{64})$/.exec(name)
    const match = given.find(b => b.name === name)
    if (match != null) {
      used.add(match)
      dependencies.push(baseImageDescriptor(match))
    } else if (pinned != null) {
      dependencies.push(baseImageDescriptor({ name, digest: pinned[1] }))
    } else if (name.includes('$')) {
      throw new RecipeInvalidError(`base image ${name} depends on a build argument; give its digest in baseImages with name ${JSON.stringify(name)}`)
    } else {
      throw new RecipeInvalidError(`base image ${name} is not pinned to a digest; pin it (${name}@sha256:...) or give its digest in baseImages`)
    }
  }
  for (const base of given) {
    if (!used.has(base)) dependencies.push(baseImageDescriptor(base))
  }
  const recipe: Record<string, string> = { digest: computeDigest(new TextEncoder().encode(dockerfile)) }
  if (options.path != null) recipe.path = options.path
  const external = { source: 'dockerfile', recipe, steps }
  return createStatement([{ name: options.name, digest: options.manifestDigest }], PREDICATE_TYPE_SLSA_PROVENANCE_V1,
    predicate(BUILD_TYPE_DOCKERFILE, external, dependencies, options, undefined))
}
