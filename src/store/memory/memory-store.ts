// In-process Store for dev mode and tests. Same contract as the Redis store
// (test/store/contract.ts): TTLs really expire, counters are fixed windows, and every
// read-modify-write is atomic by construction (no await between read and write).
//
// Expiry is checked lazily on every read against the injected clock; a sweep on write
// (at most once per SWEEP_EVERY_MS) drops expired entries so memory stays bounded
// without a timer.

import {
  StoreUnavailableError,
  type ClientRecord,
  type ConsumeResult,
  type CounterDelta,
  type CounterResult,
  type RecordChange,
  type KeyRecord,
  type RefreshTokenRecord,
  type RevocationEvent,
  type RevocationFeed,
  type RevocationFeedHandlers,
  type RevocationQuery,
  type RevocationState,
  type RotateResult,
  type RotationOptions,
  type SessionRecord,
  type Store,
  type UpdateOptions,
  type UserRecord
} from '../types.js'
import { EpochWatch, newEpoch } from '../epoch.js'
import { compare, copy, KeySet, setUntil, type Expiring } from './key-set.js'
import { MemoryCodes, MemoryLoginSessions } from './auth-state.js'
import { RefreshTokens } from './refresh.js'
import { SessionsAndClaims } from './sessions.js'
import { MemoryCounters } from './counters.js'

/** `now`: clock in epoch milliseconds; defaults to Date.now. Tests inject a fixed clock. */
export interface MemoryStoreOptions { now?: () => number }

const SWEEP_EVERY_MS = 10_000

export class MemoryStore implements Store {
  readonly kind = 'memory' as const
  readonly #now: () => number
  readonly #users = new Map<string, UserRecord>()
  readonly #clients = new Map<string, ClientRecord>()
  readonly #refresh: RefreshTokens
  readonly #sessions: SessionsAndClaims
  readonly #revokedJti = new Map<string, Expiring>()
  readonly #revokedSid = new Map<string, Expiring>()
  /** No TTL: a cut-off has no natural end (same choice as the Redis store). */
  readonly #userRevokedBefore = new Map<string, number>()
  readonly #clientRevokedBefore = new Map<string, number>()
  readonly #counters = new MemoryCounters()
  readonly #keys = new KeySet()
  #lastSweep = 0
  #closed = false
  /** Revocation feed subscribers: in-process, so the feed is never lost while the store is open. */
  readonly #feeds = new Set<RevocationFeedHandlers>()
  /** One epoch per process (SECURITY.md E01): the data lives exactly as long as it does. */
  readonly #epoch = newEpoch()
  readonly epoch = new EpochWatch({
    source: { claim: async () => this.#epoch, evictionRisk: async () => null },
    logger: { info: () => {}, error: () => {} },
    confirmed: this.#epoch
  })

  readonly #clock = { now: () => this.#now(), open: () => { this.#open() } }
  readonly codes = new MemoryCodes(this.#clock) // auth-state.ts
  readonly loginSessions = new MemoryLoginSessions(this.#clock)

  constructor (opts: MemoryStoreOptions = {}) {
    this.#now = opts.now ?? Date.now
    this.#refresh = new RefreshTokens(this.#now)
    this.#sessions = new SessionsAndClaims(this.#now)
  }

  async ping (): Promise<void> { this.#open() }

  async close (): Promise<void> {
    this.#closed = true
    this.epoch.close()
    for (const h of this.#feeds) h.down()
    this.#feeds.clear()
  }

  // users

  async getUser (name: string): Promise<UserRecord | null> {
    this.#open()
    return copy(this.#users.get(name) ?? null)
  }

  async putUser (user: UserRecord, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    this.#open()
    if (opts.ifAbsent === true && this.#users.has(user.name)) return false
    this.#users.set(user.name, copy(user)) // the disabled flag is the record's own field
    this.#publish({ kind: 'user-disabled', id: user.name, disabled: user.disabled })
    return true
  }

  async updateUser (name: string, change: RecordChange<UserRecord>, opts: UpdateOptions = {}): Promise<UserRecord | null> {
    this.#open()
    return this.#update(this.#users, name, (u) => u.name, change, 'user', this.#userRevokedBefore, opts)
  }

  async listUsers (): Promise<UserRecord[]> {
    this.#open()
    return [...this.#users.values()].map(copy).sort((a, b) => compare(a.name, b.name))
  }

  // clients

  async getClient (id: string): Promise<ClientRecord | null> {
    this.#open()
    return copy(this.#clients.get(id) ?? null)
  }

  async putClient (client: ClientRecord, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    this.#open()
    if (opts.ifAbsent === true && this.#clients.has(client.id)) return false
    this.#clients.set(client.id, copy(client))
    this.#publish({ kind: 'client-disabled', id: client.id, disabled: client.disabled })
    return true
  }

  async updateClient (id: string, change: RecordChange<ClientRecord>, opts: UpdateOptions = {}): Promise<ClientRecord | null> {
    this.#open()
    return this.#update(this.#clients, id, (c) => c.id, change, 'client', this.#clientRevokedBefore, opts)
  }

  async listClients (): Promise<ClientRecord[]> {
    this.#open()
    return [...this.#clients.values()].map(copy).sort((a, b) => compare(a.id, b.id))
  }

  // refresh tokens (refresh.ts)

  async putRefreshToken (tokenHash: string, record: RefreshTokenRecord): Promise<void> {
    this.#open()
    this.#sweep()
    this.#refresh.put(tokenHash, record)
  }

  async consumeRefreshToken (tokenHash: string): Promise<ConsumeResult> {
    this.#open()
    return this.#refresh.consume(tokenHash)
  }

  async rotateRefreshToken (tokenHash: string, successorHash: string, successor: RefreshTokenRecord, opts?: RotationOptions): Promise<RotateResult> {
    this.#open()
    this.#sweep()
    return this.#refresh.rotate(tokenHash, successorHash, successor, opts)
  }

  async getRefreshToken (tokenHash: string): Promise<RefreshTokenRecord | null> {
    this.#open()
    return this.#refresh.get(tokenHash)
  }

  // sessions, one-time claims, shared secrets (sessions.ts)

  async recordSession (session: SessionRecord): Promise<void> { this.#open(); this.#sweep(); this.#sessions.record(session) }
  async listSessions (sub: string): Promise<SessionRecord[]> { this.#open(); return this.#sessions.list(sub) }
  async claimOnce (id: string, ttlMs: number): Promise<boolean> { this.#open(); this.#sweep(); return this.#sessions.claimOnce(id, ttlMs) }
  async sharedSecret (name: string): Promise<string> { this.#open(); return this.#sessions.sharedSecret(name) }

  // revocation

  async revokeToken (jti: string, expiresAt: number): Promise<void> {
    this.#open()
    this.#sweep()
    if (setUntil(this.#revokedJti, jti, expiresAt * 1000, this.#now())) this.#publish({ kind: 'token', id: jti, untilMs: expiresAt * 1000 })
  }

  async revokeSession (sid: string, expiresAt: number): Promise<void> {
    this.#open()
    this.#sweep()
    if (setUntil(this.#revokedSid, sid, expiresAt * 1000, this.#now())) this.#publish({ kind: 'session', id: sid, untilMs: expiresAt * 1000 })
  }

  async revokeUserBefore (sub: string, before: number): Promise<void> {
    this.#open()
    this.#cutoff(this.#userRevokedBefore, 'user', sub, before)
  }

  /** Only ever moves forward: a later call can widen the cut-off, never lift it. */
  #cutoff (map: Map<string, number>, kind: 'user' | 'client', id: string, before: number): void {
    const current = map.get(id)
    if (current !== undefined && current >= before) return
    map.set(id, before)
    this.#publish({ kind: `${kind}-cutoff`, id, before })
  }

  /** Read, change and write in one synchronous step (atomic by construction), with the cut-off. */
  #update<R extends { disabled: boolean }> (
    map: Map<string, R>, id: string, idOf: (r: R) => string, change: RecordChange<R>,
    kind: 'user' | 'client', cutoffs: Map<string, number>, opts: UpdateOptions
  ): R | null {
    const current = map.get(id)
    if (current === undefined) return null
    const next = change(copy(current)) // may throw: nothing written
    if (idOf(next) !== id) throw new TypeError('a record update must not change its id')
    map.set(id, copy(next))
    this.#publish({ kind: `${kind}-disabled`, id, disabled: next.disabled })
    if (opts.revokeBefore !== undefined) this.#cutoff(cutoffs, kind, id, opts.revokeBefore)
    return copy(next)
  }

  subscribeRevocations (handlers: RevocationFeedHandlers): RevocationFeed {
    this.#feeds.add(handlers)
    queueMicrotask(() => { if (this.#feeds.has(handlers)) handlers.up() })
    return { inProcess: true, close: async () => { this.#feeds.delete(handlers) } }
  }

  async revocationSnapshot (): Promise<RevocationEvent[]> {
    this.#open()
    const now = this.#now()
    const out: RevocationEvent[] = []
    for (const [id, e] of this.#revokedJti) if (e.expiresAtMs > now) out.push({ kind: 'token', id, untilMs: e.expiresAtMs })
    for (const [id, e] of this.#revokedSid) if (e.expiresAtMs > now) out.push({ kind: 'session', id, untilMs: e.expiresAtMs })
    for (const [id, before] of this.#userRevokedBefore) out.push({ kind: 'user-cutoff', id, before })
    for (const [id, before] of this.#clientRevokedBefore) out.push({ kind: 'client-cutoff', id, before })
    for (const u of this.#users.values()) if (u.disabled) out.push({ kind: 'user-disabled', id: u.name, disabled: true })
    for (const c of this.#clients.values()) if (c.disabled) out.push({ kind: 'client-disabled', id: c.id, disabled: true })
    return out
  }

  #publish (e: RevocationEvent): void {
    for (const h of this.#feeds) h.event({ ...e })
  }

  async checkRevocation (q: RevocationQuery): Promise<RevocationState> {
    this.#open()
    return {
      tokenRevoked: this.#live(this.#revokedJti, q.jti) !== undefined,
      sessionRevoked: q.sid !== undefined && this.#live(this.#revokedSid, q.sid) !== undefined,
      userRevokedBefore: this.#userRevokedBefore.get(q.sub) ?? null,
      userDisabled: this.#users.get(q.sub)?.disabled ?? false,
      clientDisabled: this.#clients.get(q.clientId)?.disabled ?? false,
      clientRevokedBefore: this.#clientRevokedBefore.get(q.clientId) ?? null
    }
  }

  // counters

  async incrementCounter (key: string, windowMs: number): Promise<CounterResult> {
    this.#open()
    this.#sweep()
    return this.#counters.add({ key, delta: 1, windowMs }, this.#now())
  }

  async addCounters (deltas: readonly CounterDelta[]): Promise<Array<CounterResult | null>> {
    this.#open()
    this.#sweep()
    const now = this.#now()
    return deltas.map((d) => this.#counters.add(d, now))
  }

  async resetCounter (key: string): Promise<void> {
    this.#open()
    this.#counters.reset(key)
  }

  // signing keys (key-set.ts)

  async listKeys (): Promise<KeyRecord[]> { this.#open(); return this.#keys.list() }
  async addKey (key: KeyRecord, opts: { onlyIfEmpty?: boolean } = {}): Promise<boolean> { this.#open(); return this.#keys.add(key, opts) }
  async updateKey (key: KeyRecord): Promise<void> { this.#open(); this.#keys.update(key) }
  async removeKey (kid: string): Promise<void> { this.#open(); this.#keys.remove(kid) }

  // internals

  #open (): void {
    if (this.#closed) throw new StoreUnavailableError('memory store is closed')
  }

  /** Returns the entry if present and not expired; drops it if expired. */
  #live<T extends Expiring> (map: Map<string, T>, key: string): T | undefined {
    const entry = map.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAtMs <= this.#now()) {
      map.delete(key)
      return undefined
    }
    return entry
  }

  #sweep (): void {
    const now = this.#now()
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return
    this.#lastSweep = now
    for (const map of [this.#revokedJti, this.#revokedSid] as Array<Map<string, Expiring>>) {
      for (const [k, v] of map) if (v.expiresAtMs <= now) map.delete(k)
    }
    this.#counters.sweep(now)
    this.#refresh.sweep(now)
    this.#sessions.sweep(now)
  }
}
