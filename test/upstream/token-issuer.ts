/**
 * A token service for the test upstream, as Docker Hub's auth.docker.io
 * works: `GET /token?service=...&scope=repository:<name>:<actions>` with or
 * without Basic credentials answers a JWT (ES256, the signing certificate
 * in `x5c`) granting what the caller may do. docker-registry checks the
 * JWT against its `auth.token.rootcertbundle`.
 */

import { X509Certificate, createPrivateKey, randomBytes, sign } from 'node:crypto'
import fs from 'node:fs/promises'
import https from 'node:https'
import type { Pki } from './pki.js'
import type { AddressInfo } from 'node:net'

export const TOKEN_SERVICE = 'provenir-test-upstream'
export const TOKEN_ISSUER = 'provenir-test-issuer'

export interface TokenUser {
  password: string
  /** Repositories (a prefix ends in `*`) and what the user may do there */
  grants: Array<{ repository: string, actions: string[] }>
}

export interface TokenRequest {
  user?: string
  scope?: string
  /** Whether the credentials checked out */
  granted: boolean
}

export interface TokenIssuer {
  url: string
  requests: TokenRequest[]
  close(): Promise<void>
}

export interface TokenIssuerInit {
  users: Record<string, TokenUser>
  /** Repositories anyone may pull */
  isPublic(repository: string): boolean
}

function b64url (value: Buffer | string): string {
  return Buffer.from(value).toString('base64url')
}

function allowed (grants: TokenUser['grants'], repository: string, actions: string[]): string[] {
  return actions.filter(a => grants.some(g => (g.repository.endsWith('*') ? repository.startsWith(g.repository.slice(0, -1)) : g.repository === repository) && g.actions.includes(a)))
}

export async function startTokenIssuer (pki: Pki, init: TokenIssuerInit): Promise<TokenIssuer> {
  const key = createPrivateKey(await fs.readFile(pki.tokenKey))
  const certDer = new X509Certificate(await fs.readFile(pki.tokenCert)).raw
  const requests: TokenRequest[] = []
  const server = https.createServer({ cert: await fs.readFile(pki.serverCert), key: await fs.readFile(pki.serverKey) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://issuer')
    let user: string | undefined
    let granted = true
    const auth = req.headers.authorization
    if (auth?.startsWith('Basic ') === true) {
      const decoded = Buffer.from(auth.slice(6), 'base64').toString()
      const colon = decoded.indexOf(':')
      user = decoded.slice(0, colon)
      granted = init.users[user]?.password === decoded.slice(colon + 1)
    }
    const scope = url.searchParams.get('scope') ?? undefined
    requests.push({ ...(user != null ? { user } : {}), ...(scope != null ? { scope } : {}), granted })
    if (!granted) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }))
      return
    }
    const access: Array<{ type: string, name: string, actions: string[] }> = []
    const m = scope != null ? /^repository:([^:]+):(.+)$/.exec(scope) : null
    if (m != null) {
      const [, repository, wanted] = m
      const actions = wanted.split(',')
      const grants = [...(user != null ? init.users[user].grants : []), ...(init.isPublic(repository) ? [{ repository, actions: ['pull'] }] : [])]
      access.push({ type: 'repository', name: repository, actions: allowed(grants, repository, actions) })
    }
    const now = Math.floor(Date.now() / 1000)
    const header = { alg: 'ES256', typ: 'JWT', x5c: [certDer.toString('base64')] }
    const claims = { iss: TOKEN_ISSUER, sub: user ?? '', aud: TOKEN_SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
    const signature = sign('sha256', Buffer.from(signing), { key, dsaEncoding: 'ieee-p1363' })
    const token = `${signing}.${b64url(signature)}`
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `https://127.0.0.1:${port}/token`,
    requests,
    async close () {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}
