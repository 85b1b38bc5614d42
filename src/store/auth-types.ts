// What the authorization endpoint keeps (RFC 6749 §4.1): authorization codes and login sessions.
// Two narrow interfaces, reached as `store.codes` and `store.loginSessions`; memory and Redis
// implement both and pass test/store/contract-auth.ts. Both are keyed by a SHA-256 hash of the
// secret value (the code, the session id): the value itself is never stored. A used code is kept,
// marked used, for as long as the tokens it issued can live, so that a replay at any time in that
// span is seen and revokes them (RFC 6749 §4.1.2; SECURITY.md W01), not only within its 60 s.

/** An issued authorization code (RFC 6749 §4.1.2), bound to client, redirect URI and PKCE challenge. */
export interface AuthCodeRecord {
  clientId: string
  /** The redirect_uri of the authorization request, exactly as sent (RFC 6749 §4.1.3). */
  redirectUri: string
  /** RFC 7636 §4.2 S256 challenge; null when the (confidential) client sent none. */
  codeChallenge: string | null
  sub: string
  scope: string[]
  /** The session (refresh family) every token issued from the code carries: a replay revokes it. */
  sid: string
  /** Epoch seconds. */
  issuedAt: number
  /** Epoch seconds; at most 60 s after issuedAt. */
  expiresAt: number
}

export type CodeConsumeResult =
  | { status: 'active'; record: AuthCodeRecord } // first use: now marked used
  | { status: 'reused'; record: AuthCodeRecord } // used before: a replay (RFC 6749 §4.1.2)
  | { status: 'unknown' }

export interface AuthCodeStore {
  /** Stores a new, unused code until record.expiresAt (an unused code is gone after that). */
  put(codeHash: string, record: AuthCodeRecord): Promise<void>
  /** Reads without consuming (the grant checks its bindings before it burns the code); a used code while it is kept. */
  get(codeHash: string): Promise<AuthCodeRecord | null>
  /**
   * Atomically marks the code used and says whether it was used before. The first use keeps the
   * used code for `keepSeconds` from now (at least until it expires): the lifetime of the tokens it
   * issues, during which a replay must still be recognised.
   */
  consume(codeHash: string, keepSeconds: number): Promise<CodeConsumeResult>
}

/** A browser's login at the hosted login page (SSO: later authorizations skip the form). */
export interface LoginSessionRecord {
  sub: string
  /** Epoch seconds: when the password was checked. */
  authTime: number
  /** Epoch seconds. */
  expiresAt: number
}

export interface LoginSessionStore {
  put(idHash: string, record: LoginSessionRecord): Promise<void>
  get(idHash: string): Promise<LoginSessionRecord | null>
  delete(idHash: string): Promise<void>
}
