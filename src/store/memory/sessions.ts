// The memory store's sessions (one per refresh family), one-time claims (DPoP proof jti, RFC 9449
// §11.1) and shared secrets (DPoP nonces). Synchronous steps: atomic by construction.
import { randomBytes } from 'node:crypto'
import type { SessionRecord } from '../types.js'
import { copy, type Expiring } from './key-set.js'

interface SessionEntry extends Expiring { session: SessionRecord }

export class SessionsAndClaims {
  readonly #now: () => number
  readonly #sessions = new Map<string, SessionEntry>()
  readonly #claims = new Map<string, Expiring>()
  readonly #secrets = new Map<string, string>()

  constructor (now: () => number) {
    this.#now = now
  }

  record (s: SessionRecord): void {
    const expiresAtMs = s.expiresAt * 1000
    if (expiresAtMs <= this.#now()) return
    const existing = this.#sessions.get(s.sid)
    const createdAt = existing !== undefined && existing.expiresAtMs > this.#now() ? existing.session.createdAt : s.createdAt
    this.#sessions.set(s.sid, { session: { ...copy(s), createdAt }, expiresAtMs })
  }

  list (sub: string): SessionRecord[] {
    const now = this.#now()
    return [...this.#sessions.values()]
      .filter((e) => e.expiresAtMs > now && e.session.sub === sub)
      .map((e) => copy(e.session))
      .sort((a, b) => a.createdAt - b.createdAt || (a.sid < b.sid ? -1 : 1))
  }

  claimOnce (id: string, ttlMs: number): boolean {
    const now = this.#now()
    const held = this.#claims.get(id)
    if (held !== undefined && held.expiresAtMs > now) return false
    this.#claims.set(id, { expiresAtMs: now + ttlMs })
    return true
  }

  sharedSecret (name: string): string {
    let secret = this.#secrets.get(name)
    if (secret === undefined) this.#secrets.set(name, secret = randomBytes(32).toString('base64url'))
    return secret
  }

  sweep (now: number): void {
    for (const map of [this.#sessions, this.#claims] as Array<Map<string, Expiring>>) {
      for (const [k, v] of map) if (v.expiresAtMs <= now) map.delete(k)
    }
  }
}
