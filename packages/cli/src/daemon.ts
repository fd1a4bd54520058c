import { join } from 'node:path'
import { Keystore, nodeIdDifficulty, SELF_KEY_NAME } from '@provenir/identity'
import { hostOfMirrorPrefix, InsufficientDifficultyError, InvalidConfigError } from '@provenir/interface'
import { createGateway } from '@provenir/gateway'
import { keystoreKeys, policyReferenceOf, recordFromResolution } from '@provenir/naming'
import { createNode, LEGACY_GATEWAY_STATE } from '@provenir/node'
import { formatApiAddress, parseApiAddress } from './api-address.js'
import { GATEWAY_PUBLISH_TIMEOUT_MS, STARTUP_PROVIDE_CONCURRENCY } from './constants.js'
import { ApiAddressInUseError, DaemonAlreadyRunningError, DatastoreOpenError } from './errors.js'
import { errorCode, readFileBounded } from './fs-util.js'
import { createDaemonLog, requestLog } from './log.js'
import { MAX_POLICY_BYTES, parsePolicy, PolicyInvalidError } from '@provenir/trust'
import { gaterRefusedCounter, storeMetrics } from './metrics.js'
import { contentMetrics, gatewayRequestMetrics, importMetrics, namingMetrics } from './work-metrics.js'
import { removeApiFile, writeApiFile } from './repo-paths.js'
import { openRepo } from './repo.js'
import { RpcClient } from './rpc-client.js'
import { createRpcServer } from './rpc-server.js'
import { serverTls } from './tls.js'
import type { ApiAddress } from './api-address.js'
import type { Repo } from './repo.js'
import type { DaemonLog } from './log.js'
import type { RpcRoute, RpcServer } from './rpc-server.js'
import type { Gateway, GatewayInit } from '@provenir/gateway'
import type { AbortOptions, ComponentLogger, Logger, PrivateKey } from '@libp2p/interface'
import type { Naming } from '@provenir/naming'
import type { ProvenirNode } from '@provenir/node'
import type { TrustPolicy } from '@provenir/trust'

export interface StartDaemonInit {
  /** The repo directory; it must be initialised (see `initRepo`) */
  repo: string
  /** The daemon's log (`provenir daemon --log-level`) @default createDaemonLog(): info and above, to stderr */
  log?: DaemonLog
  /** The components' logger @default the `log`'s ComponentLogger view */
  logger?: ComponentLogger
  /** RPC routes; @default DEFAULT_ROUTES */
  routes?: readonly RpcRoute[]
  /** Serve as a naming registry even when `naming.registry.serve` is false (`provenir daemon --registry`) */
  registry?: boolean
  /** Run without mDNS discovery whatever `node.lan.mdns` says (`provenir daemon --no-mdns`) */
  mdns?: boolean
}

/** A running daemon: the node, its RPC API and the repo they came from */
export interface Daemon {
  readonly repo: Repo
  readonly node: ProvenirNode
  readonly rpc: RpcServer
  /** The RPC API's real address, as written to `<repo>/api` */
  readonly apiAddress: ApiAddress
  /** The RPC API serves TLS (`apiTls`) */
  readonly apiTls: boolean
  /** The OCI registry gateway's address, when the config enables it */
  readonly gatewayAddress?: ApiAddress
  /** The gateway serves TLS (`gateway.tls`) */
  readonly gatewayTls: boolean
  /** The CA file a client of a TLS server should trust, when one serves TLS and its CA is known */
  readonly caFile?: string
  /** Resolver, publisher and (when serving) registry: the node's naming service */
  readonly naming: Naming
  /**
   * Stop gracefully: close the RPC API (no new requests; in-flight ones
   * finish), stop the node (which closes the datastore), then remove
   * `<repo>/api`. Safe to call more than once.
   */
  stop(): Promise<void>
}

/** The gateway's `onResponse`: one access-log record and the request metrics */
function observeGateway (log: DaemonLog): GatewayInit['onResponse'] {
  const logRequest = requestLog(log.pino, 'gateway')
  const count = gatewayRequestMetrics()
  return (info) => {
    count(info)
    logRequest(info)
  }
}

/**
 * True when the level datastore failed to open. datastore-level drops the
 * cause (LEVEL_LOCKED when another process holds the lock), so only the name
 * is left to go on.
 */
function isOpenFailed (err: unknown): boolean {
  return (err as Error | undefined)?.name === 'OpenFailedError'
}

/**
 * Advertise every image the node holds, in the background after a start:
 * STARTUP_PROVIDE_CONCURRENCY images at a time. `provideImage` hands each
 * blob root to the node's provider queue; a failure is logged, not fatal.
 * Never rejects.
 */
async function provideHeldImages (node: ProvenirNode, signal: AbortSignal, log: Logger): Promise<void> {
  if (node.images == null) return
  const images = node.images
  let count = 0
  try {
    const digests: string[] = []
    for await (const record of images.ls({ signal })) digests.push(record.manifestDigest)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < digests.length && !signal.aborted) {
        const digest = digests[next++]
        try {
          await node.provideImage(digest)
          count++
        } catch (err) {
          log('providing %s failed - %e', digest, err)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(STARTUP_PROVIDE_CONCURRENCY, digests.length) }, worker))
    log('providing %d held image(s)', count)
  } catch (err) {
    if (!signal.aborted) log.error('listing the held images to provide them failed - %e', err)
  }
}

/**
 * The trust policy at `file` (`<repo>/policy.json`), or undefined when there
 * is none. A policy that does not parse stops the daemon: running without the
 * policy the operator wrote would let unverified images in.
 *
 * @throws PolicyInvalidError naming the file and the field
 */
export async function loadPolicy (file: string): Promise<TrustPolicy | undefined> {
  let bytes: Buffer
  try {
    bytes = await readFileBounded(file, MAX_POLICY_BYTES, m => new PolicyInvalidError(`${file}: ${m}`))
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined
    throw err
  }
  return parsePolicy(bytes, { source: file })
}

/**
 * The key the gateway signs pushes with: the node key for `self`, else the
 * keystore key of that name.
 *
 * @throws InvalidConfigError naming the config file when the keystore has no such key
 */
async function signingKey (keystoreFile: string, name: string, nodeKey: PrivateKey, configFile: string): Promise<PrivateKey> {
  if (name === SELF_KEY_NAME) return nodeKey
  const keystore = await Keystore.load(keystoreFile)
  if (!keystore.has(name)) throw new InvalidConfigError(`${configFile}: "gateway.signingKey" names "${name}", which ${keystoreFile} does not hold (see provenir key ls)`)
  return keystore.get(name)
}

/**
 * After a push by tag through the gateway: publish the repository document
 * under the signing key's namespace. It works without peers (the record is
 * stored here and goes into the DHT when peers appear); a failure is logged
 * with its cause, and the push stands.
 */
export async function publishAfterPush (naming: Naming, name: string, tag: string, keyName: string, options: AbortOptions, log: Logger): Promise<void> {
  const signal = AbortSignal.any([AbortSignal.timeout(GATEWAY_PUBLISH_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
  try {
    const published = await naming.publishPushed(name, keyName, { signal })
    if (published == null) {
      log('gateway push of %s:%s: %s is no repository name; nothing published', name, tag, name.slice(name.lastIndexOf('/') + 1))
    } else {
      log('gateway push of %s:%s: published %s/%s at seq %d on %d DHT peers%s', name, tag, published.owner, published.repo, published.seq, published.peers, published.warning != null ? ` (${published.warning})` : '')
    }
  } catch (err) {
    log.error('gateway push of %s:%s: publishing the repository failed - %e', name, tag, err)
  }
}

/**
 * Throws DaemonAlreadyRunningError when a daemon answers on the repo's api
 * file. A missing, malformed or stale api file means no daemon.
 */
export async function assertDaemonNotRunning (root: string): Promise<void> {
  let client: RpcClient
  try {
    client = await RpcClient.fromRepo(root, { timeout: 2_000 })
  } catch {
    return // no api file (or a malformed one): no daemon to worry about
  }
  try {
    await client.get('/healthz')
  } catch {
    return // stale api file from a daemon that died
  }
  throw new DaemonAlreadyRunningError(`a daemon is already running on ${root} (RPC API at ${client.url})`)
}

/**
 * Start the daemon on an initialised repo: open the repo (config, node key,
 * swarm key), start the node with its datastore and Prometheus metrics,
 * serve the RPC API, and write the API's address to `<repo>/api`.
 *
 * Whatever fails, what was started is stopped again and `<repo>/api` is not
 * left behind.
 *
 * @throws RepoNotFoundError, InvalidConfigError, Keystore*Error, InvalidSwarmKeyError from the repo
 * @throws InsufficientDifficultyError when the node key is below the configured swarm difficulty
 * @throws DaemonAlreadyRunningError when another daemon runs on the repo
 * @throws DatastoreOpenError when the datastore cannot be opened (e.g. locked by another process)
 * @throws ApiAddressInUseError when the RPC address is taken
 */
export async function startDaemon (init: StartDaemonInit): Promise<Daemon> {
  const repo = await openRepo(init.repo)
  const { paths, config } = repo
  const daemonLog = init.log ?? createDaemonLog()
  const logger = init.logger ?? daemonLog.components
  const log = logger.forComponent('provenir:daemon')

  const own = nodeIdDifficulty(repo.peerId)
  if (own < config.node.difficulty) {
    throw new InsufficientDifficultyError(`${paths.keystore}: the node key "self" (${repo.peerId.toString()}) has difficulty ${own}, below the swarm difficulty ${config.node.difficulty} ("node.difficulty" in ${paths.config}); peers would refuse it. Lower the setting or make a new identity with init --force --difficulty ${config.node.difficulty}`)
  }

  await assertDaemonNotRunning(paths.root)

  const refused = gaterRefusedCounter()
  const nodeInit: Parameters<typeof createNode>[0] = {
    privateKey: repo.privateKey,
    config: init.mdns === false ? { ...config.node, lan: { ...config.node.lan, mdns: false } } : config.node,
    configSource: paths.config,
    datastorePath: paths.datastore,
    blockstorePath: paths.content,
    storage: config.storage,
    logger,
    metrics: true,
    onRefuse: (_peer, direction) => { refused.inc({ direction }) },
    naming: {
      ...config.naming,
      registry: { ...config.naming.registry, serve: config.naming.registry.serve || init.registry === true },
      keys: keystoreKeys(paths.keystore),
      ...namingMetrics()
    },
    upstream: config.upstream,
    upstreamBaseDir: paths.root
  }
  if (repo.swarmKey != null) nodeInit.swarmKey = repo.swarmKey
  const policy = await loadPolicy(paths.policy)
  if (policy != null) {
    nodeInit.trustPolicy = policy
    log('trust policy %s: %d rule(s), default mode %s', paths.policy, policy.rules.length, policy.default ?? 'enforce')
  }

  let node: ProvenirNode
  try {
    node = await createNode(nodeInit)
  } catch (err) {
    if (isOpenFailed(err)) {
      throw new DatastoreOpenError(`cannot open the datastore ${paths.datastore} (${(err as Error).message.replace(/^Error: /, '')}); is another daemon using this repo?`, { cause: err })
    }
    throw err
  }

  let rpc: RpcServer | undefined
  let gateway: Gateway | undefined
  let caFile: string | undefined
  let apiCaFile: string | undefined
  let gatewayTls = false
  const naming = node.naming
  try {
    // the registry state of a release before the content service moves into the node's index, once
    const migrated = await node.content?.migrateGatewayState(join(paths.gateway, LEGACY_GATEWAY_STATE))
    if (migrated?.migrated === true) log('migrated the gateway state into the index (%d repositories, %d tags); the old file is %s', migrated.repositories, migrated.tags, migrated.backup)
    const { host, port } = parseApiAddress(config.api, paths.config)
    const rpcInit: Parameters<typeof createRpcServer>[0] = { node, host, port, logger, naming, privateSwarm: repo.swarmKey != null, onResponse: requestLog(daemonLog.pino, 'rpc'), gatewayUrl: () => gateway?.address != null ? `${gatewayTls ? 'https' : 'http'}://${formatApiAddress(gateway.address)}` : undefined }
    if (init.routes != null) rpcInit.routes = init.routes
    const apiTls = await serverTls(paths.root, config.apiTls, host, 'apiTls')
    if (apiTls != null) {
      rpcInit.tls = apiTls
      apiCaFile = caFile = apiTls.caFile
    }
    try {
      rpc = await createRpcServer(rpcInit)
    } catch (err) {
      const code = errorCode(err)
      if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
        throw new ApiAddressInUseError(`cannot serve the RPC API on ${config.api} ("api" in ${paths.config}): ${code}`, { cause: err })
      }
      throw err
    }
    if (config.gateway.listen != null) {
      const { host, port } = parseApiAddress(config.gateway.listen, paths.config, 'gateway.listen')
      const gatewayInit: GatewayInit = {
        node,
        host,
        port,
        dataPath: paths.gateway,
        uploadsPath: join(paths.gateway, 'uploads'),
        requireTokenOnLoopback: config.gateway.requireTokenOnLoopback,
        logger,
        onResponse: observeGateway(daemonLog)
      }
      const tls = await serverTls(paths.root, config.gateway.tls, host, 'gateway.tls')
      if (tls != null) {
        gatewayInit.tls = tls
        gatewayTls = true
        caFile ??= tls.caFile
      }
      if (config.gateway.token != null) gatewayInit.token = config.gateway.token
      if (config.gateway.signingKey != null) {
        const keyName = config.gateway.signingKey
        gatewayInit.signer = await signingKey(paths.keystore, keyName, repo.privateKey, paths.config)
        gatewayInit.onPushed = async (name, tag, _digest, options) => { await publishAfterPush(naming, name, tag, keyName, options, log) }
      }
      gatewayInit.resolveName = async (name, tag, options) => {
        // pins, provenir registries and the signed document; the upstream registries when none knows the name
        const image = await naming.resolveImage(`${name}:${tag}`, options)
        if (image.provenir == null && image.upstream != null) {
          const { host, repository, digest } = image.upstream
          return { manifestDigest: digest, reference: `${host}/${repository}:${tag}`, upstream: { host, repository } }
        }
        if (image.provenir == null) return undefined
        const { resolution } = image.provenir
        return { manifestDigest: resolution.manifestDigest, record: recordFromResolution(resolution), reference: policyReferenceOf(resolution) }
      }
      const upstreams = node.upstreams
      if (upstreams != null) {
        gatewayInit.mirrorHost = (prefix) => {
          const host = hostOfMirrorPrefix(prefix)
          return host != null && upstreams.has(host) ? upstreams.get(host)?.host : undefined
        }
      }
      gatewayInit.listNames = async (name, options) => naming.tags(name, options)
      gateway = createGateway(gatewayInit)
      try {
        await gateway.listen()
      } catch (err) {
        const code = errorCode(err)
        if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
          throw new ApiAddressInUseError(`cannot serve the registry gateway on ${config.gateway.listen} ("gateway.listen" in ${paths.config}): ${code}`, { cause: err })
        }
        throw err
      }
    }
    // logged before the api file appears: whoever waits for that file (a script, `provenir`
    // itself) finds the start line in the log already
    log('started %p, RPC API on %s', node.peerId, rpc.url)
    await writeApiFile(paths.root, { ...rpc.address, ...(rpc.tls ? { tls: true, ...(apiCaFile != null ? { caFile: apiCaFile } : {}) } : {}) })
  } catch (err) {
    await gateway?.close().catch(() => {})
    await rpc?.close().catch(() => {})
    try { await node.stop() } catch {}
    throw err
  }

  const server = rpc
  let stopping: Promise<void> | undefined
  const provideAbort = new AbortController()
  const providing = provideHeldImages(node, provideAbort.signal, log)
  const stopStoreMetrics = node.content != null ? storeMetrics(node.content.storage) : () => {}
  const stopContentMetrics = node.content != null ? contentMetrics(node.content) : () => {}
  importMetrics()
  const limits = node.content?.storage.limits
  if (limits?.maxSize != null) log('store limit %d bytes: cached content is evicted above %d%% of it, down to %d%%', limits.maxSize, limits.highWatermark * 100, limits.lowWatermark * 100)

  return {
    repo,
    node,
    rpc: server,
    apiAddress: server.address,
    apiTls: server.tls,
    gatewayAddress: gateway?.address,
    gatewayTls,
    ...(caFile != null ? { caFile } : {}),
    naming,
    stop: async () => {
      stopping ??= (async () => {
        try {
          provideAbort.abort()
          await providing
          await gateway?.close()
          await server.close()
          stopStoreMetrics()
          stopContentMetrics()
          await node.stop()
        } finally {
          await removeApiFile(paths.root, server.address)
          log('stopped')
        }
      })()
      return stopping
    }
  }
}
