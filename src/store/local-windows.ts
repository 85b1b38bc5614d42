// Fixed-window counters in process, bounded: the fallback of every shared counter while the store
// cannot answer (the edge's rate limits, src/pipeline/rate-limit-store.ts, and the token
// endpoint's login and per-IP limits, src/oauth/login-throttle.ts). One bounded structure for both,
// so neither can be grown without limit by a flood of distinct keys (SECURITY.md F02, T20).

/** 100 000 keys × ~250 bytes (measured with 45-character keys: string, entry, map slot) ≈ 25 MB per instance at most. */
export const DEFAULT_MAX_LOCAL_KEYS = 100_000

/**
 * Fixed windows in process, bounded. A new window is (re)inserted at the back of the map, so the
 * map is ordered by window start and, at the bound, the oldest window is evicted first (its key
 * then starts afresh: a flood of distinct keys can at worst reset the quietest callers' windows,
 * never grow memory). Expired windows are replaced when their key is seen again, evicted at the
 * bound, and all dropped when the store recovers.
 */
export class LocalWindows {
  readonly maxKeys: number
  readonly #windows = new Map<string, { count: number, resetAt: number }>()

  constructor (maxKeys: number) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new TypeError(`maxKeys must be a positive integer, got ${maxKeys}`)
    this.maxKeys = maxKeys
  }

  get size (): number { return this.#windows.size }

  increment (key: string, windowMs: number, now: number): { count: number, ttlMs: number } {
    let w = this.#windows.get(key)
    if (w === undefined || w.resetAt <= now) {
      if (w !== undefined) this.#windows.delete(key)
      else if (this.#windows.size >= this.maxKeys) this.#evictOldest()
      w = { count: 0, resetAt: now + windowMs }
      this.#windows.set(key, w)
    }
    w.count += 1
    return { count: w.count, ttlMs: w.resetAt - now }
  }

  /** Forgets `key`'s window (a successful login forgives its failures). */
  delete (key: string): void { this.#windows.delete(key) }

  clear (): void { this.#windows.clear() }

  #evictOldest (): void {
    for (const key of this.#windows.keys()) {
      this.#windows.delete(key)
      return
    }
  }
}
