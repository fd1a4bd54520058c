/**
 * @packageDocumentation
 *
 * An OCI distribution client for the upstream registries a provenir node
 * mirrors (Docker Hub by default; any OCI registry can be added), on undici:
 *
 * - token auth from the `WWW-Authenticate: Bearer` challenge, anonymous or
 *   with credentials, tokens cached per scope; Basic auth;
 * - credentials from the files users already have (`containers/auth.json`,
 *   docker's `config.json`, and `docker-credential-<name>` helpers), never
 *   logged;
 * - a configured CA beside the system's; redirects to blob storage without
 *   `Authorization` across origins; range resume of a broken blob download;
 *   retries with backoff; a timeout on every call;
 * - `Accept` for OCI and Docker manifests, indexes and manifest lists; HEAD
 *   for tag -> digest; every manifest checked against its digest and bounded.
 *
 * `validateUpstreamConfig` checks a daemon's `upstream` section and
 * `Upstreams` routes names (`quay.io/org/app`, `alpine`) to registries and
 * remembers the tags they resolved. See README.md.
 *
 * @example
 *
 * ```ts
 * import { Upstreams, validateUpstreamConfig } from '@provenir/registry-client'
 *
 * const upstreams = await Upstreams.create(validateUpstreamConfig({ registries: [{ host: 'quay.io' }] }))
 * const tag = await upstreams.resolve({ path: 'alpine' }, '3.20') // docker.io/library/alpine
 * const { client } = upstreams.get(tag.host)!
 * const manifest = await client.manifest(tag.repository, tag.digest)
 * await upstreams.close()
 * ```
 */

export * from './constants.js'
export * from './errors.js'
export { RegistryClient, parseReferrers } from './client.js'
export type { RegistryClientInit, ManifestHead, FetchedManifest, Referrer, ClientCallOptions } from './client.js'
export type { BlobDownload, BlobDownloadOptions } from './blob.js'
export { parseChallenges } from './challenge.js'
export type { Challenge } from './challenge.js'
export { parseTokenResponse } from './auth.js'
export {
  RegistryCredentials, AuthFileCredentials, StaticCredentials, HelperCredentials, ANONYMOUS, defaultAuthFiles, normaliseAuthKey, credentialsFromHelper
} from './credentials.js'
export type { CredentialSource } from './credentials.js'
export { validateUpstreamConfig, effectiveRegistries, defaultEndpoint } from './config.js'
export type { UpstreamConfig, UpstreamRegistryConfig, UpstreamCredentialsConfig } from './config.js'
export { Upstreams } from './upstreams.js'
export type { UpstreamRegistry, UpstreamTarget, UpstreamTag, UpstreamAnswer, UpstreamsInit } from './upstreams.js'
export { fetchCosignSignatures } from './cosign.js'
export type { FetchedCosignSignature } from './cosign.js'
export type { TransportInit } from './http.js'
