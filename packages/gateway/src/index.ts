/**
 * @packageDocumentation
 *
 * The OCI Distribution API (distribution-spec v1.1) over HTTP, a thin layer
 * over a provenir node's content service (`node.content`): skopeo, podman,
 * docker and containerd push to it and pull from it. Route modules by
 * resource (`routes/`) adapt HTTP to the service; the service finds content
 * in the node's store, then in the swarm, and verifies every byte. Uploads
 * are hashed and imported as they arrive, and the service records, pins and
 * provides what is pushed.
 *
 * @example
 *
 * ```ts
 * import { createGateway } from '@provenir/gateway'
 * import { createNode } from '@provenir/node'
 *
 * declare const privateKey: PrivateKey
 * const node = await createNode({ privateKey, blockstorePath: '/var/lib/provenir/blocks' })
 * const gateway = createGateway({ node, blockstorePath: '/var/lib/provenir/blocks' })
 * const { port } = await gateway.listen() // 127.0.0.1:5000
 * // skopeo copy --dest-tls-verify=false oci:./img:v1 docker://127.0.0.1:5000/myns/img:v1
 * await gateway.close()
 * ```
 */

import { GatewayServer } from './server.js'
import type { AbortOptions, ComponentLogger, PrivateKey } from '@libp2p/interface'
import type { ImageRecord } from '@provenir/content'
import type { ProvenirNode } from '@provenir/node'

export * from './constants.js'
export { routePattern } from './router.js'
export { OciError, ERROR_TABLE, MESSAGES, toErrorResponse } from './errors.js'
export type { OciErrorCode, ErrorBody } from './errors.js'
export { ANNOTATION_BUNDLE_PREDICATE_TYPE, ANNOTATION_STATEMENT, ANNOTATION_SIGNERS } from '@provenir/node'

/** What the gateway uses of a node: its content service, and its blockstore for uploads' blocks */
export type GatewayNode = Pick<ProvenirNode, 'blockstore' | 'content'>

export interface GatewayInit {
  /** The node whose content the gateway serves; it needs a blockstore */
  node: GatewayNode
  /** @default DEFAULT_HOST ('127.0.0.1') */
  host?: string
  /** 0 picks a free port. @default DEFAULT_PORT (5000) */
  port?: number
  /**
   * Serve TLS (https) with this PEM certificate (chain) and key; plain HTTP
   * without. The daemon passes one whenever the gateway listens beyond
   * loopback (`gateway.tls` in its config).
   */
  tls?: { cert: string | Buffer, key: string | Buffer }
  /**
   * Bearer token for push and delete (at least 16 characters). Whenever it is
   * set, writes without it get 401 + `WWW-Authenticate: Bearer realm="provenir"`.
   * Required to listen beyond loopback. Also accepted as a Basic-auth password.
   */
  token?: string
  /** Refuse to start without a token even on loopback. @default false */
  requireTokenOnLoopback?: boolean
  /** A token for reads (GET/HEAD); reads are open when neither this nor `protectReads` is set */
  readToken?: string
  /** Reads need `token` too. @default false */
  protectReads?: boolean
  /** The node's blockstorePath: uploads are staged in `<blockstorePath>/../uploads` */
  blockstorePath?: string
  /** The gateway's own directory (for staging uploads), instead of one beside the blockstore */
  dataPath?: string
  /** The staging directory of uploads. @default `<blockstorePath>/../uploads`, else `<dataPath>/uploads` */
  uploadsPath?: string
  /** @default DEFAULT_MAX_UPLOAD_SIZE (10 GiB) */
  maxUploadSize?: number
  /** @default DEFAULT_MAX_CONCURRENT_UPLOADS (64) */
  maxConcurrentUploads?: number
  /** An upload untouched this long is removed, in ms. @default DEFAULT_UPLOAD_TIMEOUT (1 h) */
  uploadTimeout?: number
  /** @default DEFAULT_SWEEP_INTERVAL (1 min) */
  sweepInterval?: number
  /** Time to receive a whole request, in ms. @default DEFAULT_REQUEST_TIMEOUT (1 h) */
  requestTimeout?: number
  /**
   * How long a client may send nothing of its request, or read nothing of the answer, before its
   * connection is cut, in ms. A wait for the gateway itself (a blob the swarm still fetches) does not
   * count; `pullTimeout` bounds that (see `idle.ts`). @default DEFAULT_IDLE_TIMEOUT (60 s)
   */
  idleTimeout?: number
  /** Time a pull a GET starts may run in all, and a blob stream while it arrives, in ms. @default DEFAULT_PULL_TIMEOUT (10 min) */
  pullTimeout?: number
  /** Time a manifest GET waits for a source to deliver the manifest (then MANIFEST_UNKNOWN), in ms. @default DEFAULT_MANIFEST_PULL_TIMEOUT (30 s) */
  manifestPullTimeout?: number
  /**
   * The namespace key that signs every image pushed by tag: an image
   * signature over the manifest and a layer signature over every layer, both
   * naming the repository. Without it, pushes are stored unsigned.
   */
  signer?: PrivateKey
  /**
   * Names: a manifest GET by a tag this gateway holds no entry for asks this
   * (e.g. the daemon's naming resolver, for `<namespace>/<repo>:<tag>`). The
   * answer's `record` (blob roots and statements from a signed repository
   * document) is handed to the pull, and `reference` chooses the trust
   * policy's rule. Undefined: not a name it knows.
   */
  resolveName?(name: string, tag: string, options: AbortOptions): Promise<NamedImage | undefined>
  /**
   * Names, for tags/list: the tags the signed repository document of `name`
   * holds (the daemon's naming). They are listed beside the repository's own
   * tags; a failure or a name naming does not know lists none.
   */
  listNames?(name: string, options: AbortOptions): Promise<string[] | undefined>
  /**
   * Mirror mode for clients that send no upstream hint (podman, CRI-O): the
   * upstream registry a request path's first component names (the prefix
   * `provenir mirror config podman` writes, e.g. `registry.example_5000`),
   * or undefined when it names none this node fetches from. Such a request
   * is read from that upstream's repository of the rest of the path, as
   * containerd's `?ns=<host>` is; it cannot write.
   */
  mirrorHost?(prefix: string): string | undefined
  /**
   * Called once an image pushed by tag is stored, signed and provided: e.g.
   * publish the repository document. It runs in the background (the push is
   * answered without waiting); `close()` aborts `options.signal` and waits
   * for it. A failure is logged; the push stands.
   */
  onPushed?(name: string, tag: string, manifestDigest: string, options: AbortOptions): Promise<void>
  /**
   * The daemon's logger: every error answer is logged with its cause under
   * `provenir:gateway` (a 5xx with `.error`, the rest at debug level);
   * nothing is logged without one. The client never sees an internal
   * error's message.
   */
  logger?: ComponentLogger
  /**
   * Called once each response is sent (or the client went away): the
   * daemon's request log and metrics. `route` is the route's pattern
   * (`/v2/<name>/blobs/<digest>`), never the path, so labels stay few.
   */
  onResponse?(info: RequestDone): void
}

/** A request the gateway answered, for `onResponse` */
export interface RequestDone {
  method: string
  /** The route's pattern (see `routePattern`), `unknown` when no route matched */
  route: string
  status: number
  seconds: number
  /** The client's address */
  remoteAddress?: string
}

/** What a name resolves to */
export interface NamedImage {
  manifestDigest: string
  /** A trusted record of the image (from a signed document) for the pull */
  record?: ImageRecord
  /** The name the trust policy sees, `namespace/repo:tag` */
  reference: string
  /** When an upstream registry named it: that registry's host and repository, where the node fetches it from */
  upstream?: { host: string, repository: string }
}

export interface Gateway {
  /** Clears stale staging files, and listens. */
  listen(): Promise<{ host: string, port: number }>
  /** Stops listening and removes open upload sessions. */
  close(): Promise<void>
  /** Where it listens, once listening */
  readonly address: { host: string, port: number } | undefined
}

/**
 * Creates a gateway (not yet listening). Throws `InvalidConfigError` for a
 * non-loopback host without a token, a node without a blockstore, or a bad port.
 */
export function createGateway (init: GatewayInit): Gateway {
  return new GatewayServer(init)
}
