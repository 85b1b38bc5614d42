// The memory store's fixed-window counters: the same contract as the Redis store's (scripts.ts
// addCounter): the first hit starts the window, a window ends exactly `windowMs` later.
import type { CounterDelta, CounterResult } from '../types.js'
import type { Expiring } from './key-set.js'

interface CounterEntry extends Expiring { count: number }

export class MemoryCounters {
  readonly #counters = new Map<string, CounterEntry>()

  add (d: CounterDelta, now: number): CounterResult {
    let entry = this.#counters.get(d.key)
    if (entry === undefined || entry.expiresAtMs <= now) {
      // The first hit starts a fixed window.
      entry = { count: 0, expiresAtMs: now + d.windowMs }
      this.#counters.set(d.key, entry)
    }
    entry.count += d.delta
    return { count: entry.count, ttlMs: entry.expiresAtMs - now }
  }

  reset (key: string): void { this.#counters.delete(key) }

  sweep (now: number): void {
    for (const [k, v] of this.#counters) if (v.expiresAtMs <= now) this.#counters.delete(k)
  }
}
