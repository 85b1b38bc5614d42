// What the authorization endpoint keeps (RFC 6749 §4.1): authorization codes and login sessions.
// Two narrow interfaces, reached as `store.codes` and `store.loginSessions`; memory and Redis
// implement both and pass test/store/contract-auth.ts. Both are keyed by a SHA-256 hash of the
// secret value (the code, the session id): the value itself is never stored.

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
  /** Stores a new, unused code until record.expiresAt. */
  put(codeHash: string, record: AuthCodeRecord): Promise<void>
  /** Reads without consuming (the grant checks its bindings before it burns the code). */
  get(codeHash: string): Promise<AuthCodeRecord | null>
  /** Atomically marks the code used and says whether it was used before. */
  consume(codeHash: string): Promise<CodeConsumeResult>
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
