/**
 * The referrers of a manifest (OCI 1.1): manifests pushed with it as their
 * `subject`, and its statements (signatures, attestations) made visible to
 * OCI tools as artifacts. Each statement becomes, once, an image manifest
 * with `artifactType` the Sigstore bundle v0.3 media type, the empty config,
 * one layer holding the statement as a bundle, and the image as `subject`;
 * the artifacts are stored and pinned like pushed manifests, so the
 * manifest and blob routes serve them. Listings are per repository: a
 * referrer is listed through the repositories that hold it.
 */

import { computeDigest, importBlob, MEDIA_TYPE_OCI_EMPTY, MEDIA_TYPE_OCI_MANIFEST } from '@provenir/content'
import { parseEnvelope, SIGSTORE_BUNDLE_V03_MEDIA_TYPE, toSigstoreBundle } from '@provenir/trust'
import { CID } from 'multiformats/cid'
import { readSmallBlob } from './local-source.js'
import type { ContentServiceComponents } from './components.js'
import type { ContentRequest, ReferrerDescriptor } from './types.js'
import type { Digest, ManifestEntry } from '@provenir/content'

/** Annotation cosign and other Sigstore tools read for a bundle's predicate type */
export const ANNOTATION_BUNDLE_PREDICATE_TYPE = 'dev.sigstore.bundle.predicateType'

/** Annotation naming the statement block (its CID) an artifact manifest carries */
export const ANNOTATION_STATEMENT = 'dev.provenir.statement'

/** Annotation listing the UserIds that signed the statement, comma-separated */
export const ANNOTATION_SIGNERS = 'dev.provenir.signers'

const encoder = new TextEncoder()

/**
 * Makes the artifacts of the image's statements that are not made yet, and
 * links every one of them (with its blobs) to the repository.
 */
async function statementArtifacts (c: ContentServiceComponents, repository: string, digest: string): Promise<void> {
  const record = await c.images.get(digest)
  if (record?.statements == null || record.statements.length === 0) return
  const made = new Map<string, [Digest, ManifestEntry]>()
  for (const [d, e] of await c.registry.referrers(digest)) {
    const statement = e.annotations?.[ANNOTATION_STATEMENT]
    if (statement != null) made.set(statement, [d, e])
  }
  const manifests: string[] = []
  const blobs: string[] = []
  for (const [d] of made.values()) manifests.push(d)
  if (!record.statements.every(s => made.has(s))) {
    for (const s of await c.statements(digest)) {
      if (made.has(s.cid.toString())) continue
      const bundle = encoder.encode(JSON.stringify(toSigstoreBundle(parseEnvelope(s.bytes))))
      const config = encoder.encode('{}')
      const configDesc = { mediaType: MEDIA_TYPE_OCI_EMPTY, digest: computeDigest(config), size: config.byteLength }
      const bundleDesc = { mediaType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE, digest: computeDigest(bundle), size: bundle.byteLength }
      const annotations = {
        [ANNOTATION_BUNDLE_PREDICATE_TYPE]: s.predicateType,
        [ANNOTATION_STATEMENT]: s.cid.toString(),
        [ANNOTATION_SIGNERS]: s.signers.join(',')
      }
      const manifest = encoder.encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE_OCI_MANIFEST,
        artifactType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
        config: configDesc,
        layers: [bundleDesc],
        subject: { mediaType: record.mediaType, digest, size: record.blobs[0].size },
        annotations
      }))
      const manifestDigest = computeDigest(manifest)
      const all: CID[] = []
      const roots: Record<string, { root: CID, blocks: CID[], size: number }> = {}
      for (const [d, bytes] of [[configDesc.digest, config], [bundleDesc.digest, bundle], [manifestDigest, manifest]] as const) {
        const res = await importBlob([bytes], c.blockstore, { expectedDigest: d, size: bytes.byteLength })
        roots[d] = { root: res.root, blocks: res.blocks, size: bytes.byteLength }
        all.push(...res.blocks)
      }
      for (const d of [configDesc.digest, bundleDesc.digest]) {
        await c.registry.putBlob(d, { size: roots[d].size, root: roots[d].root.toString(), blocks: roots[d].blocks.map(b => b.toString()) })
      }
      await c.registry.putManifest(manifestDigest, {
        mediaType: MEDIA_TYPE_OCI_MANIFEST,
        size: manifest.byteLength,
        root: roots[manifestDigest].root.toString(),
        blocks: all.map(b => b.toString()),
        kind: 'manifest',
        subject: digest as Digest,
        artifactType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
        annotations
      })
      manifests.push(manifestDigest)
      blobs.push(configDesc.digest, bundleDesc.digest)
    }
  }
  // the blobs of the artifacts made earlier belong to the repository too
  for (const [d, e] of made.values()) blobs.push(...await artifactBlobs(c, d, e))
  if (manifests.length > 0) await c.registry.link({ repository, manifests, blobs })
}

/** The config and layer digests of an artifact manifest the registry holds */
async function artifactBlobs (c: ContentServiceComponents, digest: Digest, entry: ManifestEntry): Promise<string[]> {
  const bytes = await readSmallBlob(CID.parse(entry.root), c.blockstore, digest, entry.size)
  const doc = JSON.parse(new TextDecoder().decode(bytes)) as { config: { digest: string }, layers: Array<{ digest: string }> }
  return [doc.config.digest, ...doc.layers.map(l => l.digest)]
}

/**
 * The referrers of `digest` listed through a repository, filtered by
 * `artifactType` when given. The statements of an image the repository
 * holds are made into artifacts (once) and linked to it first.
 */
export async function listReferrers (c: ContentServiceComponents, request: ContentRequest & { digest: string, artifactType?: string }): Promise<ReferrerDescriptor[]> {
  if (await c.registry.isLinked(request.repository, request.digest)) await statementArtifacts(c, request.repository, request.digest)
  const out: ReferrerDescriptor[] = []
  for (const [d, e] of await c.registry.referrers(request.digest, request)) {
    if (request.artifactType != null && e.artifactType !== request.artifactType) continue
    if (!await c.registry.isLinked(request.repository, d)) continue
    out.push({
      mediaType: e.mediaType,
      digest: d,
      size: e.size,
      ...(e.artifactType != null ? { artifactType: e.artifactType } : {}),
      ...(e.annotations != null ? { annotations: e.annotations } : {})
    })
  }
  return out
}
