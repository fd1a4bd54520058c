/**
 * Cosign signatures of an image on its registry, as cosign stores them:
 *
 * - the tag scheme: a manifest tagged `sha256-<hex>.sig` in the image's
 *   repository;
 * - OCI 1.1 referrers: manifests whose `subject` is the image, with
 *   `artifactType` `application/vnd.dev.cosign.artifact.sig.v1+json`.
 *
 * Either way each layer of media type
 * `application/vnd.dev.cosign.simplesigning.v1+json` is a simple-signing
 * payload, and its annotation `dev.cosignproject.cosign/signature` holds
 * the base64 signature over the payload's bytes. This module only fetches
 * (each payload checked against its digest); `@provenir/trust` verifies.
 */

import { isDigest, parseDigest, type AbortOptions } from '@provenir/interface'
import {
  COSIGN_ARTIFACT_TYPE, COSIGN_SIGNATURE_ANNOTATION, COSIGN_SIMPLE_SIGNING_MEDIA_TYPE, MAX_COSIGN_LAYERS, MAX_COSIGN_PAYLOAD_BYTES, MAX_COSIGN_SIGNATURES
} from './constants.js'
import type { RegistryClient } from './client.js'

/** One signed payload found for an image */
export interface FetchedCosignSignature {
  /** The simple-signing payload's bytes, checked against the layer digest */
  payload: Uint8Array
  /** The base64 signature from the layer's annotation */
  signature: string
  /** Where it was found */
  from: 'tag' | 'referrers'
  /** The digest of the signature manifest that carried it */
  manifest: string
}

/** The layers a signature manifest lists as signed payloads */
function signedLayers (bytes: Uint8Array): Array<{ digest: string, size: number, signature: string }> {
  let doc: { layers?: unknown }
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    return []
  }
  if (!Array.isArray(doc.layers)) return []
  return doc.layers.slice(0, MAX_COSIGN_LAYERS).flatMap((l: any) => {
    const signature = l?.annotations?.[COSIGN_SIGNATURE_ANNOTATION]
    if (l?.mediaType !== COSIGN_SIMPLE_SIGNING_MEDIA_TYPE || typeof signature !== 'string' || !isDigest(l.digest)) return []
    if (!Number.isSafeInteger(l.size) || l.size < 0 || l.size > MAX_COSIGN_PAYLOAD_BYTES) return []
    return [{ digest: l.digest as string, size: l.size as number, signature }]
  })
}

/**
 * Every cosign signature stored for `digest` in `repository`, by the tag
 * scheme and by referrers (at most MAX_COSIGN_SIGNATURES manifests). A
 * registry that has none gives an empty list; one that cannot be reached
 * throws.
 */
export async function fetchCosignSignatures (client: RegistryClient, repository: string, digest: string, options: AbortOptions = {}): Promise<FetchedCosignSignature[]> {
  const { algorithm, encoded } = parseDigest(digest)
  const manifests: Array<{ from: 'tag' | 'referrers', digest: string, bytes: Uint8Array }> = []
  try {
    const m = await client.manifest(repository, `${algorithm}-${encoded}.sig`, options)
    manifests.push({ from: 'tag', digest: m.digest, bytes: m.bytes })
  } catch (err: unknown) {
    if ((err as Error).name !== 'UpstreamNotFoundError') throw err
  }
  const referrers = await client.referrers(repository, digest, { ...options, artifactType: COSIGN_ARTIFACT_TYPE })
  for (const r of referrers.slice(0, MAX_COSIGN_SIGNATURES - manifests.length)) {
    if (manifests.some(m => m.digest === r.digest)) continue
    const m = await client.manifest(repository, r.digest, options)
    manifests.push({ from: 'referrers', digest: m.digest, bytes: m.bytes })
  }
  const out: FetchedCosignSignature[] = []
  for (const m of manifests) {
    for (const layer of signedLayers(m.bytes)) {
      const payload = await client.blobBytes(repository, layer.digest, MAX_COSIGN_PAYLOAD_BYTES, options)
      out.push({ payload, signature: layer.signature, from: m.from, manifest: m.digest })
    }
  }
  return out
}
