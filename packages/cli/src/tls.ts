/**
 * TLS for the daemon's servers (the RPC API and the registry gateway): a
 * certificate and key from config, or the repo's own CA and the server
 * certificate it issues, made at `provenir init` (and by the daemon for a repo
 * made before TLS existed).
 *
 * Certificates are made with @peculiar/x509 over node's WebCrypto: it is
 * already in the tree (js-libp2p's TLS and WebRTC transports use it), is
 * maintained, and builds the extensions a Go client (skopeo, containerd,
 * docker) insists on (subjectAltName, basicConstraints, key usages) without
 * hand-written ASN.1. Node's own X509Certificate checks coverage and expiry.
 *
 * Why a CA and not one self-signed certificate: clients are told to trust
 * the CA once; the server certificate under it can then be reissued (new
 * addresses, expiry) without touching any client.
 */
import fs from 'node:fs/promises'
import { hostname, networkInterfaces } from 'node:os'
import path from 'node:path'
import { createSecureContext } from 'node:tls'
import { X509Certificate, randomBytes, webcrypto } from 'node:crypto'
import { isIP } from 'node:net'
import * as x509 from '@peculiar/x509'
import { isLoopbackHost } from '@provenir/interface'
import {
  MAX_PEM_BYTES, PLAIN_FILE_MODE, REPO_DIR_MODE, SECRET_FILE_MODE, TLS_CA_VALIDITY_DAYS, TLS_DIR, TLS_RENEW_BEFORE_DAYS, TLS_SERVER_VALIDITY_DAYS,
  TLS_TRUST_DIR
} from './constants.js'
import { TlsMaterialError } from './errors.js'
import { errorCode, exists, readFileBounded, writeFileAtomic } from './fs-util.js'
import type { TlsConfig } from './config.js'

/** Where the repo's own TLS material lives */
export interface RepoTlsPaths {
  /** `<repo>/tls`, mode 0700 */
  dir: string
  /** `<repo>/tls/trust`: holds only `ca.crt`; give it to skopeo's `--cert-dir` */
  trustDir: string
  /** `<repo>/tls/trust/ca.crt`: the CA clients trust */
  caCert: string
  /** `<repo>/tls/ca.key`, mode 0600: signs the server certificate */
  caKey: string
  /** `<repo>/tls/server.crt`: the servers' certificate, issued by the CA */
  cert: string
  /** `<repo>/tls/server.key`, mode 0600 */
  key: string
}

/** What a server needs to serve TLS */
export interface ServerTls {
  /** PEM certificate chain */
  cert: string
  /** PEM private key */
  key: string
  /** The CA file clients should trust, when known (the repo's CA, or `ca` from config) */
  caFile?: string
}

/** What `ensureRepoTls` did */
export interface RepoTlsResult {
  paths: RepoTlsPaths
  /** A new CA was made */
  createdCa: boolean
  /** A new server certificate was issued (none yet, expiring, or missing a name) */
  issued: boolean
  /** The names and addresses the server certificate covers */
  names: string[]
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
const DAY_MS = 24 * 60 * 60 * 1000

/**
 * Node's WebCrypto, passed to every @peculiar/x509 call: never set as its
 * global provider, which the one copy of the library shares with libp2p's TLS
 * encryption (a provider set here made its handshakes fail).
 */
const CRYPTO = webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]

export function repoTlsPaths (root: string): RepoTlsPaths {
  const dir = path.join(path.resolve(root), TLS_DIR)
  const trustDir = path.join(dir, TLS_TRUST_DIR)
  return { dir, trustDir, caCert: path.join(trustDir, 'ca.crt'), caKey: path.join(dir, 'ca.key'), cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') }
}

/** True when a server on `host` serves TLS under `config` */
export function tlsEnabled (config: TlsConfig, host: string): boolean {
  return config.enabled === 'auto' ? !isLoopbackHost(host) : config.enabled
}

/**
 * The names a server certificate of this node covers: `localhost`, the host
 * name, the loopback addresses, every address of the machine's interfaces
 * (but link-local ones, which need a zone no certificate can carry), and
 * `extra` (the configured listen hosts).
 */
export function localNames (extra: readonly string[] = []): string[] {
  const names = new Set<string>(['localhost', '127.0.0.1', '::1'])
  const own = hostname()
  if (/^[a-zA-Z0-9.-]{1,253}$/.test(own)) names.add(own.toLowerCase())
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      if (info.family === 'IPv6' && info.address.toLowerCase().startsWith('fe80:')) continue
      names.add(info.address.toLowerCase())
    }
  }
  for (const host of extra) {
    if (host !== '0.0.0.0' && host !== '::') names.add(host.toLowerCase())
  }
  return [...names]
}

function serialNumber (): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0] & 0x7f) | 0x01 // positive and 16 bytes long: what RFC 5280 and Go ask
  return bytes.toString('hex')
}

function days (from: Date, count: number): Date {
  return new Date(from.getTime() + count * DAY_MS)
}

async function pemKey (key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY') + '\n'
}

async function generateKeys (): Promise<webcrypto.CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])
}

async function makeCa (paths: RepoTlsPaths, now: Date): Promise<void> {
  const keys = await generateKeys()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [`provenir CA (${hostname().slice(0, 48)})`] }],
    notBefore: days(now, -1),
    notAfter: days(now, TLS_CA_VALIDITY_DAYS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, CRYPTO)
    ]
  }, CRYPTO)
  // the key first: a CA certificate without its key could never issue again
  await writeFileAtomic(paths.caKey, await pemKey(keys.privateKey), { mode: SECRET_FILE_MODE })
  await writeFileAtomic(paths.caCert, cert.toString('pem') + '\n', { mode: PLAIN_FILE_MODE })
}

async function readPem (file: string, what: string): Promise<string> {
  try {
    return (await readFileBounded(file, MAX_PEM_BYTES, m => new TlsMaterialError(`${what}: ${m}`))).toString('utf8')
  } catch (err) {
    if (err instanceof TlsMaterialError) throw err
    throw new TlsMaterialError(`cannot read the ${what} ${file}: ${(err as Error).message}`, { cause: err })
  }
}

async function issueServerCert (paths: RepoTlsPaths, names: readonly string[], now: Date): Promise<void> {
  let caCert: x509.X509Certificate
  let caKey: webcrypto.CryptoKey
  try {
    caCert = new x509.X509Certificate(await readPem(paths.caCert, 'CA certificate'))
    caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(await readPem(paths.caKey, 'CA key')), ALGORITHM, false, ['sign'])
  } catch (err) {
    if (err instanceof TlsMaterialError) throw err
    throw new TlsMaterialError(`the repo's CA (${paths.caCert}, ${paths.caKey}) does not parse: ${(err as Error).message}`, { cause: err })
  }
  const keys = await generateKeys()
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [{ CN: [`provenir ${hostname().slice(0, 48)}`] }],
    issuer: caCert.subject,
    notBefore: days(now, -1),
    notAfter: new Date(Math.min(days(now, TLS_SERVER_VALIDITY_DAYS).getTime(), caCert.notAfter.getTime())),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map(name => isIP(name) !== 0 ? { type: 'ip' as const, value: name } : { type: 'dns' as const, value: name })),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, CRYPTO),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false, CRYPTO)
    ]
  }, CRYPTO)
  await writeFileAtomic(paths.key, await pemKey(keys.privateKey), { mode: SECRET_FILE_MODE })
  await writeFileAtomic(paths.cert, cert.toString('pem') + '\n' + caCert.toString('pem') + '\n', { mode: PLAIN_FILE_MODE })
}

/** Why the server certificate at `file` must be reissued, or undefined when it is good for `names` */
async function reissueReason (paths: RepoTlsPaths, names: readonly string[], now: Date): Promise<string | undefined> {
  if (!await exists(paths.cert) || !await exists(paths.key)) return 'none yet'
  let cert: X509Certificate
  try {
    cert = new X509Certificate(await readPem(paths.cert, 'server certificate'))
  } catch (err) {
    return `the old one does not parse (${(err as Error).message})`
  }
  if (new Date(cert.validTo).getTime() - now.getTime() < TLS_RENEW_BEFORE_DAYS * DAY_MS) return `it expires ${cert.validTo}`
  const missing = names.filter(name => isIP(name) !== 0 ? cert.checkIP(name) == null : cert.checkHost(name) == null)
  if (missing.length > 0) return `it does not cover ${missing.join(', ')}`
  return undefined
}

/**
 * Make the repo's TLS material where it is missing: a CA (10 years, its key
 * mode 0600) and a server certificate it signs for `localNames(hosts)`. A
 * server certificate that expires within TLS_RENEW_BEFORE_DAYS or misses one
 * of those names is issued again under the same CA, so clients that trust
 * the CA go on working.
 *
 * @throws TlsMaterialError when the CA certificate or key is missing (only one of them) or does not parse
 */
export async function ensureRepoTls (root: string, options: { hosts?: readonly string[], now?: Date } = {}): Promise<RepoTlsResult> {
  const paths = repoTlsPaths(root)
  const now = options.now ?? new Date()
  await fs.mkdir(paths.dir, { recursive: true, mode: REPO_DIR_MODE })
  await fs.mkdir(paths.trustDir, { recursive: true, mode: 0o755 })
  const [haveCert, haveKey] = [await exists(paths.caCert), await exists(paths.caKey)]
  if (haveCert !== haveKey) {
    throw new TlsMaterialError(`the repo's CA is incomplete: ${haveCert ? paths.caKey : paths.caCert} is missing. Remove ${paths.dir} to make a new CA (clients must then trust the new ${paths.caCert})`)
  }
  const createdCa = !haveCert
  if (createdCa) await makeCa(paths, now)
  const names = localNames(options.hosts)
  const reason = createdCa ? 'new CA' : await reissueReason(paths, names, now)
  if (reason != null) await issueServerCert(paths, names, now)
  return { paths, createdCa, issued: reason != null, names }
}

/**
 * The certificate and key a server on `host` serves with, or undefined when
 * it serves plain HTTP (`enabled` false, or "auto" on loopback). Configured
 * files are read and checked against each other; without them, the repo's
 * own (made or renewed by `ensureRepoTls`).
 *
 * @param field - the config field, named in errors (`gateway.tls`, `apiTls`)
 * @throws TlsMaterialError when a file cannot be read, or the key does not fit the certificate
 */
export async function serverTls (root: string, config: TlsConfig, host: string, field: string): Promise<ServerTls | undefined> {
  if (!tlsEnabled(config, host)) return undefined
  let tls: ServerTls
  if (config.cert != null && config.key != null) {
    // relative paths in config.json are the repo's
    const [cert, key] = [path.resolve(root, config.cert), path.resolve(root, config.key)]
    tls = { cert: await readPem(cert, `certificate ("${field}.cert")`), key: await readPem(key, `key ("${field}.key")`) }
    if (config.ca != null) {
      tls.caFile = path.resolve(root, config.ca)
      await readPem(tls.caFile, `CA ("${field}.ca")`)
    }
  } else {
    const { paths } = await ensureRepoTls(root, { hosts: [host] })
    tls = { cert: await readPem(paths.cert, 'server certificate'), key: await readPem(paths.key, 'server key'), caFile: paths.caCert }
  }
  try {
    createSecureContext({ cert: tls.cert, key: tls.key })
  } catch (err) {
    throw new TlsMaterialError(`"${field}": the certificate and key cannot serve TLS (${(err as Error).message}); are they PEM, and the key the certificate's?`, { cause: err })
  }
  return tls
}

/** The PEM of the CA file, or undefined when there is none (ENOENT) */
export async function readCa (file: string): Promise<string | undefined> {
  try {
    return await readPem(file, 'CA certificate')
  } catch (err) {
    if (errorCode((err as Error).cause) === 'ENOENT') return undefined
    throw err
  }
}
