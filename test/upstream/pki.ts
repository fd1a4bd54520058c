/**
 * The certificates a test upstream needs, made with openssl: a CA, a server
 * certificate for 127.0.0.1 and localhost signed by it, a self-signed key
 * the token issuer signs JWTs with (docker-registry's `rootcertbundle`),
 * and a second CA that signed nothing (the "wrong CA").
 */

import { execFile } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface Pki {
  dir: string
  caCert: string
  caPem: string
  serverCert: string
  serverKey: string
  tokenCert: string
  tokenKey: string
  /** A CA that signed nothing here */
  otherCaCert: string
  otherCaPem: string
  /** A directory holding only `ca.crt`, for skopeo's `--*-cert-dir` and containers' certs.d */
  certDir: string
}

async function openssl (args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd })
}

async function selfSignedCa (dir: string, name: string, cn: string): Promise<void> {
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`,
    '-days', '3', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], dir)
}

/** Makes every certificate in `dir` */
export async function makePki (dir: string): Promise<Pki> {
  await fs.mkdir(dir, { recursive: true })
  await selfSignedCa(dir, 'ca', 'provenir test upstream CA')
  await selfSignedCa(dir, 'other-ca', 'provenir test unrelated CA')
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir)
  await fs.writeFile(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n')
  await openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '3', '-extfile', 'server.ext'], dir)
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'token.key', '-out', 'token.crt', '-days', '3', '-subj', '/CN=provenir test token signer'], dir)
  const certDir = path.join(dir, 'certs.d')
  await fs.mkdir(certDir, { recursive: true })
  await fs.copyFile(path.join(dir, 'ca.crt'), path.join(certDir, 'ca.crt'))
  const file = (name: string): string => path.join(dir, name)
  return {
    dir,
    caCert: file('ca.crt'),
    caPem: await fs.readFile(file('ca.crt'), 'utf8'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    tokenCert: file('token.crt'),
    tokenKey: file('token.key'),
    otherCaCert: file('other-ca.crt'),
    otherCaPem: await fs.readFile(file('other-ca.crt'), 'utf8'),
    certDir
  }
}
