// DPoP proofs (RFC 9449 §4.3), checked the same way at the token endpoint and at the edge. jose
// verifies the signature with the public key the proof embeds under our algorithm allow-list and
// `typ: dpop+jwt`; the claims are checked here, and the jti is claimed once in the store (SET NX),
// so a proof replayed to any instance is refused (RFC 9449 §11.1). A client signs every request
// with the same key, so the imported key and its thumbprint are memoised (importing is half the
// cost of a check: bench/dpop-verify.ts); the memo holds public keys only and is bounded.
import { createHash } from 'node:crypto'
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose'
import type { Store } from '../store/types.js'

/** Asymmetric algorithms only (RFC 9449 §4.3 check 5): never `none`, never HMAC. Advertised in discovery. */
export const DPOP_ALGS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const

/** Stable reasons (logs); the client sees the description of invalid_dpop_proof / use_dpop_nonce. */
export type DpopFailure =
  | 'missing' | 'malformed' | 'wrong_typ' | 'bad_alg' | 'bad_jwk' | 'bad_signature' | 'missing_claim'
  | 'wrong_htm' | 'wrong_htu' | 'stale_iat' | 'wrong_ath' | 'wrong_key' | 'replayed' | 'nonce'

export class DpopError extends Error {
  override readonly name = 'DpopError'
  constructor (readonly reason: DpopFailure, detail?: string) {
    super(detail ?? reason)
  }
}

export interface ProofExpectations {
  /** The request's method (RFC 9449 §4.3 check 8). */
  htm: string
  /** The request's URL as this gateway sees it (requestUrl), compared normalised (check 9). */
  htu: string
  /** Epoch seconds. */
  now: number
  /** DPOP_IAT_WINDOW: |now - iat| at most this (check 11); the jti is kept that long past iat. */
  iatWindow: number
  /** At the edge: BASE64URL(SHA-256(access token)) (check 12). */
  ath?: string
  /** Returns whether the nonce is one of ours and fresh; absent: nonces are not required (check 10). */
  nonceOk?: (nonce: unknown) => boolean
}

export interface VerifiedProof {
  /** RFC 7638 thumbprint of the proof's key: `cnf.jkt` of the tokens bound to it. */
  jkt: string
  jti: string
  iat: number
}

/** Longest proof looked at; an RSA-4096 proof is about 2 KB. */
const MAX_PROOF_LENGTH = 8192
const MAX_JTI_LENGTH = 256
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const
const ALGS: string[] = [...DPOP_ALGS]

/** Verifies one proof: signature, header, claims and nonce. Its jti is not claimed yet (claimProof). */
export async function verifyDpopProof (proof: string, expect: ProofExpectations): Promise<VerifiedProof> {
  if (proof.length > MAX_PROOF_LENGTH || proof.split('.').length !== 3) throw new DpopError('malformed')
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(proof)
  } catch {
    throw new DpopError('malformed')
  }
  // RFC 9449 §4.3 checks 4, 5, 7: typ dpop+jwt, an asymmetric alg we allow, a public key only
  if (header.typ !== 'dpop+jwt') throw new DpopError('wrong_typ')
  if (typeof header.alg !== 'string' || !ALGS.includes(header.alg)) throw new DpopError('bad_alg')
  const jwk = header.jwk
  if (typeof jwk !== 'object' || jwk === null || PRIVATE_MEMBERS.some((m) => m in jwk)) throw new DpopError('bad_jwk')
  const proven = await proofKey(header.alg, jwk as JWK)
  let payload: Record<string, unknown>
  try {
    // check 6: the signature, by the embedded key
    ;({ payload } = await jwtVerify(proof, proven.key, { algorithms: ALGS, typ: 'dpop+jwt', currentDate: new Date(expect.now * 1000) }))
  } catch (err) {
    throw new DpopError('bad_signature', (err as Error).name)
  }
  const { jti, htm, htu, iat } = payload
  // check 3: jti, htm, htu, iat are required
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH || typeof htm !== 'string' || typeof htu !== 'string' || typeof iat !== 'number') {
    throw new DpopError('missing_claim')
  }
  if (htm !== expect.htm) throw new DpopError('wrong_htm') // check 8
  const want = normalizeHtu(expect.htu)
  if (want === null || normalizeHtu(htu) !== want) throw new DpopError('wrong_htu') // check 9
  if (expect.nonceOk !== undefined && !expect.nonceOk(payload.nonce)) throw new DpopError('nonce') // check 10, RFC 9449 §8, §9
  if (!Number.isFinite(iat) || Math.abs(expect.now - iat) > expect.iatWindow) throw new DpopError('stale_iat') // check 11
  if (expect.ath !== undefined && payload.ath !== expect.ath) throw new DpopError('wrong_ath') // check 12
  return { jkt: proven.jkt, jti, iat }
}

type PublicKey = Awaited<ReturnType<typeof importJWK>>
const KEY_MEMO_MAX = 1000
const keyMemo = new Map<string, { key: PublicKey, jkt: string }>()

/** The proof's public key, imported for `alg`, and its RFC 7638 thumbprint (memoised). */
async function proofKey (alg: string, jwk: JWK): Promise<{ key: PublicKey, jkt: string }> {
  const id = `${alg} ${JSON.stringify(jwk)}`
  const hit = keyMemo.get(id)
  if (hit !== undefined) return hit
  // RFC 7517 §4.2, §4.4: a key meant for another use or algorithm is not this proof's key
  if ((jwk.use !== undefined && jwk.use !== 'sig') || (jwk.alg !== undefined && jwk.alg !== alg)) throw new DpopError('bad_jwk')
  let entry: { key: PublicKey, jkt: string }
  try {
    const key = await importJWK(jwk, alg)
    // check 7: a public key only (never a secret or a private key)
    if (key instanceof Uint8Array || key.type !== 'public') throw new DpopError('bad_jwk')
    entry = { key, jkt: await calculateJwkThumbprint(jwk, 'sha256') }
  } catch (err) {
    throw err instanceof DpopError ? err : new DpopError('bad_jwk', (err as Error).name)
  }
  if (keyMemo.size >= KEY_MEMO_MAX) keyMemo.clear()
  keyMemo.set(id, entry)
  return entry
}

/**
 * RFC 9449 §11.1: a proof is accepted once. The jti (per key) is claimed in the store for as long as
 * the proof could still be accepted (until iat + window), so a replay to any instance is refused.
 */
export async function claimProof (store: Store, proof: VerifiedProof, now: number, iatWindow: number): Promise<void> {
  const id = createHash('sha256').update(`dpop\0${proof.jkt}\0${proof.jti}`).digest('base64url')
  const ttlMs = (proof.iat + iatWindow - now + 1) * 1000
  if (!await store.claimOnce(id, ttlMs)) throw new DpopError('replayed')
}

/** RFC 9449 §4.2: ath = BASE64URL(SHA-256(ASCII(access token))). */
export function accessTokenHash (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/**
 * RFC 9449 §4.3 check 9: htu without query and fragment, with RFC 3986 §6.2.2 and §6.2.3
 * normalisation (scheme and host lower-cased, default port dropped, percent-encoded unreserved
 * characters decoded, other percent-encodings in upper case). null never matches.
 */
export function normalizeHtu (htu: string): string | null {
  let u: URL
  try {
    u = new URL(htu)
  } catch {
    return null
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null
  const path = u.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16))
    return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${hex.toUpperCase()}`
  })
  return `${u.protocol}//${u.host}${path}`
}
