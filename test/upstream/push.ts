/**
 * Pushes hand-made objects (cosign signature manifests, referrers indexes)
 * to the test upstream over the distribution API: a push token from its
 * issuer, monolithic blob uploads, manifest PUTs. skopeo pushes images; it
 * will not push artifacts with cosign's media types.
 */

import { createHash } from 'node:crypto'
import https from 'node:https'
import { createCosignSignature } from '@provenir/trust'
import { PUSHER, type StandIn } from './stand-in.js'
import { TOKEN_SERVICE } from './token-issuer.js'
import type { PrivateKey } from '@libp2p/interface'

const digestOf = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

async function send (hub: StandIn, method: string, url: string, headers: Record<string, string>, body?: Uint8Array): Promise<{ status: number, body: string, headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers: { ...headers, ...(body != null ? { 'content-length': String(body.byteLength) } : {}) }, ca: hub.pki.caPem }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function pushToken (hub: StandIn, repository: string): Promise<string> {
  const url = `${hub.issuer.url}?service=${TOKEN_SERVICE}&scope=${encodeURIComponent(`repository:${repository}:pull,push`)}`
  const res = await send(hub, 'GET', url, { authorization: `Basic ${Buffer.from(`${PUSHER.username}:${PUSHER.password}`).toString('base64')}` })
  return JSON.parse(res.body).token
}

export interface PushObjects {
  blobs: Uint8Array[]
  manifests: Array<{ bytes: Uint8Array, mediaType: string, reference: string }>
}

/** Pushes blobs, then manifests in order */
export async function pushObjects (hub: StandIn, repository: string, objects: PushObjects): Promise<void> {
  const auth = { authorization: `Bearer ${await pushToken(hub, repository)}` }
  for (const blob of objects.blobs) {
    const start = await send(hub, 'POST', `${hub.url}/v2/${repository}/blobs/uploads/`, auth)
    if (start.status !== 202) throw new Error(`blob upload answered ${start.status}: ${start.body}`)
    const location = new URL(String(start.headers.location), hub.url)
    location.searchParams.set('digest', digestOf(blob))
    const res = await send(hub, 'PUT', location.href, { ...auth, 'content-type': 'application/octet-stream' }, blob)
    if (res.status !== 201) throw new Error(`blob PUT answered ${res.status}: ${res.body}`)
  }
  for (const m of objects.manifests) {
    const res = await send(hub, 'PUT', `${hub.url}/v2/${repository}/manifests/${m.reference}`, { ...auth, 'content-type': m.mediaType }, m.bytes)
    if (res.status !== 201) throw new Error(`manifest PUT ${m.reference} answered ${res.status}: ${res.body}`)
  }
}

const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))

/**
 * Signs `digest` of `host/repository` with `key` in cosign's layout and
 * pushes it: by the tag scheme (`sha256-<hex>.sig`, an OCI manifest whose
 * layer is the payload with its signature annotation), or as an OCI 1.1
 * referrer (artifactType `application/vnd.dev.cosign.artifact.sig.v1+json`,
 * `subject` the image), listed in the referrers tag schema's index
 * (`sha256-<hex>`), which a registry without the referrers API serves.
 */
export async function pushCosignSignature (hub: StandIn, repository: string, subject: { digest: string, size: number, mediaType: string }, key: PrivateKey, mode: 'tag' | 'referrers'): Promise<void> {
  const { payload, signature } = createCosignSignature(subject.digest, `${hub.host}/${repository}`, key)
  const layer = { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: digestOf(payload), size: payload.byteLength, annotations: { 'dev.cosignproject.cosign/signature': signature } }
  const hex = subject.digest.slice('sha256:'.length)
  if (mode === 'tag') {
    const config = json({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [digestOf(payload)] } })
    const manifest = json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.byteLength }, layers: [layer] })
    await pushObjects(hub, repository, { blobs: [config, payload], manifests: [{ bytes: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', reference: `sha256-${hex}.sig` }] })
    return
  }
  const empty = json({})
  const artifactType = 'application/vnd.dev.cosign.artifact.sig.v1+json'
  const manifest = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(empty), size: empty.byteLength },
    layers: [layer],
    subject
  })
  const index = json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(manifest), size: manifest.byteLength, artifactType }] })
  await pushObjects(hub, repository, {
    blobs: [empty, payload],
    manifests: [
      { bytes: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', reference: digestOf(manifest) },
      { bytes: index, mediaType: 'application/vnd.oci.image.index.v1+json', reference: `sha256-${hex}` }
    ]
  })
}
