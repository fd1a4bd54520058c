/**
 * Registry authentication (the distribution token spec): a 401 carries a
 * `WWW-Authenticate` challenge; for `Bearer` the client trades its
 * credentials (or nothing, anonymously) at the challenge's realm for a token
 * scoped to `repository:<name>:pull`, and sends it; for `Basic` it sends the
 * credentials themselves. Tokens are cached per (realm, service, scope,
 * credentials) until shortly before they expire, and the challenge of each
 * endpoint is remembered, so that later requests send a token at once
 * instead of taking a 401 first.
 */

import { DEFAULT_TOKEN_LIFETIME_S, MAX_CACHED_TOKENS, MAX_TOKEN_RESPONSE_BYTES, TOKEN_EXPIRY_MARGIN_MS } from './constants.js'
import { UpstreamAuthError, UpstreamResponseError } from './errors.js'
import { readBounded } from './http.js'
import type { Challenge } from './challenge.js'
import type { CredentialSource, RegistryCredentials } from './credentials.js'
import type { Transport } from './http.js'
import type { Logger } from '@provenir/interface'

export interface AuthContext {
  /** The registry host the credentials are looked up for */
  host: string
  repository: string
  /** The endpoint asked, for an http realm check */
  endpoint: URL
  /** Names the registry in errors */
  registry: string
  signal: AbortSignal
}

interface CachedToken {
  header: string
  expires: number
}

export interface AuthenticatorInit {
  transport: Transport
  credentials: CredentialSource
  log: Logger
  /** The clock, for tests */
  now?: () => number
}

export class Authenticator {
  private readonly init: AuthenticatorInit
  private readonly tokens = new Map<string, CachedToken>()
  /** The challenge each endpoint answered with last */
  private readonly challenges = new Map<string, Challenge>()

  constructor (init: AuthenticatorInit) {
    this.init = init
  }

  private now (): number {
    return this.init.now?.() ?? Date.now()
  }

  /** What to send before any challenge: a cached token or Basic credentials for an endpoint that asked for them before */
  async prepared (ctx: AuthContext): Promise<string | undefined> {
    const challenge = this.challenges.get(ctx.endpoint.origin)
    if (challenge == null) return undefined
    if (challenge.scheme === 'basic') return (await this.credentials(ctx))?.basic()
    const cached = this.tokens.get(await this.tokenKey(challenge, ctx))
    return cached != null && cached.expires > this.now() ? cached.header : undefined
  }

  /**
   * Answers a 401's challenges: the `Authorization` to send again with.
   *
   * @throws UpstreamAuthError when the challenge cannot be met (no scheme we speak, the realm refused the credentials)
   */
  async answer (challenges: Challenge[], ctx: AuthContext): Promise<string> {
    const bearer = challenges.find(c => c.scheme === 'bearer' && c.params.realm != null)
    if (bearer != null) {
      this.challenges.set(ctx.endpoint.origin, bearer)
      return this.token(bearer, ctx)
    }
    const basic = challenges.find(c => c.scheme === 'basic')
    if (basic != null) {
      this.challenges.set(ctx.endpoint.origin, basic)
      const creds = await this.credentials(ctx)
      if (creds == null) throw new UpstreamAuthError(`${ctx.registry} needs credentials for ${ctx.repository} (Basic), and none were found for ${ctx.host} in ${this.init.credentials.describe()}`)
      return creds.basic()
    }
    throw new UpstreamAuthError(`${ctx.registry} asked for authentication this client does not speak: ${challenges.map(c => c.scheme).join(', ') || 'no challenge'}`)
  }

  /** Forgets what was cached for an endpoint and repository (after the registry refused it) */
  async forget (ctx: AuthContext): Promise<void> {
    const challenge = this.challenges.get(ctx.endpoint.origin)
    if (challenge?.scheme === 'bearer') this.tokens.delete(await this.tokenKey(challenge, ctx))
  }

  /** Explains a refusal: which credentials were sent, or that none were found and where they were looked for */
  async refusal (ctx: AuthContext, status: number): Promise<UpstreamAuthError> {
    const creds = await this.credentials(ctx).catch(() => undefined)
    const why = creds != null
      ? `the ${creds.toString()} were refused`
      : `no credentials were found for ${ctx.host} in ${this.init.credentials.describe()}`
    return new UpstreamAuthError(`${ctx.registry} refused access to ${ctx.repository} (${status}): ${why}`)
  }

  private async credentials (ctx: AuthContext): Promise<RegistryCredentials | undefined> {
    return this.init.credentials.lookup(ctx.host, ctx.repository, { signal: ctx.signal })
  }

  /** This client only reads: every token it asks for is for pulling one repository */
  private scope (ctx: AuthContext): string {
    return `repository:${ctx.repository}:pull`
  }

  private async tokenKey (challenge: Challenge, ctx: AuthContext): Promise<string> {
    const creds = await this.credentials(ctx)
    return [challenge.params.realm, challenge.params.service ?? '', this.scope(ctx), creds?.id ?? 'anonymous'].join('\n')
  }

  private async token (challenge: Challenge, ctx: AuthContext): Promise<string> {
    const key = await this.tokenKey(challenge, ctx)
    const cached = this.tokens.get(key)
    if (cached != null && cached.expires > this.now()) return cached.header
    const creds = await this.credentials(ctx)
    const { token, lifetimeS } = await this.fetchToken(challenge, ctx, creds)
    const header = `Bearer ${token}`
    if (this.tokens.size >= MAX_CACHED_TOKENS) this.tokens.delete(this.tokens.keys().next().value as string)
    this.tokens.set(key, { header, expires: this.now() + lifetimeS * 1000 - TOKEN_EXPIRY_MARGIN_MS })
    this.init.log('token for %s at %s (%s, %d s)', this.scope(ctx), challenge.params.realm, creds != null ? creds.toString() : 'anonymous', lifetimeS)
    return header
  }

  private async fetchToken (challenge: Challenge, ctx: AuthContext, creds: RegistryCredentials | undefined): Promise<{ token: string, lifetimeS: number }> {
    let realm: URL
    try {
      realm = new URL(challenge.params.realm)
    } catch {
      throw new UpstreamResponseError(`${ctx.registry}: the token realm ${JSON.stringify(challenge.params.realm)} is not a URL`)
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new UpstreamResponseError(`${ctx.registry}: the token realm ${realm.href} is not http(s)`)
    if (creds != null && realm.protocol === 'http:' && ctx.endpoint.protocol === 'https:') {
      throw new UpstreamAuthError(`${ctx.registry}: the token realm ${realm.origin} is plain http; credentials are not sent there`)
    }
    const params = new URLSearchParams()
    if (challenge.params.service != null) params.set('service', challenge.params.service)
    params.set('scope', this.scope(ctx))
    const identityToken = creds?.identityToken
    const res = identityToken != null
      ? await this.init.transport.request({
        method: 'POST',
        url: realm,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...Object.fromEntries(params), grant_type: 'refresh_token', refresh_token: identityToken, client_id: 'provenir' }).toString(),
        signal: ctx.signal,
        registry: ctx.registry
      })
      : await this.init.transport.request({
        method: 'GET',
        url: withParams(realm, params),
        headers: creds != null ? { authorization: creds.basic() } : {},
        signal: ctx.signal,
        registry: ctx.registry
      })
    if (res.status === 401 || res.status === 403) {
      await res.body.dump().catch(() => {})
      throw new UpstreamAuthError(`${ctx.registry}: the token service ${realm.origin} refused ${creds != null ? `the ${creds.toString()}` : 'an anonymous token'} for ${ctx.repository} (${res.status})${creds == null ? `; no credentials were found for ${ctx.host} in ${this.init.credentials.describe()}` : ''}`)
    }
    if (res.status !== 200) {
      await res.body.dump().catch(() => {})
      throw new UpstreamResponseError(`${ctx.registry}: the token service ${realm.origin} answered ${res.status}`)
    }
    return parseTokenResponse(await readBounded(res, MAX_TOKEN_RESPONSE_BYTES, 'a token response', ctx.registry), ctx.registry)
  }
}

function withParams (url: URL, params: URLSearchParams): URL {
  const out = new URL(url)
  for (const [k, v] of params) out.searchParams.set(k, v)
  return out
}

/** `{ token | access_token, expires_in?, issued_at? }` */
export function parseTokenResponse (bytes: Uint8Array, registry: string): { token: string, lifetimeS: number } {
  let body: { token?: unknown, access_token?: unknown, expires_in?: unknown }
  try {
    body = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw new UpstreamResponseError(`${registry}: the token response is not JSON`)
  }
  const token = typeof body?.token === 'string' && body.token !== '' ? body.token : body?.access_token
  if (typeof token !== 'string' || token === '' || /[\r\n]/.test(token) || token.length > 64 * 1024) {
    throw new UpstreamResponseError(`${registry}: the token response holds no usable token`)
  }
  const expires = Number(body.expires_in)
  const lifetimeS = Number.isFinite(expires) && expires >= 60 ? expires : DEFAULT_TOKEN_LIFETIME_S
  return { token, lifetimeS }
}
