// Pieces of the memory store with no state of their own beyond what they hold: the signing-key set
// and the small helpers the store shares with it.
import type { KeyRecord } from '../types.js'
import { byCreatedThenKid, compare } from '../key-order.js'

export { compare }

export interface Expiring { expiresAtMs: number }

/** Signing keys: never overwritten by add, never brought back by update (same contract as Redis). */
export class KeySet {
  readonly #keys = new Map<string, KeyRecord>()

  list (): KeyRecord[] {
    return [...this.#keys.values()].map(copy).sort(byCreatedThenKid)
  }

  /** With onlyIfEmpty, only into an empty set (race-free first key); resolves whether it was added. */
  add (key: KeyRecord, opts: { onlyIfEmpty?: boolean }): boolean {
    if (opts.onlyIfEmpty === true && this.#keys.size > 0) return false
    if (this.#keys.has(key.kid)) return false
    this.#keys.set(key.kid, copy(key))
    return true
  }

  /** Replaces the record of an existing kid; a removed kid is not brought back. */
  update (key: KeyRecord): void {
    if (this.#keys.has(key.kid)) this.#keys.set(key.kid, copy(key))
  }

  remove (kid: string): void {
    this.#keys.delete(kid)
  }
}

/** Whether it changed anything. */
export function setUntil (map: Map<string, Expiring>, key: string, expiresAtMs: number, now: number): boolean {
  // Never shorten an existing entry; an already-expired target needs no entry.
  const current = map.get(key)
  if (expiresAtMs <= now) return false
  if (current !== undefined && current.expiresAtMs >= expiresAtMs) return false
  map.set(key, { expiresAtMs })
  return true
}

/** Records are copied in and out so callers never share mutable state with the store. */
export function copy<T> (value: T): T {
  return structuredClone(value)
}
