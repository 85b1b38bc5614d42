// Whether the rate-limit counters can use the store, shared by the exact counters
// (rate-limit-store.ts) and the batched ones (rate-limit-batch.ts): after a StoreUnavailableError
// the store is left alone for `retryMs` (counting goes on per instance); the degradation is logged
// once when it happens, once a minute while it lasts, and once when the store answers again
// (SECURITY.md F02/F03/F08).
import type { StoreUnavailableError } from '../store/types.js'

export interface RateLimitLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export const DEFAULT_RETRY_MS = 1000
export const DEFAULT_LOG_EVERY_MS = 60_000

export class StoreHealth {
  degraded = false
  /** Hits counted per instance since the last log line. */
  localHits = 0
  #retryAt = 0
  #lastWarn = 0

  constructor (
    private readonly now: () => number,
    private readonly maxLocalKeys: number,
    private readonly retryMs = DEFAULT_RETRY_MS,
    private readonly logEveryMs = DEFAULT_LOG_EVERY_MS
  ) {}

  /** Degraded and not yet time to probe the store again. */
  get resting (): boolean { return this.degraded && this.now() < this.#retryAt }

  failed (err: StoreUnavailableError, log: RateLimitLogger): void {
    const now = this.now()
    this.#retryAt = now + this.retryMs
    if (this.degraded && now - this.#lastWarn < this.logEveryMs) return
    log.warn({
      stage: 'rate-limit', reason: 'rate_limit_degraded', err: err.message,
      countedLocally: this.localHits, maxLocalKeys: this.maxLocalKeys
    }, 'rate limiting degraded to per-instance counters: the store is unavailable')
    this.degraded = true
    this.#lastWarn = now
    this.localHits = 0
  }

  /** Returns whether this ended a degradation (then the caller drops what only made sense while degraded). */
  recovered (log: RateLimitLogger): boolean {
    if (!this.degraded) return false
    log.info({ stage: 'rate-limit', reason: 'rate_limit_restored', countedLocally: this.localHits },
      'rate limiting restored to shared counters')
    this.degraded = false
    this.localHits = 0
    return true
  }
}
