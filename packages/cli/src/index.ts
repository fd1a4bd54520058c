/**
 * @packageDocumentation
 *
 * The `provenir` command-line tool and daemon, and the pieces it is built
 * from, for programs that want to embed them:
 *
 * - the repo (`$PROVENIR_PATH` or `~/.provenir`): `initRepo`, `openRepo`,
 *   `loadRepoConfig`, `loadNodeKey`, and the `api` file a daemon writes;
 * - config.json: `RepoConfig`, `validateRepoConfig`, `loadConfig`;
 * - the daemon: `startDaemon` (node + RPC API + api file);
 * - the RPC API: `createRpcServer` with an extensible route table
 *   (`DEFAULT_ROUTES`), and `RpcClient`.
 *
 * Nothing here prints: only the command layer (`src/commands`) writes to the
 * terminal.
 *
 * @example
 *
 * ```ts
 * import { initRepo, isRepoInitialised, startDaemon, RpcClient } from '@provenir/cli'
 *
 * const repo = '/tmp/provenir-example'
 * if (!await isRepoInitialised(repo)) {
 *   await initRepo(repo, { difficulty: 8, config: { node: { listen: ['/ip4/127.0.0.1/tcp/0'] }, api: '127.0.0.1:0' } })
 * }
 * const daemon = await startDaemon({ repo })
 * const client = await RpcClient.fromRepo(repo)
 * const id = await client.get<{ peerId: string }>('/api/v0/id')
 * await daemon.stop()
 * ```
 */

export { isRepoInitialised, initRepo, openRepo, loadRepoConfig, loadNodeKey, loadSwarmKey } from './repo.js'
export type { Repo, InitRepoOptions, InitRepoResult } from './repo.js'
export { resolveRepoPath, repoPaths, readApiFile, writeApiFile, removeApiFile } from './repo-paths.js'
export type { RepoPaths } from './repo-paths.js'
export { validateRepoConfig, createRepoConfig, loadConfig, serializeConfig } from './config.js'
export { parseApiAddress, formatApiAddress } from './api-address.js'
export type { ApiAddress, ApiEndpoint } from './api-address.js'
export type { RepoConfig, RepoConfigInit, TlsConfig, GatewayConfig } from './config.js'
export { ensureRepoTls, repoTlsPaths, serverTls, tlsEnabled, localNames } from './tls.js'
export type { RepoTlsPaths, RepoTlsResult, ServerTls } from './tls.js'
export { NAMING_ROUTES } from './naming-routes.js'
export { validateBundle, parseBundle, BUNDLE_VERSION } from './bundle.js'
export type { SwarmBundle } from './bundle.js'
export { startDaemon, assertDaemonNotRunning } from './daemon.js'
export type { Daemon, StartDaemonInit } from './daemon.js'
export { createRpcServer, DEFAULT_ROUTES } from './rpc-server.js'
export type { RpcServer, RpcServerInit, RpcRoute, RpcContext, RpcErrorBody, IdResponse, PeersResponse, PeerStoreResponse, HealthResponse } from './rpc-server.js'
export { CONTENT_ROUTES, ContentLock, summarise } from './content-routes.js'
export { STORAGE_ROUTES } from './storage-routes.js'
export type { ImageRmResponse, RepoStatResponse } from './storage-routes.js'
export { TRUST_ROUTES, statementInfo } from './trust-routes.js'
export type { StatementInfo, ImageInspectResponse, StatementsResponse, VerifyResponse } from './trust-routes.js'
export type { ImageFormat, ImageSummary, ImageLsResponse, ProgressLine, ImageImportResult, ImageExportResult, ImagePullResult, ProvidersResponse, GcResponse } from './content-routes.js'
export { RpcClient } from './rpc-client.js'
export type { RpcClientInit, RpcCallOptions, RpcStreamOptions } from './rpc-client.js'
export { gaterRefusedCounter, GATER_REFUSED_METRIC, storeMetrics, STORE_METRICS } from './metrics.js'
export { FileExistsError, DaemonAlreadyRunningError, ApiAddressInUseError, DatastoreOpenError, PathNotFoundError, NamingUnavailableError, BundleInvalidError, TlsMaterialError, RpcError } from './errors.js'
export { isExpectedError } from './known-errors.js'
export { createProgram, run } from './program.js'
export * from './constants.js'
