/**
 * The bulk listener: TCP with TLS 1.3 on the socket (node's TLSWrap), no
 * muxer. A client is served only once its certificate proved a PeerId and
 * `admit` accepted that peer (a live libp2p connection to this node, not
 * banned, under the per-peer bound); until then nothing of the connection
 * is read, and a refused client is disconnected without a byte of content.
 *
 * Each connection answers its wants in the order they came, reading a few
 * blocks ahead of the one being sent into pooled buffers, each block checked
 * against its CID as it is read (free for a block file unchanged since the
 * store wrote it, see `FsBlockstore`): a block rotted on disk is answered
 * DONT_HAVE, not sent to be taken for a lie. A want of a block this node
 * is fetching itself is answered once the block lands (within
 * `inFlightWait`): out of order when the client allows it (`any_order`),
 * the blocks asked after it going on meanwhile; in its place otherwise. A
 * want that takes `busy` is answered DONT_HAVE `fetching` at once instead.
 */

import { createServer } from 'node:tls'
import { BufferPool } from '@provenir/content'
import { collect, within } from './blocks.js'
import { BUFFER_IDLE_MS, SEND_SLOT_LEASE, SERVE_BUFFERS, SERVE_BUFFER_SIZE, SERVE_FRAME_ROOM, SLOTTED_MIN_SIZE } from './constants.js'
import { BulkProtocolError } from './errors.js'
import { ClientFrameRules, encodeFrame, Frame, FrameReader, wantedCid } from './frames.js'
import { Recipients } from './recipients.js'
import { SendSlots } from './send-slots.js'
import type { SendTicket } from './send-slots.js'
import { serverOptions, verifyRemote } from './tls.js'
import type { BulkCredentials, VerifiedCertificates } from './tls.js'
import type { Logger, PeerId } from '@libp2p/interface'
import type { ContentBlockstore } from '@provenir/content'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { Socket } from 'node:net'
import type { Server, TLSSocket } from 'node:tls'

/** A store's `verify` option: a provenir store checks a block against its CID on get, or skips the check on put */
interface Verifying { verify?: boolean }

/**
 * Where the bulk channel reads the blocks it serves and stores the blocks
 * it fetches. A provenir store (`ContentBlockstore`) also reads into pooled
 * buffers and checks each block it reads.
 */
export type BulkBlockstore = Pick<Blockstore<{}, Verifying, {}, Verifying>, 'has' | 'get' | 'put'> & Partial<Pick<ContentBlockstore, 'readInto'>>

export interface BulkServerInit {
  host: string
  port: number
  credentials: BulkCredentials
  /** Certificates checked already (shared by every connection of a node) */
  verified?: VerifiedCertificates
  blockstore: BulkBlockstore
  /** Why `peer` may not be served, or undefined when it may */
  admit(peer: PeerId): string | undefined
  connectionsPerPeer: number
  maxInboundConnections: number
  readAhead: number
  maxBlockSize: number
  idleTimeout: number
  handshakeTimeout: number
  blockstoreTimeout: number
  /** Longest a want waits for a block this node is fetching itself (ms) */
  inFlightWait: number
  /** Blocks written at once over all connections (`SendSlots`) */
  sendSlots: number
  /** A block waiting for a slot has its client told so (QUEUED) every this many ms */
  queuedInterval: number
  /** A want that takes `busy` is answered so when this many blocks wait for a slot already */
  busyLine: number
  /**
   * This node's own fetch of `cid` in flight (settles with whether it stored
   * the block); undefined when none runs, or when it asks `asker` for it
   */
  fetching?(cid: CID, asker: PeerId): Promise<boolean> | undefined
  /** Whether this node fetched `cid` itself lately: it passes the block on as a relay (`Recipients`) */
  relaying?(cid: CID): boolean
  log: Logger
  /** Counts what the server does (metrics) */
  count?(event: 'admitted' | 'refused' | 'handshake-failed' | 'block' | 'dont-have' | 'redirect' | 'fetching' | 'queued' | 'busy' | 'have' | 'protocol-error', bytes?: number): void
}

interface Want {
  id: number
  cid: CID
  cancelled: boolean
  /** the client takes a DONT_HAVE naming holders instead of the block */
  redirectOk: boolean
  /** peers this server sent the block to lately, named instead of sending it again */
  holders?: PeerId[]
  /** the client takes a DONT_HAVE for it ahead of older wants' answers */
  early: boolean
  /** the client takes any answer to it, a block too, ahead of older wants' answers */
  anyOrder: boolean
  /** the client takes QUEUED frames for it: its block may wait for an upload slot */
  queuedOk: boolean
  /** the client takes a DONT_HAVE with `busy` for it when the line for the upload slots is long */
  busyOk: boolean
  /** answered DONT_HAVE with `busy`: the block is held, the line for the upload slots long */
  busy?: boolean
  /** the block, read ahead; undefined when not held or not servable */
  read?: Promise<Uint8Array | undefined>
  /** this node's own fetch of the block, which the want is answered after (out of order) */
  later?: Promise<boolean>
  /** this node's own fetch of the block went on past `inFlightWait`: its DONT_HAVE says so (`fetching`) */
  fetching?: boolean
  /** ends the read of the block begun to send it (`Recipients.reading`), once it ended (`#counted`) */
  counted?: () => void
}

export class BulkServer {
  readonly #init: BulkServerInit
  readonly #server: Server
  readonly #byPeer = new Map<string, Set<ServedConnection>>()
  readonly #pool = new BufferPool(SERVE_FRAME_ROOM + SERVE_BUFFER_SIZE, SERVE_BUFFERS, { idleMs: BUFFER_IDLE_MS })
  readonly #sockets = new Set<Socket>()
  readonly #recipients = new Recipients()
  readonly #slots: SendSlots

  constructor (init: BulkServerInit) {
    this.#init = init
    this.#slots = new SendSlots(init.sendSlots, SEND_SLOT_LEASE)
    this.#server = createServer(serverOptions(init.credentials, init.handshakeTimeout))
    this.#server.maxConnections = init.maxInboundConnections
    // every socket, so a close ends those still in their handshake too
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket)
      socket.once('close', () => { this.#sockets.delete(socket) })
    })
    this.#server.on('secureConnection', (socket) => { void this.#accept(socket) })
    this.#server.on('tlsClientError', (err) => {
      init.count?.('handshake-failed')
      init.log.trace('bulk TLS handshake failed - %e', err)
    })
  }

  /** Listens; resolves with the address bound (the port the OS chose for port 0) */
  async listen (port = this.#init.port): Promise<{ host: string, port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(port, this.#init.host, () => {
        this.#server.off('error', reject)
        resolve()
      })
    })
    const address = this.#server.address()
    if (address == null || typeof address === 'string') throw new BulkProtocolError('the bulk listener has no TCP address')
    return { host: address.address, port: address.port }
  }

  async close (): Promise<void> {
    const closed = new Promise<void>(resolve => { this.#server.close(() => { resolve() }) })
    for (const set of this.#byPeer.values()) {
      for (const conn of set) conn.close()
    }
    for (const socket of this.#sockets) socket.destroy()
    await closed
  }

  /** Disconnects every bulk connection of `peer` (its libp2p connection ended, or it was banned) */
  closePeer (peer: PeerId): void {
    for (const conn of this.#byPeer.get(peer.toString()) ?? []) conn.close()
  }

  /** This node stored `cid` (it fetched it): the clients that take HAVE frames are told so */
  announce (cid: CID): void {
    for (const set of this.#byPeer.values()) {
      for (const conn of set) conn.have(cid)
    }
  }

  /** Served connections, per peer (for tests and metrics) */
  connections (peer: PeerId): number {
    return this.#byPeer.get(peer.toString())?.size ?? 0
  }

  async #accept (socket: TLSSocket): Promise<void> {
    const { log } = this.#init
    socket.on('error', (err) => { log.trace('bulk connection error - %e', err) })
    let peer: PeerId
    try {
      peer = await verifyRemote(socket, undefined, this.#init.verified)
    } catch (err: any) {
      this.#init.count?.('refused')
      log('refused a bulk connection from %s - %e', socket.remoteAddress, err)
      socket.destroy()
      return
    }
    const key = peer.toString()
    const set = this.#byPeer.get(key) ?? new Set()
    const refusal = socket.destroyed
      ? 'it closed the connection'
      : this.#init.admit(peer) ?? (set.size >= this.#init.connectionsPerPeer ? `it holds ${set.size} bulk connections already` : undefined)
    if (refusal != null) {
      this.#init.count?.('refused')
      log('refused a bulk connection from %p: %s', peer, refusal)
      socket.destroy()
      return
    }
    this.#init.count?.('admitted')
    const conn = new ServedConnection(socket, peer, this.#init, this.#pool, this.#recipients, this.#slots, () => {
      set.delete(conn)
      if (set.size === 0 && this.#byPeer.get(key) === set) this.#byPeer.delete(key)
    })
    set.add(conn)
    this.#byPeer.set(key, set)
    log.trace('admitted a bulk connection from %p', peer)
  }
}

/** One admitted client connection: wants in, blocks out, in order (a DONT_HAVE asked early aside) */
class ServedConnection {
  readonly #socket: TLSSocket
  readonly #peer: PeerId
  readonly #init: BulkServerInit
  readonly #pool: BufferPool
  readonly #recipients: Recipients
  readonly #slots: SendSlots
  readonly #onClose: () => void
  readonly #queue: Want[] = []
  /** wants taken out of the queue until this node's own fetch of their block ends */
  readonly #waiting = new Set<Want>()
  /** wants whose blocks wait for an upload slot: a CANCEL still reaches them */
  readonly #slotted = new Set<Want>()
  readonly #rules = new ClientFrameRules()
  #pumping = false
  #closed = false
  /** a want took HAVE frames: this connection is told of the blocks this node stores */
  #havesOk = false
  /** Resolves once the connection closed: a want waiting for a slot stops waiting */
  readonly #ended: Promise<void>
  readonly #end: () => void

  constructor (socket: TLSSocket, peer: PeerId, init: BulkServerInit, pool: BufferPool, recipients: Recipients, slots: SendSlots, onClose: () => void) {
    this.#socket = socket
    this.#peer = peer
    this.#init = init
    this.#pool = pool
    this.#recipients = recipients
    this.#slots = slots
    this.#onClose = onClose
    const { promise, resolve } = Promise.withResolvers<void>()
    this.#ended = promise
    this.#end = resolve
    const reader = new FrameReader({
      onFrame: (frame) => { this.#onFrame(frame) },
      onBody: () => {},
      onBodyEnd: () => {}
    }, 0)
    socket.setTimeout(init.idleTimeout, () => { this.close() })
    socket.on('close', () => { this.close() })
    socket.on('data', (chunk: Uint8Array) => {
      try {
        reader.push(chunk)
      } catch (err: any) {
        init.count?.('protocol-error')
        init.log('closing the bulk connection of %p - %e', peer, err)
        this.close()
      }
    })
    socket.write(encodeFrame({ type: Frame.Type.READY }))
  }

  #onFrame (frame: Frame): void {
    this.#rules.check(frame, this.#queue.length + this.#waiting.size + this.#slotted.size)
    if (frame.type === Frame.Type.CANCEL) {
      const want = this.#queue.find(w => w.id === frame.id) ?? [...this.#waiting, ...this.#slotted].find(w => w.id === frame.id)
      if (want != null) want.cancelled = true
      return
    }
    const cid = wantedCid(frame)
    if (frame.havesOk) this.#havesOk = true
    const want: Want = { id: frame.id, cid, cancelled: false, redirectOk: frame.redirectOk, early: frame.earlyDontHave || frame.anyOrder, anyOrder: frame.anyOrder, queuedOk: frame.queuedOk, busyOk: frame.busyOk && frame.queuedOk }
    this.#queue.push(want)
    // behind others, or behind the block the pump is sending (which may wait for an upload slot)
    if (want.early && (this.#queue.length > 1 || this.#pumping)) {
      void this.#answerEarly(want).catch((err: Error) => {
        this.#init.log('bulk serving to %p failed - %e', this.#peer, err)
        this.close()
      })
    }
    void this.#pump()
  }

  /**
   * A want whose client takes an early DONT_HAVE, behind others or behind
   * the block being sent (which may wait for an upload slot): when the
   * block is not held, or goes to holders named instead, it is answered now
   * rather than after the blocks asked before it; when this node is
   * fetching the block itself, once it arrived; when it is held and takes
   * `busy`, and the line for the upload slots is long, DONT_HAVE with
   * `busy`. One whose read has begun is left to the queue.
   */
  async #answerEarly (want: Want): Promise<void> {
    let fetching: Promise<boolean> | undefined
    let busy = false
    if (!await this.#redirected(want, false)) {
      const { blockstore, blockstoreTimeout } = this.#init
      try {
        if (await blockstore.has(want.cid, { signal: AbortSignal.timeout(blockstoreTimeout) })) {
          // held: sent in its turn, unless that is far off and its client asks again later instead
          if (!want.busyOk || !this.#lineLong()) return
          busy = true
        }
      } catch {
        // the queue's read answers it, and logs why
        return
      }
      if (!busy) fetching = this.#init.fetching?.(want.cid, this.#peer)
    }
    // a client that takes `busy` is told at once that the block is on its way here (`#read`)
    if (fetching != null && want.busyOk) {
      want.fetching = true
      fetching = undefined
    }
    // a client that takes blocks only in order has its want wait in the queue (`#read`)
    if (fetching != null && !want.anyOrder) return
    const at = this.#queue.indexOf(want)
    if (this.#closed || at < 0 || want.read != null) return
    this.#queue.splice(at, 1)
    if (busy) want.busy = true
    await (fetching != null ? this.#answerLater(want, fetching) : this.#send(want, undefined))
  }

  /** Answers the queue in order, reading up to `readAhead` blocks ahead */
  async #pump (): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    try {
      while (!this.#closed && this.#queue.length > 0) {
        const ahead = Math.min(this.#init.readAhead, this.#queue.length)
        for (let i = 0; i < ahead; i++) this.#queue[i].read ??= this.#read(this.#queue[i])
        const want = this.#queue[0]
        const bytes = await want.read
        // an early answer takes only wants not being read: the head is still this one
        this.#queue.shift()
        if (want.later != null) {
          const later = want.later
          void this.#answerLater(want, later).catch((err: Error) => {
            this.#init.log('bulk serving to %p failed - %e', this.#peer, err)
            this.close()
          })
          continue
        }
        await this.#send(want, bytes)
      }
    } catch (err: any) {
      this.#init.log('bulk serving to %p failed - %e', this.#peer, err)
      this.close()
    } finally {
      this.#pumping = false
    }
  }

  /**
   * The block, checked against its CID; undefined when it is not held or
   * cannot be served. A block this node is fetching itself is waited for:
   * out of the queue when the client takes answers out of order (`later`),
   * else in its place.
   */
  async #read (want: Want): Promise<Uint8Array | undefined> {
    if (want.cancelled || await this.#redirected(want, true)) return undefined
    const bytes = await this.#readHeld(want.cid)
    this.#counted(want, bytes)
    if (bytes != null) return bytes
    const fetching = this.#init.fetching?.(want.cid, this.#peer)
    if (fetching == null) return undefined
    if (want.busyOk) {
      // its client asks again later, or asks others: it does not wait here for a block still on its
      // way (its window's room would wait with it; a server names to it only peers that hold the
      // block, see `Recipients.landedHolders`)
      want.fetching = true
      return undefined
    }
    if (want.anyOrder) {
      want.later = fetching
      return undefined
    }
    if (!await this.#arrived(want, fetching) || want.cancelled) return undefined
    const landed = await this.#readHeld(want.cid)
    this.#counted(want, landed)
    return landed
  }

  /**
   * Whether holders are named to a want that takes them instead of its
   * block, decided once the reads of the block under way for other peers
   * ended (each counts its peer as a recipient, `#counted`). With `claim`, a
   * want to be sent registers its own read in the same step, with no await
   * between, so the peers asking meanwhile wait for it in turn. A want
   * that takes `busy` is answered so when its block went only to peers
   * still waiting for it (`Recipients.landedHolders`).
   */
  async #redirected (want: Want, claim: boolean): Promise<boolean> {
    // its read is registered already: to be sent
    if (want.counted != null) return false
    if (want.redirectOk && want.holders == null && want.busy !== true) {
      const deadline = Date.now() + this.#init.blockstoreTimeout
      // checked here, not inside `settled`: its own return would be one more await between the
      // check and the decision below, and waiters woken together would all decide to send
      while (this.#recipients.isReading(want.cid) && Date.now() < deadline) {
        await this.#recipients.settled(want.cid, deadline - Date.now())
      }
      const relay = this.#init.relaying?.(want.cid)
      const live = (peer: PeerId): boolean => this.#init.admit(peer) == null
      const holders = want.busyOk ? this.#recipients.landedHolders(want.cid, this.#peer, relay, live) : this.#recipients.holders(want.cid, this.#peer, relay, live)
      if (holders === 'busy') want.busy = true
      else want.holders = holders
    }
    if (want.holders != null || want.busy === true) return true
    if (claim) want.counted = this.#recipients.reading(want.cid)
    return false
  }

  /** A read for `want` ended: its peer is counted as a recipient when there are bytes to send it */
  #counted (want: Want, bytes: Uint8Array | undefined): void {
    if (bytes != null) this.#recipients.sent(want.cid, this.#peer, bytes.byteLength)
    want.counted?.()
  }

  /**
   * Whether a block this node is fetching arrived, waited for at most
   * `inFlightWait` ms; when the fetch is still going then, the want's
   * DONT_HAVE says so, and its client may ask again rather than ask a peer
   * that holds the block (in a rollout, the origin, which would send it a
   * second time)
   */
  async #arrived (want: Want, fetching: Promise<boolean>): Promise<boolean> {
    const stored = await within<boolean | undefined>(fetching, this.#init.inFlightWait, undefined)
    if (stored === undefined) want.fetching = true
    return stored === true
  }

  /** Answers, out of the queue's order, a want of a block this node is fetching: once it arrived, or DONT_HAVE */
  async #answerLater (want: Want, fetching: Promise<boolean>): Promise<void> {
    this.#waiting.add(want)
    try {
      const stored = await this.#arrived(want, fetching)
      const bytes = stored && !want.cancelled && !this.#closed ? await this.#readHeld(want.cid) : undefined
      this.#counted(want, bytes)
      await this.#send(want, bytes)
    } finally {
      this.#waiting.delete(want)
    }
  }

  /** The block from the store, checked against its CID; undefined when it is not held or cannot be served */
  async #readHeld (cid: CID): Promise<Uint8Array | undefined> {
    const { blockstore, blockstoreTimeout, maxBlockSize, log } = this.#init
    const signal = AbortSignal.timeout(blockstoreTimeout)
    let target: Uint8Array | undefined
    try {
      let bytes: Uint8Array
      if (blockstore.readInto != null) {
        target = this.#pool.take()
        // read after the room for the frame's header (`#write`)
        bytes = await blockstore.readInto(cid, target.subarray(SERVE_FRAME_ROOM), { signal, verify: true })
        if (bytes.buffer !== target.buffer) this.#pool.release(target)
      } else {
        bytes = await collect(blockstore.get(cid, { signal, verify: true }))
      }
      if (bytes.byteLength > maxBlockSize) {
        this.#pool.release(bytes)
        return undefined
      }
      return bytes
    } catch (err: any) {
      // a block not held (DONT_HAVE, the common answer of a puller in a rollout) gives its buffer
      // back, or every such answer would leave the pool one short and the next read would zero a
      // fresh 1 MiB buffer
      if (target != null) this.#pool.release(target)
      if (err?.name !== 'NotFoundError') log.error('cannot serve %c over the bulk channel - %e', cid, err)
      return undefined
    }
  }

  /** Sends the block, or DONT_HAVE when there is none; the want's read is ended either way (`counted`) */
  async #send (want: Want, bytes: Uint8Array | undefined): Promise<void> {
    try {
      await this.#write(want, bytes)
    } finally {
      want.counted?.()
    }
  }

  /**
   * Writes the want's answer. A block of 128 KiB or more to a client that
   * takes QUEUED frames waits for an upload slot first (`SendSlots`); a want
   * cancelled meanwhile is answered DONT_HAVE, its block never sent. An older
   * client's block goes at once.
   */
  async #write (want: Want, bytes: Uint8Array | undefined): Promise<void> {
    if (bytes == null || this.#closed || want.cancelled || !want.queuedOk || bytes.byteLength < SLOTTED_MIN_SIZE) {
      await this.#writeNow(want, bytes)
      return
    }
    if (want.busyOk && this.#lineLong()) {
      // its turn is far off: the client asks again later, and is not named as a holder meanwhile
      this.#recipients.unsent(want.cid, this.#peer)
      want.busy = true
      await this.#writeNow(want, bytes)
      return
    }
    const ticket = this.#slots.take()
    this.#slotted.add(want)
    try {
      if (!ticket.ready) await this.#queued(want, ticket)
      this.#slotted.delete(want)
      await this.#writeNow(want, bytes)
    } finally {
      this.#slotted.delete(want)
      ticket.release()
    }
  }

  /** Writes the want's answer now: its block, or DONT_HAVE when there is none or it was cancelled */
  async #writeNow (want: Want, bytes: Uint8Array | undefined): Promise<void> {
    const socket = this.#socket
    if (this.#closed) {
      if (bytes != null) this.#pool.release(bytes)
      return
    }
    if (bytes == null || want.cancelled || want.busy === true) {
      if (bytes != null) this.#pool.release(bytes)
      const holders = want.cancelled ? undefined : want.holders
      const fetching = !want.cancelled && holders == null && want.fetching === true
      const busy = !want.cancelled && holders == null && !fetching && want.busy === true
      this.#init.count?.(holders != null ? 'redirect' : fetching ? 'fetching' : busy ? 'busy' : 'dont-have')
      socket.write(encodeFrame({ type: Frame.Type.DONT_HAVE, id: want.id, fetching, busy, ...(holders != null ? { holders: holders.map(p => p.toMultihash().bytes) } : {}) }))
      return
    }
    this.#init.count?.('block', bytes.byteLength)
    const header = encodeFrame({ type: Frame.Type.BLOCK, id: want.id, length: bytes.byteLength })
    const release = (): void => { this.#pool.release(bytes) }
    let flowing: boolean
    if (bytes.byteOffset === SERVE_FRAME_ROOM && header.byteLength <= SERVE_FRAME_ROOM && this.#pool.owns(bytes)) {
      // read into a serving buffer after its room for the header: one buffer, written as it is
      const framed = new Uint8Array(bytes.buffer, SERVE_FRAME_ROOM - header.byteLength, header.byteLength + bytes.byteLength)
      framed.set(header, 0)
      flowing = socket.write(framed, release)
    } else {
      socket.cork()
      socket.write(header)
      flowing = socket.write(bytes, release)
      socket.uncork()
    }
    if (!flowing) await this.#drained()
    // in the kernel's hands: the peer holds it in a moment, and may be named to askers that take `busy`
    if (!this.#closed) this.#recipients.landed(want.cid, this.#peer)
  }

  /** Whether `busyLine` blocks or more wait for an upload slot: a want that takes `busy` is answered so rather than join them */
  #lineLong (): boolean {
    return this.#slots.state.waiting >= this.#init.busyLine
  }

  /** Waits for the want's upload slot, telling its client so now and every `queuedInterval` ms */
  async #queued (want: Want, ticket: SendTicket): Promise<void> {
    this.#init.count?.('queued')
    const tell = (): void => {
      if (!this.#closed) this.#socket.write(encodeFrame({ type: Frame.Type.QUEUED, id: want.id }))
    }
    tell()
    const timer = setInterval(tell, this.#init.queuedInterval)
    try {
      await Promise.race([ticket.granted, this.#ended])
    } finally {
      clearInterval(timer)
    }
  }

  async #drained (): Promise<void> {
    const socket = this.#socket
    await new Promise<void>(resolve => {
      const done = (): void => {
        socket.off('drain', done)
        socket.off('close', done)
        resolve()
      }
      socket.on('drain', done)
      socket.on('close', done)
    })
  }

  /** Tells the client that this node stored `cid`, when it takes HAVE frames */
  have (cid: CID): void {
    if (this.#closed || !this.#havesOk) return
    this.#init.count?.('have')
    this.#socket.write(encodeFrame({ type: Frame.Type.HAVE, cid: cid.bytes }))
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#end()
    for (const want of [...this.#queue, ...this.#waiting]) want.counted?.()
    this.#socket.destroy()
    this.#onClose()
  }
}
