// The counters behind the rate-limit stage: fixed windows in the shared Store (Redis in
// production: one atomic INCR + PEXPIRE script per request, shared by every instance), with a
// bounded per-instance fallback while the store cannot answer.
//
// Store down (issue 4 point 4; SECURITY.md F02/F03/F08). Kong and Envoy fail open
// (no limit at all until the store returns); @fastify/rate-limit answers 500 (or fails open with
// skipOnError). Portcullis does neither: on StoreUnavailableError it counts in process, with the
// same policy, so each instance still enforces the limit on its own share of the traffic (N
// instances admit up to N × limit). It logs that once when it happens and once a minute while it
// lasts, and goes back to the shared counters when the store answers again.
//
// A dead or frozen store must not slow every request down by a command timeout, so after a
// failure the store is left alone for `retryMs`; then one request probes it (the others keep
// counting locally while the probe is in flight). A successful probe returns to shared counting
// and drops the local windows.
import { DEFAULT_MAX_LOCAL_KEYS, LocalWindows } from '../store/local-windows.js'
import { StoreUnavailableError, type Store } from '../store/types.js'
import { StoreHealth, type RateLimitLogger } from './rate-limit-health.js'

export { DEFAULT_MAX_LOCAL_KEYS, LocalWindows }
export type { RateLimitLogger }

export interface WindowCount {
  /** Hits in the current window, this one included. */
  count: number
  /** Milliseconds until the window resets. */
  ttlMs: number
  /** false: counted by this instance alone (store unavailable). */
  shared: boolean
}

export interface RateLimitCountersOptions {
  /** Bound on the fallback's keys; at the bound the oldest window is evicted. Default 100 000. */
  maxLocalKeys?: number
  /** After a store failure, count locally this long before probing the store again. Default 1000 ms. */
  retryMs?: number
  /** While degraded, repeat the warning at most this often. Default 60 000 ms. */
  logEveryMs?: number
  /** Where degradation is reported; default: the logger passed to increment (the request's). */
  logger?: RateLimitLogger
  now?: () => number
}

const noop = (): void => {}
export const silent: RateLimitLogger = { info: noop, warn: noop }

export class RateLimitCounters {
  readonly #store: Store
  readonly #local: LocalWindows
  readonly #logger: RateLimitLogger | undefined
  readonly #now: () => number
  readonly #health: StoreHealth
  #probing = false

  constructor (store: Store, opts: RateLimitCountersOptions = {}) {
    this.#store = store
    this.#local = new LocalWindows(opts.maxLocalKeys ?? DEFAULT_MAX_LOCAL_KEYS)
    this.#logger = opts.logger
    this.#now = opts.now ?? Date.now
    this.#health = new StoreHealth(this.#now, this.#local.maxKeys, opts.retryMs, opts.logEveryMs)
  }

  /** Whether counting is currently per instance. */
  get degraded (): boolean { return this.#health.degraded }

  /**
   * Counts one hit on `key` in a fixed window of `windowMs` (the first hit starts the window).
   * `log` (e.g. the request's logger) is used when the constructor was given none.
   */
  async increment (key: string, windowMs: number, log?: RateLimitLogger): Promise<WindowCount> {
    const health = this.#health
    if (health.degraded && (this.#probing || health.resting)) return this.#countLocally(key, windowMs)
    const probe = health.degraded
    if (probe) this.#probing = true
    try {
      const { count, ttlMs } = await this.#store.incrementCounter(key, windowMs)
      if (health.recovered(this.#logger ?? log ?? silent)) this.#local.clear()
      return { count, ttlMs, shared: true }
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err
      health.failed(err, this.#logger ?? log ?? silent)
      return this.#countLocally(key, windowMs)
    } finally {
      if (probe) this.#probing = false
    }
  }

  #countLocally (key: string, windowMs: number): WindowCount {
    this.#health.localHits++
    const { count, ttlMs } = this.#local.increment(key, windowMs, this.#now())
    return { count, ttlMs, shared: false }
  }
}
