// The one interface for everything the gateway keeps. Two implementations:
// `memory/` (dev mode, tests) and `redis/` (production, shared by every instance).
// Both pass the same contract suite: test/store/contract.ts.
//
// Rules every implementation follows:
// - every method either resolves or rejects with a StoreUnavailableError within
//   the store's command timeout (a dead or hung Redis never hangs a request);
// - TTLs equal the remaining lifetime of what they guard, so nothing outlives its purpose;
// - read-modify-write operations are atomic (one Lua script in Redis).

import type { AuthCodeStore, LoginSessionStore } from './auth-types.js'
import type { StoreEpoch } from './epoch.js'

export type { EpochStatus, StoreEpoch } from './epoch.js'
export type * from './auth-types.js'
export type * from './revocation-types.js'
import type { RevocationEvent, RevocationFeed, RevocationFeedHandlers, RevocationFeedOptions, RevocationQuery, RevocationState } from './revocation-types.js'

export type SigningAlg = 'EdDSA' | 'ES256' | 'RS256'

export interface UserRecord {
  name: string
  /** bcrypt hash; never printed, never logged. */
  passwordHash: string
  scopes: string[]
  disabled: boolean
  createdAt: number // epoch seconds
}

export interface ClientRecord {
  id: string
  /** bcrypt hash of the secret; null for a public client. */
  secretHash: string | null
  grants: string[]
  scopes: string[]
  disabled: boolean
  createdAt: number // epoch seconds
  /**
   * RFC 7662 §2.1 / SECURITY.md T64: may introspect tokens issued to other clients (a resource
   * server). Absent or false: the client learns only about its own tokens.
   */
  introspect?: boolean
  /** RFC 6749 §3.1.2.2: the registered redirect URIs (authorization_code clients); matched per RFC 8252. */
  redirectUris?: string[]
  /** Ask the user's consent before issuing a code; absent or false: a first-party client, no consent page. */
  consent?: boolean
  /** RFC 9449 §5.2 (dpop_bound_access_tokens): `required` = never a bearer token; absent = DPoP optional. */
  dpop?: 'required'
}

export interface RefreshTokenRecord {
  /** Session (refresh-token family) id: the `sid` claim of access tokens issued from it. */
  sid: string
  sub: string
  clientId: string
  /** Scope granted to the family; a refresh may narrow the access token, never widen. */
  scope: string[]
  /** Epoch seconds: when this refresh token was issued (used against the user's and client's revoked-before cut-offs). */
  issuedAt: number
  /** Epoch seconds. */
  expiresAt: number
  /** The store epoch the family was issued under (SECURITY.md E03); absent on records older than epochs. */
  epoch?: string | undefined
  /** RFC 9449 §5: RFC 7638 thumbprint of the DPoP key a public client's family is bound to; absent: unbound. */
  jkt?: string | undefined
}

export type ConsumeResult =
  | { status: 'active'; record: RefreshTokenRecord } // first use: now marked used
  | { status: 'reused'; record: RefreshTokenRecord } // was already used: replay (RFC 9700 §4.14.2)
  | { status: 'unknown' }

/** How a rotation treats the presenter and a retry of the token it consumes (REFRESH_GRACE). */
export interface RotationOptions {
  /** RFC 7638 thumbprint of the presenter's DPoP key; '' when the request carried no proof. */
  presenterJkt: string
  /** For this long (ms) a retry of the old token by the same key gets the same successor; 0: never. */
  graceMs: number
  /** The successor, sealed with the old token (src/oauth/refresh-grace.ts): what a retry gets back. */
  sealedSuccessor: string
}

export type RotateResult =
  | ConsumeResult
  /** Used before, but retried within the grace window by the same key while the successor is unused. */
  | { status: 'grace'; record: RefreshTokenRecord; sealedSuccessor: string }
  /** Unused, but bound to another DPoP key than the presenter's: nothing written (RFC 9449 §5). */
  | { status: 'wrong_key'; record: RefreshTokenRecord }

/** One session: a refresh-token family (README "Sessions"). */
export interface SessionRecord {
  sid: string
  sub: string
  clientId: string
  /** Epoch seconds: the login. Kept when the session is recorded again. */
  createdAt: number
  /** Epoch seconds: the last token request of the family. */
  lastUsedAt: number
  /** Client address and User-Agent of that last request (the agent cut to 200 printable characters). */
  ip: string
  userAgent: string
  /** Epoch seconds: when the family ends (the session record lives until then). */
  expiresAt: number
}

export interface KeyRecord {
  kid: string
  alg: SigningAlg
  /** PKCS#8 PEM; never served, never logged. */
  privateKeyPem: string
  /** SPKI PEM. */
  publicKeyPem: string
  createdAt: number // epoch seconds
  /** Epoch seconds after which the key is no longer published (set on rotation); null while current. */
  retireAt: number | null
}


/** One key's share of a batched counter update (Store.addCounters). */
export interface CounterDelta {
  key: string
  /** Hits to add, at least 1. */
  delta: number
  /** The fixed window started by the key's first hit. */
  windowMs: number
}

export interface CounterResult {
  /** The count after this increment. */
  count: number
  /** Milliseconds until the window resets. */
  ttlMs: number
}

/**
 * An update of one user or client record: gets the current record, returns the changed one (same
 * name/id), or throws to refuse (then nothing is written). It may run more than once (the Redis store
 * retries when another writer changed the record in between), so it must not have side effects.
 */
export type RecordChange<R> = (current: R) => R

export interface UpdateOptions {
  /** In the same atomic step, move the user's / client's revoked-before cut-off forward to this (epoch seconds). */
  revokeBefore?: number
}

export interface Store {
  readonly kind: 'memory' | 'redis'
  /** The store's identity as this instance last confirmed it (epoch.ts, SECURITY.md E01-E04). */
  readonly epoch: StoreEpoch
  /**
   * Redis with REDIS_MIN_REPLICAS > 0: online replicas per master and the masters short of them
   * (issue 11 item 5; /readyz reports it). Absent: nothing to report (memory store).
   */
  replicas?(): { required: number, online: Record<string, number>, short: string[] }
  /** Authorization codes (RFC 6749 §4.1.2) and hosted-login sessions: auth-types.ts. */
  readonly codes: AuthCodeStore
  readonly loginSessions: LoginSessionStore
  /** Rejects when the store cannot answer (readiness). */
  ping(): Promise<void>
  close(): Promise<void>

  // users
  getUser(name: string): Promise<UserRecord | null>
  /** Creates or replaces. With ifAbsent, resolves false (and writes nothing) when the user exists. */
  putUser(user: UserRecord, opts?: { ifAbsent?: boolean }): Promise<boolean>
  listUsers(): Promise<UserRecord[]>
  /**
   * Atomic read-modify-write of one user (no lost update between concurrent operators): resolves the
   * record as written, or null when there is no such user.
   */
  updateUser(name: string, change: RecordChange<UserRecord>, opts?: UpdateOptions): Promise<UserRecord | null>

  // clients
  getClient(id: string): Promise<ClientRecord | null>
  putClient(client: ClientRecord, opts?: { ifAbsent?: boolean }): Promise<boolean>
  listClients(): Promise<ClientRecord[]>
  /** Atomic read-modify-write of one client, as updateUser. */
  updateClient(id: string, change: RecordChange<ClientRecord>, opts?: UpdateOptions): Promise<ClientRecord | null>

  // refresh tokens, keyed by a hash of the token (the token itself is never stored)
  putRefreshToken(tokenHash: string, record: RefreshTokenRecord): Promise<void>
  /** Atomically marks the token used and says whether it had been used before. */
  consumeRefreshToken(tokenHash: string): Promise<ConsumeResult>
  /**
   * Rotation in ONE atomic step (RFC 9700 §4.14.2): when `tokenHash` is active, marks it used AND
   * stores `successor` under `successorHash`; when it is unknown or already used, writes nothing.
   * Either both writes happen or neither, so a failed call leaves the old token usable for a retry.
   */
  rotateRefreshToken(tokenHash: string, successorHash: string, successor: RefreshTokenRecord, opts?: RotationOptions): Promise<RotateResult>
  /** Reads without consuming (introspection, revocation). */
  getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | null>

  // sessions (one per refresh family) and DPoP (src/oauth/dpop*.ts)
  /** Creates session `sid`, or updates its lastUsedAt, ip and userAgent (createdAt stays); lives until expiresAt. */
  recordSession(session: SessionRecord): Promise<void>
  /** The user's unexpired sessions, oldest first (revoked ones included: the caller applies the revocation rule). */
  listSessions(sub: string): Promise<SessionRecord[]>
  /** Atomically: true the first time `id` is claimed while a claim of it lives (`ttlMs`); SET NX in Redis. */
  claimOnce(id: string, ttlMs: number): Promise<boolean>
  /** A random secret shared by every instance, created once by whichever asks first (SET NX); never logged. */
  sharedSecret(name: string): Promise<string>

  // revocation
  /** Refuse the access token `jti` until `expiresAt` (epoch seconds). */
  revokeToken(jti: string, expiresAt: number): Promise<void>
  /** Refuse every token of session `sid` (refresh and access) until `expiresAt`. */
  revokeSession(sid: string, expiresAt: number): Promise<void>
  /** Refuse every token of user `sub` issued before `before` (epoch seconds). */
  revokeUserBefore(sub: string, before: number): Promise<void>
  // The disabled flags of users and clients are written by putUser/putClient/updateUser/updateClient
  // (from the record's `disabled`) and read by checkRevocation; implementations keep record and flag
  // in step. The client cut-off is written only by updateClient (opts.revokeBefore).
  /** One round trip. */
  checkRevocation(q: RevocationQuery): Promise<RevocationState>
  /**
   * Replication: every revokeToken/revokeSession/revokeUserBefore and cut-off that changes something and every
   * putUser/putClient/updateUser/updateClient is published as a RevocationEvent (a Redis Cluster also repeats the event of a
   * revocation that found its change in place: a retry's). Calls up() once subscribed (and after each
   * re-subscription), down() when the feed may have lost events (disconnected, no heartbeat answer).
   */
  subscribeRevocations(handlers: RevocationFeedHandlers, opts?: RevocationFeedOptions): RevocationFeed
  /** The whole current revocation state as events (a new view starts from it; SCAN in Redis). */
  revocationSnapshot(): Promise<RevocationEvent[]>

  // counters (rate limits, login abuse)
  /** Atomically increments `key` in a fixed window of `windowMs`; the first hit starts the window. */
  incrementCounter(key: string, windowMs: number): Promise<CounterResult>
  /**
   * Adds each delta to its key's fixed window (as incrementCounter, `delta` hits at once) in one round
   * trip: one atomic command per key, never a multi-key one (on a Cluster the keys live in different
   * slots). Results in the order of `deltas`; `null` for a key whose command failed (on a Cluster, a
   * shard that is down fails its keys only: the others are counted, and must not be sent again);
   * rejects (StoreUnavailableError) when every key failed.
   */
  addCounters(deltas: readonly CounterDelta[]): Promise<Array<CounterResult | null>>
  resetCounter(key: string): Promise<void>

  // signing keys
  listKeys(): Promise<KeyRecord[]>
  /** With onlyIfEmpty, adds the key only when the set is empty (race-free first-instance creation); resolves whether it was added. */
  addKey(key: KeyRecord, opts?: { onlyIfEmpty?: boolean }): Promise<boolean>
  /** Replaces an existing key record (to set retireAt). */
  updateKey(key: KeyRecord): Promise<void>
  removeKey(kid: string): Promise<void>
}

/**
 * Watches the store's backing service for metrics. Implemented by a higher layer (src/admin) and
 * handed in through the store options: the store never imports it. Absent: nothing is measured.
 */
export interface StoreObserver {
  /** One Redis command ended after `seconds`; `failed`: an error or no answer within REDIS_TIMEOUT. */
  command(seconds: number, failed: boolean): void
}

/** Thrown (rejected) by every store method when the backing service cannot answer in time. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError'
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}
