// Stage 2, authenticate (RFC 6750, RFC 9068 §4, RFC 8725): the bearer token from the
// Authorization header only, verified by verifyAccessToken (kid from our own key ring, algorithm
// allowlist, typ at+jwt, required claims, time with CLOCK_SKEW), then turned into the Identity
// the later stages and the identity headers use.
//
// Decisions (README "Authentication at the edge"):
// - `auth: none`: no token checks at all, no identity; the Authorization header still goes
//   upstream unless the route says `forward_token: false`.
// - `auth: optional`: no bearer token → anonymous. A token that is present is checked exactly
//   like on `auth: required`, and a bad one is refused (401), never downgraded to anonymous: a
//   client holding an expired token must learn it, and an upstream must never see a request
//   whose Authorization header the gateway rejected but let through.
// - Another scheme (`Basic ...`) is no bearer credential: the same as no header.
// - `access_token` in the query is never a credential (RFC 6750 §2.3 SHOULD NOT; RFC 9700 §4.3);
//   the body is never read. A header token plus a query token is a 400 (RFC 6750 §2).
import { ERRORS } from '../errors/codes.js'
import { GatewayError } from '../errors/gateway-error.js'
import { AccessTokenError, verifyAccessToken, type AccessTokenClaims, type VerifyOptions } from '../oauth/jwt.js'
import type { KeyRing } from '../oauth/keys.js'
import type { AuthMode } from '../config/route-types.js'
import { bearerChallenges, countAuthorization, parseAuthorization, queryHasAccessToken, REPEATED, TWO_METHODS, type BearerProblem, type Challenges } from './bearer.js'
import { DEFAULT_RETRY_AFTER } from './check-revocation.js'
import { CLIENT_SUBJECT_PREFIX } from '../revocation/rule.js'
import type { Identity, PipelineContext, Stage } from './context.js'
import type { DpopEdge } from './dpop-proof.js'
import { kidOf, type TokenCache } from './token-cache.js'

export const DEFAULT_REALM = 'portcullis'

/** `auth: none` reads no token at all (the rule this stage and `routes replay` share). */
export function readsToken (auth: AuthMode): boolean {
  return auth !== 'none'
}

/** A request without a bearer token passes `auth: optional` (anonymous), never `auth: required`. */
export function admitsAnonymous (auth: AuthMode): boolean {
  return auth !== 'required'
}

export interface AuthenticateOptions {
  keys: KeyRing
  issuer: string
  audience: string
  /** Seconds. */
  clockSkew: number
  realm?: string
  /** Epoch milliseconds (tests). */
  now?: () => number
  /** MAX_TOKEN_LENGTH: a longer token is invalid_token without being parsed (SECURITY.md J35/J36). */
  maxTokenLength?: number
  /** Verified tokens seen before skip only the signature/claims check (TOKEN_CACHE_SIZE; null: off). */
  tokenCache?: TokenCache | null
  /** RFC 9449: the DPoP scheme and proofs (dpop-proof.ts); null: DPoP-bound tokens are refused. */
  dpop?: DpopEdge | null
}


export function authenticateStage (opts: AuthenticateOptions): Stage {
  const challenges = bearerChallenges(opts.realm ?? DEFAULT_REALM)
  const keys = opts.keys
  const maxTokenLength = opts.maxTokenLength ?? Number.POSITIVE_INFINITY
  const cache = opts.tokenCache ?? null
  const dpop = opts.dpop ?? null
  const verifyOptions: VerifyOptions = Object.freeze({
    issuer: opts.issuer,
    audience: opts.audience,
    clockSkew: opts.clockSkew,
    // Stryker disable next-line ConditionalExpression: { now: undefined } falls back to Date.now in the verifier, like no `now`
    ...(opts.now !== undefined && { now: opts.now })
  })

  async function verify (ctx: PipelineContext, token: string, dpopScheme: boolean): Promise<void> {
    // F01: key set not loaded yet (store unreachable since start): no token can be judged, so
    // 503 + Retry-After, never a 401 (the token may be fine) and never a pass
    // Stryker disable next-line ConditionalExpression: ensureReady() on a loaded ring returns at once; the test only saves the await
    if (!keys.ready) {
      try {
        await keys.ensureReady()
      } catch (err) {
        throw new GatewayError('store_unavailable', { cause: err, detail: 'signing keys not loaded', headers: { 'retry-after': String(DEFAULT_RETRY_AFTER) } })
      }
    }
    let claims: AccessTokenClaims
    try {
      claims = await verifyAccessToken(keys, token, verifyOptions)
    } catch (err) {
      // RFC 6750 §3.1: invalid_token (expired, malformed, bad signature, wrong iss/aud/typ ...)
      // Stryker disable next-line StringLiteral,ConditionalExpression: verifyAccessToken wraps every failure in an AccessTokenError (jwt.ts); the fallback is unreachable
      throw invalidToken(challenges, err instanceof AccessTokenError ? err : new AccessTokenError('malformed'))
    }
    const identity = toIdentity(claims)
    // J50: a claim that could not be written as a header value is a bad token, never a header
    // Stryker disable next-line StringLiteral: the message is never shown or logged (the log detail is the reason, bad_claim)
    if (identity === null) throw invalidToken(challenges, new AccessTokenError('bad_claim', 'claim not header-safe'))
    if (cache !== null) rememberVerified(cache, keys, token, identity)
    await admit(ctx, token, identity, dpopScheme)
  }

  /** The token's binding decides its scheme (RFC 9449 §7): a bearer token under Bearer passes at once. */
  function admit (ctx: PipelineContext, token: string, identity: Identity, dpopScheme: boolean): Promise<void> | undefined {
    if (!dpopScheme && identity.dpopJkt === undefined) {
      ctx.identity = identity
      return undefined
    }
    // Stryker disable next-line ConditionalExpression: buildPipeline always gives the stage its DpopEdge
    if (dpop === null) throw invalidToken(challenges, new AccessTokenError('bad_claim', 'DPoP not enabled'))
    return dpop.bind(ctx, token, identity, dpopScheme)
  }

  return function authenticate (ctx: PipelineContext): Promise<void> | undefined {
    const route = ctx.route!
    if (!readsToken(route.auth)) return undefined
    const request = ctx.request
    const header = request.headers.authorization
    let token: string | null = null
    let dpopScheme = false
    if (header !== undefined) {
      // RFC 6750 §3.1: invalid_request for a repeated parameter (Node drops the 2nd field)
      if (countAuthorization(request.raw.rawHeaders) > 1) throw invalidRequest(challenges, REPEATED)
      let parsed = parseAuthorization(header)
      // RFC 9449 §7.1: not Bearer, maybe `DPoP <token>`
      if (parsed === null && dpop !== null) {
        parsed = dpop.parse(header)
        dpopScheme = parsed !== null
      }
      // RFC 6750 §2.1, §3.1: malformed credentials are invalid_request
      if (parsed !== null && typeof parsed === 'object') throw invalidRequest(challenges, parsed)
      token = parsed
    }
    // RFC 6750 §2: a client MUST NOT use more than one method to transmit the token
    // Stryker disable next-line ConditionalExpression,StringLiteral: `ctx.query !== ''` is a fast path only (an empty query holds no access_token)
    if (token !== null && ctx.query !== '' && queryHasAccessToken(ctx.query)) throw invalidRequest(challenges, TWO_METHODS)
    if (token === null) {
      if (admitsAnonymous(route.auth)) return undefined
      // RFC 6750 §3.1: no authentication information, so no error code in the challenge
      throw new GatewayError('token_missing', { headers: { 'www-authenticate': challenges.bare } })
    }
    // J36: an oversized token costs nothing: refused by its length before any parsing (RFC 6750 §3.1 invalid_token)
    // Stryker disable next-line StringLiteral: the message is never shown or logged (the log detail is the reason, malformed)
    if (token.length > maxTokenLength) throw invalidToken(challenges, new AccessTokenError('malformed', 'token too long'))
    // verified before, still within exp + skew, its key still published: skip only the signature check
    const cached = cache?.get(token, keys)
    if (cached !== undefined) return admit(ctx, token, cached, dpopScheme)
    return verify(ctx, token, dpopScheme)
  }
}

function rememberVerified (cache: TokenCache, keys: KeyRing, token: string, identity: Identity): void {
  const kid = kidOf(token)
  // Stryker disable next-line ConditionalExpression: called right after a verification by that kid, synchronously: kid and key always exist here
  const key = kid === undefined ? null : keys.verificationKey(kid)
  // Stryker disable next-line ConditionalExpression: (see above) the guard is for safety only
  if (key !== null) cache.set(token, identity, key.kid, key.publicKey)
}

function invalidRequest (challenges: Challenges, p: BearerProblem): GatewayError {
  return new GatewayError('token_malformed_request', {
    description: p.problem,
    detail: p.problem,
    headers: { 'www-authenticate': challenges.invalidRequest(p.problem) }
  })
}

function invalidToken (challenges: Challenges, err: AccessTokenError): GatewayError {
  const description = ERRORS[err.code].description
  return new GatewayError(err.code, {
    detail: err.reason, // a stable id (bad_signature, wrong_typ ...): never the token
    headers: { 'www-authenticate': challenges.invalidToken(description) }
  })
}

/**
 * Identity from verified claims, or null when a claim is unfit for a header: sub, client_id,
 * jti and sid must be visible ASCII (%x21-7E), scope RFC 6749 §3.3 scope-tokens separated by
 * single spaces. Refusing here (not escaping) means no CR, LF, NUL or non-ASCII byte can ever
 * reach an upstream header (Envoy CVE-2023-27493).
 */
export function toIdentity (c: AccessTokenClaims): Identity | null {
  if (!isVisibleAscii(c.sub) || !isVisibleAscii(c.client_id) || !isVisibleAscii(c.jti)) return null
  if (c.sid !== undefined && !isVisibleAscii(c.sid)) return null
  const scopes = scopeList(c.scope)
  if (scopes === null) return null
  const jkt = c.cnf?.jkt
  if (jkt !== undefined && !isVisibleAscii(jkt)) return null
  let subjectType: Identity['subjectType'] = 'user'
  if (c.sub.startsWith(CLIENT_SUBJECT_PREFIX)) {
    // RFC 9700 §4.15.1: a client subject must name the client itself; usernames cannot hold ':'
    if (c.sub.length !== CLIENT_SUBJECT_PREFIX.length + c.client_id.length || !c.sub.endsWith(c.client_id)) return null
    subjectType = 'client'
  }
  return {
    subject: c.sub,
    subjectType,
    clientId: c.client_id,
    scopes,
    tokenId: c.jti,
    sessionId: c.sid,
    issuedAt: c.iat,
    expiresAt: c.exp,
    storeEpoch: typeof c.sep === 'string' ? c.sep : undefined,
    dpopJkt: jkt
  }
}

function isVisibleAscii (s: string): boolean {
  if (s.length === 0) return false
  // Stryker disable next-line EqualityOperator: i <= length only adds charCodeAt(length), NaN, which passes both comparisons
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) return false
  }
  return true
}

const EMPTY: readonly string[] = Object.freeze([])
/** Scope strings repeat (one per grant shape): split once, share the frozen array. */
const scopeCache = new Map<string, readonly string[]>()
const SCOPE_CACHE_MAX = 1024

/** RFC 6749 §3.3: scope = scope-token *( SP scope-token ); scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
export function scopeList (scope: string | undefined): readonly string[] | null {
  if (scope === undefined || scope === '') return EMPTY
  const hit = scopeCache.get(scope)
  if (hit !== undefined) return hit
  let prevSpace = true
  for (let i = 0; i < scope.length; i++) {
    const c = scope.charCodeAt(i)
    if (c === 0x20) {
      if (prevSpace) return null // leading or double space
      prevSpace = true
      continue
    }
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x5c) return null
    prevSpace = false
  }
  if (prevSpace) return null // trailing space
  const list = Object.freeze(scope.split(' '))
  if (scopeCache.size >= SCOPE_CACHE_MAX) scopeCache.clear()
  scopeCache.set(scope, list)
  return list
}
