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

export { DEFAULT_MAX_LOCAL_KEYS, LocalWindows }

export interface WindowCount {
  /** Hits in the current window, this one included. */
  count: number
  /** Milliseconds until the window resets. */
  ttlMs: number
  /** false: counted by this instance alone (store unavailable). */
  shared: boolean
}

export interface RateLimitLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
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

const DEFAULT_RETRY_MS = 1000
const DEFAULT_LOG_EVERY_MS = 60_000
const noop = (): void => {}
const silent: RateLimitLogger = { info: noop, warn: noop }

export class RateLimitCounters {
  readonly #store: Store
  readonly #local: LocalWindows
  readonly #retryMs: number
  readonly #logEveryMs: number
  readonly #logger: RateLimitLogger | undefined
  readonly #now: () => number
  #degraded = false
  #retryAt = 0
  #probing = false
  #lastWarn = 0
  #localHits = 0

  constructor (store: Store, opts: RateLimitCountersOptions = {}) {
    this.#store = store
    this.#local = new LocalWindows(opts.maxLocalKeys ?? DEFAULT_MAX_LOCAL_KEYS)
    this.#retryMs = opts.retryMs ?? DEFAULT_RETRY_MS
    this.#logEveryMs = opts.logEveryMs ?? DEFAULT_LOG_EVERY_MS
    this.#logger = opts.logger
    this.#now = opts.now ?? Date.now
  }

  /** Whether counting is currently per instance. */
  get degraded (): boolean { return this.#degraded }

  /**
   * Counts one hit on `key` in a fixed window of `windowMs` (the first hit starts the window).
   * `log` (e.g. the request's logger) is used when the constructor was given none.
   */
  async increment (key: string, windowMs: number, log?: RateLimitLogger): Promise<WindowCount> {
    if (this.#degraded && (this.#probing || this.#now() < this.#retryAt)) return this.#countLocally(key, windowMs)
    const probe = this.#degraded
    if (probe) this.#probing = true
    try {
      const { count, ttlMs } = await this.#store.incrementCounter(key, windowMs)
      if (this.#degraded) this.#recovered(this.#logger ?? log ?? silent)
      return { count, ttlMs, shared: true }
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err
      this.#failed(err, this.#logger ?? log ?? silent)
      return this.#countLocally(key, windowMs)
    } finally {
      if (probe) this.#probing = false
    }
  }

  #countLocally (key: string, windowMs: number): WindowCount {
    this.#localHits++
    const { count, ttlMs } = this.#local.increment(key, windowMs, this.#now())
    return { count, ttlMs, shared: false }
  }

  #failed (err: StoreUnavailableError, log: RateLimitLogger): void {
    const now = this.#now()
    this.#retryAt = now + this.#retryMs
    if (this.#degraded && now - this.#lastWarn < this.#logEveryMs) return
    log.warn({
      stage: 'rate-limit', reason: 'rate_limit_degraded', err: err.message,
      countedLocally: this.#localHits, maxLocalKeys: this.#local.maxKeys
    }, 'rate limiting degraded to per-instance counters: the store is unavailable')
    this.#degraded = true
    this.#lastWarn = now
    this.#localHits = 0
  }

  #recovered (log: RateLimitLogger): void {
    log.info({ stage: 'rate-limit', reason: 'rate_limit_restored', countedLocally: this.#localHits },
      'rate limiting restored to shared counters')
    this.#degraded = false
    this.#localHits = 0
    this.#local.clear()
  }
}
