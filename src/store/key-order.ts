// The one order of signing keys every store and the key ring agree on: oldest first, ties broken by
// kid (so the newest key, the one that signs, is the same on every instance).
import type { KeyRecord } from './types.js'

/** Plain code-unit string order (no locale). */
export function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export function byCreatedThenKid (a: KeyRecord, b: KeyRecord): number {
  return a.createdAt - b.createdAt || compare(a.kid, b.kid)
}
