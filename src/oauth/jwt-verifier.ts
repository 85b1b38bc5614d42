// fast-jwt behind the strict pre-check of jwt.ts: one createVerifier per published key, built the
// first time its kid is seen and dropped with the key's KeyObject when the ring swaps it out
// (KeyRing#install reuses the KeyObject of an unchanged kid, so a refresh rebuilds nothing).
// fast-jwt checks the signature (RFC 7515 §5.2, only the key's own alg: RFC 8725 §3.1), typ
// (RFC 9068 §4), the required claims (RFC 9068 §2.2), iss and aud (exact, RFC 9068 §4 / RFC 7519
// §4.1.1, §4.1.3), exp and nbf with the skew (RFC 7519 §4.1.4, §4.1.5). Its TokenError codes are
// mapped onto our reasons here, and so onto RFC 6750 §3.1's invalid_token (SECURITY.md J38–J47).
// @fastify/jwt is not used: see README "Libraries and what each does".
import { createVerifier, TokenError, TOKEN_ERROR_CODES } from 'fast-jwt'
import type { KeyObject } from 'node:crypto'
import type { SigningAlg } from '../store/types.js'

export const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'] as const

export interface VerifierKey {
  alg: SigningAlg
  publicKey: KeyObject
}

export interface VerifierSettings {
  issuer: string
  audience: string
  /** Seconds. */
  clockSkew: number
  /** Epoch ms for fast-jwt's clockTimestamp; undefined: fast-jwt reads Date.now() itself. */
  clockMs: number | undefined
}

type Verify = (token: string) => Record<string, unknown>

interface PerKey {
  pem: string
  /** One verifier per (issuer, audience, skew): one entry in a running gateway. */
  live: Map<string, Verify>
  /** fast-jwt fixes clockTimestamp at creation: an injected clock (tests) gets one verifier per instant, the last one kept. */
  frozen: { at: string, verify: Verify } | null
}

const perKey = new WeakMap<KeyObject, PerKey>()

/** The verifier for `key` under `s`; fast-jwt's own result cache stays off (src/pipeline/token-cache.ts is ours). */
export function verifierFor (key: VerifierKey, s: VerifierSettings): Verify {
  let k = perKey.get(key.publicKey)
  if (k === undefined) {
    // fast-jwt takes PEM text (not a KeyObject); it imports it once per verifier.
    k = { pem: key.publicKey.export({ type: 'spki', format: 'pem' }).toString(), live: new Map(), frozen: null }
    perKey.set(key.publicKey, k)
  }
  const id = `${s.issuer}\n${s.audience}\n${s.clockSkew}`
  if (s.clockMs === undefined) {
    let v = k.live.get(id)
    if (v === undefined) {
      v = build(k.pem, key.alg, s)
      k.live.set(id, v)
    }
    return v
  }
  const at = `${id}\n${s.clockMs}`
  if (k.frozen?.at !== at) k.frozen = { at, verify: build(k.pem, key.alg, s) }
  return k.frozen.verify
}

function build (pem: string, alg: SigningAlg, s: VerifierSettings): Verify {
  return createVerifier({
    key: pem,
    algorithms: [alg], // the key decides the algorithm, never the token (RFC 8725 §3.1)
    checkTyp: 'at+jwt', // RFC 9068 §4; also application/at+jwt, case-insensitive (RFC 7515 §4.1.9)
    requiredClaims: [...REQUIRED_CLAIMS],
    allowedIss: s.issuer, // a string: compared exactly, never as a pattern (SECURITY.md J71)
    allowedAud: s.audience,
    clockTolerance: s.clockSkew * 1000,
    ...(s.clockMs !== undefined && { clockTimestamp: s.clockMs }),
    cache: false
  }) as Verify
}

/** What a fast-jwt code means in our terms; claim-value codes need the payload (claimValueReason). */
export type MappedReason =
  | 'malformed' | 'unsupported_alg' | 'wrong_typ' | 'crit_unsupported' | 'bad_signature'
  | 'missing_claim' | 'bad_claim' | 'expired' | 'not_yet_valid' | 'claim_value'

const CODES: Readonly<Record<string, MappedReason>> = {
  [TOKEN_ERROR_CODES.malformed]: 'malformed',
  [TOKEN_ERROR_CODES.invalidPayload]: 'malformed', // payload not a JSON object (RFC 7519 §7.2 step 10)
  [TOKEN_ERROR_CODES.invalidAlgorithm]: 'unsupported_alg',
  [TOKEN_ERROR_CODES.invalidType]: 'wrong_typ',
  [TOKEN_ERROR_CODES.invalidCritHeader]: 'crit_unsupported',
  [TOKEN_ERROR_CODES.invalidSignature]: 'bad_signature',
  [TOKEN_ERROR_CODES.missingSignature]: 'bad_signature',
  [TOKEN_ERROR_CODES.verifyError]: 'bad_signature', // e.g. an ES256 signature that is not 64 bytes (RFC 7518 §3.4)
  [TOKEN_ERROR_CODES.missingRequiredClaim]: 'missing_claim',
  [TOKEN_ERROR_CODES.invalidClaimType]: 'bad_claim',
  [TOKEN_ERROR_CODES.invalidClaimValue]: 'claim_value', // iss, aud, or an array where one value belongs
  [TOKEN_ERROR_CODES.expired]: 'expired',
  [TOKEN_ERROR_CODES.inactive]: 'not_yet_valid'
}

/** null: not a TokenError, or a code no token can cause (key/option errors): the caller says malformed. */
export function mapTokenError (err: unknown): MappedReason | null {
  if (!(err instanceof TokenError)) return null
  return CODES[err.code] ?? null
}
