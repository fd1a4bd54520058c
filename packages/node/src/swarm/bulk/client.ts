/**
 * One outbound bulk connection: TLS 1.3 on its own TCP socket to a peer's
 * bulk listener, the server's identity checked against the PeerId we meant
 * to reach, then wants written and blocks read in the order asked.
 *
 * Each block is hashed while its bytes arrive (one `update` per piece of the
 * TLS stream, into the block's own buffer), so its check against the CID
 * costs no pass of its own once the last byte is in. A block that does not
 * match is never handed on: the request fails with `BulkBadBlockError` and
 * the connection closes.
 */

import { createHash } from 'node:crypto'
import { connect } from 'node:tls'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { hashTransferring } from '@provenir/content'
import * as Digest from 'multiformats/hashes/digest'
import { equals } from 'uint8arrays/equals'
import { INLINE_HASH_LIMIT, MAX_EARLY_BYTES, READ_BUFFER_SIZE } from './constants.js'
import { BulkBadBlockError, BulkConnectionClosedError, BulkLocalError, BulkProtocolError, BulkRefusedError, BulkStalledError } from './errors.js'
import { encodeFrame, Frame, FrameReader } from './frames.js'
import { clientOptions, verifyRemote } from './tls.js'
import type { BulkCredentials, VerifiedCertificates } from './tls.js'
import type { Logger, PeerId } from '@libp2p/interface'
import type { Hash } from 'node:crypto'
import type { OnReadOpts } from 'node:net'
import type { ConnectionOptions, TLSSocket } from 'node:tls'
import { CID } from 'multiformats/cid'

/** The hash a CID names, as node's crypto calls it; undefined for one the bulk channel does not fetch */
export function hashAlgorithm (cid: CID): string | undefined {
  const { code, size } = cid.multihash
  if (code === 0x12 && size === 32) return 'sha256'
  if (code === 0x13 && size === 64) return 'sha512'
  return undefined
}

/**
 * What a peer answered to a want: the block (checked against its CID), or
 * that it does not hold it, or (to a want with `redirectOk`) the peers it
 * sent the block to lately, to ask first
 */
/**
 * A server's answer to a want: the block; or DONT_HAVE, naming the
 * `holders` it sent the block to lately, or saying that it is `fetching`
 * the block itself and it did not land within the server's wait
 */
export type BulkAnswer = { kind: 'block', bytes: Uint8Array } | { kind: 'dont-have', holders?: PeerId[], fetching?: boolean, busy?: boolean }

/** The holders a DONT_HAVE names, as PeerIds; any that does not parse is left out */
function parseHolders (holders: Uint8Array[]): PeerId[] | undefined {
  const out: PeerId[] = []
  for (const bytes of holders) {
    try {
      out.push(peerIdFromMultihash(Digest.decode(bytes)))
    } catch {}
  }
  return out.length > 0 ? out : undefined
}

interface Pending {
  id: number
  cid: CID
  algorithm: string
  resolve(answer: BulkAnswer): void
  reject(err: Error): void
  /** the caller gave up; the answer is still read off the wire, and dropped */
  cancelled: boolean
  /** asked with `earlyDontHave`: its DONT_HAVE may come ahead of older wants' answers */
  early: boolean
  /** asked with `anyOrder`: any answer to it may come ahead of older wants' answers, and later wants' answers ahead of it */
  anyOrder: boolean
  /** asked with `busyOk`: it may be answered DONT_HAVE with `busy` */
  busyOk: boolean
}

/** How a want is asked */
export interface BulkRequestOptions {
  signal?: AbortSignal
  /** The server may name the peers it sent the block to lately instead of sending it (see `Recipients`) */
  redirectOk?: boolean
  /** The server may answer DONT_HAVE as soon as it knows, ahead of older wants' answers */
  earlyDontHave?: boolean
  /**
   * Any answer, a block too, may come ahead of older wants' answers, and
   * later wants' answers ahead of it: a server fetching the block itself
   * sends it once it lands, and the blocks asked after it meanwhile
   */
  anyOrder?: boolean
  /**
   * The server may answer DONT_HAVE with `busy` instead of having the want
   * wait in a long line for its upload: it holds the block, ask later
   */
  busyOk?: boolean
  /** The server may tell this connection of the blocks it stores from now on (HAVE frames, `ConnectInit.onHave`) */
  havesOk?: boolean
}

/** A block being received */
interface Receiving {
  request: Pending
  buffer: Uint8Array
  filled: number
  /** a cancelled want's block: read off the wire and dropped */
  drop: boolean
  /** hashed as it arrives; without one (a pooled buffer) the hash worker hashes the whole block */
  hash?: Hash
}

/** Where received blocks' buffers come from (and go back to, once the caller is done with a block) */
export interface ReceiveBuffers {
  /** Size of each pooled buffer; a larger block gets one of its own */
  readonly size: number
  take(): Uint8Array<ArrayBuffer>
  release(buffer: Uint8Array): void
  /** Takes back as its own a pooled buffer that moved to the hash worker and back */
  adopt(buffer: Uint8Array): void
}

export interface ConnectInit {
  peer: PeerId
  /** Pooled buffers to receive blocks into: fresh 1 MiB buffers cost a page fault per 4 KiB on first touch */
  buffers?: ReceiveBuffers
  host: string
  port: number
  credentials: BulkCredentials
  /** Certificates checked already (shared by every connection of a node) */
  verified?: VerifiedCertificates
  maxBlockSize: number
  /** ms with requests in flight and nothing received before the connection counts as stalled */
  stallTimeout: number
  /**
   * ms with requests in flight in which the server answered nothing, only
   * that they wait for its upload (QUEUED), before the connection counts as
   * stalled
   */
  queuedTimeout: number
  /** ms with nothing in flight before the connection closes */
  idleTimeout: number
  signal: AbortSignal
  /** The server stored `cid` lately (a HAVE frame, sent once a want of this connection took them) */
  onHave?(cid: CID): void
  /** Hashes a block received into a pooled buffer (the hash worker's `hashTransferring` unless given) */
  hashBlock?: BlockHasher
  log: Logger
}

/** Hashes `bytes`, which move to the hasher, and gives them back (see `hashTransferring`) */
export type BlockHasher = (bytes: Uint8Array<ArrayBuffer>, algorithm: string) => Promise<{ digest: Uint8Array, bytes: Uint8Array<ArrayBuffer> }>

export class BulkConnection {
  readonly peer: PeerId
  readonly #socket: TLSSocket
  readonly #init: ConnectInit
  /** requests in the order sent; the server answers them in that order (an early DONT_HAVE aside) */
  readonly #pending: Pending[] = []
  #receiving?: Receiving
  #nextId = 1
  /** a want took HAVE frames: the server may send them */
  #havesOk = false
  #closed = false
  #lastActivity = Date.now()
  /** When the server last answered (a frame other than QUEUED, or a block's bytes) */
  #progressAt = Date.now()
  #timer?: ReturnType<typeof setTimeout>
  #corked = false
  /** Where the socket's bytes go: held until the server's identity is checked, then the handshake's reader, then `#onData` */
  #sink: (chunk: Uint8Array) => void
  /** Copies of what came before the server's identity was checked */
  #early: Uint8Array[] = []
  #earlyBytes = 0
  /** Called once when the connection closes, with the error that closed it (none for an idle close) and whether requests were in flight */
  onClose?: (err: Error | undefined, hadRequests: boolean) => void

  private constructor (socket: TLSSocket, init: ConnectInit) {
    this.#socket = socket
    this.#init = init
    this.peer = init.peer
    this.#sink = (chunk) => { this.#hold(chunk) }
  }

  /** A piece of the stream, in the socket's read buffer: valid only during the call */
  #onRead (chunk: Uint8Array): void {
    this.#sink(chunk)
  }

  /** Keeps a copy of bytes that came before the server's identity was checked (its READY, in time) */
  #hold (chunk: Uint8Array): void {
    this.#earlyBytes += chunk.byteLength
    if (this.#earlyBytes > MAX_EARLY_BYTES) {
      this.#socket.destroy(new BulkProtocolError(`peer ${this.peer.toString()} sent over ${MAX_EARLY_BYTES} bytes before its identity was checked`))
      return
    }
    this.#early.push(chunk.slice())
  }

  /**
   * Dials the peer's bulk listener, checks its certificate against
   * `init.peer` and waits for its READY (the server admitted us).
   *
   * @throws BulkAuthenticationError, BulkRefusedError, or the socket's error
   */
  static async open (init: ConnectInit): Promise<BulkConnection> {
    init.signal.throwIfAborted()
    // the socket decrypts into one buffer of the connection's own, which
    // `#onRead` copies out of: 'data' events would allocate a new buffer
    // for each read, whose page faults and collection the puller pays
    // (receiving 315 MB: 0.61-0.78 s of CPU against 0.23-0.36 s, BENCHMARKS.md)
    let conn: BulkConnection | undefined
    const onread = { buffer: Buffer.allocUnsafeSlow(READ_BUFFER_SIZE), callback: (n: number, buffer: Uint8Array) => {
      if (conn != null) conn.#onRead(buffer.subarray(0, n))
      // false would pause the socket
      return true
    } }
    // node documents `onread` for tls.connect (a socket it creates itself); @types/node leaves it out
    const options: ConnectionOptions & { onread: OnReadOpts } = { host: init.host, port: init.port, ...clientOptions(init.credentials), onread }
    const socket = connect(options)
    conn = new BulkConnection(socket, init)
    try {
      await conn.#handshake()
    } catch (err: any) {
      socket.destroy()
      throw err
    }
    conn.#armTimer()
    return conn
  }

  async #handshake (): Promise<void> {
    const socket = this.#socket
    const { signal } = this.#init
    await new Promise<void>((resolve, reject) => {
      let verified = false
      const fail = (err: Error): void => { cleanup(); reject(err) }
      const onAbort = (): void => { fail(signal.reason) }
      const onError = (err: Error): void => { fail(err) }
      const onClose = (): void => { fail(verified ? new BulkRefusedError(`peer ${this.peer.toString()} closed the bulk connection before admitting us`) : new BulkConnectionClosedError('closed during the TLS handshake')) }
      const reader = new FrameReader({
        onFrame: (frame) => {
          if (frame.type !== Frame.Type.READY) throw new BulkProtocolError(`${frame.type} frame before READY`)
          cleanup()
          this.#attach()
          resolve()
        },
        onBody: () => {},
        onBodyEnd: () => {}
      }, 0)
      const onData = (chunk: Uint8Array): void => {
        try {
          reader.push(chunk)
        } catch (err: any) {
          fail(err)
        }
      }
      const cleanup = (): void => {
        signal.removeEventListener('abort', onAbort)
        socket.off('error', onError)
        socket.off('close', onClose)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      socket.on('error', onError)
      socket.on('close', onClose)
      socket.once('secureConnect', () => {
        // nothing is read before the server proved the identity we dialled
        verifyRemote(socket, this.peer, this.#init.verified).then(() => {
          verified = true
          this.#sink = onData
          for (const chunk of this.#early.splice(0)) this.#sink(chunk)
        }, fail)
      })
    })
  }

  /** The admitted connection's own listeners, in place before anything more is read */
  #attach (): void {
    const socket = this.#socket
    this.#sink = (chunk) => { this.#onData(chunk) }
    socket.on('error', (err) => { this.close(err) })
    socket.on('close', () => { this.close(new BulkConnectionClosedError(`peer ${this.peer.toString()} closed the bulk connection`)) })
  }

  /** Requests in flight (cancelled ones included until their answer is read) */
  get inflight (): number {
    return this.#pending.length
  }

  get closed (): boolean {
    return this.#closed
  }

  /**
   * Asks for `cid`. Resolves with the block once it hashed to `cid`, or with
   * dont-have. Rejects with `BulkBadBlockError` (the connection is closed
   * then), with the error that closed the connection, or with the signal's
   * reason (the want is cancelled on the wire).
   */
  async request (cid: CID, options: BulkRequestOptions = {}): Promise<BulkAnswer> {
    const { signal, redirectOk = false, earlyDontHave = false, anyOrder = false, busyOk = false, havesOk = false } = options
    if (this.#closed) throw new BulkConnectionClosedError('the bulk connection is closed')
    signal?.throwIfAborted()
    const algorithm = hashAlgorithm(cid)
    if (algorithm == null) throw new BulkProtocolError(`the bulk channel does not fetch CIDs hashed with multihash 0x${cid.multihash.code.toString(16)}`)
    const id = this.#nextId++
    return new Promise<BulkAnswer>((resolve, reject) => {
      const onAbort = (): void => {
        if (request.cancelled) return
        request.cancelled = true
        reject(signal?.reason)
        this.#write(encodeFrame({ type: Frame.Type.CANCEL, id }))
      }
      const request: Pending = {
        id,
        cid,
        algorithm,
        cancelled: false,
        early: earlyDontHave,
        anyOrder,
        busyOk,
        resolve: (answer) => { signal?.removeEventListener('abort', onAbort); resolve(answer) },
        reject: (err) => { signal?.removeEventListener('abort', onAbort); reject(err) }
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.push(request)
      // from idle to waiting: the stall clock starts now
      if (this.#pending.length === 1) this.#rearm()
      if (havesOk) this.#havesOk = true
      this.#write(encodeFrame({ type: Frame.Type.WANT, id, cid: cid.bytes, redirectOk, earlyDontHave, anyOrder, queuedOk: true, busyOk, havesOk }))
    })
  }

  /** Writes a frame; wants of one tick go out together */
  #write (bytes: Uint8Array): void {
    if (this.#closed) return
    if (!this.#corked) {
      this.#corked = true
      this.#socket.cork()
      process.nextTick(() => {
        this.#corked = false
        this.#socket.uncork()
      })
    }
    this.#socket.write(bytes)
  }

  readonly #reader = new FrameReader({
    onFrame: (frame) => { this.#onFrame(frame) },
    onBody: (piece) => { this.#onBody(piece) },
    onBodyEnd: () => { this.#onBodyEnd() }
  }, Number.MAX_SAFE_INTEGER)

  #onData (chunk: Uint8Array): void {
    this.#lastActivity = Date.now()
    try {
      this.#reader.push(chunk)
    } catch (err: any) {
      this.close(err)
    }
  }

  #onFrame (frame: Frame): void {
    if (frame.type === Frame.Type.HAVE) {
      // not an answer: the server stored a block lately
      if (!this.#havesOk) throw new BulkProtocolError('a HAVE frame to a connection that took none')
      let cid: CID
      try {
        cid = CID.decode(frame.cid)
      } catch (err: any) {
        throw new BulkProtocolError(`malformed CID in a HAVE frame: ${err.message}`, { cause: err })
      }
      this.#init.onHave?.(cid)
      return
    }
    if (frame.type === Frame.Type.QUEUED) {
      // not an answer: the want waits for the server's upload, and the connection is alive
      if (!this.#pending.some(r => r.id === frame.id)) throw new BulkProtocolError(`QUEUED for ${frame.id}, which is not in flight`)
      return
    }
    this.#progressAt = this.#lastActivity
    const head = this.#pending[0]
    let request = head
    if (head != null && frame.id !== head.id) {
      // ahead of older wants' answers: only for a want that allowed it, or past wants that all did
      const at = this.#pending.findIndex(r => r.id === frame.id)
      const dontHave = frame.type === Frame.Type.DONT_HAVE
      const allowed = at >= 0 && (this.#pending[at].anyOrder || (dontHave && this.#pending[at].early) || this.#pending.slice(0, at).every(r => r.anyOrder))
      if (!allowed) {
        throw new BulkProtocolError(`${dontHave ? 'DONT_HAVE' : 'answer'} ${frame.id} out of order (expected ${head.id})`)
      }
      request = this.#pending[at]
    }
    if (request == null) throw new BulkProtocolError(`answer ${frame.id} out of order (expected none)`)
    if (frame.type === Frame.Type.DONT_HAVE) {
      this.#answered(request)
      this.#dontHave(request, frame)
      return
    }
    if (frame.type !== Frame.Type.BLOCK) throw new BulkProtocolError(`unexpected ${frame.type} frame`)
    if (frame.length > this.#init.maxBlockSize) throw new BulkProtocolError(`block of ${frame.length} bytes exceeds ${this.#init.maxBlockSize}`)
    // a cancelled want's block is read off the wire and dropped, unhashed
    if (request.cancelled) {
      this.#receiving = { request, buffer: new Uint8Array(0), filled: 0, drop: true }
      return
    }
    const pool = this.#init.buffers
    // a block into a pooled buffer is hashed whole on the hash worker once it is in; a small one
    // (a manifest, a config, a DAG node: a message to the worker and back costs more) or one
    // larger than the pool's buffers as it arrives, here
    this.#receiving = pool != null && frame.length <= pool.size && frame.length > INLINE_HASH_LIMIT
      ? { request, buffer: pool.take().subarray(0, frame.length), filled: 0, drop: false }
      : { request, buffer: Buffer.allocUnsafeSlow(frame.length), filled: 0, drop: false, hash: createHash(request.algorithm) }
  }

  #dontHave (request: Pending, frame: Frame): void {
    if (frame.busy && !request.busyOk) throw new BulkProtocolError(`DONT_HAVE ${frame.id} says busy to a want that did not take it`)
    if (request.cancelled) return
    const holders = parseHolders(frame.holders)
    request.resolve(holders != null ? { kind: 'dont-have', holders } : frame.fetching ? { kind: 'dont-have', fetching: true } : frame.busy ? { kind: 'dont-have', busy: true } : { kind: 'dont-have' })
  }

  #onBody (piece: Uint8Array): void {
    const r = this.#receiving
    this.#progressAt = this.#lastActivity
    if (r == null || r.drop) return
    r.buffer.set(piece, r.filled)
    r.filled += piece.byteLength
    r.hash?.update(piece)
  }

  #onBodyEnd (): void {
    const r = this.#receiving
    if (r == null) return
    this.#receiving = undefined
    this.#answered(r.request)
    if (r.drop) return
    if (r.hash != null) {
      this.#check(r, r.hash.digest())
      return
    }
    // the next blocks arrive while the worker hashes this one; the buffer moves there and back
    const hash = this.#init.hashBlock ?? hashTransferring
    hash(r.buffer as Uint8Array<ArrayBuffer>, r.request.algorithm).then(({ digest, bytes }) => {
      this.#init.buffers?.adopt(bytes)
      r.buffer = bytes
      this.#check(r, digest)
    }, (err: Error) => {
      // no fault of the peer's (the worker failed, and the buffer with it): the want fails, and is asked again
      this.#init.log.error('could not hash a block of %s from %p - %e', r.request.cid.toString(), this.peer, err)
      r.request.reject(new BulkLocalError(`could not hash the block of ${r.request.cid.toString()} from ${this.peer.toString()}: ${err.message}`, { cause: err }))
    })
  }

  /** Hands on a block that hashed to its CID; a block that did not closes the connection */
  #check (r: Receiving, digest: Uint8Array): void {
    if (equals(digest, r.request.cid.multihash.digest)) {
      // a want cancelled while its block was hashed has no taker
      if (r.request.cancelled) this.#init.buffers?.release(r.buffer)
      else r.request.resolve({ kind: 'block', bytes: r.buffer })
      return
    }
    const err = new BulkBadBlockError(`peer ${this.peer.toString()} sent ${r.filled} bytes for ${r.request.cid.toString()} that do not hash to it`)
    this.#init.buffers?.release(r.buffer)
    r.request.reject(err)
    this.close(err)
  }

  /** A request is answered (the oldest, but for one that allowed otherwise); with none left the idle clock starts */
  #answered (request: Pending): void {
    const at = this.#pending.indexOf(request)
    if (at >= 0) this.#pending.splice(at, 1)
    if (this.#pending.length === 0) this.#rearm()
  }

  #rearm (): void {
    if (this.#closed) return
    this.#lastActivity = Date.now()
    this.#progressAt = this.#lastActivity
    clearTimeout(this.#timer)
    this.#armTimer()
  }

  /**
   * One timer per connection: a stall with requests in flight (nothing
   * received, or no answer but QUEUED frames), or the idle timeout without
   */
  #armTimer (): void {
    const { stallTimeout, queuedTimeout, idleTimeout } = this.#init
    const left = this.#pending.length > 0
      ? Math.min(this.#lastActivity + stallTimeout, this.#progressAt + queuedTimeout) - Date.now()
      : this.#lastActivity + idleTimeout - Date.now()
    this.#timer = setTimeout(() => {
      if (this.#closed) return
      const now = Date.now()
      const quiet = now - this.#lastActivity
      const unanswered = now - this.#progressAt
      if (this.#pending.length > 0 && quiet >= stallTimeout) {
        this.close(new BulkStalledError(`peer ${this.peer.toString()} sent nothing for ${quiet} ms with ${this.#pending.length} wants in flight`))
      } else if (this.#pending.length > 0 && unanswered >= queuedTimeout) {
        this.close(new BulkStalledError(`peer ${this.peer.toString()} answered nothing for ${unanswered} ms with ${this.#pending.length} wants in flight, only that they wait for its upload`))
      } else if (this.#pending.length === 0 && quiet >= idleTimeout) {
        this.close()
      } else {
        this.#armTimer()
      }
    }, Math.max(left, 50))
    this.#timer.unref()
  }

  /** Closes the connection; every request in flight fails with `err` (or a closed-connection error) */
  close (err?: Error): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#timer)
    this.#socket.destroy()
    const reason = err ?? new BulkConnectionClosedError('the bulk connection was closed')
    const hadRequests = this.#pending.some(r => !r.cancelled)
    for (const request of this.#pending.splice(0)) {
      if (!request.cancelled) request.reject(reason)
    }
    // a pooled buffer half filled goes back to the pool
    if (this.#receiving != null && this.#receiving.hash == null) this.#init.buffers?.release(this.#receiving.buffer)
    this.#receiving = undefined
    if (err != null && err.name !== 'BulkConnectionClosedError') this.#init.log('bulk connection to %p closed - %e', this.peer, err)
    this.onClose?.(err, hadRequests)
  }
}
