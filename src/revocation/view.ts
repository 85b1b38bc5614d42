// The local copy of the revocation state one instance keeps in REVOCATION_MODE=replicated:
// revoked jtis and sessions (each until the time its marker lives in the store), user and client cut-offs,
// disabled users and clients. Built from a store snapshot, then kept current by feed events;
// answers the same RevocationState the store's checkRevocation answers, without a round trip.
import type { RevocationEvent, RevocationQuery, RevocationState } from '../store/types.js'

export class RevocationView {
  readonly #tokens = new Map<string, number>() // jti -> epoch ms until which it is revoked
  readonly #sessions = new Map<string, number>() // sid -> epoch ms
  readonly #cutoffs = new Map<string, number>() // sub -> epoch seconds
  readonly #clientCutoffs = new Map<string, number>() // client id -> epoch seconds
  readonly #disabledUsers = new Set<string>()
  readonly #disabledClients = new Set<string>()

  get size (): number {
    return this.#tokens.size + this.#sessions.size + this.#cutoffs.size + this.#clientCutoffs.size + this.#disabledUsers.size + this.#disabledClients.size
  }

  /** Applies one change; the same rules as the store (markers never shortened, cut-offs only move forward). */
  apply (e: RevocationEvent): void {
    switch (e.kind) {
      case 'token': extend(this.#tokens, e.id, e.untilMs); break
      case 'session': extend(this.#sessions, e.id, e.untilMs); break
      case 'user-cutoff': extend(this.#cutoffs, e.id, e.before); break
      case 'client-cutoff': extend(this.#clientCutoffs, e.id, e.before); break
      case 'user-disabled': toggle(this.#disabledUsers, e.id, e.disabled); break
      case 'client-disabled': toggle(this.#disabledClients, e.id, e.disabled); break
    }
  }

  state (q: RevocationQuery, nowMs: number): RevocationState {
    return {
      tokenRevoked: live(this.#tokens, q.jti, nowMs),
      sessionRevoked: q.sid !== undefined && live(this.#sessions, q.sid, nowMs),
      userRevokedBefore: this.#cutoffs.get(q.sub) ?? null,
      userDisabled: this.#disabledUsers.has(q.sub),
      clientDisabled: this.#disabledClients.has(q.clientId),
      clientRevokedBefore: this.#clientCutoffs.get(q.clientId) ?? null
    }
  }

  /** Drops markers whose time has passed (the store's TTLs did the same). */
  sweep (nowMs: number): void {
    for (const map of [this.#tokens, this.#sessions]) {
      for (const [id, until] of map) if (until <= nowMs) map.delete(id)
    }
  }
}

function extend (map: Map<string, number>, id: string, value: number): void {
  const current = map.get(id)
  if (current === undefined || value > current) map.set(id, value)
}

function toggle (set: Set<string>, id: string, on: boolean): void {
  if (on) set.add(id)
  else set.delete(id)
}

function live (map: Map<string, number>, id: string, nowMs: number): boolean {
  const until = map.get(id)
  return until !== undefined && until > nowMs
}
