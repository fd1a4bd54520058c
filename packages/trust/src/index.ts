/**
 * @packageDocumentation
 *
 * Trust for provenir: signed objects, per-layer signatures from several
 * issuers, build provenance, Sigstore export and the trust policy.
 *
 * - A signed object is a DSSE envelope (`payloadType`
 *   `application/vnd.in-toto+json`) holding an in-toto Statement v1; each
 *   signature's keyid is the signer's UserId (an Ed25519 PeerId as CIDv1
 *   libp2p-key, base36), from which the verifier derives the public key.
 * - An image signature is a statement (`https://provenir.dev/signature/image/v1`)
 *   whose subject is the manifest digest; a layer signature
 *   (`https://provenir.dev/signature/layer/v1`) names layer digests. One image
 *   may carry layer signatures by several issuers.
 * - Build provenance is a SLSA provenance v1 predicate built from the image
 *   config's history or from a Dockerfile.
 * - Any one signature exports as a Sigstore bundle v0.3 with a public-key hint;
 *   keys export as PEM (SubjectPublicKeyInfo).
 * - A trust policy (policy.json) says, per repository glob, who must sign the
 *   manifest, who may sign each layer and which attestations are required,
 *   under the mode enforce, audit or off.
 *
 * @example
 *
 * ```ts
 * import { generateKeyPair } from '@libp2p/crypto/keys'
 * import { assertPolicy, imageSignatureStatement, layerSignatureStatement, parsePolicy, signStatement, userIdFromKey, verifyImage } from '@provenir/trust'
 * import type { ImageManifest } from '@provenir/content'
 *
 * declare const manifest: ImageManifest
 * declare const manifestDigest: string
 * const vendor = await generateKeyPair('Ed25519')
 * const team = await generateKeyPair('Ed25519')
 *
 * const statements = [
 *   await signStatement(layerSignatureStatement([manifest.layers[0].digest]), vendor),
 *   await signStatement(layerSignatureStatement([manifest.layers[1].digest]), team),
 *   await signStatement(imageSignatureStatement(manifestDigest), team)
 * ]
 * const policy = parsePolicy({
 *   version: 1,
 *   rules: [{
 *     match: 'acme/*',
 *     mode: 'enforce',
 *     manifest: { signers: [userIdFromKey(team)] },
 *     layers: [
 *       { layers: 'base:1', signers: [userIdFromKey(vendor)] },
 *       { layers: 'rest', signers: [userIdFromKey(team)] }
 *     ]
 *   }]
 * })
 * const report = await verifyImage({ manifest, manifestDigest, statements, policy, reference: 'acme/app:1.0' })
 * assertPolicy(report) // throws PolicyViolationError under enforce when a rule fails
 * ```
 */

export * from './errors.js'
export * from './constants.js'
export { userIdFromKey, publicKeyFromUserId, isUserId, publicKeyToPem, publicKeyFromPem, publicKeyToKeyObject } from './keys.js'
export type { UserId } from './keys.js'
export { pae, signEnvelope, addSignature, verifyEnvelope, parseEnvelope, checkEnvelope, encodeEnvelope } from './dsse.js'
export type { Envelope, EnvelopeSignature, VerifiedEnvelope, EnvelopeLimits, ParseEnvelopeOptions } from './dsse.js'
export {
  createStatement,
  imageSignatureStatement,
  layerSignatureStatement,
  checkStatement,
  signStatement,
  verifyStatement,
  digestSet,
  subjectMatches,
  statementNames
} from './statement.js'
export type {
  Statement,
  Subject,
  DigestSet,
  ImageSignaturePredicate,
  LayerSignaturePredicate,
  VerifiedStatement,
  VerifyStatementOptions
} from './statement.js'
export { provenanceFromHistory, provenanceFromRecipe, parseDockerfile, historySteps, instructionOf, recipeBaseImages, baseImagesFromManifest, ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME } from './provenance.js'
export type { SlsaProvenance, ResourceDescriptor, HistoryStep, RecipeStep, BaseImage, ProvenanceOptions, RecipeProvenanceOptions } from './provenance.js'
export { toSigstoreBundle, fromSigstoreBundle } from './bundle.js'
export type { SigstoreBundle } from './bundle.js'
export { COSIGN_PAYLOAD_TYPE, createCosignSignature, cosignKey, verifyCosignSignatures, findUpstreamRule, upstreamNeedsSignatures, checkUpstreamImage } from './cosign.js'
export type { CosignSignature, UpstreamRule, CosignRequirement, CosignResult, CheckUpstreamImageOptions } from './cosign.js'
export { POLICY_SCHEMA, parsePolicy, findRule, repositoryOf, matchGlob } from './policy.js'
export { verifyImage, assertPolicy, formatReport } from './verify-image.js'
export type {
  TrustPolicy,
  PolicyRule,
  PolicyMode,
  LayerSelector,
  SignerRequirement,
  LayerRequirement,
  AttestationRequirement,
  ParsePolicyOptions
} from './policy.js'
export type { VerificationReport, ObjectCheck, CheckResult, StatementSummary, VerifyImageOptions } from './verify-image.js'
