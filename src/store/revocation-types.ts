// The revocation part of the Store contract (src/store/types.ts re-exports it): the per-request
// query and its answer, and the feed a replicated view subscribes to (README "Caches and revocation modes").
/** What the check-revocation stage needs, read in one round trip. */
export interface RevocationQuery {
  jti: string
  sid?: string | undefined
  sub: string
  clientId: string
}

export interface RevocationState {
  tokenRevoked: boolean
  sessionRevoked: boolean
  /** Epoch seconds: tokens with iat before this are refused (users revoke). null when never set. */
  userRevokedBefore: number | null
  userDisabled: boolean
  clientDisabled: boolean
  /** Epoch seconds: tokens of the client with iat before this are refused (set by clients disable). null when never set. */
  clientRevokedBefore: number | null
}

/**
 * One change of the revocation state, as every write publishes it (REVOCATION_MODE=replicated,
 * src/revocation/): instances keep a local view and skip the per-request read.
 */
export type RevocationEvent =
  | { kind: 'token' | 'session'; id: string; /** epoch ms */ untilMs: number }
  | { kind: 'user-cutoff' | 'client-cutoff'; id: string; /** epoch seconds, as revokeUserBefore */ before: number }
  | { kind: 'user-disabled' | 'client-disabled'; id: string; disabled: boolean }

/** What a revocation feed tells its subscriber. */
export interface RevocationFeedHandlers {
  event(e: RevocationEvent): void
  /** Subscribed (again): every change from now on is delivered; load a snapshot now. */
  up(): void
  /** Changes may be missed from now until the next up(). */
  down(): void
  /**
   * The feed proved itself current (its heartbeat was answered): every change published more than
   * `ageMs` ago (when the heartbeat was sent) was delivered.
   */
  alive?(ageMs: number): void
}

export interface RevocationFeedOptions {
  /** How often a network feed proves itself current (alive); default FEED_HEARTBEAT_MS. */
  heartbeatMs?: number
}

export interface RevocationFeed {
  close(): Promise<void>
  /** True for a feed that delivers every change as it is made, in process (memory store): never behind. */
  readonly inProcess?: boolean
}
