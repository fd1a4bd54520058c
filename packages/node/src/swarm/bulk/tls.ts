/**
 * Both ends of a bulk connection prove their libp2p identity the way
 * `@libp2p/tls` does: a self-signed certificate whose extension holds the
 * node's libp2p public key and its signature over the certificate's key
 * (libp2p's TLS spec). Node's native TLS runs the handshake on the socket
 * itself (TLSWrap); the certificate is checked here, after the handshake
 * and before a single content byte moves: the client before it sends a
 * want, the server before it reads one.
 */

import { constants, createHash } from 'node:crypto'
import { generateCertificate, verifyPeerCertificate } from '@libp2p/tls/utils'
import { BULK_ALPN } from './constants.js'
import { BulkAuthenticationError } from './errors.js'
import type { AbortOptions, PeerId, PrivateKey } from '@libp2p/interface'
import type { ConnectionOptions, TLSSocket, TlsOptions } from 'node:tls'

/** This node's certificate and its key, in PEM */
export interface BulkCredentials {
  cert: string
  key: string
}

/** A certificate for this node's key (an ECDSA P-256 TLS key, signed by the libp2p key) */
export async function bulkCredentials (privateKey: PrivateKey, options?: AbortOptions): Promise<BulkCredentials> {
  return generateCertificate(privateKey, options)
}

/**
 * TLS 1.3 only, our ALPN only, no session tickets (a resumed session would
 * carry no certificate to check), and no CA check: a libp2p certificate is
 * self-signed, and `verifyRemote` is what decides.
 */
function common (credentials: BulkCredentials): TlsOptions {
  return {
    cert: credentials.cert,
    key: credentials.key,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ALPNProtocols: [BULK_ALPN],
    rejectUnauthorized: false,
    secureOptions: constants.SSL_OP_NO_TICKET
  }
}

/** Options of the bulk listener: every client must present a certificate */
export function serverOptions (credentials: BulkCredentials, handshakeTimeout: number): TlsOptions {
  return { ...common(credentials), requestCert: true, handshakeTimeout }
}

/** Options of a bulk dial; the server's identity is checked by `verifyRemote` on `secureConnect` */
export function clientOptions (credentials: BulkCredentials): ConnectionOptions {
  const { cert, key, minVersion, maxVersion, ALPNProtocols, rejectUnauthorized, secureOptions } = common(credentials)
  // with rejectUnauthorized off node still calls checkServerIdentity, which
  // would compare a host name; the libp2p certificate names no host
  return { cert, key, minVersion, maxVersion, ALPNProtocols, rejectUnauthorized, secureOptions, checkServerIdentity: () => undefined }
}

/**
 * Certificates already checked, by the sha256 of their DER bytes: a node
 * makes one certificate per run and presents it on every connection, and
 * the check (ASN.1 and signatures in JavaScript) costs tens of ms each
 * time. A hit is as safe as a check: the handshake has just proved the other
 * end holds the certificate's key, and the bytes are those whose extension
 * was verified against the PeerId.
 */
export class VerifiedCertificates {
  readonly #max: number
  readonly #peers = new Map<string, PeerId>()

  constructor (max = 1024) {
    this.#max = max
  }

  get (fingerprint: string): PeerId | undefined {
    return this.#peers.get(fingerprint)
  }

  add (fingerprint: string, peer: PeerId): void {
    if (this.#peers.size >= this.#max) this.#peers.delete(this.#peers.keys().next().value as string)
    this.#peers.set(fingerprint, peer)
  }
}

/**
 * The PeerId the other end proved with its certificate. Throws
 * `BulkAuthenticationError` when the certificate is missing, does not
 * verify, or (with `expected`) belongs to another peer.
 */
export async function verifyRemote (socket: TLSSocket, expected?: PeerId, verified?: VerifiedCertificates): Promise<PeerId> {
  if (socket.alpnProtocol !== BULK_ALPN) throw new BulkAuthenticationError(`the other end did not agree on ALPN ${BULK_ALPN}`)
  if (socket.isSessionReused()) throw new BulkAuthenticationError('a resumed TLS session carries no certificate to check')
  const raw = socket.getPeerCertificate()?.raw
  if (raw == null || raw.byteLength === 0) throw new BulkAuthenticationError('the other end sent no certificate')
  const fingerprint = createHash('sha256').update(raw).digest('base64')
  const known = verified?.get(fingerprint)
  if (known != null) {
    if (expected != null && !expected.equals(known)) throw new BulkAuthenticationError(`the other end's certificate proves peer ${known.toString()}, not ${expected.toString()}`)
    return known
  }
  try {
    const peer = await verifyPeerCertificate(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), expected)
    verified?.add(fingerprint, peer)
    return peer
  } catch (err: any) {
    throw new BulkAuthenticationError(`the other end's certificate does not prove ${expected != null ? `peer ${expected.toString()}` : 'a libp2p identity'}: ${err.message}`, { cause: err })
  }
}
