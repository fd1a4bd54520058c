/**
 * The private-network connection protector: a pre-shared key (Kubo's
 * `swarm.key`) encrypts every byte of a connection before the security
 * handshake, so a peer without the key cannot even negotiate one.
 *
 * The wire format is Kubo's and @libp2p/pnet's (`/key/swarm/psk/1.0.0/`):
 * each side sends a random 24-byte nonce in the clear, then XORs everything
 * it sends with the XSalsa20 keystream of (psk, its own nonce), and
 * everything it receives with the keystream of (psk, the other's nonce).
 *
 * Written here rather than taken from @libp2p/pnet for a measured reason:
 * @libp2p/pnet runs XSalsa20 in the `xsalsa20` package's WebAssembly, whose
 * instances share one memory and cache a view of it. When one instance grows
 * the memory, the others' views detach (length 0), so each of them grows it
 * again on its next update: a node serving the 315 MB test image to two
 * members took the memory from 10 to over 650 of its 1,000 pages and died
 * with `RangeError: WebAssembly.Memory.grow(): Maximum memory size exceeded`,
 * thrown in an event listener. The cipher here is @noble/ciphers' audited
 * pure-JS `xsalsa20`, one keystream position per direction and no shared
 * state; `test/pnet.spec.ts` connects it to stock @libp2p/pnet both ways.
 */

import { InvalidParametersError } from '@libp2p/interface'
import { AbstractMultiaddrConnection, byteStream } from '@libp2p/utils'
import { xsalsa20 } from '@noble/ciphers/salsa.js'
import { InvalidSwarmKeyError } from '@provenir/interface'
import { parseSwarmKey } from './swarm-key.js'
import type { AbortOptions, ConnectionProtector, Logger, MultiaddrConnection } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** Bytes of the nonce each side sends first */
export const PNET_NONCE_LENGTH = 24

/** Bytes of the pre-shared key */
export const PNET_KEY_LENGTH = 32

/** Time allowed for the nonce exchange when the caller gives no signal (ms), as @libp2p/pnet */
export const PNET_HANDSHAKE_TIMEOUT = 1_000

const BLOCK = 64

/**
 * Keystream blocks one direction of a connection may use: @noble/ciphers
 * refuses a block counter past 2^32 - 1, which is 256 GiB; the connection is
 * closed there (and dialled again with new nonces by whoever needs it).
 */
export const PNET_MAX_BLOCKS = 2 ** 32 - 1

/** A direction of a protected connection used up its keystream */
export class PnetKeystreamExhaustedError extends Error {
  static name = 'PnetKeystreamExhaustedError'
  override name = 'PnetKeystreamExhaustedError'
}

/**
 * One direction's XSalsa20 keystream, applied to chunks of any size in
 * order. Each chunk is copied once into a 4-byte-aligned buffer and XORed in
 * place, so the cipher runs its word-at-a-time path.
 *
 * @internal
 */
export class XSalsa20Stream {
  private readonly key: Uint8Array
  private readonly nonce: Uint8Array
  /** Bytes of keystream used so far */
  private position: number
  private readonly block: Uint8Array

  constructor (key: Uint8Array, nonce: Uint8Array) {
    if (key.byteLength !== PNET_KEY_LENGTH) throw new InvalidParametersError(`a pre-shared key is ${PNET_KEY_LENGTH} bytes`)
    if (nonce.byteLength !== PNET_NONCE_LENGTH) throw new InvalidParametersError(`a pnet nonce is ${PNET_NONCE_LENGTH} bytes`)
    this.key = key
    this.nonce = nonce
    this.position = 0
    this.block = new Uint8Array(BLOCK)
  }

  /** `data` XORed with the next `data.byteLength` bytes of keystream, in a new buffer */
  update (data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.byteLength)
    out.set(data)
    let done = 0
    const offset = this.position % BLOCK
    const counter = Math.floor(this.position / BLOCK)
    if (counter + Math.ceil((offset + data.byteLength) / BLOCK) > PNET_MAX_BLOCKS) {
      throw new PnetKeystreamExhaustedError(`the connection used the ${PNET_MAX_BLOCKS} keystream blocks one direction may use`)
    }
    if (offset !== 0) {
      // the rest of a block begun by the last chunk: its keystream, from zeros
      this.block.fill(0)
      xsalsa20(this.key, this.nonce, this.block, this.block, counter)
      done = Math.min(BLOCK - offset, data.byteLength)
      for (let i = 0; i < done; i++) out[i] ^= this.block[offset + i]
    }
    if (done < data.byteLength) {
      const rest = out.subarray(done)
      xsalsa20(this.key, this.nonce, rest, rest, counter + (offset !== 0 ? 1 : 0))
    }
    this.position += data.byteLength
    return out
  }
}

/** The 32-byte key of a Kubo-format swarm.key */
export function swarmKeyBytes (swarmKey: Uint8Array): Uint8Array {
  const text = new TextDecoder().decode(parseSwarmKey(swarmKey))
  const hex = text.split('\n')[2]
  if (hex == null) throw new InvalidSwarmKeyError('swarm.key: no key line')
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

interface ProtectedConnectionInit {
  maConn: MultiaddrConnection
  localNonce: Uint8Array
  remoteNonce: Uint8Array
  key: Uint8Array
  log: Logger
}

/** A connection whose bytes pass through the two keystreams */
class ProtectedConnection extends AbstractMultiaddrConnection {
  private readonly maConn: MultiaddrConnection
  private readonly inbound: XSalsa20Stream
  private readonly outbound: XSalsa20Stream

  constructor (init: ProtectedConnectionInit) {
    super({ log: init.log, remoteAddr: init.maConn.remoteAddr, direction: init.maConn.direction })
    this.maConn = init.maConn
    this.inbound = new XSalsa20Stream(init.key, init.remoteNonce)
    this.outbound = new XSalsa20Stream(init.key, init.localNonce)
    this.maConn.addEventListener('message', (evt) => {
      // an error here would be thrown inside an event listener, out of
      // anyone's reach: it ends this connection instead
      try {
        const data = evt.data
        if (data instanceof Uint8Array) {
          this.onData(this.inbound.update(data))
        } else {
          for (const chunk of data) this.onData(this.inbound.update(chunk))
        }
      } catch (err: any) {
        this.log.error('decrypting from %a failed - %e', this.remoteAddr, err)
        this.abort(err)
      }
    })
    this.maConn.addEventListener('drain', () => { this.onMuxerDrain() })
    this.maConn.addEventListener('close', (evt) => {
      if (evt.error != null) {
        if (evt.local === true) this.abort(evt.error)
        else this.onRemoteReset()
      } else {
        this.onTransportClosed()
      }
    })
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    await this.maConn.close(options)
  }

  sendData (data: Uint8ArrayList): { sentBytes: number, canSendMore: boolean } {
    return {
      sentBytes: data.byteLength,
      canSendMore: this.maConn.send(this.outbound.update(data.subarray()))
    }
  }

  sendReset (err: Error): void {
    this.maConn.abort(err)
  }

  sendPause (): void {
    this.maConn.pause()
  }

  sendResume (): void {
    this.maConn.resume()
  }
}

export interface PreSharedKeyInit {
  /** The contents of a Kubo-format swarm.key */
  psk: Uint8Array
  /** @default PNET_HANDSHAKE_TIMEOUT */
  timeout?: number
}

class PreSharedKeyProtector implements ConnectionProtector {
  readonly [Symbol.toStringTag] = '@provenir/pnet'
  private readonly key: Uint8Array
  private readonly timeout: number

  constructor (init: PreSharedKeyInit) {
    this.key = swarmKeyBytes(init.psk)
    this.timeout = init.timeout ?? PNET_HANDSHAKE_TIMEOUT
  }

  async protect (connection: MultiaddrConnection, options?: AbortOptions): Promise<MultiaddrConnection> {
    const log = connection.log.newScope('pnet')
    const signal = options?.signal ?? AbortSignal.timeout(this.timeout)
    const localNonce = crypto.getRandomValues(new Uint8Array(PNET_NONCE_LENGTH))
    const bytes = byteStream(connection, { maxBufferSize: 64 * 1024 })
    const [remote] = await Promise.all([
      bytes.read({ bytes: PNET_NONCE_LENGTH, signal }),
      bytes.write(localNonce, { signal })
    ])
    log('exchanged nonces')
    // the remote may already have sent encrypted bytes after its nonce: unwrap hands them on
    return new ProtectedConnection({
      maConn: bytes.unwrap() as MultiaddrConnection,
      localNonce,
      remoteNonce: remote.subarray(),
      key: this.key,
      log
    })
  }
}

/**
 * The protector for libp2p's `connectionProtector` option, from the
 * contents of a swarm.key.
 *
 * @throws InvalidSwarmKeyError when the key is not in Kubo's format
 */
export function preSharedKey (init: PreSharedKeyInit): () => ConnectionProtector {
  const protector = new PreSharedKeyProtector(init)
  return () => protector
}
