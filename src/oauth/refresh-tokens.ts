// Refresh tokens (RFC 6749 §1.5, §6): opaque, 256 random bits, stored only as a SHA-256 hash.
// A family (session, `sid`) starts at login and keeps its scope and absolute expiry across rotations
// (RFC 9700 §4.14.2): rotating never extends a session past REFRESH_TOKEN_TTL from the login.
import { createHash, randomBytes } from 'node:crypto'
import { StoreUnavailableError, type RefreshTokenRecord, type Store } from '../store/types.js'

const SHAPE = /^[A-Za-z0-9_-]{43}$/

/** 32 random bytes, base64url: 43 characters. */
export function newRefreshToken (): string {
  return randomBytes(32).toString('base64url')
}

/** Session (family) id: 128 random bits. */
export function newSessionId (): string {
  return randomBytes(16).toString('base64url')
}

/** What the store keys refresh tokens by; the token itself is never stored. */
export function hashRefreshToken (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/** Cheap shape check: anything else (an access token, garbage) is not looked up at all. */
export function looksLikeRefreshToken (token: string): boolean {
  return SHAPE.test(token)
}

/** Stores a new token of the family, under the store's current epoch (SECURITY.md E03), and returns it. */
export async function issueRefreshToken (store: Store, record: RefreshTokenRecord): Promise<string> {
  const epoch = store.epoch.current
  if (epoch === null) throw new StoreUnavailableError('store epoch unconfirmed')
  const token = newRefreshToken()
  await store.putRefreshToken(hashRefreshToken(token), { ...record, epoch })
  return token
}

/**
 * How long a session revocation must last: past the family's last refresh token and past the last
 * access token it can have issued (issued at the latest now, living accessTtl, accepted skew longer).
 */
export function sessionRevocationExpiry (record: RefreshTokenRecord, nowS: number, accessTtl: number, skew: number): number {
  return Math.max(record.expiresAt, nowS + accessTtl) + skew
}
