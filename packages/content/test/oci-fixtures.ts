/**
 * Hand-written documents shaped like the ones real registries serve: a
 * BuildKit-style OCI image manifest and multi-arch index (with its attestation
 * manifest entry), a Docker Hub-style schema 2 manifest and manifest list (with
 * a Windows entry), an OCI artifact with an empty config and a subject, and
 * Docker and OCI image configs. Digests are computed, so descriptors point at
 * real bytes where the fixture has them.
 */

import { computeDigest } from '../src/oci.js'

export const enc = (doc: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(doc, null, 3))
const fake = (label: string): string => computeDigest(new TextEncoder().encode(label))

export const ociConfig = {
  created: '2025-06-01T12:34:56.789012345Z',
  architecture: 'amd64',
  os: 'linux',
  config: {
    User: '65532:65532',
    ExposedPorts: { '8080/tcp': {} },
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'],
    Entrypoint: ['/app/server'],
    Cmd: ['--listen', ':8080'],
    WorkingDir: '/app',
    Labels: { 'org.opencontainers.image.source': 'https://github.com/example/server' },
    StopSignal: 'SIGTERM'
  },
  rootfs: {
    type: 'layers',
    diff_ids: [fake('diff-1'), fake('diff-2')]
  },
  history: [
    { created: '2025-05-30T00:00:00Z', created_by: 'bazel build @distroless//base', comment: 'buildkit.dockerfile.v0' },
    { created: '2025-06-01T12:34:56Z', created_by: 'COPY server /app/server # buildkit', comment: 'buildkit.dockerfile.v0' },
    { created: '2025-06-01T12:34:56Z', created_by: 'EXPOSE map[8080/tcp:{}]', comment: 'buildkit.dockerfile.v0', empty_layer: true }
  ]
}
export const ociConfigBytes = enc(ociConfig)

export const ociManifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    digest: computeDigest(ociConfigBytes),
    size: ociConfigBytes.byteLength
  },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: fake('layer-1'), size: 2_817_309 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: fake('layer-2'), size: 8_412_077 }
  ],
  annotations: {
    'org.opencontainers.image.created': '2025-06-01T12:34:56Z',
    'org.opencontainers.image.base.name': 'gcr.io/distroless/base-debian12:nonroot'
  }
}
export const ociManifestBytes = enc(ociManifest)

export const ociIndex = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: computeDigest(ociManifestBytes),
      size: ociManifestBytes.byteLength,
      platform: { architecture: 'amd64', os: 'linux' }
    },
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: fake('manifest-arm64'),
      size: 1_012,
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' }
    },
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: fake('manifest-armv7'),
      size: 1_012,
      platform: { architecture: 'arm', os: 'linux', variant: 'v7' }
    },
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: fake('attestation'),
      size: 839,
      annotations: {
        'vnd.docker.reference.digest': computeDigest(ociManifestBytes),
        'vnd.docker.reference.type': 'attestation-manifest'
      },
      platform: { architecture: 'unknown', os: 'unknown' }
    }
  ],
  annotations: { 'org.opencontainers.image.ref.name': 'v1.4.2' }
}

export const dockerConfig = {
  architecture: 'amd64',
  config: {
    Hostname: '',
    Domainname: '',
    User: '',
    AttachStdin: false,
    Tty: false,
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    Cmd: ['/bin/sh'],
    Image: fake('parent-image'),
    Volumes: null,
    WorkingDir: '',
    Entrypoint: null,
    OnBuild: null,
    Labels: null
  },
  container: 'a0c1f2b3',
  created: '2024-01-27T00:30:56.150898206Z',
  docker_version: '20.10.23',
  history: [
    { created: '2024-01-27T00:30:56.000000000Z', created_by: '/bin/sh -c #(nop) ADD file:37a76ec18f9887751cd8473744917d08b7431fc4085097bb6a09d81b41775473 in / ' },
    { created: '2024-01-27T00:30:56.150898206Z', created_by: '/bin/sh -c #(nop)  CMD ["/bin/sh"]', empty_layer: true }
  ],
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [fake('alpine-diff')] }
}
export const dockerConfigBytes = enc(dockerConfig)

export const dockerManifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
  config: {
    mediaType: 'application/vnd.docker.container.image.v1+json',
    size: dockerConfigBytes.byteLength,
    digest: computeDigest(dockerConfigBytes)
  },
  layers: [
    { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 3_408_729, digest: fake('alpine-layer') }
  ]
}
export const dockerManifestBytes = enc(dockerManifest)

export const dockerManifestList = {
  schemaVersion: 2,
  mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
  manifests: [
    {
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      size: dockerManifestBytes.byteLength,
      digest: computeDigest(dockerManifestBytes),
      platform: { architecture: 'amd64', os: 'linux' }
    },
    {
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      size: 528,
      digest: fake('alpine-armv6'),
      platform: { architecture: 'arm', os: 'linux', variant: 'v6' }
    },
    {
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      size: 528,
      digest: fake('alpine-arm64'),
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' }
    },
    {
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      size: 1_574,
      digest: fake('nanoserver'),
      platform: { architecture: 'amd64', os: 'windows', 'os.version': '10.0.20348.2227' }
    }
  ]
}

/** A foreign (non-distributable) Windows base layer, as Docker schema 2 writes it. */
export const dockerForeignLayer = {
  mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  size: 1_654_720_000,
  digest: fake('windows-base'),
  urls: ['https://mcr.microsoft.com/v2/windows/servercore/blobs/' + fake('windows-base')]
}

/** The OCI empty descriptor, with its two bytes embedded. */
export const emptyDescriptor = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: computeDigest(new TextEncoder().encode('{}')),
  size: 2,
  data: 'e30='
}

/** An SBOM attached to the image manifest as an OCI 1.1 artifact (a referrer). */
export const artifactManifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: 'application/spdx+json',
  config: emptyDescriptor,
  layers: [
    { mediaType: 'application/spdx+json', digest: fake('sbom'), size: 48_213 }
  ],
  subject: {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: computeDigest(ociManifestBytes),
    size: ociManifestBytes.byteLength
  },
  annotations: { 'org.opencontainers.image.created': '2025-06-01T12:40:00Z' }
}
