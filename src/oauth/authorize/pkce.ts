// PKCE (RFC 7636) with S256 only (RFC 9700 §2.1.1: `plain` is refused).
import { createHash, timingSafeEqual } from 'node:crypto'

/** RFC 7636 §4.1: 43-128 characters of [A-Z a-z 0-9 - . _ ~]. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/
/** RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters, no padding. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/

export function isS256Challenge (challenge: string): boolean {
  return S256_CHALLENGE.test(challenge)
}

/** RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge, compared in constant time. */
export function verifierMatches (verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier)) return false
  const computed = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'))
  const expected = Buffer.from(challenge)
  return computed.length === expected.length && timingSafeEqual(computed, expected)
}
