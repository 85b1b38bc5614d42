// Memory implementations of the authorization-code and login-session stores (src/store/auth-types.ts).
// Atomic by construction: no await between a read and its write. Expiry is checked on every read
// against the store's clock; writes drop expired entries once the map passes SWEEP_AT entries.
// A used code is kept past its expiry, for the keepSeconds its consume was given (auth-types.ts).
import type { AuthCodeRecord, AuthCodeStore, CodeConsumeResult, LoginSessionRecord, LoginSessionStore } from '../auth-types.js'
import { copy, type Expiring } from './key-set.js'

const SWEEP_AT = 1000

interface Clocked { now: () => number, open: () => void }

class Expiry<T> {
  readonly #entries = new Map<string, T & Expiring>()
  constructor (readonly clock: Clocked) {}

  live (key: string): (T & Expiring) | undefined {
    this.clock.open()
    const e = this.#entries.get(key)
    if (e === undefined || e.expiresAtMs > this.clock.now()) return e
    this.#entries.delete(key)
    return undefined
  }

  set (key: string, entry: T & Expiring): void {
    this.clock.open()
    const now = this.clock.now()
    if (this.#entries.size >= SWEEP_AT) for (const [k, v] of this.#entries) if (v.expiresAtMs <= now) this.#entries.delete(k)
    if (entry.expiresAtMs > now) this.#entries.set(key, entry)
  }

  delete (key: string): void {
    this.clock.open()
    this.#entries.delete(key)
  }
}

export class MemoryCodes implements AuthCodeStore {
  readonly #codes: Expiry<{ record: AuthCodeRecord, used: boolean }>
  constructor (clock: Clocked) { this.#codes = new Expiry(clock) }

  async put (codeHash: string, record: AuthCodeRecord): Promise<void> {
    this.#codes.set(codeHash, { record: copy(record), used: false, expiresAtMs: record.expiresAt * 1000 })
  }

  async get (codeHash: string): Promise<AuthCodeRecord | null> {
    return copy(this.#codes.live(codeHash)?.record ?? null)
  }

  async consume (codeHash: string, keepSeconds: number): Promise<CodeConsumeResult> {
    const entry = this.#codes.live(codeHash)
    if (entry === undefined) return { status: 'unknown' }
    if (entry.used) return { status: 'reused', record: copy(entry.record) }
    entry.used = true
    // RFC 6749 §4.1.2 (SECURITY.md W01): kept as long as its tokens live, so a late replay is seen
    entry.expiresAtMs = Math.max(entry.expiresAtMs, this.#codes.clock.now() + keepSeconds * 1000)
    return { status: 'active', record: copy(entry.record) }
  }
}

export class MemoryLoginSessions implements LoginSessionStore {
  readonly #sessions: Expiry<{ record: LoginSessionRecord }>
  constructor (clock: Clocked) { this.#sessions = new Expiry(clock) }

  async put (idHash: string, record: LoginSessionRecord): Promise<void> {
    this.#sessions.set(idHash, { record: copy(record), expiresAtMs: record.expiresAt * 1000 })
  }

  async get (idHash: string): Promise<LoginSessionRecord | null> {
    return copy(this.#sessions.live(idHash)?.record ?? null)
  }

  async delete (idHash: string): Promise<void> {
    this.#sessions.delete(idHash)
  }
}
