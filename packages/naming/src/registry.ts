/**
 * A registry: the naming authority for link names, over
 * `/provenir/names/1.0.0`.
 *
 * Wire format: one length-prefixed JSON request, one length-prefixed JSON
 * answer, each at most MAX_NAMES_MESSAGE_BYTES (16 KiB), within
 * NAMES_TIMEOUT (10 s).
 *
 * - `{ "op": "lookup", "name": "aweiteka" }` -> `{ "binding": <envelope> }` or `{ "binding": null }`
 * - `{ "op": "claim", "claim": <envelope> }`  -> `{ "binding": <envelope> }`
 * - any failure                              -> `{ "error": { "name": "NameTakenError", "message": "..." } }`
 *
 * The first valid claim of a name wins. A claim by the same UserId again
 * returns the existing binding. The admin's `bindings` config beats claims:
 * those names are bound at start (with a higher seq when that changes the
 * UserId), and claims for them by anyone else are refused.
 */

import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { InvalidParametersError, parseJson } from '@provenir/interface'
import { isUserId, userIdFromKey, type UserId } from '@provenir/trust'
import { Key, type Datastore } from 'interface-datastore'
import { peekBinding, signBinding, signClaim, verifyBinding, verifyClaim, type NameBinding } from './binding.js'
import { CLAIM_MAX_SKEW, CLAIM_NONCE_CACHE, MAX_NAMES_MESSAGE_BYTES, NAMES_MAX_INBOUND_STREAMS, NAMES_MAX_SERVING, NAMES_PROTOCOL, NAMES_TIMEOUT } from './constants.js'
import { ClaimInvalidError, NameTakenError, RegistryError } from './errors.js'
import { parseNodeId } from './node-id.js'
import { isLinkName, isObject } from './signed.js'
import type { RegistryClient } from './resolver.js'
import type { AbortOptions, ComponentLogger, Connection, Logger, PeerId, PrivateKey, Startable, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Where a registry keeps its bindings (the envelope bytes, by name) */
export interface BindingStore {
  get(name: string, options?: AbortOptions): Promise<Uint8Array | undefined>
  put(name: string, binding: Uint8Array, options?: AbortOptions): Promise<void>
}

export class MemoryBindingStore implements BindingStore {
  private readonly map = new Map<string, Uint8Array>()
  async get (name: string): Promise<Uint8Array | undefined> { return this.map.get(name) }
  async put (name: string, binding: Uint8Array): Promise<void> { this.map.set(name, binding) }
}

/** Bindings in an `interface-datastore` Datastore under `<prefix>/<name>` */
export class DatastoreBindingStore implements BindingStore {
  constructor (private readonly datastore: Datastore, private readonly prefix = '/provenir-registry/bindings') {}
  async get (name: string, options?: AbortOptions): Promise<Uint8Array | undefined> {
    const key = new Key(`${this.prefix}/${name}`)
    return (await this.datastore.has(key, options)) ? this.datastore.get(key, options) : undefined
  }

  async put (name: string, binding: Uint8Array, options?: AbortOptions): Promise<void> {
    await this.datastore.put(new Key(`${this.prefix}/${name}`), binding, options)
  }
}

export interface RegistryComponents {
  registrar: {
    handle(protocol: string, handler: (stream: Stream, connection: Connection) => void | Promise<void>, options?: { maxInboundStreams?: number }): Promise<void>
    unhandle(protocol: string): Promise<void>
  }
  logger: ComponentLogger
  /** The node's key: the registry signs with its NodeId key */
  privateKey: PrivateKey
}

export interface RegistryInit {
  /** @default a MemoryBindingStore */
  store?: BindingStore
  /** Admin bindings (name -> UserId); they beat every claim */
  bindings?: Record<string, UserId>
  /**
   * Accept claims from key holders (first claim wins). When false, only the
   * admin `bindings` exist.
   *
   * @default true
   */
  allowClaims?: boolean
  /** @default CLAIM_MAX_SKEW (5 min) */
  maxClaimSkew?: number
  /** Called with each new or changed binding, e.g. to publish it in the DHT under `nameKey(...)` */
  onBinding?(name: string, binding: Uint8Array): void
  /** The clock, for tests */
  now?: () => number
}

/** Serves link-name lookups and claims; see the module comment for the wire format. */
export class Registry implements Startable, RegistryClient {
  readonly nodeId: string
  private readonly components: RegistryComponents
  private readonly store: BindingStore
  private readonly init: RegistryInit
  private readonly log: Logger
  private readonly nonces = new Set<string>()
  private readonly locks = new Map<string, Promise<unknown>>()
  private started = false
  /** Requests being served now, over all connections */
  private serving = 0

  constructor (components: RegistryComponents, init: RegistryInit = {}) {
    this.components = components
    this.init = init
    this.store = init.store ?? new MemoryBindingStore()
    this.nodeId = peerIdFromPrivateKey(components.privateKey).toString()
    this.log = components.logger.forComponent('provenir:registry')
    for (const [name, userId] of Object.entries(init.bindings ?? {})) {
      if (!isLinkName(name) || !isUserId(userId)) throw new InvalidParametersError(`registry binding ${name} -> ${userId}: a binding maps a link name to a UserId`)
    }
  }

  /** The NodeId, so that a local Registry is also a {@link RegistryClient} */
  get id (): string { return this.nodeId }

  isStarted (): boolean { return this.started }

  async start (): Promise<void> {
    for (const [name, userId] of Object.entries(this.init.bindings ?? {})) {
      await this.bind(name, userId)
    }
    await this.components.registrar.handle(NAMES_PROTOCOL, (stream) => { void this.serve(stream) }, { maxInboundStreams: NAMES_MAX_INBOUND_STREAMS })
    this.started = true
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(NAMES_PROTOCOL)
    this.started = false
  }

  /** This registry's binding for `name`, if any */
  async lookup (name: string, options?: AbortOptions): Promise<Uint8Array | undefined> {
    if (!isLinkName(name)) return undefined
    return this.store.get(name, options)
  }

  /**
   * Binds `name` to `userId` as the admin: a new binding, or one with seq + 1
   * when the name was bound to another UserId. Returns the binding.
   */
  async bind (name: string, userId: UserId, options?: AbortOptions): Promise<Uint8Array> {
    return this.locked(name, async () => {
      const current = await this.currentBinding(name, options)
      if (current?.binding.userId === userId) return current.bytes
      return this.write(name, userId, (current?.binding.seq ?? 0) + 1, options)
    })
  }

  /**
   * Handles a claim: verifies it (signed by its UserId, for this registry,
   * recent, not replayed) and binds the name if it is free.
   *
   * @throws ClaimInvalidError, NameTakenError
   */
  async claim (claimBytes: Uint8Array, options?: AbortOptions): Promise<Uint8Array> {
    if (this.init.allowClaims === false) throw new ClaimInvalidError(`registry ${this.nodeId} does not accept claims`)
    const claim = await verifyClaim(claimBytes, { registry: this.nodeId, now: this.init.now?.(), maxSkew: this.init.maxClaimSkew ?? CLAIM_MAX_SKEW })
    const admin = this.init.bindings?.[claim.name]
    if (admin != null && Object.hasOwn(this.init.bindings ?? {}, claim.name) && admin !== claim.userId) {
      throw new NameTakenError(`${claim.name} is bound by this registry's administrator`)
    }
    return this.locked(claim.name, async () => {
      if (this.nonces.has(claim.nonce)) throw new ClaimInvalidError('claim replayed (nonce already seen)')
      if (this.nonces.size >= CLAIM_NONCE_CACHE) this.nonces.delete(this.nonces.values().next().value as string)
      this.nonces.add(claim.nonce)
      const current = await this.currentBinding(claim.name, options)
      if (current != null) {
        if (current.binding.userId === claim.userId) return current.bytes
        throw new NameTakenError(`${claim.name} is already bound to ${current.binding.userId} by registry ${this.nodeId}`)
      }
      return this.write(claim.name, claim.userId, 1, options)
    })
  }

  private async currentBinding (name: string, options?: AbortOptions): Promise<{ bytes: Uint8Array, binding: NameBinding } | undefined> {
    const bytes = await this.store.get(name, options)
    if (bytes == null) return undefined
    const binding = peekBinding(bytes)
    return binding == null ? undefined : { bytes, binding }
  }

  private async write (name: string, userId: UserId, seq: number, options?: AbortOptions): Promise<Uint8Array> {
    const bytes = await signBinding({ name, userId, seq, issued: new Date(this.init.now?.() ?? Date.now()).toISOString() }, this.components.privateKey)
    await this.store.put(name, bytes, options)
    this.log('bound %s to %s (seq %d)', name, userId, seq)
    try {
      this.init.onBinding?.(name, bytes)
    } catch (err: unknown) {
      this.log.error('onBinding failed - %e', err)
    }
    return bytes
  }

  private async locked<T> (name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(name) ?? Promise.resolve()
    const run = previous.then(fn, fn)
    const settled = run.catch(() => {})
    this.locks.set(name, settled)
    try {
      return await run
    } finally {
      if (this.locks.get(name) === settled) this.locks.delete(name)
    }
  }

  private async serve (stream: Stream): Promise<void> {
    // the per-connection stream limit times every connection is too many requests in memory at once
    if (this.serving >= NAMES_MAX_SERVING) {
      this.log('refusing a names request: %d are being served', this.serving)
      stream.abort(new RegistryError(`the registry is serving ${this.serving} requests`))
      return
    }
    this.serving++
    const signal = AbortSignal.timeout(NAMES_TIMEOUT)
    try {
      // one request frame: nothing past it is buffered
      const lp = lpStream(stream, { maxDataLength: MAX_NAMES_MESSAGE_BYTES, maxBufferSize: MAX_NAMES_MESSAGE_BYTES + 16 })
      const request = parseMessage((await lp.read({ signal })).subarray())
      let answer: Record<string, unknown>
      try {
        if (request.op === 'lookup' && typeof request.name === 'string') {
          const binding = await this.lookup(request.name, { signal })
          answer = { binding: binding == null ? null : JSON.parse(decoder.decode(binding)) }
        } else if (request.op === 'claim' && isObject(request.claim)) {
          const binding = await this.claim(encoder.encode(JSON.stringify(request.claim)), { signal })
          answer = { binding: JSON.parse(decoder.decode(binding)) }
        } else {
          answer = { error: { name: 'RegistryError', message: 'unknown request: expected op "lookup" with a name or "claim" with a claim' } }
        }
      } catch (err: unknown) {
        const e = err as Error
        answer = { error: { name: e.name, message: e.message.slice(0, 1024) } }
      }
      await lp.write(encoder.encode(JSON.stringify(answer)), { signal })
      await stream.close({ signal })
    } catch (err: unknown) {
      this.log('names request failed - %e', err)
      stream.abort(err as Error)
    } finally {
      this.serving--
    }
  }
}

function parseMessage (bytes: Uint8Array): Record<string, unknown> {
  let value: unknown
  try {
    value = parseJson(bytes)
  } catch (err: unknown) {
    throw new RegistryError(`names message is not UTF-8 JSON: ${(err as Error).message}`)
  }
  if (!isObject(value)) throw new RegistryError('names message must be a JSON object')
  return value
}

/** The registry as a libp2p service: `services: { registry: registry({ bindings }) }` */
export function registry (init: RegistryInit = {}): (components: RegistryComponents) => Registry {
  return (components) => new Registry(components, init)
}

/** What a registry client needs from libp2p */
export interface RegistryDialer {
  dialProtocol(peer: PeerId | Multiaddr | Multiaddr[], protocols: string | string[], options?: AbortOptions): Promise<Stream>
}

export interface RemoteRegistryInit {
  /** The registry's NodeId: bindings must verify against it */
  id: PeerId | string
  /** Addresses to dial; each must end in `/p2p/<id>` or the NodeId is dialled through the peer store */
  addrs?: Multiaddr[]
  /** @default NAMES_TIMEOUT (10 s) */
  timeout?: number
}

/**
 * A RegistryClient for a registry reached over libp2p. Every binding it
 * returns has been verified against the registry's NodeId.
 */
export class RemoteRegistry implements RegistryClient {
  readonly id: string
  private readonly dialer: RegistryDialer
  private readonly target: PeerId | Multiaddr[]
  private readonly timeout: number

  constructor (dialer: RegistryDialer, init: RemoteRegistryInit) {
    this.dialer = dialer
    this.id = typeof init.id === 'string' ? init.id : init.id.toString()
    this.target = init.addrs != null && init.addrs.length > 0 ? init.addrs : (typeof init.id === 'string' ? peerIdOf(init.id) : init.id)
    this.timeout = init.timeout ?? NAMES_TIMEOUT
  }

  async lookup (name: string, options: AbortOptions = {}): Promise<Uint8Array | undefined> {
    const answer = await this.request({ op: 'lookup', name }, options)
    if (answer == null) return undefined
    await verifyBinding(answer, this.id, { name })
    return answer
  }

  /** Claims `name` for the UserId of `key`; returns the verified binding */
  async claim (name: string, key: PrivateKey, options: AbortOptions = {}): Promise<Uint8Array> {
    const claim = await signClaim(name, this.id, key)
    const answer = await this.request({ op: 'claim', claim: JSON.parse(decoder.decode(claim)) }, options)
    if (answer == null) throw new RegistryError(`registry ${this.id} answered a claim without a binding`)
    const binding = await verifyBinding(answer, this.id, { name })
    if (binding.userId !== userIdFromKey(key)) {
      throw new RegistryError(`registry ${this.id} bound ${name} to ${binding.userId}, not to the claimant`)
    }
    return answer
  }

  private async request (message: Record<string, unknown>, options: AbortOptions): Promise<Uint8Array | undefined> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeout), ...(options.signal != null ? [options.signal] : [])])
    const stream = await this.dialer.dialProtocol(this.target, NAMES_PROTOCOL, { signal })
    let answer: Record<string, unknown>
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_NAMES_MESSAGE_BYTES, maxBufferSize: MAX_NAMES_MESSAGE_BYTES + 16 })
      await lp.write(encoder.encode(JSON.stringify(message)), { signal })
      answer = parseMessage((await lp.read({ signal })).subarray())
      await stream.close({ signal })
    } catch (err: unknown) {
      stream.abort(err as Error)
      throw err
    }
    if (isObject(answer.error)) {
      const err = new RegistryError(`registry ${this.id}: ${String(answer.error.name)}: ${String(answer.error.message)}`)
      if (typeof answer.error.name === 'string' && /^[A-Za-z]{1,64}Error$/.test(answer.error.name)) err.name = answer.error.name
      throw err
    }
    if (answer.binding == null) return undefined
    if (!isObject(answer.binding)) throw new RegistryError(`registry ${this.id} answered with a malformed binding`)
    return encoder.encode(JSON.stringify(answer.binding))
  }
}

function peerIdOf (id: string): PeerId {
  return parseNodeId(id)
}
