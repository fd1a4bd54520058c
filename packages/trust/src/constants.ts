/**
 * Media types, predicate types and bounds of the trust package. Every bound
 * here is enforced before (or while) the input it limits is parsed.
 */

/** The DSSE v1 pre-authentication-encoding prefix. */
export const DSSE_PAE_PREFIX = 'DSSEv1'

/** DSSE payloadType of an in-toto statement. */
export const PAYLOAD_TYPE_IN_TOTO = 'application/vnd.in-toto+json'

/** `_type` of an in-toto Statement v1. */
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1'

/**
 * Predicate type of an image signature: a statement whose only subject is a
 * manifest digest. The predicate is `ImageSignaturePredicate`.
 */
export const PREDICATE_TYPE_IMAGE_SIGNATURE = 'https://provenir.dev/signature/image/v1'

/**
 * Predicate type of a layer signature: a statement whose subjects are layer
 * (blob) digests. The predicate is `LayerSignaturePredicate`.
 */
export const PREDICATE_TYPE_LAYER_SIGNATURE = 'https://provenir.dev/signature/layer/v1'

/** Predicate type of SLSA build provenance v1. */
export const PREDICATE_TYPE_SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1'

/** SLSA buildType of provenance derived from an image config's `history`. */
export const BUILD_TYPE_IMAGE_HISTORY = 'https://provenir.dev/build/image-history/v1'

/** SLSA buildType of provenance derived from a Dockerfile recipe. */
export const BUILD_TYPE_DOCKERFILE = 'https://provenir.dev/build/dockerfile/v1'

/** Media type of a Sigstore bundle v0.3. */
export const SIGSTORE_BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json'

/** Largest DSSE envelope (JSON bytes) accepted: 1 MiB. */
export const MAX_ENVELOPE_BYTES = 1024 * 1024

/** Largest decoded DSSE payload accepted: 512 KiB. */
export const MAX_PAYLOAD_BYTES = 512 * 1024

/** Most signatures one DSSE envelope may carry. */
export const MAX_SIGNATURES = 16

/** Most subjects one statement may list (an image has far fewer layers than this). */
export const MAX_SUBJECTS = 1024

/** Largest `payloadType` accepted, in bytes. */
export const MAX_PAYLOAD_TYPE_BYTES = 256

/** Most statements `verifyImage` looks at for one image. */
export const MAX_STATEMENTS = 256

/** Largest policy.json accepted: 1 MiB. */
export const MAX_POLICY_BYTES = 1024 * 1024

/** Most rules in one policy. */
export const MAX_POLICY_RULES = 1024

/** Most signers listed in one policy entry. */
export const MAX_POLICY_SIGNERS = 64

/** Largest Dockerfile recipe accepted: 1 MiB. */
export const MAX_RECIPE_BYTES = 1024 * 1024

/** Most build steps carried in one provenance predicate. */
export const MAX_BUILD_STEPS = 4096

/**
 * Lines in a Dockerfile recipe, counted before it is split: a megabyte of
 * line continuations is half a million lines, which took 80-100 ms to split
 * and join. Real Dockerfiles have hundreds.
 */
export const MAX_RECIPE_LINES = 65_536

/** Largest Sigstore bundle (JSON bytes) accepted: 1 MiB plus room for verification material. */
export const MAX_BUNDLE_BYTES = MAX_ENVELOPE_BYTES + 64 * 1024

/** Longest glob in a policy rule's `match`, as the policy schema allows */
export const MAX_GLOB_LENGTH = 256

/**
 * Longest image reference a policy rule is looked up for, checked before any
 * glob is matched against it (matching costs time in the product of the two
 * lengths)
 */
export const MAX_POLICY_REFERENCE_LENGTH = 1024

/** Largest cosign simple-signing payload checked. @default 64 KiB */
export const MAX_COSIGN_PAYLOAD_BYTES = 64 * 1024

/** Cosign signatures checked for one image. @default 32 */
export const MAX_COSIGN_SIGNATURES_CHECKED = 32

/** Public keys in one upstream rule's `cosign.keys`. @default 16 */
export const MAX_COSIGN_KEYS = 16

/** Rules in a policy's `upstream` list. @default 1_024 */
export const MAX_UPSTREAM_RULES = 1024
