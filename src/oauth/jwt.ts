// RFC 9068 access tokens: signing (token endpoint) and verification (edge, introspection, revocation).
// Verification is two layers. First our strict header pre-check: the header is ours to parse, the key
// comes from the ring by kid ONLY (jku, x5u, jwk, x5c headers are never read), the header's alg must
// equal that key's alg (RFC 8725 §3.1), typ at+jwt, no crit, no JWE members, one spelling of the
// signature. Behind it fast-jwt (the verifier @fastify/jwt wraps; jwt-verifier.ts) checks signature,
// typ, required claims, iss, aud, exp and nbf; the claims fast-jwt does not judge (string types,
// integer NumericDates, iat) are checked here. Every failure is an AccessTokenError with a stable reason.
// Signing stays on node:crypto: fast-jwt's createSigner rewrites iat/exp/nbf (README "Libraries").
import { randomBytes, sign, type KeyObject, type SignKeyObjectInput } from 'node:crypto'
import type { SigningAlg } from '../store/types.js'
import { mapTokenError, REQUIRED_CLAIMS, verifierFor } from './jwt-verifier.js'
import type { KeyRing } from './keys.js'

export interface AccessTokenClaims {
  iss: string
  sub: string
  aud: string | string[]
  exp: number
  iat: number
  nbf?: number
  jti: string
  client_id: string
  /** Space-separated (RFC 9068 §2.2.3). */
  scope?: string
  /** Session (refresh-token family) id; absent for client_credentials tokens. */
  sid?: string
  /**
   * Private claim (RFC 7519 §4.3): the store epoch the token was issued under (SECURITY.md E02).
   * A token whose `sep` is not the store's current epoch is refused.
   */
  sep?: string
  /** RFC 9449 §6.1 / RFC 7800: the DPoP key the token is bound to (RFC 7638 thumbprint). */
  cnf?: { jkt: string }
}

/** Stable reason ids for logs; `code` is the ErrorCode the edge answers with. */
export type AccessTokenErrorReason =
  | 'malformed' // not three base64url segments, bad JSON, not an object, too long
  | 'unsupported_alg' // alg not one we sign with, or not the alg of the key named by kid
  | 'unknown_kid' // kid missing or not a published key
  | 'wrong_typ' // typ is not at+jwt (RFC 9068 §4)
  | 'crit_unsupported' // a crit header: we understand no extension (RFC 7515 §4.1.11)
  | 'bad_signature'
  | 'missing_claim' // RFC 9068 §2.2 required claim absent
  | 'bad_claim' // a claim of the wrong type
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid' // nbf in the future beyond the skew
  | 'issued_in_future' // iat in the future beyond the skew

export class AccessTokenError extends Error {
  override readonly name = 'AccessTokenError'
  readonly reason: AccessTokenErrorReason
  readonly code: 'token_expired' | 'token_invalid'
  constructor (reason: AccessTokenErrorReason, detail?: string) {
    super(detail ?? reason)
    this.reason = reason
    this.code = reason === 'expired' ? 'token_expired' : 'token_invalid'
  }
}

export interface VerifyOptions {
  issuer: string
  audience: string
  /** Seconds of leeway for exp, nbf and iat. */
  clockSkew: number
  /** Epoch milliseconds. */
  now?: () => number
}

/** Ours are ~600 bytes (RS256 ~900); anything far bigger is not ours and not worth parsing. */
const MAX_TOKEN_LENGTH = 8192
const B64URL = /^[A-Za-z0-9_-]+$/
const KNOWN_ALGS: ReadonlySet<string> = new Set<SigningAlg>(['ES256', 'EdDSA', 'RS256'])
const TYPES: ReadonlySet<string> = new Set(['at+jwt', 'application/at+jwt'])
/** Header parameters that only a JWE (RFC 7516 §4.1, RFC 7518 §4.6–§4.8) carries. */
/** fast-jwt verdicts (besides claim values) reached only after the signature held. */
const CLAIM_STAGE: ReadonlySet<string> = new Set(['bad_claim', 'expired', 'not_yet_valid'])
const JWE_ONLY = ['enc', 'zip', 'p2s', 'p2c', 'epk', 'apu', 'apv', 'iv', 'tag'] as const

/** A jti with 128 bits of randomness, base64url. */
export function newJti (): string {
  return randomBytes(16).toString('base64url')
}

const headerCache = new Map<string, string>()

/** Signs with the ring's current key. Header: alg, typ at+jwt, kid (RFC 9068 §2.1). */
export function signAccessToken (ring: KeyRing, claims: AccessTokenClaims): string {
  const key = ring.signingKey()
  let header = headerCache.get(key.kid)
  if (header === undefined) {
    header = b64json({ alg: key.alg, typ: 'at+jwt', kid: key.kid })
    headerCache.set(key.kid, header)
  }
  const input = `${header}.${b64json(claims)}`
  const signature = sign(digestOf(key.alg), Buffer.from(input), signOptions(key.alg, key.privateKey))
  return `${input}.${signature.toString('base64url')}`
}

/** Verifies signature, header and claims. Rejects only with AccessTokenError, whatever the input. */
export async function verifyAccessToken (ring: KeyRing, token: unknown, opts: VerifyOptions): Promise<AccessTokenClaims> {
  try {
    return await verifyOrThrow(ring, token, opts)
  } catch (err) {
    if (err instanceof AccessTokenError) throw err
    throw new AccessTokenError('malformed', 'unexpected verification failure')
  }
}

async function verifyOrThrow (ring: KeyRing, token: unknown, opts: VerifyOptions): Promise<AccessTokenClaims> {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw new AccessTokenError('malformed')
  const parts = token.split('.')
  if (parts.length !== 3) throw new AccessTokenError('malformed', 'not a JWS compact serialization')
  const [h, p, s] = parts as [string, string, string]
  if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(s)) throw new AccessTokenError('malformed', 'not base64url')

  const header = parseObject(h)
  if (typeof header.alg !== 'string' || !KNOWN_ALGS.has(header.alg)) throw new AccessTokenError('unsupported_alg')
  // RFC 9068 §4: MUST check typ; media types are case-insensitive (RFC 7515 §4.1.9).
  if (typeof header.typ !== 'string' || !TYPES.has(header.typ.toLowerCase())) throw new AccessTokenError('wrong_typ')
  if (header.crit !== undefined) throw new AccessTokenError('crit_unsupported')
  // RFC 7516 §9 / RFC 8725 §3.3: JWE-only parameters on a JWS mean a confused or hostile token (SECURITY.md J37)
  for (const name of JWE_ONLY) if (name in header) throw new AccessTokenError('malformed', `JWE parameter ${name} on a JWS`)
  if (typeof header.kid !== 'string' || header.kid === '') throw new AccessTokenError('unknown_kid')

  let key = ring.verificationKey(header.kid)
  if (key === null && await ring.refreshForKid(header.kid)) key = ring.verificationKey(header.kid)
  if (key === null) throw new AccessTokenError('unknown_kid')
  // RFC 8725 §3.1: the key decides the algorithm, never the token.
  if (header.alg !== key.alg) throw new AccessTokenError('unsupported_alg')
  // Only the canonical encoding: the spare low bits of the last character must be zero, so one
  // signature has exactly one spelling (no malleable token strings; fast-jwt does not check this).
  if (Buffer.from(s, 'base64url').toString('base64url') !== s) throw new AccessTokenError('bad_signature')

  // Date.now (the gateway) leaves the clock to fast-jwt; an injected clock is handed over per call.
  const nowMs = opts.now === undefined || opts.now === Date.now ? undefined : opts.now()
  const verify = verifierFor(key, { issuer: opts.issuer, audience: opts.audience, clockSkew: opts.clockSkew, clockMs: nowMs })
  let claims: Record<string, unknown>
  try {
    claims = verify(token)
  } catch (err) {
    const mapped = mapTokenError(err)
    if (mapped === null) throw new AccessTokenError('malformed', 'unexpected verification failure')
    if (mapped !== 'claim_value' && !CLAIM_STAGE.has(mapped)) throw new AccessTokenError(mapped)
    // The signature held (fast-jwt judges claims after it), so the payload is ours: a claim of the
    // wrong type is bad_claim before any value or time check, as in RFC 9068 §4's order (J41c: exp -1).
    const c = parseObject(p)
    checkShape(c)
    // FAST_JWT_INVALID_CLAIM_VALUE covers iss and aud (and arrays where one value belongs, J45d)
    if (mapped === 'claim_value') throw new AccessTokenError(c.iss !== opts.issuer ? 'wrong_issuer' : 'wrong_audience')
    throw new AccessTokenError(mapped)
  }
  checkShape(claims)
  checkTimes(claims, nowMs ?? Date.now(), opts.clockSkew)
  return claims as unknown as AccessTokenClaims
}

/** The claim types fast-jwt leaves alone: non-empty strings, integer NumericDates (RFC 7519 §2). */
function checkShape (c: Record<string, unknown>): void {
  // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti are REQUIRED.
  for (const name of REQUIRED_CLAIMS) {
    if (c[name] === undefined) throw new AccessTokenError('missing_claim', `missing ${name}`)
  }
  for (const name of ['iss', 'sub', 'jti', 'client_id'] as const) {
    if (typeof c[name] !== 'string' || c[name] === '') throw new AccessTokenError('bad_claim', `${name} is not a string`)
  }
  for (const name of ['scope', 'sid'] as const) {
    if (c[name] !== undefined && typeof c[name] !== 'string') throw new AccessTokenError('bad_claim', `${name} is not a string`)
  }
  for (const name of ['exp', 'iat', 'nbf'] as const) {
    if (c[name] !== undefined && !isNumericDate(c[name])) throw new AccessTokenError('bad_claim', `${name} is not a NumericDate`)
  }
  // RFC 9449 §6.1: a confirmation claim must be one we understand, or the binding could be lost
  const cnf = c.cnf
  if (cnf !== undefined && (typeof cnf !== 'object' || cnf === null || typeof (cnf as { jkt?: unknown }).jkt !== 'string')) {
    throw new AccessTokenError('bad_claim', 'cnf is not {"jkt": string}')
  }
  const aud = c.aud
  if (typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) {
    throw new AccessTokenError('bad_claim', 'aud is not a string or an array of strings')
  }
}

/**
 * What fast-jwt's clock checks leave open. exp: fast-jwt accepts now == exp + skew, but RFC 7519
 * §4.1.4 says the current time MUST be before exp (SECURITY.md J39). iat: fast-jwt checks it only
 * against a maxAge; a token issued in the future beyond the skew is refused here (catalogue 0.3).
 */
function checkTimes (c: Record<string, unknown>, nowMs: number, skew: number): void {
  const now = nowMs / 1000
  if ((c.exp as number) + skew <= now) throw new AccessTokenError('expired')
  if ((c.iat as number) > now + skew) throw new AccessTokenError('issued_in_future')
}

function isNumericDate (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function parseObject (segment: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
  } catch {
    throw new AccessTokenError('malformed', 'not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AccessTokenError('malformed', 'not a JSON object')
  return value as Record<string, unknown>
}

function b64json (value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** EdDSA takes no separate digest; ES256 and RS256 use SHA-256. */
function digestOf (alg: SigningAlg): string | null {
  return alg === 'EdDSA' ? null : 'sha256'
}

// JOSE ES256 signatures are r||s (64 bytes, RFC 7518 §3.4), not DER.
const signOptionCache = new WeakMap<KeyObject, SignKeyObjectInput>()
function signOptions (alg: SigningAlg, key: KeyObject): SignKeyObjectInput {
  let o = signOptionCache.get(key)
  if (o === undefined) {
    o = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : { key }
    signOptionCache.set(key, o)
  }
  return o
}
