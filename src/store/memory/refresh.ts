// The memory store's refresh tokens (RFC 9700 §4.14.2 rotation with reuse detection, plus the
// REFRESH_GRACE retry window and the RFC 9449 §5 key binding). Every operation is one synchronous
// step: atomic by construction, the same contract as the Redis scripts (refresh-scripts.ts).
import type { ConsumeResult, RefreshTokenRecord, RotateResult, RotationOptions } from '../types.js'
import { copy, type Expiring } from './key-set.js'

interface Grace { successorHash: string; sealed: string; presenterJkt: string; untilMs: number }
interface RefreshEntry extends Expiring { record: RefreshTokenRecord; used: boolean; grace?: Grace }

const NO_GRACE: RotationOptions = Object.freeze({ presenterJkt: '', graceMs: 0, sealedSuccessor: '' })

export class RefreshTokens {
  readonly #now: () => number
  readonly #entries = new Map<string, RefreshEntry>()

  constructor (now: () => number) {
    this.#now = now
  }

  put (tokenHash: string, record: RefreshTokenRecord): void {
    const expiresAtMs = record.expiresAt * 1000
    if (expiresAtMs <= this.#now()) return // already expired: nothing to guard
    this.#entries.set(tokenHash, { record: copy(record), used: false, expiresAtMs })
  }

  consume (tokenHash: string): ConsumeResult {
    const entry = this.#live(tokenHash)
    if (entry === undefined) return { status: 'unknown' }
    const wasUsed = entry.used
    entry.used = true // kept until expiresAt so a replay stays detectable (RFC 9700 §4.14.2)
    return { status: wasUsed ? 'reused' : 'active', record: copy(entry.record) }
  }

  rotate (tokenHash: string, successorHash: string, successor: RefreshTokenRecord, opts: RotationOptions = NO_GRACE): RotateResult {
    const entry = this.#live(tokenHash)
    const now = this.#now()
    const expiresAtMs = successor.expiresAt * 1000
    if (entry === undefined || expiresAtMs <= now) return { status: 'unknown' }
    const record = copy(entry.record)
    if (entry.used) {
      // REFRESH_GRACE: the same presenter retrying the token it just rotated, whose successor is still
      // unused (grace covers only the previous generation, SECURITY.md T38), gets that successor again
      const g = entry.grace
      if (g !== undefined && g.untilMs > now && g.presenterJkt === opts.presenterJkt && this.#live(g.successorHash)?.used === false) {
        return { status: 'grace', record, sealedSuccessor: g.sealed }
      }
      return { status: 'reused', record } // a replay gets no successor (RFC 9700 §4.14.2)
    }
    // RFC 9449 §5: a bound family is refreshed only with a proof of its key; nothing is written
    if (record.jkt !== undefined && record.jkt !== opts.presenterJkt) return { status: 'wrong_key', record }
    this.#entries.set(successorHash, { record: copy(successor), used: false, expiresAtMs })
    entry.used = true
    if (opts.graceMs > 0) entry.grace = { successorHash, sealed: opts.sealedSuccessor, presenterJkt: opts.presenterJkt, untilMs: now + opts.graceMs }
    return { status: 'active', record }
  }

  get (tokenHash: string): RefreshTokenRecord | null {
    return copy(this.#live(tokenHash)?.record ?? null)
  }

  /** Drops expired entries (and grace windows that ended, so no sealed successor outlives its window). */
  sweep (now: number): void {
    for (const [k, v] of this.#entries) {
      if (v.expiresAtMs <= now) this.#entries.delete(k)
      else if (v.grace !== undefined && v.grace.untilMs <= now) delete v.grace
    }
  }

  #live (tokenHash: string): RefreshEntry | undefined {
    const entry = this.#entries.get(tokenHash)
    if (entry === undefined) return undefined
    if (entry.expiresAtMs <= this.#now()) {
      this.#entries.delete(tokenHash)
      return undefined
    }
    return entry
  }
}
