// Login abuse limits (issue 3 point 8; RFC 6749 §4.3.2 and §10.10: MUST protect against brute force).
// - per username: at most LOGIN_MAX_FAILURES failed password attempts per LOGIN_FAILURE_WINDOW;
// - per client IP: at most TOKEN_RATE_LIMIT requests per minute to /oauth/* (SECURITY.md T20, T29, T66).
// The IP is request.ip: the socket address unless Fastify's trustProxy names the proxy, so a client
// cannot change its key by sending X-Forwarded-For (SECURITY.md T30); keyed by src/net/ip-key.ts,
// the edge's own IP key (IPv6 by /64), so rotating addresses inside a /64 does not escape it.
//
// Counting attempts: every password attempt increments the username counter BEFORE the password is
// checked, and a success resets it. So attempt k sees k-1 earlier failures, and once MAX failures are
// recorded every attempt is refused (429), even with the right password, until the window ends.
//
// Store down: the counters fall back to a per-instance in-memory fixed window with the same limits.
// Limits are then per instance (N instances allow up to N times the limit) but never absent:
// fail closed-ish, never fail open. The request itself will usually get 503 at its next store call.
// The fallback is the edge's bounded LocalWindows (at most `maxLocalKeys`, oldest window evicted
// first), so a flood of distinct IPs or usernames cannot grow memory while the store is down.
import { createHash } from 'node:crypto'
import { GatewayError } from '../errors/gateway-error.js'
import { ipKey } from '../net/ip-key.js'
import { DEFAULT_MAX_LOCAL_KEYS, LocalWindows } from '../store/local-windows.js'
import { StoreUnavailableError, type CounterResult, type Store } from '../store/types.js'

export interface ThrottleLimits {
  LOGIN_MAX_FAILURES: number
  /** Seconds. */
  LOGIN_FAILURE_WINDOW: number
  /** Requests per IP per minute. */
  TOKEN_RATE_LIMIT: number
}

const IP_WINDOW_MS = 60_000

export class LoginThrottle {
  readonly #store: Store
  readonly #limits: ThrottleLimits
  readonly #now: () => number
  readonly #local: LocalWindows

  /** `maxLocalKeys`: bound on the store-down fallback (default the edge's, 100 000 windows). */
  constructor (store: Store, limits: ThrottleLimits, now: () => number = Date.now, maxLocalKeys = DEFAULT_MAX_LOCAL_KEYS) {
    this.#store = store
    this.#limits = limits
    this.#now = now
    this.#local = new LocalWindows(maxLocalKeys)
  }

  /** Windows held by the store-down fallback (never more than its bound). */
  get localKeys (): number { return this.#local.size }

  /** Counts a request from `ip` (request.ip; undefined when the socket is gone); 429 rate_limited past TOKEN_RATE_LIMIT per minute. */
  async checkIp (ip: string | undefined): Promise<void> {
    const r = await this.#increment(`oauth:ip:${ipKey(ip)}`, IP_WINDOW_MS)
    if (r.count > this.#limits.TOKEN_RATE_LIMIT) throw tooMany('rate_limited', r.ttlMs, `ip over ${this.#limits.TOKEN_RATE_LIMIT}/min`)
  }

  /** Counts a password attempt for `username` (normalised by the caller); 429 login_throttled when over the limit. */
  async beginLogin (username: string): Promise<void> {
    const r = await this.#increment(loginKey(username), this.#limits.LOGIN_FAILURE_WINDOW * 1000)
    if (r.count > this.#limits.LOGIN_MAX_FAILURES) throw tooMany('login_throttled', r.ttlMs, 'too many failed logins for this username')
  }

  /** A correct password: the failures so far are forgiven. */
  async loginSucceeded (username: string): Promise<void> {
    const key = loginKey(username)
    this.#local.delete(key)
    await this.#store.resetCounter(key)
  }

  async #increment (key: string, windowMs: number): Promise<CounterResult> {
    try {
      return await this.#store.incrementCounter(key, windowMs)
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err
      return this.#incrementLocally(key, windowMs)
    }
  }

  #incrementLocally (key: string, windowMs: number): CounterResult {
    return this.#local.increment(key, windowMs, this.#now())
  }
}

/** Usernames are hashed into the key: bounded length, and no user-controlled text in Redis key names. */
function loginKey (username: string): string {
  return `oauth:login:${createHash('sha256').update(username).digest('base64url')}`
}

function tooMany (code: 'rate_limited' | 'login_throttled', ttlMs: number, detail: string): GatewayError {
  // RFC 9110 §10.2.3 / RFC 6585 §4: Retry-After in whole seconds, at least 1
  return new GatewayError(code, { detail, headers: { 'Retry-After': String(Math.max(1, Math.ceil(ttlMs / 1000))) } })
}
